//! Min-p stage: drops candidates whose probability is below `p` times the most likely one's.
//!
//! Reference: Nguyen et al., "Turning Up the Heat: Min-p Sampling" (2024), and llama.cpp
//! `llama_sampler_min_p_apply` (`src/llama-sampling.cpp`), which works on logits:
//! `p_i >= p * p_max  ⇔  logit_i >= logit_max + ln(p)`. The kept candidates keep their order.

use super::{Candidates, History, SamplerStage};

/// Min-p filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinP {
    /// Relative threshold in [0, 1]; `<= 0` disables.
    pub p: f32,
    /// Minimum number of candidates kept (values below 1 act as 1).
    pub min_keep: usize,
}

impl SamplerStage for MinP {
    fn name(&self) -> &'static str {
        "min-p"
    }

    fn apply(&mut self, cands: &mut Candidates, _history: &History) {
        if self.p <= 0.0 || cands.is_empty() {
            return;
        }
        let Some(max) = cands.max_logit() else { return };
        if !max.is_finite() {
            return; // all masked, or +inf dominating: nothing meaningful to cut
        }
        let threshold = max + self.p.ln();
        let n_pass = cands
            .as_slice()
            .iter()
            .filter(|c| c.logit >= threshold)
            .count();
        let min_keep = self.min_keep.max(1);
        if n_pass >= min_keep {
            cands.retain(|c| c.logit >= threshold);
        } else {
            cands.sort_desc();
            cands.truncate(min_keep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::history::Window;

    fn run(p: f32, min_keep: usize, probs: &[f32]) -> Vec<u32> {
        let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
        let mut c = Candidates::with_capacity(logits.len());
        c.fill(&logits);
        MinP { p, min_keep }.apply(&mut c, &History::new(0, Window::Off));
        c.as_slice().iter().map(|c| c.id).collect()
    }

    #[test]
    fn hand_computed_cut() {
        // p_max = 0.5; p = 0.3 -> threshold 0.15: keeps 0.5, 0.3, 0.16; drops 0.04.
        assert_eq!(run(0.3, 1, &[0.5, 0.04, 0.3, 0.16]), vec![0, 2, 3]);
        // p = 0.5 -> threshold 0.25: keeps 0.5 and 0.3.
        assert_eq!(run(0.5, 1, &[0.5, 0.04, 0.3, 0.16]), vec![0, 2]);
        // p = 1 keeps only the max.
        assert_eq!(run(1.0, 1, &[0.5, 0.04, 0.3, 0.16]), vec![0]);
    }

    #[test]
    fn zero_disables_and_min_keep_holds() {
        assert_eq!(run(0.0, 1, &[0.5, 0.04, 0.3, 0.16]), vec![0, 1, 2, 3]);
        assert_eq!(run(1.0, 3, &[0.5, 0.04, 0.3, 0.16]), vec![0, 2, 3]);
    }
}
