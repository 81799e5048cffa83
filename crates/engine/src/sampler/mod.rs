//! The sampler chain: turns one step's logits into a token id.
//!
//! Reference: llama.cpp `src/llama-sampling.cpp` (the `llama_sampler_i` stages and the chain) and
//! `common/sampling.cpp` (`common_sampler_init`: logit bias first, then the configured stages, then `dist`).
//! Semantics follow llama.cpp; the RNG, tie-breaking and buffer handling are our own.
//!
//! # Order of the default chain
//!
//! Built by [`Sampler::new`] from [`SamplingParams`], skipping stages whose setting is neutral:
//!
//! | # | stage | file | what it does |
//! |---|-------|------|--------------|
//! | 1 | logit bias | `logit_bias.rs` | `logit += bias[id]`; `-inf` bans |
//! | 2 | penalties | `penalties.rs` | repetition (÷/×), then presence and frequency, over `repeat_last_n` |
//! | 3 | top-k | `top_k.rs` | keep the `k` best (sorted) |
//! | 4 | top-p | `top_p.rs` | keep the smallest prefix with mass `>= p` |
//! | 5 | min-p | `min_p.rs` | drop `p_i < min_p * p_max` |
//! | 6 | temperature | `temperature.rs` | `logit /= t` |
//! | 7 | dist | `dist.rs` | seeded draw from the softmax |
//!
//! With `temperature <= 0` the chain is logit bias → penalties → greedy (`greedy.rs`, argmax with ties to
//! the lowest id): top-k, top-p and min-p always keep the argmax, so they are skipped.
//!
//! Filtering happens before temperature, as in llama.cpp, so top-p and min-p see the untempered
//! distribution. The buffer of candidates is allocated once per [`Sampler`]; sampling a token does not
//! allocate. [`Sampler::sample`] does not record the token: call [`Sampler::accept`] with the token that is
//! actually used (llama.cpp's `common_sampler_accept`), so that the penalties see it.

mod candidates;
mod dist;
mod greedy;
mod history;
mod logit_bias;
mod min_p;
mod params;
mod penalties;
mod raw;
mod rng;
mod temperature;
mod top_k;
mod top_p;

pub use candidates::{Candidate, Candidates};
pub use dist::Dist;
pub use greedy::Greedy;
pub use history::{History, Window};
pub use logit_bias::LogitBias;
pub use min_p::MinP;
pub use params::SamplingParams;
pub use penalties::Penalties;
pub use raw::model_logprobs;
pub use rng::{entropy_seed, splitmix64, Rng};
pub use temperature::Temperature;
pub use top_k::TopK;
pub use top_p::TopP;

use crate::error::{EngineError, Result};

/// One stage of the chain (llama.cpp `llama_sampler_i`): filters or rescales the candidates, or, for the
/// last stage, selects a token with [`Candidates::select`].
pub trait SamplerStage: Send {
    /// Short name for logs (`"top-k"`, `"dist"`, ...).
    fn name(&self) -> &'static str;
    /// Applies the stage. `history` holds the accepted tokens in the penalty window.
    fn apply(&mut self, cands: &mut Candidates, history: &History);
    /// Returns the stage to its initial state (e.g. reseeds an RNG). Default: nothing to do.
    fn reset(&mut self) {}
}

/// Log-probability of one token in the final distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenLogprob {
    /// Token id.
    pub id: u32,
    /// Natural-log probability (`-inf` if the token had been filtered out).
    pub logprob: f32,
}

/// A sampler chain with its candidates buffer and token history.
pub struct Sampler {
    n_vocab: usize,
    seed: Option<u64>,
    stages: Vec<Box<dyn SamplerStage>>,
    cands: Candidates,
    history: History,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("n_vocab", &self.n_vocab)
            .field("seed", &self.seed)
            .field("stages", &self.stage_names())
            .finish_non_exhaustive()
    }
}

impl Sampler {
    /// Validates `params` and builds the default chain (see the module docs) for `n_vocab` tokens.
    pub fn new(params: SamplingParams, n_vocab: usize) -> Result<Self> {
        if n_vocab == 0 {
            return Err(EngineError::EmptyVocab);
        }
        params.validate(n_vocab)?;
        let mut stages: Vec<Box<dyn SamplerStage>> = Vec::new();
        if !params.logit_bias.is_empty() {
            stages.push(Box::new(LogitBias::new(
                params.logit_bias.iter().map(|(&id, &b)| (id, b)),
            )));
        }
        if params.penalties_active() {
            stages.push(Box::new(Penalties {
                repeat: params.repeat_penalty,
                presence: params.presence_penalty,
                frequency: params.frequency_penalty,
            }));
        }
        let mut seed = None;
        if params.is_greedy() {
            stages.push(Box::new(Greedy));
        } else {
            if params.top_k > 0 {
                stages.push(Box::new(TopK { k: params.top_k }));
            }
            if params.top_p < 1.0 {
                stages.push(Box::new(TopP {
                    p: params.top_p,
                    min_keep: 1,
                }));
            }
            if params.min_p > 0.0 {
                stages.push(Box::new(MinP {
                    p: params.min_p,
                    min_keep: 1,
                }));
            }
            if params.temperature != 1.0 {
                stages.push(Box::new(Temperature {
                    t: params.temperature,
                }));
            }
            let s = params.seed.unwrap_or_else(entropy_seed);
            seed = Some(s);
            stages.push(Box::new(Dist::new(s)));
        }
        let window = if params.penalties_active() {
            params.window()
        } else {
            Window::Off
        };
        Ok(Self {
            n_vocab,
            seed,
            stages,
            cands: Candidates::with_capacity(n_vocab),
            history: History::new(n_vocab, window),
        })
    }

    /// A custom chain (e.g. with a grammar stage first). The last stage must select a token; `window` is the
    /// history kept for stages that read it.
    pub fn with_stages(
        n_vocab: usize,
        window: Window,
        stages: Vec<Box<dyn SamplerStage>>,
    ) -> Result<Self> {
        if n_vocab == 0 {
            return Err(EngineError::EmptyVocab);
        }
        Ok(Self {
            n_vocab,
            seed: None,
            stages,
            cands: Candidates::with_capacity(n_vocab),
            history: History::new(n_vocab, window),
        })
    }

    /// Vocabulary size this sampler was built for.
    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    /// The seed of the default chain's dist stage (drawn from the OS when `params.seed` was `None`), so a
    /// run can be reproduced. `None` for greedy chains and custom chains.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// Names of the stages, in order.
    pub fn stage_names(&self) -> Vec<&'static str> {
        self.stages.iter().map(|s| s.name()).collect()
    }

    /// Runs the chain on one step's logits (`n_vocab` entries) and returns the chosen token. Does not
    /// allocate. Does not record the token: call [`Self::accept`].
    pub fn sample(&mut self, logits: &[f32]) -> Result<u32> {
        if logits.len() != self.n_vocab {
            return Err(EngineError::LogitsLength {
                expected: self.n_vocab,
                got: logits.len(),
            });
        }
        self.cands.fill(logits);
        for stage in self.stages.iter_mut() {
            stage.apply(&mut self.cands, &self.history);
        }
        match self.cands.selected() {
            Some(id) => Ok(id),
            None if self
                .cands
                .as_slice()
                .iter()
                .all(|c| c.logit == f32::NEG_INFINITY) =>
            {
                Err(EngineError::AllMasked)
            }
            None => Err(EngineError::NoSelection),
        }
    }

    /// Records a token that was sampled or forced (prompt tokens too, if they should be penalised).
    pub fn accept(&mut self, token: u32) -> Result<()> {
        if token as usize >= self.n_vocab {
            return Err(EngineError::TokenOutOfRange {
                token,
                n_vocab: self.n_vocab,
            });
        }
        self.history.push(token);
        Ok(())
    }

    /// The accepted-token history.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Returns to the state right after construction: history cleared, RNG back at its seed (for
    /// `seed: None` the seed drawn at construction is reused).
    pub fn reset(&mut self) {
        self.history.clear();
        self.stages.iter_mut().for_each(|s| s.reset());
        self.cands.fill(&[]);
    }

    /// The candidates after the last [`Self::sample`]: the final distribution the token was picked from.
    pub fn candidates(&self) -> &Candidates {
        &self.cands
    }

    /// Log-probabilities from the final distribution of the last [`Self::sample`]: returns the chosen token's
    /// and fills `top` (cleared first) with the `n_top` most likely tokens, best first.
    ///
    /// "Final distribution" means after every filter and temperature, at which the token was drawn; tokens
    /// cut by top-k/top-p/min-p are absent. For greedy chains it is the softmax (temperature 1) of the
    /// biased, penalised logits over the whole vocabulary.
    pub fn logprobs(&mut self, n_top: usize, top: &mut Vec<TokenLogprob>) -> Result<TokenLogprob> {
        let id = self.cands.selected().ok_or(EngineError::NothingSampled)?;
        top.clear();
        let max = self.cands.max_logit().ok_or(EngineError::NothingSampled)?;
        let finite = max.is_finite();
        let lse = if finite {
            self.cands
                .as_slice()
                .iter()
                .map(|c| f64::from(c.logit - max).exp())
                .sum::<f64>()
                .ln() as f32
        } else {
            if !self.cands.probs_valid() {
                self.cands.softmax();
            }
            0.0
        };
        let lp = |c: &Candidate| {
            if finite {
                c.logit - max - lse
            } else {
                c.p.ln()
            }
        };
        let chosen = self
            .cands
            .as_slice()
            .iter()
            .find(|c| c.id == id)
            .map(lp)
            .unwrap_or(f32::NEG_INFINITY);
        let k = n_top.min(self.cands.len());
        self.cands.partial_sort_desc(k);
        top.extend(self.cands.as_slice()[..k].iter().map(|c| TokenLogprob {
            id: c.id,
            logprob: lp(c),
        }));
        Ok(TokenLogprob {
            id,
            logprob: chosen,
        })
    }
}

#[cfg(test)]
mod tests;
