//! Q5_0: blocks of 32 weights, f16 scale `d`, 5-bit quants split into 4 low bits (nibbles as
//! Q4_0) and a 32-bit `qh` holding bit 4 of element j at bit j; x = d·(q − 16).
//!
//! Quantization is ggml's `quantize_row_q5_0_ref`: d = max/−16 (signed value of largest
//! magnitude), q = min(31, trunc(x/d + 16.5)). Dot products take Q8_0 activations.
//! Reference: `ggml-common.h` (`block_q5_0`), `ggml-quants.c` (`quantize_row_q5_0_ref`,
//! `dequantize_row_q5_0`), `ggml-cpu/quants.c` (`ggml_vec_dot_q5_0_q8_0_generic`).

use crate::block::{block_layout, f16_to_f32, f32_to_f16};
use crate::quant::q4_0::signed_abs_max;
use crate::quant::q8_0::BlockQ8_0;

/// Elements per Q5_0 block.
pub const QK5_0: usize = 32;

/// One Q5_0 block (22 bytes).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ5_0 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// Fifth bits, u32 little-endian: bit j belongs to element j.
    pub qh: [u8; 4],
    /// Low nibbles: low = element j, high = element j+16.
    pub qs: [u8; QK5_0 / 2],
}
block_layout!(BlockQ5_0, Q5_0, BlockQ5_0 { d: [0; 2], qh: [0; 4], qs: [0; QK5_0 / 2] });

/// The 5-bit quants (0..=31) of elements j and j+16, from a Q5_0/Q5_1 block's `qs` and `qh`.
#[inline(always)]
pub(crate) fn q5_pair(qs: &[u8; 16], qh: u32, j: usize) -> (u8, u8) {
    let h0 = ((qh >> j) << 4) as u8 & 0x10;
    let h1 = (qh >> (j + 12)) as u8 & 0x10;
    ((qs[j] & 0x0f) | h0, (qs[j] >> 4) | h1)
}

/// Pack 5-bit quants `l` (32 values, 0..=31) into `qs` and `qh`.
pub(crate) fn q5_pack(l: &[u8; 32], qs: &mut [u8; 16]) -> [u8; 4] {
    let mut qh = 0u32;
    for j in 0..16 {
        qs[j] = (l[j] & 0x0f) | ((l[j + 16] & 0x0f) << 4);
        qh |= u32::from((l[j] & 0x10) >> 4) << j;
        qh |= u32::from((l[j + 16] & 0x10) >> 4) << (j + 16);
    }
    qh.to_le_bytes()
}

/// Dequantize `x` into `y` (`y.len() == 32 * x.len()`).
pub fn dequantize_row_q5_0(x: &[BlockQ5_0], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK5_0);
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK5_0)) {
        let d = f16_to_f32(b.d);
        let qh = u32::from_le_bytes(b.qh);
        for j in 0..QK5_0 / 2 {
            let (q0, q1) = q5_pair(&b.qs, qh, j);
            y[j] = (i32::from(q0) - 16) as f32 * d;
            y[j + 16] = (i32::from(q1) - 16) as f32 * d;
        }
    }
}

/// Quantize `x` into `y` (`x.len() == 32 * y.len()`), bit-identical to `quantize_row_q5_0_ref`.
pub fn quantize_row_q5_0(x: &[f32], y: &mut [BlockQ5_0]) {
    assert_eq!(x.len(), y.len() * QK5_0);
    for (b, x) in y.iter_mut().zip(x.chunks_exact(QK5_0)) {
        let d = signed_abs_max(x) / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f32_to_f16(d);
        let mut l = [0u8; 32];
        for (l, &v) in l.iter_mut().zip(x) {
            *l = ((v * id + 16.5) as i8).min(31) as u8;
        }
        b.qh = q5_pack(&l, &mut b.qs);
    }
}

/// Σ w·a over Q5_0 weights and Q8_0 activations.
pub fn dot_q5_0_q8_0(w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let qh = u32::from_le_bytes(x.qh);
        let mut sumi = 0i32;
        for j in 0..QK5_0 / 2 {
            let (q0, q1) = q5_pair(&x.qs, qh, j);
            sumi += (i32::from(q0) - 16) * i32::from(y.qs[j]) + (i32::from(q1) - 16) * i32::from(y.qs[j + 16]);
        }
        sum += sumi as f32 * (f16_to_f32(x.d) * f16_to_f32(y.d));
    }
    sum
}
