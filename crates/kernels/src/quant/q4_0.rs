//! Q4_0: blocks of 32 weights, one f16 scale `d`, 4-bit quants; x = d·(q − 8).
//!
//! Byte `qs[j]` holds element j in its low nibble and element j+16 in its high nibble.
//! Quantization is ggml's `quantize_row_q4_0_ref`: d = max/−8 where max is the signed value of
//! largest magnitude, q = min(15, trunc(x/d + 8.5)). Dot products take Q8_0 activations.
//! Reference: `ggml-common.h` (`block_q4_0`), `ggml-quants.c` (`quantize_row_q4_0_ref`,
//! `dequantize_row_q4_0`), `ggml-cpu/quants.c` (`ggml_vec_dot_q4_0_q8_0_generic`).

use crate::block::{block_layout, f16_to_f32, f32_to_f16};
use crate::quant::q8_0::BlockQ8_0;

/// Elements per Q4_0 block.
pub const QK4_0: usize = 32;

/// One Q4_0 block (18 bytes).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ4_0 {
    /// Scale, f16 little-endian.
    pub d: [u8; 2],
    /// Nibbles: low = element j, high = element j+16.
    pub qs: [u8; QK4_0 / 2],
}
block_layout!(BlockQ4_0, Q4_0, BlockQ4_0 { d: [0; 2], qs: [0; QK4_0 / 2] });

/// Dequantize `x` into `y` (`y.len() == 32 * x.len()`).
pub fn dequantize_row_q4_0(x: &[BlockQ4_0], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK4_0);
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK4_0)) {
        let d = f16_to_f32(b.d);
        for (j, &q) in b.qs.iter().enumerate() {
            y[j] = (i32::from(q & 0x0f) - 8) as f32 * d;
            y[j + 16] = (i32::from(q >> 4) - 8) as f32 * d;
        }
    }
}

/// The signed value of largest magnitude (first one on ties), as ggml's `amax < fabsf(v)` loop.
#[inline]
pub(crate) fn signed_abs_max(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// Quantize `x` into `y` (`x.len() == 32 * y.len()`), bit-identical to `quantize_row_q4_0_ref`.
pub fn quantize_row_q4_0(x: &[f32], y: &mut [BlockQ4_0]) {
    assert_eq!(x.len(), y.len() * QK4_0);
    for (b, x) in y.iter_mut().zip(x.chunks_exact(QK4_0)) {
        let d = signed_abs_max(x) / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f32_to_f16(d);
        for j in 0..QK4_0 / 2 {
            // `as i8` truncates toward zero like C's (int8_t) cast for in-range values.
            let q0 = ((x[j] * id + 8.5) as i8).min(15) as u8;
            let q1 = ((x[j + 16] * id + 8.5) as i8).min(15) as u8;
            b.qs[j] = q0 | (q1 << 4);
        }
    }
}

/// Σ w·a over Q4_0 weights and Q8_0 activations.
pub fn dot_q4_0_q8_0(w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut sumi = 0i32;
        for j in 0..QK4_0 / 2 {
            let v0 = i32::from(x.qs[j] & 0x0f) - 8;
            let v1 = i32::from(x.qs[j] >> 4) - 8;
            sumi += v0 * i32::from(y.qs[j]) + v1 * i32::from(y.qs[j + 16]);
        }
        sum += sumi as f32 * (f16_to_f32(x.d) * f16_to_f32(y.d));
    }
    sum
}
