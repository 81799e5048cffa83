//! Element-wise and per-row building blocks of the decoder: RMSNorm, LayerNorm, activations
//! (SiLU, GELU with erf, GELU-tanh), the gated activation `act(gate) * up` in one pass,
//! soft-capping, softmax, and a branch-free `exp` for the hot loops. Plain f32 loops written to
//! follow PyTorch's formulas (f32 storage, sums accumulated in f64 where PyTorch reduces in
//! higher precision or pairwise, so results stay within f32 rounding of the reference), and
//! shaped so that the compiler vectorises them.
//!
//! ref: transformers `LlamaRMSNorm`, `Gemma2RMSNorm`, `nn.LayerNorm`, `activations.py`
//! (`GELUActivation`, `PytorchGELUTanh`); Cephes `expf` (Moshier) for the exp polynomial, as
//! ggml's `ggml_v_expf` uses a similar range reduction.

use std::sync::OnceLock;

use half::{f16, slice::HalfFloatSliceExt};

use crate::spec::Activation;

/// RMSNorm of every row of `x` (`[n, w.len()]`) into `out`: `x / sqrt(mean(x²) + eps) * w`.
pub(crate) fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let n = w.len();
    for (xr, yr) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        let ss: f64 = xr.iter().map(|&v| (v as f64) * (v as f64)).sum();
        let inv = 1.0 / ((ss / n as f64) as f32 + eps).sqrt();
        for ((y, &v), &g) in yr.iter_mut().zip(xr).zip(w) {
            *y = (v * inv) * g;
        }
    }
}

/// In-place RMSNorm of every `w.len()`-sized chunk of `x` (per-head q/k norm).
pub(crate) fn rms_norm_inplace(x: &mut [f32], w: &[f32], eps: f32) {
    let n = w.len();
    for xr in x.chunks_exact_mut(n) {
        let ss: f64 = xr.iter().map(|&v| (v as f64) * (v as f64)).sum();
        let inv = 1.0 / ((ss / n as f64) as f32 + eps).sqrt();
        for (v, &g) in xr.iter_mut().zip(w) {
            *v = (*v * inv) * g;
        }
    }
}

/// LayerNorm of every row of `x` into `out`: `(x - mean) / sqrt(var + eps) * w (+ b)`, with
/// the biased variance.
pub(crate) fn layer_norm(x: &[f32], w: &[f32], b: Option<&[f32]>, eps: f32, out: &mut [f32]) {
    let n = w.len();
    for (xr, yr) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        let mean = xr.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        let var = xr.iter().map(|&v| (v as f64 - mean) * (v as f64 - mean)).sum::<f64>() / n as f64;
        let inv = 1.0 / (var + eps as f64).sqrt();
        for (i, (y, &v)) in yr.iter_mut().zip(xr).enumerate() {
            *y = ((v as f64 - mean) * inv) as f32 * w[i] + b.map_or(0.0, |b| b[i]);
        }
    }
}

/// The error function, accurate to about 1e-15 (f64): Taylor series near 0, continued
/// fraction for `erfc` in the tails.
pub(crate) fn erf(x: f64) -> f64 {
    let ax = x.abs();
    if ax < 2.5 {
        // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -x2 / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    } else {
        // erfc(x) = exp(-x²)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))), evaluated
        // bottom-up with enough terms for x ≥ 2.5.
        let mut f = 0.0;
        for k in (1..=60).rev() {
            f = (k as f64 / 2.0) / (ax + f);
        }
        let erfc = (-ax * ax).exp() / std::f64::consts::PI.sqrt() / (ax + f);
        (1.0 - erfc).copysign(x)
    }
}

/// e^x within 2 ulp of the correctly rounded result for normal results (x in about
/// [-87.3, 88.4]); below, it returns about 1.2e-38 instead of a subnormal or 0, above, about
/// 2.4e38; NaN stays NaN. Branch-free (selects, no calls), so loops over it vectorise.
///
/// Cephes `expf`: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two for an exact reduction), a
/// degree-6 polynomial for e^r, and 2^n built in the exponent bits.
#[inline(always)]
pub(crate) fn exp_fast(x: f32) -> f32 {
    const HI: f32 = 88.376_26;
    const LO: f32 = -87.336_54;
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding and subtracting rounds to an integer
    let x = if x > HI { HI } else { x };
    let x = if x < LO { LO } else { x };
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let p = p * r * r + r + 1.0;
    p * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// `x[i] = e^(x[i] - m)` for every element; returns their sum (in 8 lanes, then added: the
/// same order for any caller, so results do not depend on how work is split).
pub(crate) fn exp_sub_sum(x: &mut [f32], m: f32) -> f32 {
    let mut acc = [0f32; 8];
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        for (v, a) in c.iter_mut().zip(acc.iter_mut()) {
            *v = exp_fast(*v - m);
            *a += *v;
        }
    }
    let mut sum = 0f32;
    for v in chunks.into_remainder() {
        *v = exp_fast(*v - m);
        sum += *v;
    }
    acc.iter().sum::<f32>() + sum
}

/// SiLU `x · sigmoid(x)`, with [`exp_fast`].
#[inline(always)]
fn silu(x: f32) -> f32 {
    x / (1.0 + exp_fast(-x))
}

/// The gated activation of a GLU FFN in one pass: `gate[i] = act(gate[i]) * up[i]`.
pub(crate) fn gated_act(act: Activation, gate: &mut [f32], up: &[f32]) {
    match act {
        Activation::Silu => gate.iter_mut().zip(up).for_each(|(g, &u)| *g = silu(*g) * u),
        Activation::GeluTanhF16 => {
            gelu_f16_slice(gate);
            gate.iter_mut().zip(up).for_each(|(g, &u)| *g *= u);
        }
        _ => gate.iter_mut().zip(up).for_each(|(g, &u)| *g = activate(act, *g) * u),
    }
}

/// `act(x)` of every element in place.
pub(crate) fn act_inplace(act: Activation, x: &mut [f32]) {
    match act {
        Activation::Silu => x.iter_mut().for_each(|v| *v = silu(*v)),
        Activation::GeluTanhF16 => gelu_f16_slice(x),
        _ => x.iter_mut().for_each(|v| *v = activate(act, *v)),
    }
}

/// Applies `act` to one value.
#[inline]
pub(crate) fn activate(act: Activation, x: f32) -> f32 {
    match act {
        Activation::Silu => silu(x),
        Activation::Gelu => (0.5 * x as f64 * (1.0 + erf(x as f64 * std::f64::consts::FRAC_1_SQRT_2))) as f32,
        Activation::GeluTanh => {
            const SQRT_2_OVER_PI: f32 = 0.797_884_6;
            0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh())
        }
        Activation::GeluTanhF16 => gelu_f16_table(x),
    }
}

/// ggml's `ggml_vec_gelu_f32` with `GGML_GELU_FP16`: `f16(gelu(f16(x)))`, where `gelu` is
/// ggml's f32 formula `0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x²)))` (the table entry),
/// 0 below -10 and `x` above 10.
fn gelu_f16_table(x: f32) -> f32 {
    if x <= -10.0 {
        return 0.0;
    }
    if x >= 10.0 {
        return x;
    }
    f16::from_bits(gelu_f16_bits()[f16::from_f32(x).to_bits() as usize]).to_f32()
}

/// The GELU value of every f16 input, as f16 bits, indexed by the input's bits (128 KiB, built
/// once: as ggml's `ggml_table_gelu_f16`).
fn gelu_f16_bits() -> &'static [u16] {
    static TABLE: OnceLock<Vec<u16>> = OnceLock::new();
    TABLE.get_or_init(|| {
        const SQRT_2_OVER_PI: f32 = 0.797_884_6;
        (0..=u16::MAX)
            .map(|bits| {
                let h = f16::from_bits(bits).to_f32();
                let g = 0.5 * h * (1.0 + (SQRT_2_OVER_PI * h * (1.0 + 0.044715 * h * h)).tanh());
                f16::from_f32(g).to_bits()
            })
            .collect()
    })
}

/// [`gelu_f16_table`] of every element of `x`, 64 at a time through slice conversions (F16C
/// where the CPU has it).
fn gelu_f16_slice(x: &mut [f32]) {
    let table = gelu_f16_bits();
    let mut h = [f16::ZERO; 64];
    let mut g = [0f32; 64];
    for c in x.chunks_mut(64) {
        let (h, g) = (&mut h[..c.len()], &mut g[..c.len()]);
        h.convert_from_f32_slice(c);
        for v in h.iter_mut() {
            *v = f16::from_bits(table[v.to_bits() as usize]);
        }
        h.convert_to_f32_slice(g);
        for (v, &gv) in c.iter_mut().zip(g.iter()) {
            *v = if *v <= -10.0 {
                0.0
            } else if *v >= 10.0 {
                *v
            } else {
                gv
            };
        }
    }
}

/// `cap * tanh(x / cap)` in place.
pub(crate) fn softcap(x: &mut [f32], cap: f32) {
    for v in x {
        *v = (*v / cap).tanh() * cap;
    }
}

/// Softmax in place (max-subtracted; `-inf` entries become 0).
pub(crate) fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return;
    }
    let mut sum = 0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// `y += x` element-wise.
#[inline]
pub(crate) fn add_into(y: &mut [f32], x: &[f32]) {
    for (a, b) in y.iter_mut().zip(x) {
        *a += *b;
    }
}

/// Adds `bias` to every row of `x`.
pub(crate) fn add_bias(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        add_into(row, bias);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_known_values() {
        let cases = [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (2.4999, 0.999_592_830_099_666_6),
            (3.0, 0.999_977_909_503_001_4),
            (-1.5, -0.966_105_146_475_310_7),
            (6.0, 1.0),
        ];
        for (x, want) in cases {
            assert!((erf(x) - want).abs() < 1e-12, "erf({x}) = {} want {want}", erf(x));
        }
    }

    #[test]
    fn exp_fast_within_two_ulp() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = exp_fast(x) as f64;
            worst = worst.max((got - want).abs() / want);
            x += 0.001_37;
        }
        // 2 ulp of f32 is 2^-22 relative.
        assert!(worst < 2.4e-7, "max relative error {worst:e}");
        assert_eq!(exp_fast(0.0), 1.0);
        assert!(exp_fast(f32::NAN).is_nan());
        assert!(exp_fast(-1000.0) < 1.2e-38 && exp_fast(-1000.0) > 0.0);
        assert!(exp_fast(f32::NEG_INFINITY) < 1.2e-38);
        let mut v = [0.0f32, -1.0, -2.0, 1.0, -0.5, -3.0, -4.0, -5.0, -6.0, -7.0];
        let s = exp_sub_sum(&mut v, 1.0);
        let want: f64 = [0.0f64, -1.0, -2.0, 1.0, -0.5, -3.0, -4.0, -5.0, -6.0, -7.0].iter().map(|x| (x - 1.0).exp()).sum();
        assert!((s as f64 - want).abs() < 1e-6, "{s} vs {want}");
        assert!((v[3] - 1.0).abs() < 1e-7);
    }

    #[test]
    fn gated_activation_is_act_times_up() {
        let g: Vec<f32> = (0..37).map(|i| i as f32 * 0.3 - 5.0).collect();
        let u: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.05).collect();
        for act in [Activation::Silu, Activation::Gelu, Activation::GeluTanh] {
            let mut out = g.clone();
            gated_act(act, &mut out, &u);
            for i in 0..37 {
                let x = g[i] as f64;
                let want = match act {
                    Activation::Silu => x / (1.0 + (-x).exp()),
                    Activation::Gelu => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
                    _ => 0.5 * x * (1.0 + (0.797_884_560_802_865_4 * (x + 0.044715 * x * x * x)).tanh()),
                } * u[i] as f64;
                assert!((out[i] as f64 - want).abs() < 1e-6 * (1.0 + want.abs()), "{act:?} {x}: {} vs {want}", out[i]);
            }
        }
    }

    #[test]
    fn activations() {
        assert!((activate(Activation::Silu, 1.0) - 0.731_058_6).abs() < 1e-6);
        assert!((activate(Activation::Gelu, 1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((activate(Activation::GeluTanh, 1.0) - 0.841_192).abs() < 1e-6);
        // f16 table values (numpy: f16(gelu_f32(f32(f16(x))))).
        assert_eq!(activate(Activation::GeluTanhF16, 1.0), 0.841_308_6);
        assert_eq!(activate(Activation::GeluTanhF16, 0.3), 0.185_424_8);
        assert_eq!(activate(Activation::GeluTanhF16, -2.5), -0.015_083_313);
        assert_eq!(activate(Activation::GeluTanhF16, -10.5), 0.0);
        assert_eq!(activate(Activation::GeluTanhF16, 12.0), 12.0);
        // Far tails: |GELU(-10)| = 10 * erfc(10/sqrt 2)/2 ≈ 7.6e-23, GELU(10) = 10.
        assert!(activate(Activation::Gelu, -10.0).abs() < 1e-20);
        assert_eq!(activate(Activation::Gelu, 10.0), 10.0);
    }

    #[test]
    fn norms_and_softmax() {
        let mut out = [0f32; 4];
        rms_norm(&[1.0, 2.0, 3.0, 4.0], &[1.0, 1.0, 2.0, 2.0], 0.0, &mut out);
        let r = (30.0f32 / 4.0).sqrt();
        assert!((out[3] - 8.0 / r).abs() < 1e-6);
        layer_norm(&[1.0, 2.0, 3.0, 4.0], &[1.0; 4], Some(&[0.5; 4]), 0.0, &mut out);
        assert!((out[0] - (0.5 - 1.5 / 1.25f32.sqrt())).abs() < 1e-6);
        let mut p = [1.0, 2.0, f32::NEG_INFINITY];
        softmax(&mut p);
        assert!((p[1] - 1.0 / (1.0 + (-1.0f32).exp())).abs() < 1e-7 && p[2] == 0.0);
    }

    #[test]
    fn gelu_f16_slice_matches_the_formula_for_every_half() {
        const SQRT_2_OVER_PI: f32 = 0.797_884_6;
        let mut xs: Vec<f32> = (0..=u16::MAX).map(|b| f16::from_bits(b).to_f32()).filter(|x| x.is_finite()).collect();
        xs.extend([-10.5f32, -10.0, 9.999, 10.0, 12.25, 1e-3, -0.37]);
        let mut got = xs.clone();
        gelu_f16_slice(&mut got);
        for (&x, &g) in xs.iter().zip(&got) {
            let want = if x <= -10.0 {
                0.0
            } else if x >= 10.0 {
                x
            } else {
                let h = f16::from_f32(x).to_f32();
                f16::from_f32(0.5 * h * (1.0 + (SQRT_2_OVER_PI * h * (1.0 + 0.044715 * h * h)).tanh())).to_f32()
            };
            assert_eq!(g.to_bits(), want.to_bits(), "gelu({x}) = {g}, want {want}");
            assert_eq!(activate(Activation::GeluTanhF16, x).to_bits(), want.to_bits(), "activate({x})");
        }
    }
}
