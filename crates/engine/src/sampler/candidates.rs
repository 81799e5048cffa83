//! The candidates buffer that sampler stages filter: `(token id, logit, prob)` triples, allocated once per
//! sampler (capacity `n_vocab`) and refilled for every token without allocating.
//!
//! Reference: llama.cpp `llama_token_data_array` (`include/llama.h`) and the sort/softmax helpers of
//! `src/llama-sampling.cpp`. Unlike llama.cpp, the sort order is total: logit descending, then token id
//! ascending, so every stage is deterministic even with tied logits.

use std::cmp::Ordering;

/// One candidate token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Token id.
    pub id: u32,
    /// Current (possibly biased, penalised, temperature-scaled) logit.
    pub logit: f32,
    /// Probability, valid only after [`Candidates::softmax`] (see [`Candidates::probs_valid`]).
    pub p: f32,
}

/// Total order used everywhere: higher logit first, then lower id first.
pub(crate) fn cmp_desc(a: &Candidate, b: &Candidate) -> Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// The reusable candidates buffer.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    items: Vec<Candidate>,
    sorted: bool,
    probs_valid: bool,
    selected: Option<u32>,
}

impl Candidates {
    /// An empty buffer with room for `n_vocab` candidates.
    pub fn with_capacity(n_vocab: usize) -> Self {
        Self {
            items: Vec::with_capacity(n_vocab),
            sorted: false,
            probs_valid: false,
            selected: None,
        }
    }

    /// Refills the buffer from raw logits: candidate `i` gets id `i`. NaN logits become `-inf` (never picked).
    /// Does not allocate once the capacity is `logits.len()`.
    pub fn fill(&mut self, logits: &[f32]) {
        self.items.clear();
        self.items
            .extend(logits.iter().enumerate().map(|(i, &l)| Candidate {
                id: i as u32,
                logit: if l.is_nan() { f32::NEG_INFINITY } else { l },
                p: 0.0,
            }));
        self.sorted = false;
        self.probs_valid = false;
        self.selected = None;
    }

    /// Number of candidates still in the running.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no candidate is left.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The current candidates, in their current order.
    pub fn as_slice(&self) -> &[Candidate] {
        &self.items
    }

    /// Mutable access for stages that change logits in place. Marks the buffer unsorted and the probabilities
    /// stale, since the caller may change logits arbitrarily.
    pub fn as_mut_slice(&mut self) -> &mut [Candidate] {
        self.sorted = false;
        self.probs_valid = false;
        &mut self.items
    }

    /// Mutable access for a stage that scales all logits by the same positive factor (temperature), which
    /// keeps the order: the sorted flag survives, probabilities become stale.
    pub(crate) fn as_mut_slice_order_preserving(&mut self) -> &mut [Candidate] {
        self.probs_valid = false;
        &mut self.items
    }

    /// Whether the buffer is sorted by logit descending (ties: lower id first).
    pub fn is_sorted(&self) -> bool {
        self.sorted
    }

    /// Whether the `p` fields hold the softmax of the current logits over the current candidates.
    pub fn probs_valid(&self) -> bool {
        self.probs_valid
    }

    /// Sorts all candidates (logit descending, ties by lower id). Allocation-free.
    pub fn sort_desc(&mut self) {
        if !self.sorted {
            self.items.sort_unstable_by(cmp_desc);
            self.sorted = true;
        }
    }

    /// Moves the `k` best candidates to the front, sorted; the rest follow in unspecified order. Afterwards
    /// `as_slice()[..k]` is exactly what a full sort would put there. Allocation-free.
    pub fn partial_sort_desc(&mut self, k: usize) {
        if self.sorted || k == 0 {
            return;
        }
        if k >= self.items.len() {
            self.sort_desc();
            return;
        }
        self.items.select_nth_unstable_by(k - 1, cmp_desc);
        self.items[..k].sort_unstable_by(cmp_desc);
    }

    /// Keeps only the first `n` candidates (in the current order). Callers truncate a sorted prefix, so the
    /// sorted flag is kept; probabilities become stale.
    pub fn truncate(&mut self, n: usize) {
        if n < self.items.len() {
            self.items.truncate(n);
            self.probs_valid = false;
        }
    }

    /// Marks the buffer as sorted; for stages that just produced a sorted prefix and truncated to it.
    pub(crate) fn set_sorted(&mut self) {
        self.sorted = true;
    }

    /// Keeps the candidates for which `keep` is true, preserving their order (and so sortedness).
    pub fn retain(&mut self, keep: impl FnMut(&Candidate) -> bool) {
        let before = self.items.len();
        self.items.retain(keep);
        if self.items.len() != before {
            self.probs_valid = false;
        }
    }

    /// Largest logit, or `None` when empty.
    pub fn max_logit(&self) -> Option<f32> {
        if self.sorted {
            return self.items.first().map(|c| c.logit);
        }
        self.items.iter().map(|c| c.logit).reduce(f32::max)
    }

    /// Sets `p` to the softmax of the logits over the current candidates.
    ///
    /// Returns `false` (and sets every `p` to 0) when no candidate can be picked: the buffer is empty or every
    /// logit is `-inf`. If some logits are `+inf`, they share the probability mass equally.
    pub fn softmax(&mut self) -> bool {
        let Some(max) = self.max_logit() else {
            return false;
        };
        if max == f32::NEG_INFINITY {
            self.items.iter_mut().for_each(|c| c.p = 0.0);
            self.probs_valid = false;
            return false;
        }
        if max == f32::INFINITY {
            let n_inf = self
                .items
                .iter()
                .filter(|c| c.logit == f32::INFINITY)
                .count() as f32;
            self.items.iter_mut().for_each(|c| {
                c.p = if c.logit == f32::INFINITY {
                    1.0 / n_inf
                } else {
                    0.0
                }
            });
            self.probs_valid = true;
            return true;
        }
        let mut sum = 0.0f64;
        for c in self.items.iter_mut() {
            c.p = (c.logit - max).exp();
            sum += f64::from(c.p);
        }
        let inv = (1.0 / sum) as f32;
        self.items.iter_mut().for_each(|c| c.p *= inv);
        self.probs_valid = true;
        true
    }

    /// Records the picked token (set by the final stage of a chain).
    pub fn select(&mut self, id: u32) {
        self.selected = Some(id);
    }

    /// The token picked by the chain, if any.
    pub fn selected(&self) -> Option<u32> {
        self.selected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(c: &Candidates) -> Vec<u32> {
        c.as_slice().iter().map(|c| c.id).collect()
    }

    #[test]
    fn fill_maps_nan_to_neg_inf_and_reuses_capacity() {
        let mut c = Candidates::with_capacity(4);
        let cap = c.items.capacity();
        c.fill(&[1.0, f32::NAN, -2.0, 0.5]);
        assert_eq!(c.len(), 4);
        assert_eq!(c.as_slice()[1].logit, f32::NEG_INFINITY);
        c.fill(&[0.0, 0.0, 0.0, 0.0]);
        assert_eq!(c.items.capacity(), cap);
    }

    #[test]
    fn sort_breaks_ties_by_lower_id() {
        let mut c = Candidates::with_capacity(5);
        c.fill(&[1.0, 3.0, 1.0, 3.0, 2.0]);
        c.sort_desc();
        assert_eq!(ids(&c), vec![1, 3, 4, 0, 2]);
        assert!(c.is_sorted());
    }

    #[test]
    fn partial_sort_front_equals_full_sort_front() {
        let logits: Vec<f32> = (0..100).map(|i| ((i * 37) % 17) as f32 * 0.5).collect();
        let mut a = Candidates::with_capacity(100);
        let mut b = Candidates::with_capacity(100);
        a.fill(&logits);
        b.fill(&logits);
        a.partial_sort_desc(10);
        b.sort_desc();
        assert_eq!(ids(&a)[..10], ids(&b)[..10]);
    }

    #[test]
    fn softmax_values() {
        let mut c = Candidates::with_capacity(3);
        c.fill(&[0.0, 1.0f32.ln(), 3.0f32.ln()]); // weights 1, 1, 3
        assert!(c.softmax());
        let p: Vec<f32> = c.as_slice().iter().map(|c| c.p).collect();
        assert!(
            (p[0] - 0.2).abs() < 1e-6 && (p[1] - 0.2).abs() < 1e-6 && (p[2] - 0.6).abs() < 1e-6
        );
    }

    #[test]
    fn softmax_all_masked_and_infinite() {
        let mut c = Candidates::with_capacity(3);
        c.fill(&[f32::NEG_INFINITY, f32::NAN, f32::NEG_INFINITY]);
        assert!(!c.softmax());
        c.fill(&[f32::INFINITY, 1.0, f32::INFINITY]);
        assert!(c.softmax());
        let p: Vec<f32> = c.as_slice().iter().map(|c| c.p).collect();
        assert_eq!(p, vec![0.5, 0.0, 0.5]);
    }
}
