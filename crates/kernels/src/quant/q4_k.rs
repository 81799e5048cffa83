//! Q4_K: super-blocks of 256 weights in 8 sub-blocks of 32, each with a 6-bit scale and a 6-bit
//! min (packed into 12 bytes, see [`scale_min_k4`]) on the f16 super-scales `d` and `dmin`;
//! 4-bit quants. x = d·sc·q − dmin·m.
//!
//! Layout: sub-block s (elements 32s..32s+31) uses the low (s even) or high (s odd) nibbles of
//! `qs[32·(s/2) .. 32·(s/2)+32]`. Quantization is ggml's `quantize_row_q4_K_ref`
//! (`make_qkx2_quants` per sub-block with weights av_x + |x|). Dot products take Q8_K
//! activations; the min term uses the activations' `bsums`.
//! Reference: `ggml-common.h` (`block_q4_K`), `ggml-quants.c` (`quantize_row_q4_K_ref`,
//! `dequantize_row_q4_K`), `ggml-cpu/quants.c` (`ggml_vec_dot_q4_K_q8_K_generic`).

use crate::block::{block_layout, f16_to_f32, f32_to_f16, nearest_int};
use crate::quant::k_common::{make_qkx2_quants, pack_scale_min_k4, scale_min_k4, Qkx2};
use crate::quant::q8_k::{BlockQ8K, QK_K};

/// One Q4_K block (144 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ4K {
    /// Super-block scale for the scales, f16 little-endian.
    pub d: [u8; 2],
    /// Super-block scale for the mins, f16 little-endian.
    pub dmin: [u8; 2],
    /// Eight 6-bit scales and eight 6-bit mins, packed.
    pub scales: [u8; 12],
    /// 4-bit quants.
    pub qs: [u8; QK_K / 2],
}
block_layout!(BlockQ4K, Q4_K, BlockQ4K { d: [0; 2], dmin: [0; 2], scales: [0; 12], qs: [0; QK_K / 2] });

/// The 4-bit quant of element `32·s + k`.
#[inline(always)]
fn q4(qs: &[u8; 128], s: usize, k: usize) -> u8 {
    (qs[32 * (s / 2) + k] >> (4 * (s % 2))) & 0x0f
}

/// Dequantize `x` into `y` (`y.len() == 256 * x.len()`).
pub fn dequantize_row_q4_k(x: &[BlockQ4K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K);
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (f16_to_f32(b.d), f16_to_f32(b.dmin));
        for (s, y) in y.chunks_exact_mut(32).enumerate() {
            let (sc, m) = scale_min_k4(s, &b.scales);
            let (d1, m1) = (d * f32::from(sc), min * f32::from(m));
            for (k, o) in y.iter_mut().enumerate() {
                *o = d1 * f32::from(q4(&b.qs, s, k)) - m1;
            }
        }
    }
}

/// Per-sub-block (scale, min) search shared by the Q4_K and Q5_K reference quantizers; returns
/// the quants in `l` and fills the block header fields (d, dmin, packed scales).
pub(crate) fn quantize_scales_k4(x: &[f32], p: &Qkx2, l: &mut [u8; QK_K]) -> ([u8; 2], [u8; 2], [u8; 12]) {
    let (mut scales, mut mins) = ([0.0f32; 8], [0.0f32; 8]);
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for j in 0..QK_K / 32 {
        let xs = &x[32 * j..32 * j + 32];
        let sum_x2: f32 = xs.iter().fold(0.0, |s, v| s + v * v);
        let av_x = (sum_x2 / 32.0).sqrt();
        let mut w = [0.0f32; 32];
        for (w, v) in w.iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
        (scales[j], mins[j]) = make_qkx2_quants(p, xs, &w, &mut l[32 * j..32 * j + 32]);
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let (mut ls, mut lm) = ([0u8; 8], [0u8; 8]);
    for j in 0..8 {
        ls[j] = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        lm[j] = (nearest_int(inv_min * mins[j]) as u8).min(63);
    }
    let packed = pack_scale_min_k4(&ls, &lm);
    let (d, dmin) = (f32_to_f16(max_scale / 63.0), f32_to_f16(max_min / 63.0));
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, &packed);
        let dd = f16_to_f32(d) * f32::from(sc);
        if dd == 0.0 {
            continue;
        }
        let dm = f16_to_f32(dmin) * f32::from(m);
        for ii in 0..32 {
            l[32 * j + ii] = nearest_int((x[32 * j + ii] + dm) / dd).clamp(0, p.nmax) as u8;
        }
    }
    (d, dmin, packed)
}

/// Quantize `x` into `y` (`x.len() == 256 * y.len()`) as ggml's `quantize_row_q4_K_ref`.
pub fn quantize_row_q4_k(x: &[f32], y: &mut [BlockQ4K]) {
    assert_eq!(x.len(), y.len() * QK_K);
    let p = Qkx2 { nmax: 15, rmin: -1.0, rdelta: 0.1, nstep: 20, use_mad: false };
    for (b, x) in y.iter_mut().zip(x.chunks_exact(QK_K)) {
        let mut l = [0u8; QK_K];
        (b.d, b.dmin, b.scales) = quantize_scales_k4(x, &p, &mut l);
        for j in 0..4 {
            for k in 0..32 {
                b.qs[32 * j + k] = l[64 * j + k] | (l[64 * j + 32 + k] << 4);
            }
        }
    }
}

/// Σ w·a over Q4_K weights and Q8_K activations.
pub fn dot_q4_k_q8_k(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let (mut isum, mut summs) = (0i32, 0i32);
        for s in 0..8 {
            let (sc, m) = scale_min_k4(s, &x.scales);
            let mut ss = 0i32;
            for k in 0..32 {
                ss += i32::from(q4(&x.qs, s, k)) * i32::from(y.qs[32 * s + k]);
            }
            isum += i32::from(sc) * ss;
            summs += i32::from(m) * (i32::from(y.bsum(2 * s)) + i32::from(y.bsum(2 * s + 1)));
        }
        let dy = y.d();
        sum += dy * f16_to_f32(x.d) * isum as f32 - dy * f16_to_f32(x.dmin) * summs as f32;
    }
    sum
}
