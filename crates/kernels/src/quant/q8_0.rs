//! Q8_0: blocks of 32 weights, one f16 scale `d`, 32 signed 8-bit quants; x = d·q.
//!
//! Also the activation type for Q4_0/Q5_0/Q8_0 weights. Quantization is ggml's
//! `quantize_row_q8_0_ref`: d = amax/127, q = roundf(x·(1/d)) (round half away from zero).
//! Reference: `ggml-common.h` (`block_q8_0`), `ggml-quants.c` (`quantize_row_q8_0_ref`,
//! `dequantize_row_q8_0`), `ggml-cpu/quants.c` (`ggml_vec_dot_q8_0_q8_0_generic`).

use crate::block::{block_layout, f16_to_f32, f32_to_f16};

/// Elements per Q8_0 block.
pub const QK8_0: usize = 32;

/// One Q8_0 block (34 bytes).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ8_0 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// Quants.
    pub qs: [i8; QK8_0],
}
block_layout!(BlockQ8_0, Q8_0, BlockQ8_0 { d: [0; 2], qs: [0; QK8_0] });

/// Dequantize `x` into `y` (`y.len() == 32 * x.len()`).
pub fn dequantize_row_q8_0(x: &[BlockQ8_0], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK8_0);
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK8_0)) {
        let d = f16_to_f32(b.d);
        for (o, &q) in y.iter_mut().zip(&b.qs) {
            *o = f32::from(q) * d;
        }
    }
}

/// Largest |x| of a slice, as ggml's `MAX(amax, fabsf(v))` loop (NaNs are not supported).
#[inline]
pub(crate) fn abs_max(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| if m > v.abs() { m } else { v.abs() })
}

/// Quantize `x` into `y` (`x.len() == 32 * y.len()`), bit-identical to `quantize_row_q8_0_ref`.
pub fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), y.len() * QK8_0);
    for (b, x) in y.iter_mut().zip(x.chunks_exact(QK8_0)) {
        let d = abs_max(x) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f32_to_f16(d);
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = (v * id).round() as i8;
        }
    }
}

/// Quantize activations `x` into `y` as llama.cpp's x86 backend does (`quantize_row_q8_0` in
/// `ggml-cpu/arch/x86/quants.c`, the vec-dot type conversion of its matmuls): d = amax/127 as
/// the reference, but the multiplier is 127/amax (not 1/d) and the rounding half to even. The
/// quants differ from [`quantize_row_q8_0`]'s wherever `x·id` falls near a half, which in real
/// activations is common enough to move results measurably; matching llama.cpp needs these.
pub fn quantize_row_q8_0_act(x: &[f32], y: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), y.len() * QK8_0);
    for (b, x) in y.iter_mut().zip(x.chunks_exact(QK8_0)) {
        let amax = abs_max(x);
        b.d = f32_to_f16(amax / 127.0);
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = (v * id).round_ties_even() as i8;
        }
    }
}

/// Σ w·a over Q8_0 weights and Q8_0 activations.
pub fn dot_q8_0_q8_0(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let sumi: i32 = x.qs.iter().zip(&y.qs).map(|(&p, &q)| i32::from(p) * i32::from(q)).sum();
        sum += sumi as f32 * (f16_to_f32(x.d) * f16_to_f32(y.d));
    }
    sum
}
