//! Sentence-transformers pooling: from the token states of one sequence to one vector.
//!
//! Modes (`1_Pooling/config.json`, keys `pooling_mode_*`, or one `pooling_mode` string that
//! overrides them): CLS token, max, mean, mean divided by `sqrt(len)`, position-weighted mean
//! (weights `1..=len`, SGPT), last token. Several may be on: their vectors are concatenated in
//! sentence-transformers' order (cls, max, mean, mean_sqrt_len, weightedmean, lasttoken).
//! Sequences are never padded here, so every token counts; sums run in f64.
//!
//! ref: sentence-transformers `models/Pooling.py`.

use allmende_formats::HfConfig;

use super::error::{EncoderError, Result};

/// Which pooling modes are on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pooling {
    /// The first token's state (`[CLS]`).
    pub cls: bool,
    /// Element-wise max over the tokens.
    pub max: bool,
    /// Mean over the tokens.
    pub mean: bool,
    /// Sum over the tokens divided by `sqrt(n_tokens)`.
    pub mean_sqrt_len: bool,
    /// Mean weighted by position `1..=n_tokens`.
    pub weighted_mean: bool,
    /// The last token's state.
    pub last_token: bool,
}

impl Pooling {
    /// Mean pooling only (sentence-transformers' default).
    pub const MEAN: Pooling =
        Pooling { cls: false, max: false, mean: true, mean_sqrt_len: false, weighted_mean: false, last_token: false };

    /// Reads a `1_Pooling/config.json`. Absent keys take sentence-transformers' defaults (mean on,
    /// the others off).
    pub fn from_config(cfg: &HfConfig) -> Result<Pooling> {
        if let Some(mode) = cfg.opt_str("pooling_mode")? {
            let mut p = Pooling { mean: false, ..Pooling::MEAN };
            match mode.to_ascii_lowercase().as_str() {
                "cls" => p.cls = true,
                "max" => p.max = true,
                "mean" => p.mean = true,
                "mean_sqrt_len_tokens" => p.mean_sqrt_len = true,
                "weightedmean" => p.weighted_mean = true,
                "lasttoken" => p.last_token = true,
                other => return Err(EncoderError::Unsupported(format!("pooling_mode `{other}`"))),
            }
            return Ok(p);
        }
        let flag = |key: &str, default: bool| -> Result<bool> { Ok(cfg.opt_bool(key)?.unwrap_or(default)) };
        let p = Pooling {
            cls: flag("pooling_mode_cls_token", false)?,
            max: flag("pooling_mode_max_tokens", false)?,
            mean: flag("pooling_mode_mean_tokens", true)?,
            mean_sqrt_len: flag("pooling_mode_mean_sqrt_len_tokens", false)?,
            weighted_mean: flag("pooling_mode_weightedmean_tokens", false)?,
            last_token: flag("pooling_mode_lasttoken", false)?,
        };
        if p.n_modes() == 0 {
            return Err(EncoderError::Unsupported("pooling config turns every pooling mode off".into()));
        }
        Ok(p)
    }

    /// How many modes are on (the output is that many times the hidden size).
    pub fn n_modes(&self) -> usize {
        [self.cls, self.max, self.mean, self.mean_sqrt_len, self.weighted_mean, self.last_token]
            .iter()
            .filter(|&&b| b)
            .count()
    }

    /// Pools the token states `x` (`[n_tokens, n_embd]`, `n_tokens >= 1`) into `out`
    /// (cleared first; `n_modes() * n_embd` values).
    pub fn pool(&self, x: &[f32], n_embd: usize, out: &mut Vec<f32>) {
        out.clear();
        let n = x.len() / n_embd.max(1);
        if n == 0 {
            out.resize(self.n_modes() * n_embd, 0.0);
            return;
        }
        let rows = || x.chunks_exact(n_embd);
        if self.cls {
            out.extend_from_slice(&x[..n_embd]);
        }
        if self.max {
            let start = out.len();
            out.extend_from_slice(&x[..n_embd]);
            for r in rows().skip(1) {
                for (m, &v) in out[start..].iter_mut().zip(r) {
                    *m = m.max(v);
                }
            }
        }
        if self.mean || self.mean_sqrt_len || self.weighted_mean {
            let mut sum = vec![0f64; n_embd];
            let mut wsum = vec![0f64; n_embd];
            for (t, r) in rows().enumerate() {
                let w = (t + 1) as f64;
                for ((s, ws), &v) in sum.iter_mut().zip(wsum.iter_mut()).zip(r) {
                    *s += v as f64;
                    *ws += w * v as f64;
                }
            }
            let nf = n as f64;
            if self.mean {
                out.extend(sum.iter().map(|s| (s / nf) as f32));
            }
            if self.mean_sqrt_len {
                out.extend(sum.iter().map(|s| (s / nf.sqrt()) as f32));
            }
            if self.weighted_mean {
                let total = nf * (nf + 1.0) / 2.0;
                out.extend(wsum.iter().map(|s| (s / total) as f32));
            }
        }
        if self.last_token {
            out.extend_from_slice(&x[(n - 1) * n_embd..n * n_embd]);
        }
    }
}
