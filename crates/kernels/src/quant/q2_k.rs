//! Q2_K: super-blocks of 256 weights in 16 groups of 16; each group has a 4-bit scale and a
//! 4-bit min (`scales[j]`: low nibble scale, high nibble min) applied to the f16 super-scales
//! `d` and `dmin`; 2-bit quants. x = d·sc·q − dmin·m.
//!
//! Quant layout: element e = 128·n + 32·s + k (n < 2, s < 4, k < 32) is bits 2s..2s+1 of
//! `qs[32·n + k]`; its group is e/16. Quantization is ggml's `quantize_row_q2_K_ref`
//! (`make_qkx2_quants` per group, then 4-bit scales/mins and a requantization pass).
//! Dot products take Q8_K activations; the min term uses the activations' `bsums`.
//! Reference: `ggml-common.h` (`block_q2_K`), `ggml-quants.c` (`quantize_row_q2_K_ref`,
//! `dequantize_row_q2_K`), `ggml-cpu/quants.c` (`ggml_vec_dot_q2_K_q8_K_generic`).

use crate::block::{block_layout, f16_to_f32, f32_to_f16, nearest_int};
use crate::quant::k_common::{make_qkx2_quants, Qkx2};
use crate::quant::q8_k::{BlockQ8K, QK_K};

/// One Q2_K block (84 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ2K {
    /// Per group of 16: low nibble scale, high nibble min.
    pub scales: [u8; QK_K / 16],
    /// 2-bit quants, four per byte (see the module docs for the order).
    pub qs: [u8; QK_K / 4],
    /// Super-block scale for the scales, f16 little-endian.
    pub d: [u8; 2],
    /// Super-block scale for the mins, f16 little-endian.
    pub dmin: [u8; 2],
}
block_layout!(BlockQ2K, Q2_K, BlockQ2K { scales: [0; QK_K / 16], qs: [0; QK_K / 4], d: [0; 2], dmin: [0; 2] });

/// The 2-bit quant of element `32·s + k` in half `n` (0..4) of a Q2_K block.
#[inline(always)]
fn q2(qs: &[u8; 64], n: usize, s: usize, k: usize) -> u8 {
    (qs[32 * n + k] >> (2 * s)) & 3
}

/// Dequantize `x` into `y` (`y.len() == 256 * x.len()`).
pub fn dequantize_row_q2_k(x: &[BlockQ2K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K);
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (f16_to_f32(b.d), f16_to_f32(b.dmin));
        for (g, y) in y.chunks_exact_mut(16).enumerate() {
            let sc = b.scales[g];
            let (dl, ml) = (d * f32::from(sc & 0x0f), min * f32::from(sc >> 4));
            let (n, s, k0) = (g / 8, (g % 8) / 2, (g % 2) * 16);
            for (l, o) in y.iter_mut().enumerate() {
                *o = dl * f32::from(q2(&b.qs, n, s, k0 + l)) - ml;
            }
        }
    }
}

/// Quantize `x` into `y` (`x.len() == 256 * y.len()`) as ggml's `quantize_row_q2_K_ref`.
pub fn quantize_row_q2_k(x: &[f32], y: &mut [BlockQ2K]) {
    assert_eq!(x.len(), y.len() * QK_K);
    const Q4SCALE: f32 = 15.0;
    let p = Qkx2 { nmax: 3, rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: true };
    for (b, x) in y.iter_mut().zip(x.chunks_exact(QK_K)) {
        let mut l = [0u8; QK_K];
        let (mut scales, mut mins) = ([0.0f32; 16], [0.0f32; 16]);
        let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
        for j in 0..QK_K / 16 {
            let xs = &x[16 * j..16 * j + 16];
            let mut w = [0.0f32; 16];
            for (w, v) in w.iter_mut().zip(xs) {
                *w = v.abs();
            }
            (scales[j], mins[j]) = make_qkx2_quants(&p, xs, &w, &mut l[16 * j..16 * j + 16]);
            if scales[j] > max_scale {
                max_scale = scales[j];
            }
            if mins[j] > max_min {
                max_min = mins[j];
            }
        }
        if max_scale > 0.0 {
            let iscale = Q4SCALE / max_scale;
            for (o, &s) in b.scales.iter_mut().zip(&scales) {
                *o = nearest_int(iscale * s) as u8;
            }
            b.d = f32_to_f16(max_scale / Q4SCALE);
        } else {
            b.scales = [0; 16];
            b.d = f32_to_f16(0.0);
        }
        if max_min > 0.0 {
            let iscale = Q4SCALE / max_min;
            for (o, &m) in b.scales.iter_mut().zip(&mins) {
                *o |= (nearest_int(iscale * m) << 4) as u8;
            }
            b.dmin = f32_to_f16(max_min / Q4SCALE);
        } else {
            b.dmin = f32_to_f16(0.0);
        }
        for j in 0..16 {
            let d = f16_to_f32(b.d) * f32::from(b.scales[j] & 0x0f);
            if d == 0.0 {
                continue;
            }
            let dm = f16_to_f32(b.dmin) * f32::from(b.scales[j] >> 4);
            for ii in 0..16 {
                l[16 * j + ii] = nearest_int((x[16 * j + ii] + dm) / d).clamp(0, 3) as u8;
            }
        }
        for n in 0..2 {
            for k in 0..32 {
                let e = 128 * n + k;
                b.qs[32 * n + k] = l[e] | (l[e + 32] << 2) | (l[e + 64] << 4) | (l[e + 96] << 6);
            }
        }
    }
}

/// Σ w·a over Q2_K weights and Q8_K activations.
pub fn dot_q2_k_q8_k(w: &[BlockQ2K], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut summs = 0i32;
        for j in 0..16 {
            summs += i32::from(x.scales[j] >> 4) * i32::from(y.bsum(j));
        }
        let mut isum = 0i32;
        for g in 0..16 {
            let (n, s, k0) = (g / 8, (g % 8) / 2, (g % 2) * 16);
            let mut gs = 0i32;
            for l in 0..16 {
                gs += i32::from(q2(&x.qs, n, s, k0 + l)) * i32::from(y.qs[16 * g + l]);
            }
            isum += i32::from(x.scales[g] & 0x0f) * gs;
        }
        let dy = y.d();
        sum += dy * f16_to_f32(x.d) * isum as f32 - dy * f16_to_f32(x.dmin) * summs as f32;
    }
    sum
}
