//! Q6_K: super-blocks of 256 weights in 16 groups of 16 with signed 8-bit group scales on one
//! f16 super-scale `d`; 6-bit quants as 4 low bits in `ql` and 2 high bits in `qh`.
//! x = d·sc·(q − 32).
//!
//! Layout: element e = 128·n + 32·t + k (n < 2, t < 4, k < 32) has its low nibble in
//! `ql[64·n + 32·(t%2) + k]` (low nibble for t < 2, high for t ≥ 2) and its high bits at bits
//! 2t..2t+1 of `qh[32·n + k]`; its group is e/16. Quantization is ggml's
//! `quantize_row_q6_K_ref` (`make_qx_quants` per group). Dot products take Q8_K activations.
//! Reference: `ggml-common.h` (`block_q6_K`), `ggml-quants.c` (`quantize_row_q6_K_ref`,
//! `dequantize_row_q6_K`), `ggml-cpu/quants.c` (`ggml_vec_dot_q6_K_q8_K_generic`).

use crate::block::{block_layout, f16_to_f32, f32_to_f16, nearest_int};
use crate::quant::k_common::{make_qx_quants, GROUP_MAX_EPS};
use crate::quant::q8_k::{BlockQ8K, QK_K};

/// One Q6_K block (210 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ6K {
    /// Low 4 bits of the quants.
    pub ql: [u8; QK_K / 2],
    /// High 2 bits of the quants.
    pub qh: [u8; QK_K / 4],
    /// Signed 8-bit group scales.
    pub scales: [i8; QK_K / 16],
    /// Super-block scale, f16 little-endian.
    pub d: [u8; 2],
}
block_layout!(BlockQ6K, Q6_K, BlockQ6K { ql: [0; QK_K / 2], qh: [0; QK_K / 4], scales: [0; QK_K / 16], d: [0; 2] });

/// The signed 6-bit quant (−32..=31) of element e.
#[inline(always)]
fn q6(b: &BlockQ6K, e: usize) -> i32 {
    let (n, t, k) = (e / 128, (e % 128) / 32, e % 32);
    let lo = (b.ql[64 * n + 32 * (t % 2) + k] >> (4 * (t / 2))) & 0x0f;
    let hi = (b.qh[32 * n + k] >> (2 * t)) & 3;
    i32::from(lo | (hi << 4)) - 32
}

/// Dequantize `x` into `y` (`y.len() == 256 * x.len()`).
pub fn dequantize_row_q6_k(x: &[BlockQ6K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K);
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_to_f32(b.d);
        for (g, y) in y.chunks_exact_mut(16).enumerate() {
            let dl = d * f32::from(b.scales[g]);
            for (l, o) in y.iter_mut().enumerate() {
                *o = dl * q6(b, 16 * g + l) as f32;
            }
        }
    }
}

/// Quantize `x` into `y` (`x.len() == 256 * y.len()`) as ggml's `quantize_row_q6_K_ref`.
pub fn quantize_row_q6_k(x: &[f32], y: &mut [BlockQ6K]) {
    assert_eq!(x.len(), y.len() * QK_K);
    for (b, x) in y.iter_mut().zip(x.chunks_exact(QK_K)) {
        let mut l = [0i8; QK_K];
        let mut scales = [0.0f32; 16];
        let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
        for ib in 0..16 {
            scales[ib] = make_qx_quants(32, &x[16 * ib..16 * ib + 16], &mut l[16 * ib..16 * ib + 16], None);
            if scales[ib].abs() > max_abs_scale {
                max_abs_scale = scales[ib].abs();
                max_scale = scales[ib];
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            *b = BlockQ6K { ql: [0; QK_K / 2], qh: [0; QK_K / 4], scales: [0; QK_K / 16], d: f32_to_f16(0.0) };
            continue;
        }
        let iscale = -128.0 / max_scale;
        b.d = f32_to_f16(1.0 / iscale);
        for (o, &s) in b.scales.iter_mut().zip(&scales) {
            *o = nearest_int(iscale * s).min(127) as i8;
        }
        for j in 0..16 {
            let d = f16_to_f32(b.d) * f32::from(b.scales[j]);
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                l[16 * j + ii] = (nearest_int(x[16 * j + ii] / d).clamp(-32, 31) + 32) as i8;
            }
        }
        for n in 0..2 {
            for k in 0..32 {
                let q = |t: usize| l[128 * n + 32 * t + k] as u8;
                b.ql[64 * n + k] = (q(0) & 0x0f) | ((q(2) & 0x0f) << 4);
                b.ql[64 * n + 32 + k] = (q(1) & 0x0f) | ((q(3) & 0x0f) << 4);
                b.qh[32 * n + k] = (q(0) >> 4) | ((q(1) >> 4) << 2) | ((q(2) >> 4) << 4) | ((q(3) >> 4) << 6);
            }
        }
    }
}

/// Σ w·a over Q6_K weights and Q8_K activations.
pub fn dot_q6_k_q8_k(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut isum = 0i32;
        for g in 0..16 {
            let mut gs = 0i32;
            for l in 0..16 {
                gs += q6(x, 16 * g + l) * i32::from(y.qs[16 * g + l]);
            }
            isum += i32::from(x.scales[g]) * gs;
        }
        sum += f16_to_f32(x.d) * y.d() * isum as f32;
    }
    sum
}
