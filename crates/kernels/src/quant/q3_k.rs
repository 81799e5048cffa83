//! Q3_K: super-blocks of 256 weights in 16 groups of 16 with signed 6-bit group scales (stored
//! +32, packed into 12 bytes) on one f16 super-scale `d`; 3-bit quants as 2 low bits in `qs` and
//! a high bit in `hmask`. x = d·(sc − 32)·(q − 4), where q = low | 4·high.
//!
//! Layout: element e = 128·n + 32·s + k has its low bits at bits 2s.. of `qs[32·n + k]` and its
//! high bit at bit e/32 of `hmask[k]`. Scale of group j: low 4 bits from `scales[j]` (j < 8) or
//! the high nibble of `scales[j−8]`, high 2 bits at bits 2·(j/4) of `scales[8 + j%4]`.
//! Quantization is ggml's `quantize_row_q3_K_ref` (`make_q3_quants` per group).
//! Reference: `ggml-common.h` (`block_q3_K`), `ggml-quants.c` (`quantize_row_q3_K_ref`,
//! `dequantize_row_q3_K`), `ggml-cpu/quants.c` (`ggml_vec_dot_q3_K_q8_K_generic`).

use crate::block::{block_layout, f16_to_f32, f32_to_f16, nearest_int};
use crate::quant::k_common::make_q3_quants;
use crate::quant::q8_k::{BlockQ8K, QK_K};

/// One Q3_K block (110 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ3K {
    /// High bit of each quant: bit e/32 of byte e%32.
    pub hmask: [u8; QK_K / 8],
    /// Low 2 bits of each quant, four per byte.
    pub qs: [u8; QK_K / 4],
    /// Sixteen 6-bit group scales (+32), packed.
    pub scales: [u8; 12],
    /// Super-block scale, f16 little-endian.
    pub d: [u8; 2],
}
block_layout!(BlockQ3K, Q3_K, BlockQ3K { hmask: [0; QK_K / 8], qs: [0; QK_K / 4], scales: [0; 12], d: [0; 2] });

/// The sixteen signed group scales (already minus 32) of a Q3_K block.
#[inline]
pub fn q3k_scales(s: &[u8; 12]) -> [i8; 16] {
    let mut out = [0i8; 16];
    for (j, o) in out.iter_mut().enumerate() {
        let lo = if j < 8 { s[j] & 0x0f } else { s[j - 8] >> 4 };
        let hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        *o = (lo | (hi << 4)) as i8 - 32;
    }
    out
}

/// The signed 3-bit quant (−4..=3) of element e of a Q3_K block.
#[inline(always)]
fn q3(b: &BlockQ3K, e: usize) -> i32 {
    let (n, s, k) = (e / 128, (e % 128) / 32, e % 32);
    let low = i32::from((b.qs[32 * n + k] >> (2 * s)) & 3);
    let high = (b.hmask[k] >> (e / 32)) & 1;
    if high == 0 {
        low - 4
    } else {
        low
    }
}

/// Dequantize `x` into `y` (`y.len() == 256 * x.len()`).
pub fn dequantize_row_q3_k(x: &[BlockQ3K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K);
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d_all = f16_to_f32(b.d);
        let sc = q3k_scales(&b.scales);
        for (g, y) in y.chunks_exact_mut(16).enumerate() {
            let dl = d_all * f32::from(sc[g]);
            for (l, o) in y.iter_mut().enumerate() {
                *o = dl * q3(b, 16 * g + l) as f32;
            }
        }
    }
}

/// Quantize `x` into `y` (`x.len() == 256 * y.len()`) as ggml's `quantize_row_q3_K_ref`.
pub fn quantize_row_q3_k(x: &[f32], y: &mut [BlockQ3K]) {
    assert_eq!(x.len(), y.len() * QK_K);
    for (b, x) in y.iter_mut().zip(x.chunks_exact(QK_K)) {
        let mut l = [0i8; QK_K];
        let mut scales = [0.0f32; 16];
        let (mut max_scale, mut amax) = (0.0f32, 0.0f32);
        for j in 0..16 {
            scales[j] = make_q3_quants(4, &x[16 * j..16 * j + 16], &mut l[16 * j..16 * j + 16]);
            if scales[j].abs() > amax {
                amax = scales[j].abs();
                max_scale = scales[j];
            }
        }
        b.scales = [0; 12];
        if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for (j, &s) in scales.iter().enumerate() {
                let v = ((nearest_int(iscale * s) as i8).clamp(-32, 31) + 32) as u8;
                if j < 8 {
                    b.scales[j] = v & 0x0f;
                } else {
                    b.scales[j - 8] |= (v & 0x0f) << 4;
                }
                b.scales[j % 4 + 8] |= (v >> 4) << (2 * (j / 4));
            }
            b.d = f32_to_f16(1.0 / iscale);
        } else {
            b.d = f32_to_f16(0.0);
        }
        let sc = q3k_scales(&b.scales);
        for j in 0..16 {
            let d = f16_to_f32(b.d) * f32::from(sc[j]);
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                l[16 * j + ii] = (nearest_int(x[16 * j + ii] / d).clamp(-4, 3) + 4) as i8;
            }
        }
        b.hmask = [0; 32];
        for (e, l) in l.iter_mut().enumerate() {
            if *l > 3 {
                b.hmask[e % 32] |= 1 << (e / 32);
                *l -= 4;
            }
        }
        for n in 0..2 {
            for k in 0..32 {
                let e = 128 * n + k;
                let q = |i: usize| l[i] as u8;
                b.qs[32 * n + k] = q(e) | (q(e + 32) << 2) | (q(e + 64) << 4) | (q(e + 96) << 6);
            }
        }
    }
}

/// Σ w·a over Q3_K weights and Q8_K activations.
pub fn dot_q3_k_q8_k(w: &[BlockQ3K], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let sc = q3k_scales(&x.scales);
        let mut isum = 0i32;
        for (g, &s) in sc.iter().enumerate() {
            let mut gs = 0i32;
            for l in 0..16 {
                gs += q3(x, 16 * g + l) * i32::from(y.qs[16 * g + l]);
            }
            isum += i32::from(s) * gs;
        }
        sum += f16_to_f32(x.d) * y.d() * isum as f32;
    }
    sum
}
