//! Greedy pick: selects the candidate with the highest logit; ties go to the lowest token id.
//!
//! Reference: llama.cpp `llama_sampler_greedy_apply` (`src/llama-sampling.cpp`), which keeps the first
//! maximum of the id-ordered buffer, i.e. the lowest id. Selects nothing when every logit is `-inf`.

use super::candidates::cmp_desc;
use super::{Candidates, History, SamplerStage};

/// Argmax pick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Greedy;

impl SamplerStage for Greedy {
    fn name(&self) -> &'static str {
        "greedy"
    }

    fn apply(&mut self, cands: &mut Candidates, _history: &History) {
        let best = cands
            .as_slice()
            .iter()
            .min_by(|a, b| cmp_desc(a, b))
            .copied();
        if let Some(c) = best {
            if c.logit > f32::NEG_INFINITY {
                cands.select(c.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::history::Window;

    fn run(logits: &[f32]) -> Option<u32> {
        let mut c = Candidates::with_capacity(logits.len());
        c.fill(logits);
        Greedy.apply(&mut c, &History::new(0, Window::Off));
        c.selected()
    }

    #[test]
    fn argmax_with_lowest_id_ties() {
        assert_eq!(run(&[0.1, 0.9, 0.5]), Some(1));
        assert_eq!(run(&[0.9, 0.1, 0.9]), Some(0));
        assert_eq!(run(&[-1.0, 2.0, 2.0, 1.0]), Some(1));
        assert_eq!(run(&[f32::NAN, -5.0]), Some(1));
    }

    #[test]
    fn nothing_when_all_masked() {
        assert_eq!(run(&[f32::NEG_INFINITY, f32::NAN]), None);
        assert_eq!(run(&[]), None);
    }
}
