//! Q8_K: super-blocks of 256 int8 quants with an f32 scale `d` and 16 i16 `bsums` (sums of each
//! group of 16 quants); x = d·q. The activation type of every K-quant.
//!
//! Quantization is ggml's `quantize_row_q8_K_ref`: max = signed value of largest magnitude (first
//! on ties), iscale = −127/max, q = min(127, nearest_int(iscale·x)) with round half to even,
//! d = 1/iscale (so d is negative when max is positive). An all-zero block gets d = 0, q = 0,
//! bsums = 0. The `bsums` let K-quant dots apply the per-sub-block minimums without touching the
//! quants.
//! Reference: `ggml-common.h` (`block_q8_K`), `ggml-quants.c` (`quantize_row_q8_K_ref`,
//! `dequantize_row_q8_K`).

use crate::block::{block_layout, nearest_int};

/// Elements per K-quant super-block.
pub const QK_K: usize = 256;

/// One Q8_K block (292 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ8K {
    /// Scale, f32 little-endian.
    pub d: [u8; 4],
    /// Quants.
    pub qs: [i8; QK_K],
    /// Sums of each group of 16 quants, i16 little-endian.
    pub bsums: [u8; QK_K / 16 * 2],
}
block_layout!(BlockQ8K, Q8_K, BlockQ8K { d: [0; 4], qs: [0; QK_K], bsums: [0; QK_K / 16 * 2] });

impl BlockQ8K {
    /// The scale.
    #[inline(always)]
    pub fn d(&self) -> f32 {
        f32::from_le_bytes(self.d)
    }

    /// Sum of quants 16·j .. 16·j+15.
    #[inline(always)]
    pub fn bsum(&self, j: usize) -> i16 {
        i16::from_le_bytes([self.bsums[2 * j], self.bsums[2 * j + 1]])
    }
}

/// Dequantize `x` into `y` (`y.len() == 256 * x.len()`).
pub fn dequantize_row_q8_k(x: &[BlockQ8K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K);
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = b.d();
        for (o, &q) in y.iter_mut().zip(&b.qs) {
            *o = d * f32::from(q);
        }
    }
}

/// Quantize `x` into `y` (`x.len() == 256 * y.len()`), bit-identical to `quantize_row_q8_K_ref`.
pub fn quantize_row_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    assert_eq!(x.len(), y.len() * QK_K);
    for (b, x) in y.iter_mut().zip(x.chunks_exact(QK_K)) {
        let (mut amax, mut max) = (0.0f32, 0.0f32);
        for &v in x {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            *b = BlockQ8K { d: [0; 4], qs: [0; QK_K], bsums: [0; QK_K / 16 * 2] };
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        for j in 0..QK_K / 16 {
            let s: i32 = b.qs[16 * j..16 * j + 16].iter().map(|&q| i32::from(q)).sum();
            b.bsums[2 * j..2 * j + 2].copy_from_slice(&(s as i16).to_le_bytes());
        }
        b.d = (1.0 / iscale).to_le_bytes();
    }
}
