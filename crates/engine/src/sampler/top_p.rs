//! Top-p (nucleus) stage: keeps the smallest prefix of the most likely candidates whose probability mass
//! reaches `p`, and always at least `min_keep` (≥ 1) candidates.
//!
//! Reference: Holtzman et al., "The Curious Case of Neural Text Degeneration" (2019), and llama.cpp
//! `llama_sampler_top_p_apply` (`src/llama-sampling.cpp`): softmax over the current candidates, walk them in
//! descending order, stop at the first index where the running sum is `>= p` (that token is kept).
//! For large unsorted buffers we first sort only the best 256 and fall back to a full sort when their mass
//! is below `p` (llama.cpp uses a bucket sort for the same purpose). Both paths give the same result.

use super::{Candidates, History, SamplerStage};

/// Candidates above this count are not fully sorted up front.
const PARTIAL_THRESHOLD: usize = 1024;
/// How many candidates the partial sort looks at first.
const PARTIAL_K: usize = 256;

/// Nucleus filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopP {
    /// Probability mass to keep, in (0, 1]; `>= 1` disables.
    pub p: f32,
    /// Minimum number of candidates kept (values below 1 act as 1).
    pub min_keep: usize,
}

impl TopP {
    /// Index one past the last kept candidate among the sorted prefix `probs`, or `None` if the prefix does
    /// not reach the target mass.
    fn cut(&self, probs: impl Iterator<Item = f32>) -> Option<usize> {
        let mut cum = 0.0f32;
        for (i, p) in probs.enumerate() {
            cum += p;
            if cum >= self.p && i + 1 >= self.min_keep.max(1) {
                return Some(i + 1);
            }
        }
        None
    }
}

impl SamplerStage for TopP {
    fn name(&self) -> &'static str {
        "top-p"
    }

    fn apply(&mut self, cands: &mut Candidates, _history: &History) {
        if self.p >= 1.0 || cands.len() <= 1 {
            return;
        }
        if !cands.softmax() {
            return; // every candidate is masked; the pick stage reports it
        }
        if !cands.is_sorted() && cands.len() > PARTIAL_THRESHOLD {
            cands.partial_sort_desc(PARTIAL_K);
            if let Some(n) = self.cut(cands.as_slice()[..PARTIAL_K].iter().map(|c| c.p)) {
                cands.truncate(n);
                cands.set_sorted();
                return;
            }
        }
        cands.sort_desc();
        let n = self
            .cut(cands.as_slice().iter().map(|c| c.p))
            .unwrap_or(cands.len());
        cands.truncate(n);
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
        TopP { p, min_keep }.apply(&mut c, &History::new(0, Window::Off));
        c.as_slice().iter().map(|c| c.id).collect()
    }

    #[test]
    fn hand_computed_cuts() {
        // cum = 0.5, 0.8, 1.0
        assert_eq!(run(0.7, 1, &[0.5, 0.3, 0.2]), vec![0, 1]);
        assert_eq!(run(0.4, 1, &[0.5, 0.3, 0.2]), vec![0]);
        assert_eq!(run(0.9, 1, &[0.5, 0.3, 0.2]), vec![0, 1, 2]);
        // unsorted input: probs 0.2, 0.5, 0.3 -> order 1, 2, 0
        assert_eq!(run(0.7, 1, &[0.2, 0.5, 0.3]), vec![1, 2]);
    }

    #[test]
    fn keeps_at_least_one_and_min_keep() {
        assert_eq!(run(0.01, 1, &[0.5, 0.3, 0.2]), vec![0]);
        assert_eq!(run(0.01, 0, &[0.5, 0.3, 0.2]), vec![0]);
        assert_eq!(run(0.01, 2, &[0.5, 0.3, 0.2]), vec![0, 1]);
    }

    #[test]
    fn p_one_is_a_no_op() {
        assert_eq!(run(1.0, 1, &[0.2, 0.5, 0.3]), vec![0, 1, 2]);
    }

    #[test]
    fn large_vocab_partial_and_full_paths_match_reference() {
        // 5000 candidates; a flat tail forces the full-sort path for high p, a peaked head the partial one.
        let n = 5000;
        for (p, peak) in [(0.5f32, 8.0f32), (0.95, 0.0), (0.99, 3.0)] {
            let logits: Vec<f32> = (0..n)
                .map(|i| {
                    if i % 997 == 0 {
                        peak
                    } else {
                        ((i * 7919) % 1000) as f32 / 500.0
                    }
                })
                .collect();
            let mut c = Candidates::with_capacity(n);
            c.fill(&logits);
            TopP { p, min_keep: 1 }.apply(&mut c, &History::new(0, Window::Off));
            // Reference: full sort in f64.
            let mut r: Vec<(u32, f64)> = logits
                .iter()
                .enumerate()
                .map(|(i, &l)| (i as u32, l as f64))
                .collect();
            r.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let max = r[0].1;
            let z: f64 = r.iter().map(|x| (x.1 - max).exp()).sum();
            let mut cum = 0.0;
            let mut keep = r.len();
            for (i, x) in r.iter().enumerate() {
                cum += (x.1 - max).exp() / z;
                if cum >= p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            let got: Vec<u32> = c.as_slice().iter().map(|c| c.id).collect();
            let want: Vec<u32> = r[..keep].iter().map(|x| x.0).collect();
            // f32 vs f64 accumulation may move the cut by at most one token at the boundary.
            assert!(
                got.len().abs_diff(want.len()) <= 1,
                "p={p}: {} vs {}",
                got.len(),
                want.len()
            );
            let m = got.len().min(want.len());
            assert_eq!(got[..m], want[..m], "p={p}");
            assert!(c.is_sorted());
        }
    }
}
