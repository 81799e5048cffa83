//! Logit bias stage: adds a fixed bias to chosen token ids; `-inf` bans a token.
//!
//! Reference: llama.cpp `llama_sampler_logit_bias` (`src/llama-sampling.cpp`) and OpenAI `logit_bias`.
//! It runs first in the default chain, as llama.cpp's `common_sampler_init` adds it before the other stages.

use super::{Candidates, History, SamplerStage};

/// Adds `bias` to the logit of each listed token.
#[derive(Debug, Clone)]
pub struct LogitBias {
    /// `(token id, bias)` pairs.
    biases: Vec<(u32, f32)>,
}

impl LogitBias {
    /// A stage applying the given biases.
    pub fn new(biases: impl IntoIterator<Item = (u32, f32)>) -> Self {
        Self {
            biases: biases.into_iter().collect(),
        }
    }
}

impl SamplerStage for LogitBias {
    fn name(&self) -> &'static str {
        "logit-bias"
    }

    fn apply(&mut self, cands: &mut Candidates, _history: &History) {
        if self.biases.is_empty() {
            return;
        }
        let items = cands.as_mut_slice();
        for &(id, bias) in &self.biases {
            // Fast path: the buffer is still in id order (it is when this stage runs first).
            match items.get_mut(id as usize) {
                Some(c) if c.id == id => c.logit += bias,
                _ => {
                    if let Some(c) = items.iter_mut().find(|c| c.id == id) {
                        c.logit += bias;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::history::Window;

    #[test]
    fn adds_bias_and_bans() {
        let mut c = Candidates::with_capacity(4);
        c.fill(&[1.0, 2.0, 3.0, 4.0]);
        let h = History::new(4, Window::Off);
        LogitBias::new([(0, 0.5), (3, f32::NEG_INFINITY)]).apply(&mut c, &h);
        let l: Vec<f32> = c.as_slice().iter().map(|c| c.logit).collect();
        assert_eq!(l, vec![1.5, 2.0, 3.0, f32::NEG_INFINITY]);
    }

    #[test]
    fn works_on_reordered_buffer() {
        let mut c = Candidates::with_capacity(4);
        c.fill(&[1.0, 2.0, 3.0, 4.0]);
        c.sort_desc(); // ids now 3, 2, 1, 0
        let h = History::new(4, Window::Off);
        LogitBias::new([(1, -1.0)]).apply(&mut c, &h);
        let got: Vec<(u32, f32)> = c.as_slice().iter().map(|c| (c.id, c.logit)).collect();
        assert_eq!(got, vec![(3, 4.0), (2, 3.0), (1, 1.0), (0, 1.0)]);
        assert!(!c.is_sorted());
    }
}
