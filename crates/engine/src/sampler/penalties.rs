//! Penalties stage: llama.cpp repetition penalty plus OpenAI presence and frequency penalties, all over the
//! history window (`repeat_last_n`).
//!
//! Reference: llama.cpp `llama_sampler_penalties_apply` (`src/llama-sampling.cpp`). For a token seen `count > 0`
//! times in the window: if `logit <= 0` then `logit *= repeat` else `logit /= repeat` (the CTRL paper only
//! divides, which would make negative logits more likely), then
//! `logit -= count * frequency + presence` (OpenAI "Parameter details": `mu[j] - c[j]*alpha_frequency -
//! float(c[j] > 0)*alpha_presence`). Tokens not in the window are untouched.

use super::{Candidates, History, SamplerStage};

/// Repetition, presence and frequency penalties.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Penalties {
    /// Divide positive / multiply negative logits of repeated tokens; 1.0 = off.
    pub repeat: f32,
    /// Subtracted once from every token present in the window.
    pub presence: f32,
    /// Subtracted `count` times.
    pub frequency: f32,
}

impl Penalties {
    /// Whether applying this stage changes nothing.
    pub fn is_neutral(&self) -> bool {
        self.repeat == 1.0 && self.presence == 0.0 && self.frequency == 0.0
    }
}

impl SamplerStage for Penalties {
    fn name(&self) -> &'static str {
        "penalties"
    }

    fn apply(&mut self, cands: &mut Candidates, history: &History) {
        if self.is_neutral() || history.is_empty() {
            return;
        }
        for c in cands.as_mut_slice() {
            let count = history.count(c.id);
            if count == 0 {
                continue;
            }
            if c.logit <= 0.0 {
                c.logit *= self.repeat;
            } else {
                c.logit /= self.repeat;
            }
            c.logit -= count as f32 * self.frequency + self.presence;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::history::Window;

    fn run(p: Penalties, logits: &[f32], hist: &[u32], window: Window) -> Vec<f32> {
        let mut c = Candidates::with_capacity(logits.len());
        c.fill(logits);
        let mut h = History::new(logits.len(), window);
        hist.iter().for_each(|&t| h.push(t));
        let mut p = p;
        p.apply(&mut c, &h);
        c.as_slice().iter().map(|c| c.logit).collect()
    }

    #[test]
    fn repetition_penalty_divides_positive_multiplies_negative() {
        let p = Penalties {
            repeat: 2.0,
            presence: 0.0,
            frequency: 0.0,
        };
        // tokens 0 (logit 4) and 1 (logit -3) were seen; 2 was not.
        let got = run(p, &[4.0, -3.0, 5.0, 0.0], &[0, 1, 1, 3], Window::Last(64));
        // 4/2 = 2; -3*2 = -6; untouched 5; 0 <= 0 so 0*2 = 0.
        assert_eq!(got, vec![2.0, -6.0, 5.0, 0.0]);
    }

    #[test]
    fn presence_and_frequency_math() {
        let p = Penalties {
            repeat: 1.0,
            presence: 0.5,
            frequency: 0.25,
        };
        // counts: id0 = 3, id1 = 1, id2 = 0
        let got = run(p, &[1.0, 1.0, 1.0], &[0, 1, 0, 0], Window::Last(64));
        // id0: 1 - (3*0.25 + 0.5) = -0.25; id1: 1 - (0.25 + 0.5) = 0.25; id2: 1
        assert_eq!(got, vec![-0.25, 0.25, 1.0]);
    }

    #[test]
    fn combined_and_windowed() {
        let p = Penalties {
            repeat: 1.25,
            presence: 1.0,
            frequency: 0.5,
        };
        // window 2 over [0, 0, 1, 2] -> only [1, 2] count.
        let got = run(p, &[2.5, 2.5, -2.0], &[0, 0, 1, 2], Window::Last(2));
        // id0 untouched; id1: 2.5/1.25 - (0.5 + 1) = 0.5; id2: -2*1.25 - 1.5 = -4.
        assert_eq!(got, vec![2.5, 0.5, -4.0]);
    }

    #[test]
    fn negative_presence_encourages() {
        let p = Penalties {
            repeat: 1.0,
            presence: -1.0,
            frequency: 0.0,
        };
        assert_eq!(run(p, &[0.0, 0.0], &[1], Window::All), vec![0.0, 1.0]);
    }
}
