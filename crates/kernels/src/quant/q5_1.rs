//! Q5_1: blocks of 32 weights, f16 scale `d`, f16 offset `m`, 5-bit quants stored as Q5_0;
//! x = d·q + m.
//!
//! Quantization is ggml's `quantize_row_q5_1_ref`: d = (max−min)/31, m = min,
//! q = trunc((x−min)/d + 0.5) (no clamp, as in ggml). Dot products take Q8_1 activations.
//! Reference: `ggml-common.h` (`block_q5_1`), `ggml-quants.c` (`quantize_row_q5_1_ref`,
//! `dequantize_row_q5_1`), `ggml-cpu/quants.c` (`ggml_vec_dot_q5_1_q8_1_generic`).

use crate::block::{block_layout, f16_to_f32, f32_to_f16};
use crate::quant::q4_1::min_max;
use crate::quant::q5_0::{q5_pack, q5_pair};
use crate::quant::q8_1::BlockQ8_1;

/// Elements per Q5_1 block.
pub const QK5_1: usize = 32;

/// One Q5_1 block (24 bytes).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ5_1 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// Offset (the block minimum), f16 little-endian.
    pub m: [u8; 2],
    /// Fifth bits, u32 little-endian: bit j belongs to element j.
    pub qh: [u8; 4],
    /// Low nibbles: low = element j, high = element j+16.
    pub qs: [u8; QK5_1 / 2],
}
block_layout!(BlockQ5_1, Q5_1, BlockQ5_1 { d: [0; 2], m: [0; 2], qh: [0; 4], qs: [0; QK5_1 / 2] });

/// Dequantize `x` into `y` (`y.len() == 32 * x.len()`).
pub fn dequantize_row_q5_1(x: &[BlockQ5_1], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK5_1);
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK5_1)) {
        let (d, m) = (f16_to_f32(b.d), f16_to_f32(b.m));
        let qh = u32::from_le_bytes(b.qh);
        for j in 0..QK5_1 / 2 {
            let (q0, q1) = q5_pair(&b.qs, qh, j);
            y[j] = f32::from(q0) * d + m;
            y[j + 16] = f32::from(q1) * d + m;
        }
    }
}

/// Quantize `x` into `y` (`x.len() == 32 * y.len()`), bit-identical to `quantize_row_q5_1_ref`.
pub fn quantize_row_q5_1(x: &[f32], y: &mut [BlockQ5_1]) {
    assert_eq!(x.len(), y.len() * QK5_1);
    for (b, x) in y.iter_mut().zip(x.chunks_exact(QK5_1)) {
        let (min, max) = min_max(x);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f32_to_f16(d);
        b.m = f32_to_f16(min);
        let mut l = [0u8; 32];
        for (l, &v) in l.iter_mut().zip(x) {
            *l = ((v - min) * id + 0.5) as u8;
        }
        b.qh = q5_pack(&l, &mut b.qs);
    }
}

/// Σ w·a over Q5_1 weights and Q8_1 activations.
pub fn dot_q5_1_q8_1(w: &[BlockQ5_1], a: &[BlockQ8_1]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let qh = u32::from_le_bytes(x.qh);
        let mut sumi = 0i32;
        for j in 0..QK5_1 / 2 {
            let (q0, q1) = q5_pair(&x.qs, qh, j);
            sumi += i32::from(q0) * i32::from(y.qs[j]) + i32::from(q1) * i32::from(y.qs[j + 16]);
        }
        sum += (f16_to_f32(x.d) * f16_to_f32(y.d)) * sumi as f32 + f16_to_f32(x.m) * f16_to_f32(y.s);
    }
    sum
}
