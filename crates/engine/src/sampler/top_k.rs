//! Top-k stage: keeps the `k` highest-logit candidates, sorted.
//!
//! Reference: llama.cpp `llama_sampler_top_k_impl` (`src/llama-sampling.cpp`); `k = 0` disables, as llama.cpp's
//! `k <= 0`. Ties at the cut are resolved towards the lower token id (llama.cpp leaves them unspecified).

use super::{Candidates, History, SamplerStage};

/// Keep the `k` most likely candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopK {
    /// How many to keep; 0 = keep all.
    pub k: usize,
}

impl SamplerStage for TopK {
    fn name(&self) -> &'static str {
        "top-k"
    }

    fn apply(&mut self, cands: &mut Candidates, _history: &History) {
        if self.k == 0 || self.k >= cands.len() {
            return;
        }
        cands.partial_sort_desc(self.k);
        cands.truncate(self.k);
        cands.set_sorted();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::history::Window;

    fn run(k: usize, logits: &[f32]) -> Vec<u32> {
        let mut c = Candidates::with_capacity(logits.len());
        c.fill(logits);
        TopK { k }.apply(&mut c, &History::new(0, Window::Off));
        c.as_slice().iter().map(|c| c.id).collect()
    }

    #[test]
    fn keeps_k_best_sorted() {
        assert_eq!(run(2, &[0.1, 0.9, 0.5, 0.7]), vec![1, 3]);
        assert_eq!(run(3, &[0.1, 0.9, 0.5, 0.7]), vec![1, 3, 2]);
    }

    #[test]
    fn zero_or_large_k_keeps_all_in_place() {
        assert_eq!(run(0, &[0.1, 0.9, 0.5]), vec![0, 1, 2]);
        assert_eq!(run(3, &[0.1, 0.9, 0.5]), vec![0, 1, 2]);
        assert_eq!(run(10, &[0.1, 0.9, 0.5]), vec![0, 1, 2]);
    }

    #[test]
    fn ties_at_the_cut_prefer_lower_id() {
        assert_eq!(run(2, &[1.0, 2.0, 1.0, 1.0]), vec![1, 0]);
    }
}
