//! Q8_1: blocks of 32 int8 quants with an f16 scale `d` and `s = d·Σq` (f16); x = d·q.
//!
//! Only used as the activation type for Q4_1/Q5_1 weights: the precomputed `s` folds the
//! weights' offset `m` into one multiply per block. Quantization is ggml's
//! `quantize_row_q8_1_ref` (roundf, round half away from zero; `s` from the integer sum).
//! Reference: `ggml-common.h` (`block_q8_1`), `ggml-quants.c` (`quantize_row_q8_1_ref`).

use crate::block::{block_layout, f16_to_f32, f32_to_f16};
use crate::quant::q8_0::abs_max;

/// Elements per Q8_1 block.
pub const QK8_1: usize = 32;

/// One Q8_1 block (36 bytes).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ8_1 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// d · Σ qs, f16 little-endian.
    pub s: [u8; 2],
    /// Quants.
    pub qs: [i8; QK8_1],
}
block_layout!(BlockQ8_1, Q8_1, BlockQ8_1 { d: [0; 2], s: [0; 2], qs: [0; QK8_1] });

/// Dequantize `x` into `y` (`y.len() == 32 * x.len()`): x = d·q (`s` is redundant).
pub fn dequantize_row_q8_1(x: &[BlockQ8_1], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK8_1);
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK8_1)) {
        let d = f16_to_f32(b.d);
        for (o, &q) in y.iter_mut().zip(&b.qs) {
            *o = f32::from(q) * d;
        }
    }
}

/// Quantize activations `x` into `y` as llama.cpp's x86 backend does (`quantize_row_q8_1` in
/// `ggml-cpu/arch/x86/quants.c`): multiplier 127/amax, rounding half to even (see
/// `q8_0::quantize_row_q8_0_act`); `s` as the reference.
pub fn quantize_row_q8_1_act(x: &[f32], y: &mut [BlockQ8_1]) {
    assert_eq!(x.len(), y.len() * QK8_1);
    for (b, x) in y.iter_mut().zip(x.chunks_exact(QK8_1)) {
        let amax = super::q8_0::abs_max(x);
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        b.d = f32_to_f16(d);
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = (v * id).round_ties_even() as i8;
            sum += i32::from(*q);
        }
        b.s = f32_to_f16(sum as f32 * d);
    }
}

/// Quantize `x` into `y` (`x.len() == 32 * y.len()`), bit-identical to `quantize_row_q8_1_ref`.
pub fn quantize_row_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    assert_eq!(x.len(), y.len() * QK8_1);
    for (b, x) in y.iter_mut().zip(x.chunks_exact(QK8_1)) {
        let d = abs_max(x) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f32_to_f16(d);
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = (v * id).round() as i8;
            sum += i32::from(*q);
        }
        b.s = f32_to_f16(sum as f32 * d);
    }
}
