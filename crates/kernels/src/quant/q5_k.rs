//! Q5_K: Q4_K plus a fifth bit per weight. Super-blocks of 256 weights in 8 sub-blocks of 32 with
//! 6-bit scales and mins (packed as Q4_K) on f16 `d`/`dmin`; x = d·sc·q − dmin·m, q in 0..=31.
//!
//! Layout: sub-block s uses the low (s even) or high (s odd) nibbles of `qs[32·(s/2)..]` as
//! Q4_K, and bit s of `qh[k]` as the fifth bit of its element k. Quantization is ggml's
//! `quantize_row_q5_K_ref`. Dot products take Q8_K activations.
//! Reference: `ggml-common.h` (`block_q5_K`), `ggml-quants.c` (`quantize_row_q5_K_ref`,
//! `dequantize_row_q5_K`), `ggml-cpu/quants.c` (`ggml_vec_dot_q5_K_q8_K_generic`).

use crate::block::{block_layout, f16_to_f32};
use crate::quant::k_common::{scale_min_k4, Qkx2};
use crate::quant::q4_k::quantize_scales_k4;
use crate::quant::q8_k::{BlockQ8K, QK_K};

/// One Q5_K block (176 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ5K {
    /// Super-block scale for the scales, f16 little-endian.
    pub d: [u8; 2],
    /// Super-block scale for the mins, f16 little-endian.
    pub dmin: [u8; 2],
    /// Eight 6-bit scales and eight 6-bit mins, packed as Q4_K.
    pub scales: [u8; 12],
    /// Fifth bits: bit s of byte k belongs to element 32·s + k.
    pub qh: [u8; QK_K / 8],
    /// Low 4 bits.
    pub qs: [u8; QK_K / 2],
}
block_layout!(BlockQ5K, Q5_K, BlockQ5K { d: [0; 2], dmin: [0; 2], scales: [0; 12], qh: [0; QK_K / 8], qs: [0; QK_K / 2] });

/// The 5-bit quant of element `32·s + k`.
#[inline(always)]
fn q5(b: &BlockQ5K, s: usize, k: usize) -> u8 {
    ((b.qs[32 * (s / 2) + k] >> (4 * (s % 2))) & 0x0f) | (((b.qh[k] >> s) & 1) << 4)
}

/// Dequantize `x` into `y` (`y.len() == 256 * x.len()`).
pub fn dequantize_row_q5_k(x: &[BlockQ5K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K);
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (f16_to_f32(b.d), f16_to_f32(b.dmin));
        for (s, y) in y.chunks_exact_mut(32).enumerate() {
            let (sc, m) = scale_min_k4(s, &b.scales);
            let (d1, m1) = (d * f32::from(sc), min * f32::from(m));
            for (k, o) in y.iter_mut().enumerate() {
                *o = d1 * f32::from(q5(b, s, k)) - m1;
            }
        }
    }
}

/// Quantize `x` into `y` (`x.len() == 256 * y.len()`) as ggml's `quantize_row_q5_K_ref`.
pub fn quantize_row_q5_k(x: &[f32], y: &mut [BlockQ5K]) {
    assert_eq!(x.len(), y.len() * QK_K);
    let p = Qkx2 { nmax: 31, rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: false };
    for (b, x) in y.iter_mut().zip(x.chunks_exact(QK_K)) {
        let mut l = [0u8; QK_K];
        (b.d, b.dmin, b.scales) = quantize_scales_k4(x, &p, &mut l);
        b.qh = [0; 32];
        for j in 0..4 {
            for k in 0..32 {
                let (l1, l2) = (l[64 * j + k], l[64 * j + 32 + k]);
                b.qh[k] |= ((l1 >> 4) << (2 * j)) | ((l2 >> 4) << (2 * j + 1));
                b.qs[32 * j + k] = (l1 & 0x0f) | ((l2 & 0x0f) << 4);
            }
        }
    }
}

/// Σ w·a over Q5_K weights and Q8_K activations.
pub fn dot_q5_k_q8_k(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let (mut isum, mut summs) = (0i32, 0i32);
        for s in 0..8 {
            let (sc, m) = scale_min_k4(s, &x.scales);
            let mut ss = 0i32;
            for k in 0..32 {
                ss += i32::from(q5(x, s, k)) * i32::from(y.qs[32 * s + k]);
            }
            isum += i32::from(sc) * ss;
            summs += i32::from(m) * (i32::from(y.bsum(2 * s)) + i32::from(y.bsum(2 * s + 1)));
        }
        let dy = y.d();
        sum += dy * f16_to_f32(x.d) * isum as f32 - dy * f16_to_f32(x.dmin) * summs as f32;
    }
    sum
}
