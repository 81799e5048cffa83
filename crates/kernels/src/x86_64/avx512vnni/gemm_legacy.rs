//! AVX-512 VNNI x8 GEMM kernels of Q4_0, Q4_1, Q5_0, Q8_0 (× Q8_0X / Q8_1X): the AVX2 kernels'
//! block and token loops (`x8_kernel!`) and epilogues, with each step's `maddubs` and the i16
//! → i32 widening replaced by one `vpdpbusd` (u8 weights or |w| × i8 activations, four
//! products per i32 lane). Integer sums are exact either way, so results are bit-identical.

use std::arch::x86_64::*;

use crate::gemm::act::{BlockQ8_0X, BlockQ8_1X};
use crate::gemm::layout::{BlockQ4_0x8, BlockQ4_1x8, BlockQ5_0x8, BlockQ8_0x8};
use crate::gemm::GEMM_MAX_TOKENS;
use crate::x86_64::avx2::gemm_legacy::{bcast4, finish_q8_0, load_d8, x8_kernel};
use crate::x86_64::avx2::util::{load_i8x32, load_u8x32};

/// `acc + Σ` of the four u8·i8 products in each 32-bit lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn dp(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(acc, u, s)
}

/// No preparation: the tile unpacks in registers.
#[inline(always)]
fn no_prep<W>(_: &W) {}

/// Q4_0: nibbles times activations, minus 8·Σa; term Σ·(d_w·d_a).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q4_0_tile<const C: usize>(x: &BlockQ4_0x8, _: &(), ys: [&BlockQ8_0X; C], acc: &mut [__m256; C]) {
    let m4 = _mm256_set1_epi8(0x0f);
    let mut s32 = [_mm256_setzero_si256(); C];
    for g in 0..4 {
        let v = load_u8x32(&x.qs, 32 * g);
        let lo = _mm256_and_si256(v, m4);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4);
        for c in 0..C {
            s32[c] = dp(dp(s32[c], lo, bcast4(&ys[c].qs, 4 * g)), hi, bcast4(&ys[c].qs, 16 + 4 * g));
        }
    }
    finish_q8_0(&x.d, s32, 8, &ys, acc);
}

/// Q4_1: nibbles times activations; term (d_w·d_a)·Σ + m_w·s_a.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q4_1_tile<const C: usize>(x: &BlockQ4_1x8, _: &(), ys: [&BlockQ8_1X; C], acc: &mut [__m256; C]) {
    let m4 = _mm256_set1_epi8(0x0f);
    let mut s32 = [_mm256_setzero_si256(); C];
    for g in 0..4 {
        let v = load_u8x32(&x.qs, 32 * g);
        let lo = _mm256_and_si256(v, m4);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4);
        for c in 0..C {
            s32[c] = dp(dp(s32[c], lo, bcast4(&ys[c].qs, 4 * g)), hi, bcast4(&ys[c].qs, 16 + 4 * g));
        }
    }
    let (dw, mw) = (load_d8(&x.d), load_d8(&x.m));
    for c in 0..C {
        let d = _mm256_mul_ps(dw, _mm256_set1_ps(ys[c].d()));
        let t = _mm256_mul_ps(d, _mm256_cvtepi32_ps(s32[c]));
        let t = _mm256_add_ps(t, _mm256_mul_ps(mw, _mm256_set1_ps(ys[c].s())));
        acc[c] = _mm256_add_ps(acc[c], t);
    }
}

/// Q5_0 weights unpacked to 8 steps of 5-bit quants, once per block for all tokens (as AVX2).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q5_0_prep(x: &BlockQ5_0x8) -> [__m256i; 8] {
    crate::x86_64::avx2::gemm_legacy::q5_0_prep(x)
}

/// Q5_0: 5-bit quants times activations, minus 16·Σa; term as Q4_0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q5_0_tile<const C: usize>(x: &BlockQ5_0x8, u: &[__m256i; 8], ys: [&BlockQ8_0X; C], acc: &mut [__m256; C]) {
    let mut s32 = [_mm256_setzero_si256(); C];
    for (j, w) in u.iter().enumerate() {
        // Step j holds elements 4j..4j+4 of the low nibbles (j < 4) or 16 + 4(j - 4)..
        let off = if j < 4 { 4 * j } else { 16 + 4 * (j - 4) };
        for c in 0..C {
            s32[c] = dp(s32[c], *w, bcast4(&ys[c].qs, off));
        }
    }
    finish_q8_0(&x.d, s32, 16, &ys, acc);
}

/// Q8_0: |w|·(a·sign w); term as Q4_0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q8_0_tile<const C: usize>(x: &BlockQ8_0x8, _: &(), ys: [&BlockQ8_0X; C], acc: &mut [__m256; C]) {
    let mut s32 = [_mm256_setzero_si256(); C];
    for j in 0..8 {
        let w = load_i8x32(&x.qs, 32 * j);
        let aw = _mm256_sign_epi8(w, w);
        for c in 0..C {
            s32[c] = dp(s32[c], aw, _mm256_sign_epi8(bcast4(&ys[c].qs, 4 * j), w));
        }
    }
    finish_q8_0(&x.d, s32, 0, &ys, acc);
}

x8_kernel!(
    /// Q4_0 x8 weights × Q8_0X activations (VNNI).
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX512F/BW/VL and AVX512-VNNI.
    gemm_q4_0_x8, BlockQ4_0x8, BlockQ8_0X, no_prep, q4_0_tile, "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
);
x8_kernel!(
    /// Q4_1 x8 weights × Q8_1X activations (VNNI).
    ///
    /// # Safety
    /// As [`gemm_q4_0_x8`].
    gemm_q4_1_x8, BlockQ4_1x8, BlockQ8_1X, no_prep, q4_1_tile, "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
);
x8_kernel!(
    /// Q5_0 x8 weights × Q8_0X activations (VNNI).
    ///
    /// # Safety
    /// As [`gemm_q4_0_x8`].
    gemm_q5_0_x8, BlockQ5_0x8, BlockQ8_0X, q5_0_prep, q5_0_tile, "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
);
x8_kernel!(
    /// Q8_0 x8 weights × Q8_0X activations (VNNI).
    ///
    /// # Safety
    /// As [`gemm_q4_0_x8`].
    gemm_q8_0_x8, BlockQ8_0x8, BlockQ8_0X, no_prep, q8_0_tile, "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
);
