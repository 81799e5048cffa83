//! AVX2 dot products of the K-quants with Q8_K activations: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
//!
//! One super-block per iteration. Weights are unpacked to unsigned bytes (offsets such as Q6_K's
//! −32 and Q3_K's −4 are applied afterwards through the activations' `bsums`), multiplied with
//! the activation bytes by `maddubs` into i16 pairs, and scaled per group by `madd` with the
//! group scales, so every sub-block sum stays exact in i32; the block's f32 term is then added
//! exactly as the scalar reference does, so results are bit-identical to it. The scalar versions
//! in `quant/` are the specification. Reference: `ggml-cpu/arch/x86/quants.c` (ideas, written anew).

use std::arch::x86_64::*;

use super::util::{f16x, hsum_epi32, lane_scales, load_i8x32, load_u8x32};
use crate::quant::k_common::scale_min_k4;
use crate::quant::q3_k::q3k_scales;
use crate::quant::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};

/// Σ_g scale[g]·bsum[g] over the 16 groups of a Q8_K block.
#[inline]
fn bsum_dot(y: &BlockQ8K, scale: impl Fn(usize) -> i32) -> i32 {
    (0..16).map(|g| scale(g) * i32::from(y.bsum(g))).sum()
}

/// Σ w·a over Q2_K weights and Q8_K activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_q2_k_q8_k(w: &[BlockQ2K], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    let m3 = _mm256_set1_epi8(3);
    for (x, y) in w.iter().zip(a) {
        let summs = bsum_dot(y, |g| i32::from(x.scales[g] >> 4));
        let mut acc = _mm256_setzero_si256();
        for n in 0..2 {
            let mut q = load_u8x32(&x.qs, 32 * n);
            for s in 0..4 {
                let qv = _mm256_and_si256(q, m3);
                q = _mm256_srli_epi16::<2>(q);
                let p = _mm256_maddubs_epi16(qv, load_i8x32(&y.qs, 128 * n + 32 * s));
                let g = 8 * n + 2 * s;
                let sc = lane_scales(i16::from(x.scales[g] & 0x0f), i16::from(x.scales[g + 1] & 0x0f));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, sc));
            }
        }
        let dy = y.d();
        sum += dy * f16x(x.d) * hsum_epi32(acc) as f32 - dy * f16x(x.dmin) * summs as f32;
    }
    sum
}

/// Σ w·a over Q3_K weights and Q8_K activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_q3_k_q8_k(w: &[BlockQ3K], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    let (m3, m1) = (_mm256_set1_epi8(3), _mm256_set1_epi8(1));
    for (x, y) in w.iter().zip(a) {
        let sc = q3k_scales(&x.scales);
        // Quants are stored as low | 4·high − 4; the −4 goes through the bsums.
        let offset = 4 * bsum_dot(y, |g| i32::from(sc[g]));
        let mut hm = load_u8x32(&x.hmask, 0);
        let mut acc = _mm256_setzero_si256();
        for n in 0..2 {
            let mut q = load_u8x32(&x.qs, 32 * n);
            for s in 0..4 {
                let low = _mm256_and_si256(q, m3);
                q = _mm256_srli_epi16::<2>(q);
                let high = _mm256_slli_epi16::<2>(_mm256_and_si256(hm, m1));
                hm = _mm256_srli_epi16::<1>(hm);
                let p = _mm256_maddubs_epi16(_mm256_or_si256(low, high), load_i8x32(&y.qs, 128 * n + 32 * s));
                let g = 8 * n + 2 * s;
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, lane_scales(i16::from(sc[g]), i16::from(sc[g + 1]))));
            }
        }
        sum += f16x(x.d) * y.d() * (hsum_epi32(acc) - offset) as f32;
    }
    sum
}

/// Scales and the bsum-weighted min sum of a Q4_K/Q5_K block.
#[inline]
fn k4_scales(scales: &[u8; 12], y: &BlockQ8K) -> ([i16; 8], i32) {
    let mut sc = [0i16; 8];
    let mut summs = 0i32;
    for (s, sc) in sc.iter_mut().enumerate() {
        let (c, m) = scale_min_k4(s, scales);
        *sc = i16::from(c);
        summs += i32::from(m) * (i32::from(y.bsum(2 * s)) + i32::from(y.bsum(2 * s + 1)));
    }
    (sc, summs)
}

/// Σ w·a over Q4_K weights and Q8_K activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_q4_k_q8_k(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    let m4 = _mm256_set1_epi8(0x0f);
    for (x, y) in w.iter().zip(a) {
        let dy = y.d();
        let (sc, summs) = k4_scales(&x.scales, y);
        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            let q = load_u8x32(&x.qs, 32 * j);
            let lo = _mm256_and_si256(q, m4);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4);
            let p0 = _mm256_maddubs_epi16(lo, load_i8x32(&y.qs, 64 * j));
            let p1 = _mm256_maddubs_epi16(hi, load_i8x32(&y.qs, 64 * j + 32));
            let p0 = _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * j]));
            let p1 = _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        sum += dy * f16x(x.d) * hsum_epi32(sumi) as f32 - dy * f16x(x.dmin) * summs as f32;
    }
    sum
}

/// Σ w·a over Q5_K weights and Q8_K activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_q5_k_q8_k(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    let (m4, m1, m2) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(1), _mm256_set1_epi8(2));
    for (x, y) in w.iter().zip(a) {
        let dy = y.d();
        let (sc, summs) = k4_scales(&x.scales, y);
        let mut hb = load_u8x32(&x.qh, 0);
        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            let q = load_u8x32(&x.qs, 32 * j);
            // Fifth bits of sub-blocks 2j and 2j+1 are bits 0 and 1 of `hb` after 2j shifts.
            let h0 = _mm256_slli_epi16::<4>(_mm256_and_si256(hb, m1));
            let h1 = _mm256_slli_epi16::<3>(_mm256_and_si256(hb, m2));
            hb = _mm256_srli_epi16::<2>(hb);
            let lo = _mm256_or_si256(_mm256_and_si256(q, m4), h0);
            let hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q), m4), h1);
            let p0 = _mm256_maddubs_epi16(lo, load_i8x32(&y.qs, 64 * j));
            let p1 = _mm256_maddubs_epi16(hi, load_i8x32(&y.qs, 64 * j + 32));
            let p0 = _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * j]));
            let p1 = _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        sum += dy * f16x(x.d) * hsum_epi32(sumi) as f32 - dy * f16x(x.dmin) * summs as f32;
    }
    sum
}

/// Σ w·a over Q6_K weights and Q8_K activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_q6_k_q8_k(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    let (m4, m3) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(3));
    for (x, y) in w.iter().zip(a) {
        // Quants are stored +32; the −32 goes through the bsums.
        let offset = 32 * bsum_dot(y, |g| i32::from(x.scales[g]));
        let mut acc = _mm256_setzero_si256();
        for n in 0..2 {
            let ql0 = load_u8x32(&x.ql, 64 * n);
            let ql1 = load_u8x32(&x.ql, 64 * n + 32);
            let mut qh = load_u8x32(&x.qh, 32 * n);
            let lows = [
                _mm256_and_si256(ql0, m4),
                _mm256_and_si256(ql1, m4),
                _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4),
                _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4),
            ];
            for (t, low) in lows.into_iter().enumerate() {
                let high = _mm256_slli_epi16::<4>(_mm256_and_si256(qh, m3));
                qh = _mm256_srli_epi16::<2>(qh);
                let p = _mm256_maddubs_epi16(_mm256_or_si256(low, high), load_i8x32(&y.qs, 128 * n + 32 * t));
                let g = 8 * n + 2 * t;
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, lane_scales(i16::from(x.scales[g]), i16::from(x.scales[g + 1]))));
            }
        }
        sum += f16x(x.d) * y.d() * (hsum_epi32(acc) - offset) as f32;
    }
    sum
}
