//! AVX-512 VNNI x8 GEMM kernels of Q4_K, Q5_K and Q6_K (× Q8_K): the AVX2 kernels' layouts,
//! unpacking, mins/offset terms and epilogues, with each sub-block's `maddubs` steps and i16
//! sums replaced by `vpdpbusd` into i32 lanes, then one i32 multiply by the row's scale. The
//! integer sums are exact either way, so outputs stay bit-identical to the scalar `vec_dot`.

use std::arch::x86_64::*;

use crate::gemm::layout::{BlockQ4Kx8, BlockQ5Kx8, BlockQ6Kx8};
use crate::gemm::GEMM_MAX_TOKENS;
use crate::quant::BlockQ8K;
use crate::x86_64::avx2::gemm_kquants::{k4_finish, k4_mins, q5_k_pair, q6_k_finish, q6_k_quad};
use crate::x86_64::avx2::gemm_legacy::{bcast4, x8_kernel};
use crate::x86_64::avx2::util::{load_u8x32, prefetch_ahead};

/// 8 bytes at `b[off..off + 8]` as i32 lanes (zero-extended, or sign-extended if `signed`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn lanes32(b: &[u8], off: usize, signed: bool) -> __m256i {
    let s = &b[off..off + 8];
    let v = _mm_set_epi64x(0, i64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]));
    if signed {
        _mm256_cvtepi8_epi32(v)
    } else {
        _mm256_cvtepu8_epi32(v)
    }
}

/// No preparation: Q4_K unpacks nibbles in registers.
#[inline(always)]
fn no_prep<W>(_: &W) {}

/// Q4_K: per sub-block, nibbles times activations (8 steps), times the scale.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q4_k_tile<const C: usize>(x: &BlockQ4Kx8, _: &(), ys: [&BlockQ8K; C], acc: &mut [__m256; C]) {
    let m4 = _mm256_set1_epi8(0x0f);
    let mut isum = [_mm256_setzero_si256(); C];
    for s in 0..8 {
        let sc = lanes32(&x.sc, 8 * s, false);
        let mut s32 = [_mm256_setzero_si256(); C];
        for k in 0..8 {
            let v = load_u8x32(&x.qs, 256 * (s / 2) + 32 * k);
            let w = if s % 2 == 0 { _mm256_and_si256(v, m4) } else { _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4) };
            for c in 0..C {
                s32[c] = _mm256_dpbusd_epi32(s32[c], w, bcast4(&ys[c].qs, 32 * s + 4 * k));
            }
        }
        for c in 0..C {
            isum[c] = _mm256_add_epi32(isum[c], _mm256_mullo_epi32(s32[c], sc));
        }
    }
    let summs = k4_mins(&x.m, &ys);
    k4_finish(&x.d, &x.dmin, isum, summs, &ys, acc);
}

/// Q5_K weights unpacked once per block (as AVX2).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q5_k_prep(x: &BlockQ5Kx8) -> [__m256i; 64] {
    crate::x86_64::avx2::gemm_kquants::q5_k_prep(x)
}

/// Q5_K: as Q4_K with the unpacked 5-bit quants.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q5_k_tile<const C: usize>(x: &BlockQ5Kx8, u: &[__m256i; 64], ys: [&BlockQ8K; C], acc: &mut [__m256; C]) {
    let mut isum = [_mm256_setzero_si256(); C];
    for s in 0..8 {
        let sc = lanes32(&x.sc, 8 * s, false);
        let mut s32 = [_mm256_setzero_si256(); C];
        for k in 0..8 {
            for c in 0..C {
                s32[c] = _mm256_dpbusd_epi32(s32[c], u[8 * s + k], bcast4(&ys[c].qs, 32 * s + 4 * k));
            }
        }
        for c in 0..C {
            isum[c] = _mm256_add_epi32(isum[c], _mm256_mullo_epi32(s32[c], sc));
        }
    }
    let summs = k4_mins(&x.m, &ys);
    k4_finish(&x.d, &x.dmin, isum, summs, &ys, acc);
}

/// Q6_K weights unpacked once per block (as AVX2).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q6_k_prep(x: &BlockQ6Kx8) -> [__m256i; 64] {
    crate::x86_64::avx2::gemm_kquants::q6_k_prep(x)
}

/// Q6_K: per group of 16, 6-bit quants (stored +32) times activations (4 steps), times the
/// signed scale; the +32 is removed as 32·Σ_g sc_g·bsum_g (as AVX2).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q6_k_tile<const C: usize>(x: &BlockQ6Kx8, u: &[__m256i; 64], ys: [&BlockQ8K; C], acc: &mut [__m256; C]) {
    // SAFETY: i8 and u8 have the same layout; the view covers exactly the `sc` array.
    let sc8: &[u8; 128] = unsafe { &*x.sc.as_ptr().cast::<[u8; 128]>() };
    let mut isum = [_mm256_setzero_si256(); C];
    for g in 0..16 {
        let sc = lanes32(sc8, 8 * g, true);
        let mut s32 = [_mm256_setzero_si256(); C];
        for (st, w) in u.iter().enumerate().skip(4 * g).take(4) {
            for c in 0..C {
                s32[c] = _mm256_dpbusd_epi32(s32[c], *w, bcast4(&ys[c].qs, 4 * st));
            }
        }
        for c in 0..C {
            isum[c] = _mm256_add_epi32(isum[c], _mm256_mullo_epi32(s32[c], sc));
        }
    }
    q6_k_finish(x, isum, &ys, acc);
}

x8_kernel!(
    /// Q4_K x8 weights × Q8_K activations (VNNI).
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX512F/BW/VL and AVX512-VNNI.
    gemm_q4_k_x8, BlockQ4Kx8, BlockQ8K, no_prep, q4_k_tile, "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
);
x8_kernel!(
    /// Q5_K x8 weights × Q8_K activations (VNNI), 2 or more tokens.
    ///
    /// # Safety
    /// As [`gemm_q4_k_x8`].
    gemm_q5_k_x8_tiles, BlockQ5Kx8, BlockQ8K, q5_k_prep, q5_k_tile, "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
);

/// Q5_K x8 weights × Q8_K activations (VNNI): one token unpacks in registers, in memory order,
/// two sub-blocks at a time with their own accumulators (as AVX2); more go through
/// [`gemm_q5_k_x8_tiles`].
///
/// # Safety
/// As [`gemm_q4_k_x8`].
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn gemm_q5_k_x8(w: &[BlockQ5Kx8], a: &[&[BlockQ8K]], out: &mut [[f32; 8]]) {
    if a.len() != 1 {
        // SAFETY: same contract.
        return unsafe { gemm_q5_k_x8_tiles(w, a, out) };
    }
    assert!(out.len() == 1 && a[0].len() == w.len(), "x8 kernel: one token");
    let mut acc = [_mm256_setzero_ps(); 1];
    for (x, y) in w.iter().zip(a[0]) {
        let mut isum = _mm256_setzero_si256();
        for p in 0..4 {
            let mut s32 = [_mm256_setzero_si256(); 2];
            for k in 0..8 {
                for (j, (acc, q)) in s32.iter_mut().zip(q5_k_pair(x, p, k)).enumerate() {
                    *acc = _mm256_dpbusd_epi32(*acc, q, bcast4(&y.qs, 32 * (2 * p + j) + 4 * k));
                }
            }
            for (j, acc) in s32.iter().enumerate() {
                isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(*acc, lanes32(&x.sc, 8 * (2 * p + j), false)));
            }
        }
        let summs = k4_mins(&x.m, &[y]);
        k4_finish(&x.d, &x.dmin, [isum], summs, &[y], &mut acc);
    }
    // SAFETY: `out[0]` is 8 writable f32; storeu needs no alignment.
    unsafe { _mm256_storeu_ps(out[0].as_mut_ptr(), acc[0]) };
}
x8_kernel!(
    /// Q6_K x8 weights × Q8_K activations (VNNI), 2 or more tokens.
    ///
    /// # Safety
    /// As [`gemm_q4_k_x8`].
    gemm_q6_k_x8_tiles, BlockQ6Kx8, BlockQ8K, q6_k_prep, q6_k_tile, "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
);

/// Q6_K x8 weights × Q8_K activations (VNNI): one token unpacks each step in registers; more
/// go through [`gemm_q6_k_x8_tiles`].
///
/// # Safety
/// As [`gemm_q4_k_x8`].
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn gemm_q6_k_x8(w: &[BlockQ6Kx8], a: &[&[BlockQ8K]], out: &mut [[f32; 8]]) {
    if a.len() != 1 {
        // SAFETY: same contract.
        return unsafe { gemm_q6_k_x8_tiles(w, a, out) };
    }
    assert!(out.len() == 1 && a[0].len() == w.len(), "x8 kernel: one token");
    let mut acc = [_mm256_setzero_ps(); 1];
    for (i, (x, y)) in w.iter().zip(a[0]).enumerate() {
        prefetch_ahead(w, i);
        // SAFETY: i8 and u8 have the same layout; the view covers exactly the `sc` array.
        let sc8: &[u8; 128] = unsafe { &*x.sc.as_ptr().cast::<[u8; 128]>() };
        // One pass over the block in memory order: each 32-byte chunk of high bits (n, k) and
        // the two chunks of low nibbles it completes are loaded once and give the 4 steps
        // t = 0..3 of column quad k (step 32n + 8t + k), which fall in 4 different scale groups
        // (8n + 2t + k/4), each with its own accumulator. Reading a block in order, once, is
        // what lets it stream at the memory's speed; integer sums, so no bit changes.
        let mut isum = _mm256_setzero_si256();
        for n in 0..2 {
            for kk in 0..2 {
                let mut s32 = [_mm256_setzero_si256(); 4];
                for k in 4 * kk..4 * kk + 4 {
                    for (t, (acc, q)) in s32.iter_mut().zip(q6_k_quad(x, n, k)).enumerate() {
                        *acc = _mm256_dpbusd_epi32(*acc, q, bcast4(&y.qs, 4 * (32 * n + 8 * t + k)));
                    }
                }
                for (t, acc) in s32.iter().enumerate() {
                    let g = 8 * n + 2 * t + kk;
                    isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(*acc, lanes32(sc8, 8 * g, true)));
                }
            }
        }
        q6_k_finish(x, [isum], &[y], &mut acc);
    }
    // SAFETY: `out[0]` is 8 writable f32; storeu needs no alignment.
    unsafe { _mm256_storeu_ps(out[0].as_mut_ptr(), acc[0]) };
}
