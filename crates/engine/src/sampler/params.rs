//! [`SamplingParams`]: every sampling setting in one plain struct, with llama.cpp CLI defaults and validation.
//!
//! Reference: llama.cpp `common/common.h` (`common_params_sampling` defaults) and the OpenAI API reference
//! (`temperature`, `top_p`, `presence_penalty`, `frequency_penalty`, `logit_bias`, `seed`). Range checks for the
//! OpenAI wire format (e.g. penalties in [-2, 2], bias in [-100, 100]) belong to the server; here we only reject
//! values that would make the math meaningless.

use std::collections::BTreeMap;

use super::history::Window;
use crate::error::{EngineError, Result};

/// All sampling settings.
///
/// Neutral values switch a stage off: `top_k = 0`, `top_p = 1.0`, `min_p = 0.0`, `repeat_penalty = 1.0`,
/// `presence_penalty = frequency_penalty = 0.0`, empty `logit_bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature. `<= 0` means greedy (argmax, ties to the lowest id), as in llama.cpp where a
    /// non-positive temperature keeps only the most likely token; negative values are accepted and treated
    /// like 0. Must not be NaN or infinite. Default 0.8.
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens; 0 disables. Default 40.
    pub top_k: usize,
    /// Nucleus sampling: keep the smallest set of most likely tokens whose probability reaches `top_p`
    /// (always at least one). Must be in (0, 1]; 1.0 disables. Default 0.95.
    pub top_p: f32,
    /// Drop tokens whose probability is below `min_p` times the most likely token's. Must be in [0, 1];
    /// 0 disables. Default 0.05.
    pub min_p: f32,
    /// llama.cpp repetition penalty over the last `repeat_last_n` tokens: positive logits are divided by it,
    /// negative ones multiplied. Must be finite and > 0; 1.0 disables. Default 1.0.
    pub repeat_penalty: f32,
    /// Window of the three penalties, in tokens: `n > 0` = the last n, 0 = penalties off, -1 = every token
    /// since the last reset. Other negative values are rejected. Default 64.
    pub repeat_last_n: i32,
    /// OpenAI presence penalty: `logit -= presence_penalty` for every token present in the window. Must be
    /// finite. Default 0.
    pub presence_penalty: f32,
    /// OpenAI frequency penalty: `logit -= frequency_penalty * count` over the window. Must be finite.
    /// Default 0.
    pub frequency_penalty: f32,
    /// Added to the logit of the given token ids before anything else; `f32::NEG_INFINITY` bans a token.
    /// Values must be finite or `-inf`; ids must be below `n_vocab`.
    pub logit_bias: BTreeMap<u32, f32>,
    /// RNG seed. The same seed, settings and logits give the same tokens. `None` draws a seed from the OS and
    /// the clock (the drawn seed is reported by `Sampler::seed`).
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            logit_bias: BTreeMap::new(),
            seed: None,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding: temperature 0, no penalties, no bias (top-k/top-p/min-p cannot change the argmax and
    /// are skipped).
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Whether these settings decode greedily (`temperature <= 0`).
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }

    /// Whether any of the three penalties is active.
    pub fn penalties_active(&self) -> bool {
        self.repeat_last_n != 0
            && (self.repeat_penalty != 1.0
                || self.presence_penalty != 0.0
                || self.frequency_penalty != 0.0)
    }

    /// The history window implied by `repeat_last_n` (call after [`Self::validate`]).
    pub fn window(&self) -> Window {
        match self.repeat_last_n {
            0 => Window::Off,
            n if n < 0 => Window::All,
            n => Window::Last(n as usize),
        }
    }

    /// Checks every field; `n_vocab` bounds the `logit_bias` ids.
    pub fn validate(&self, n_vocab: usize) -> Result<()> {
        fn bad(name: &'static str, value: impl ToString, reason: &'static str) -> EngineError {
            EngineError::InvalidParam {
                name,
                value: value.to_string(),
                reason,
            }
        }
        if !self.temperature.is_finite() {
            return Err(bad(
                "temperature",
                self.temperature,
                "must be a finite number (<= 0 means greedy)",
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(bad("top_p", self.top_p, "must be in (0, 1]; 1 disables"));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(bad("min_p", self.min_p, "must be in [0, 1]; 0 disables"));
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return Err(bad(
                "repeat_penalty",
                self.repeat_penalty,
                "must be finite and > 0; 1 disables",
            ));
        }
        if self.repeat_last_n < -1 {
            return Err(bad(
                "repeat_last_n",
                self.repeat_last_n,
                "must be >= -1 (-1 = whole history, 0 = off)",
            ));
        }
        if !self.presence_penalty.is_finite() {
            return Err(bad(
                "presence_penalty",
                self.presence_penalty,
                "must be finite",
            ));
        }
        if !self.frequency_penalty.is_finite() {
            return Err(bad(
                "frequency_penalty",
                self.frequency_penalty,
                "must be finite",
            ));
        }
        for (&id, &bias) in &self.logit_bias {
            if id as usize >= n_vocab {
                return Err(EngineError::TokenOutOfRange { token: id, n_vocab });
            }
            if !(bias.is_finite() || bias == f32::NEG_INFINITY) {
                return Err(bad(
                    "logit_bias",
                    format!("{id}: {bias}"),
                    "bias must be finite or -inf (ban)",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_name(p: &SamplingParams) -> &'static str {
        match p.validate(10) {
            Err(EngineError::InvalidParam { name, .. }) => name,
            Err(EngineError::TokenOutOfRange { .. }) => "token",
            Err(e) => panic!("unexpected {e}"),
            Ok(()) => "ok",
        }
    }

    #[test]
    fn defaults_match_llama_cpp_cli() {
        let p = SamplingParams::default();
        assert_eq!(
            (p.temperature, p.top_k, p.top_p, p.min_p),
            (0.8, 40, 0.95, 0.05)
        );
        assert_eq!((p.repeat_penalty, p.repeat_last_n), (1.0, 64));
        assert_eq!(
            (p.presence_penalty, p.frequency_penalty, p.seed),
            (0.0, 0.0, None)
        );
        assert!(!p.is_greedy() && !p.penalties_active());
        assert!(SamplingParams::greedy().is_greedy());
        assert_eq!(p.validate(10).map_err(|e| e.to_string()), Ok(()));
    }

    #[test]
    fn validation_rejects_bad_values() {
        let d = SamplingParams::default;
        assert_eq!(
            err_name(&SamplingParams {
                temperature: -1.0,
                ..d()
            }),
            "ok"
        );
        assert_eq!(
            err_name(&SamplingParams {
                temperature: f32::NAN,
                ..d()
            }),
            "temperature"
        );
        assert_eq!(
            err_name(&SamplingParams {
                temperature: f32::INFINITY,
                ..d()
            }),
            "temperature"
        );
        assert_eq!(err_name(&SamplingParams { top_p: 0.0, ..d() }), "top_p");
        assert_eq!(err_name(&SamplingParams { top_p: 1.01, ..d() }), "top_p");
        assert_eq!(
            err_name(&SamplingParams {
                top_p: f32::NAN,
                ..d()
            }),
            "top_p"
        );
        assert_eq!(err_name(&SamplingParams { top_p: 1.0, ..d() }), "ok");
        assert_eq!(err_name(&SamplingParams { min_p: -0.1, ..d() }), "min_p");
        assert_eq!(err_name(&SamplingParams { min_p: 1.5, ..d() }), "min_p");
        assert_eq!(
            err_name(&SamplingParams {
                repeat_penalty: 0.0,
                ..d()
            }),
            "repeat_penalty"
        );
        assert_eq!(
            err_name(&SamplingParams {
                repeat_last_n: -2,
                ..d()
            }),
            "repeat_last_n"
        );
        assert_eq!(
            err_name(&SamplingParams {
                repeat_last_n: -1,
                ..d()
            }),
            "ok"
        );
        assert_eq!(
            err_name(&SamplingParams {
                presence_penalty: f32::NAN,
                ..d()
            }),
            "presence_penalty"
        );
        assert_eq!(
            err_name(&SamplingParams {
                frequency_penalty: f32::INFINITY,
                ..d()
            }),
            "frequency_penalty"
        );
        let bias = |id, b| SamplingParams {
            logit_bias: [(id, b)].into_iter().collect(),
            ..d()
        };
        assert_eq!(err_name(&bias(10, 1.0)), "token");
        assert_eq!(err_name(&bias(9, f32::INFINITY)), "logit_bias");
        assert_eq!(err_name(&bias(9, f32::NEG_INFINITY)), "ok");
    }

    #[test]
    fn window_mapping() {
        let d = SamplingParams::default;
        assert_eq!(
            SamplingParams {
                repeat_last_n: 0,
                ..d()
            }
            .window(),
            Window::Off
        );
        assert_eq!(
            SamplingParams {
                repeat_last_n: -1,
                ..d()
            }
            .window(),
            Window::All
        );
        assert_eq!(d().window(), Window::Last(64));
    }
}
