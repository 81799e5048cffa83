//! Temperature stage: divides every logit by `t`. A non-positive `t` keeps only the best candidate (its
//! logit unchanged, all others `-inf`), which makes the following draw greedy.
//!
//! Reference: llama.cpp `llama_sampler_temp_impl` (`src/llama-sampling.cpp`). Ties for the best are resolved
//! towards the lowest token id. The default chain does not add this stage for `t <= 0`; it picks greedily
//! instead (see `greedy.rs`).

use super::candidates::cmp_desc;
use super::{Candidates, History, SamplerStage};

/// Temperature scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Temperature {
    /// The temperature; `<= 0` means keep only the argmax.
    pub t: f32,
}

impl SamplerStage for Temperature {
    fn name(&self) -> &'static str {
        "temperature"
    }

    fn apply(&mut self, cands: &mut Candidates, _history: &History) {
        if self.t == 1.0 {
            return;
        }
        if self.t > 0.0 {
            let inv = 1.0 / self.t;
            cands
                .as_mut_slice_order_preserving()
                .iter_mut()
                .for_each(|c| c.logit *= inv);
            return;
        }
        let Some(best) = cands
            .as_slice()
            .iter()
            .min_by(|a, b| cmp_desc(a, b))
            .map(|c| c.id)
        else {
            return;
        };
        for c in cands.as_mut_slice() {
            if c.id != best {
                c.logit = f32::NEG_INFINITY;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::history::Window;

    fn run(t: f32, logits: &[f32]) -> Vec<f32> {
        let mut c = Candidates::with_capacity(logits.len());
        c.fill(logits);
        Temperature { t }.apply(&mut c, &History::new(0, Window::Off));
        c.as_slice().iter().map(|c| c.logit).collect()
    }

    #[test]
    fn scales_logits() {
        assert_eq!(run(0.5, &[1.0, -2.0, 0.25]), vec![2.0, -4.0, 0.5]);
        assert_eq!(run(2.0, &[1.0, -2.0, 0.25]), vec![0.5, -1.0, 0.125]);
    }

    #[test]
    fn non_positive_keeps_argmax_lowest_id() {
        let ninf = f32::NEG_INFINITY;
        assert_eq!(run(0.0, &[1.0, 3.0, 2.0]), vec![ninf, 3.0, ninf]);
        assert_eq!(run(-1.0, &[3.0, 1.0, 3.0]), vec![3.0, ninf, ninf]);
    }
}
