//! Dist pick: draws a token from the softmax of the current candidates with a seeded RNG.
//!
//! Reference: llama.cpp `llama_sampler_dist_apply` (`src/llama-sampling.cpp`): one uniform draw `u`, then the
//! first candidate whose running probability sum exceeds `u * total`. We use our own xoshiro256** (see
//! `rng.rs`) instead of `std::mt19937`, so the token streams differ from llama.cpp's for the same seed, but
//! are identical across runs and platforms for the same seed, settings and logits.

use super::rng::Rng;
use super::{Candidates, History, SamplerStage};

/// Random draw from the candidates' distribution.
#[derive(Debug, Clone)]
pub struct Dist {
    seed: u64,
    rng: Rng,
}

impl Dist {
    /// A dist stage whose RNG starts from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            rng: Rng::seed_from_u64(seed),
        }
    }

    /// The seed this stage starts from (and returns to on reset).
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl SamplerStage for Dist {
    fn name(&self) -> &'static str {
        "dist"
    }

    fn apply(&mut self, cands: &mut Candidates, _history: &History) {
        if !cands.softmax() {
            return;
        }
        let total: f64 = cands.as_slice().iter().map(|c| f64::from(c.p)).sum();
        let target = self.rng.next_f64() * total;
        let mut cum = 0.0f64;
        let mut last_nonzero = None;
        for c in cands.as_slice() {
            if c.p > 0.0 {
                last_nonzero = Some(c.id);
            }
            cum += f64::from(c.p);
            if cum > target {
                cands.select(c.id);
                return;
            }
        }
        // Only reachable through rounding: the running sum ends exactly at `total > target`.
        if let Some(id) = last_nonzero {
            cands.select(id);
        }
    }

    fn reset(&mut self) {
        self.rng = Rng::seed_from_u64(self.seed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::history::Window;

    #[test]
    fn never_picks_zero_probability_and_resets() {
        let logits = [f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY, 0.0];
        let h = History::new(0, Window::Off);
        let mut d = Dist::new(5);
        let mut c = Candidates::with_capacity(4);
        let mut first = Vec::new();
        for _ in 0..200 {
            c.fill(&logits);
            d.apply(&mut c, &h);
            let id = c.selected().unwrap();
            assert!(id == 1 || id == 3);
            first.push(id);
        }
        assert!(first.contains(&1) && first.contains(&3));
        d.reset();
        let again: Vec<u32> = (0..200)
            .map(|_| {
                c.fill(&logits);
                d.apply(&mut c, &h);
                c.selected().unwrap()
            })
            .collect();
        assert_eq!(first, again);
    }

    #[test]
    fn selects_nothing_when_all_masked() {
        let mut c = Candidates::with_capacity(2);
        c.fill(&[f32::NEG_INFINITY, f32::NAN]);
        Dist::new(1).apply(&mut c, &History::new(0, Window::Off));
        assert_eq!(c.selected(), None);
    }
}
