//! Q4_1: blocks of 32 weights, f16 scale `d` and f16 offset `m`, 4-bit quants; x = d·q + m.
//!
//! Nibble order as Q4_0. Quantization is ggml's `quantize_row_q4_1_ref`: d = (max−min)/15,
//! m = min, q = min(15, trunc((x−min)/d + 0.5)). Dot products take Q8_1 activations, whose
//! `s = d_a·Σq_a` turns the offset term into one multiply: Σ(d·q+m)·d_a·q_a = d·d_a·Σq·q_a + m·s.
//! Reference: `ggml-common.h` (`block_q4_1`), `ggml-quants.c` (`quantize_row_q4_1_ref`,
//! `dequantize_row_q4_1`), `ggml-cpu/quants.c` (`ggml_vec_dot_q4_1_q8_1_generic`).

use crate::block::{block_layout, f16_to_f32, f32_to_f16};
use crate::quant::q8_1::BlockQ8_1;

/// Elements per Q4_1 block.
pub const QK4_1: usize = 32;

/// One Q4_1 block (20 bytes).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ4_1 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// Offset (the block minimum), f16 little-endian.
    pub m: [u8; 2],
    /// Nibbles: low = element j, high = element j+16.
    pub qs: [u8; QK4_1 / 2],
}
block_layout!(BlockQ4_1, Q4_1, BlockQ4_1 { d: [0; 2], m: [0; 2], qs: [0; QK4_1 / 2] });

/// Dequantize `x` into `y` (`y.len() == 32 * x.len()`).
pub fn dequantize_row_q4_1(x: &[BlockQ4_1], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK4_1);
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK4_1)) {
        let (d, m) = (f16_to_f32(b.d), f16_to_f32(b.m));
        for (j, &q) in b.qs.iter().enumerate() {
            y[j] = f32::from(q & 0x0f) * d + m;
            y[j + 16] = f32::from(q >> 4) * d + m;
        }
    }
}

/// (min, max) of a slice as ggml's loop starting from (FLT_MAX, −FLT_MAX).
#[inline]
pub(crate) fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// Quantize `x` into `y` (`x.len() == 32 * y.len()`), bit-identical to `quantize_row_q4_1_ref`.
pub fn quantize_row_q4_1(x: &[f32], y: &mut [BlockQ4_1]) {
    assert_eq!(x.len(), y.len() * QK4_1);
    for (b, x) in y.iter_mut().zip(x.chunks_exact(QK4_1)) {
        let (min, max) = min_max(x);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f32_to_f16(d);
        b.m = f32_to_f16(min);
        for j in 0..QK4_1 / 2 {
            let q0 = (((x[j] - min) * id + 0.5) as i8).min(15) as u8;
            let q1 = (((x[j + 16] - min) * id + 0.5) as i8).min(15) as u8;
            b.qs[j] = q0 | (q1 << 4);
        }
    }
}

/// Σ w·a over Q4_1 weights and Q8_1 activations.
pub fn dot_q4_1_q8_1(w: &[BlockQ4_1], a: &[BlockQ8_1]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut sumi = 0i32;
        for j in 0..QK4_1 / 2 {
            sumi += i32::from(x.qs[j] & 0x0f) * i32::from(y.qs[j]) + i32::from(x.qs[j] >> 4) * i32::from(y.qs[j + 16]);
        }
        sum += (f16_to_f32(x.d) * f16_to_f32(y.d)) * sumi as f32 + f16_to_f32(x.m) * f16_to_f32(y.s);
    }
    sum
}
