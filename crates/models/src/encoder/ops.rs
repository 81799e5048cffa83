//! Element-wise helpers of the encoder: its FFN activations and L2 normalisation.
//!
//! GELU with erf is the activation of BERT and of nearly every sentence embedder. The exact
//! f64 `erf` of `nn::ops` costs tens of nanoseconds a call, and an encoder pass applies it to
//! `n_tokens x n_ff` values (a batch of 32 sentences: over half a million per layer), so here
//! it is computed from the Chebyshev fit of `erfc` in Numerical Recipes (`erfcc`: relative
//! error below 1.2e-7 for every argument), with the crate's branch-free `exp`. The tests check
//! it against the f64 series.
//!
//! ref: Press et al., "Numerical Recipes in C", 2nd ed., §6.2 (`erfcc`); transformers
//! `activations.py` (`GELUActivation`, `NewGELUActivation`); PyTorch `F.normalize`.

use super::config::EncoderAct;
use crate::nn::ops::exp_fast;

/// `erfc(z)` for `z >= 0`, relative error below about 2e-7 in f32.
#[inline(always)]
fn erfc_pos(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = -1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_204 + t * (1.488_515_9 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    t * exp_fast(-z * z + p)
}

/// GELU with the exact normal CDF: `x/2 * (1 + erf(x/sqrt 2))`, written with `erfc` of `|x|`
/// so that the negative tail keeps its relative accuracy.
#[inline(always)]
pub(crate) fn gelu_erf(x: f32) -> f32 {
    let c = erfc_pos(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    let one_plus_erf = if x >= 0.0 { 2.0 - c } else { c };
    0.5 * x * one_plus_erf
}

/// Applies `act` to every element.
pub(crate) fn activate(act: EncoderAct, x: &mut [f32]) {
    match act {
        EncoderAct::GeluErf => x.iter_mut().for_each(|v| *v = gelu_erf(*v)),
        EncoderAct::GeluTanh => {
            const SQRT_2_OVER_PI: f32 = 0.797_884_6;
            x.iter_mut().for_each(|v| *v = 0.5 * *v * (1.0 + (SQRT_2_OVER_PI * (*v + 0.044715 * *v * *v * *v)).tanh()));
        }
        EncoderAct::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
        EncoderAct::Silu => x.iter_mut().for_each(|v| *v /= 1.0 + exp_fast(-*v)),
    }
}

/// `v / max(|v|, 1e-12)` (PyTorch `F.normalize(p=2)`), the norm summed in f64.
pub(crate) fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x = (*x as f64 / norm) as f32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::ops::erf;

    #[test]
    fn gelu_erf_matches_the_f64_series() {
        // Relative error where |GELU| >= 0.01, absolute below (the negative tail, where a
        // relative error of erfc's fit of a few 1e-7 stays harmless).
        let (mut rel, mut abs) = (0f64, 0f64);
        let mut x = -12.0f64;
        while x < 12.0 {
            let want = 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2));
            let err = (gelu_erf(x as f32) as f64 - want).abs();
            if want.abs() >= 0.01 {
                rel = rel.max(err / want.abs());
            } else {
                abs = abs.max(err);
            }
            x += 0.000_731;
        }
        assert!(rel < 1e-6 && abs < 1e-8, "worst relative error {rel:e}, absolute {abs:e}");
        assert_eq!(gelu_erf(0.0), 0.0);
        assert_eq!(gelu_erf(30.0), 30.0);
        assert!(gelu_erf(-30.0).abs() < 1e-30);
    }

    #[test]
    fn normalize_gives_unit_length() {
        let mut v = [3.0f32, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0f32; 3];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0; 3]);
    }
}
