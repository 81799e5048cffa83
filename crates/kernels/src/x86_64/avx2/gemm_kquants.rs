//! AVX2 x8 GEMM kernels of the K-quants with Q8_K activations: Q4_K, Q5_K, Q6_K.
//!
//! Same scheme as `gemm_legacy.rs`: one 32-byte load holds 4 quants of each of 8 rows, the
//! activations are broadcast 4 bytes at a time, a lane accumulates one row. Per sub-block (32
//! elements for Q4_K/Q5_K, 16 for Q6_K) the i16 lane sums are multiplied by the row's decoded
//! scale with `madd` into an exact i32 super-block sum; mins (Q4_K/Q5_K) and Q6_K's −32 offset go
//! through the activations' `bsums`. Each lane then adds the reference's f32 term, so outputs
//! are bit-identical to the scalar `vec_dot`. Q5_K and Q6_K unpack a super-block once (64 steps
//! of 32 bytes, on the stack) for all tokens of the call; Q4_K unpacks nibbles in registers.
//!
//! i16 bounds (|a| ≤ 127): 4-bit 3810 per step (8 steps fit), 5-bit 7874 (4 fit), 6-bit 16002
//! (2 fit).

use std::arch::x86_64::*;

use super::gemm_legacy::{bcast4, bit_to_16, load_d8, no_prep, x8_kernel};
use super::util::{load_u8x32, prefetch_ahead};
use crate::gemm::layout::{BlockQ4Kx8, BlockQ5Kx8, BlockQ6Kx8};
use crate::gemm::GEMM_MAX_TOKENS;
use crate::quant::BlockQ8K;

/// 8 bytes at `b[off..off + 8]`, each duplicated into both i16 halves of its 32-bit lane
/// (zero-extended when `signed` is false, sign-extended otherwise).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dup16(b: &[u8], off: usize, signed: bool) -> __m256i {
    let s = &b[off..off + 8];
    let v = _mm_set_epi64x(0, i64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]));
    let v = _mm_unpacklo_epi8(v, v);
    if signed {
        _mm256_cvtepi8_epi16(v)
    } else {
        _mm256_cvtepu8_epi16(v)
    }
}

/// Two consecutive i16 `bsums` (groups 2s and 2s+1) of a Q8_K block in every 32-bit lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn bsum_pair(y: &BlockQ8K, s: usize) -> __m256i {
    let b = &y.bsums[4 * s..4 * s + 4];
    _mm256_set1_epi32(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Bits 2t and 2t+1 of every byte of `h`, moved to bits 4 and 5.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn bits2_to_16(h: __m256i, t: usize) -> __m256i {
    let b = _mm256_and_si256(h, _mm256_set1_epi8((3u8 << (2 * t)) as i8));
    match t {
        0 => _mm256_slli_epi16::<4>(b),
        1 => _mm256_slli_epi16::<2>(b),
        2 => b,
        _ => _mm256_srli_epi16::<2>(b),
    }
}

/// The Q4_K/Q5_K min sums Σ_s m_s·(bsum(2s) + bsum(2s+1)) per lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn k4_mins<const C: usize>(m: &[u8; 64], ys: &[&BlockQ8K; C]) -> [__m256i; C] {
    let mut summs = [_mm256_setzero_si256(); C];
    for s in 0..8 {
        let mv = dup16(m, 8 * s, false);
        for c in 0..C {
            summs[c] = _mm256_add_epi32(summs[c], _mm256_madd_epi16(mv, bsum_pair(ys[c], s)));
        }
    }
    summs
}

/// The Q4_K/Q5_K term dy·d·Σ − dy·dmin·summs (as `dot_q4_k_q8_k`) added to each token's sum.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn k4_finish<const C: usize>(
    d: &[[u8; 2]; 8],
    dmin: &[[u8; 2]; 8],
    isum: [__m256i; C],
    summs: [__m256i; C],
    ys: &[&BlockQ8K; C],
    acc: &mut [__m256; C],
) {
    let (dw, dmw) = (load_d8(d), load_d8(dmin));
    for c in 0..C {
        let dy = _mm256_set1_ps(ys[c].d());
        let t1 = _mm256_mul_ps(_mm256_mul_ps(dy, dw), _mm256_cvtepi32_ps(isum[c]));
        let t2 = _mm256_mul_ps(_mm256_mul_ps(dy, dmw), _mm256_cvtepi32_ps(summs[c]));
        acc[c] = _mm256_add_ps(acc[c], _mm256_sub_ps(t1, t2));
    }
}

/// Q4_K: per sub-block, nibbles times activations (8 steps in i16), times the scale.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_k_tile<const C: usize>(x: &BlockQ4Kx8, _: &(), ys: [&BlockQ8K; C], acc: &mut [__m256; C]) {
    let m4 = _mm256_set1_epi8(0x0f);
    let mut isum = [_mm256_setzero_si256(); C];
    for s in 0..8 {
        let sc = dup16(&x.sc, 8 * s, false);
        let mut s16 = [_mm256_setzero_si256(); C];
        for k in 0..8 {
            let v = load_u8x32(&x.qs, 256 * (s / 2) + 32 * k);
            let w = if s % 2 == 0 { _mm256_and_si256(v, m4) } else { _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4) };
            for c in 0..C {
                s16[c] = _mm256_add_epi16(s16[c], _mm256_maddubs_epi16(w, bcast4(&ys[c].qs, 32 * s + 4 * k)));
            }
        }
        for c in 0..C {
            isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(s16[c], sc));
        }
    }
    let summs = k4_mins(&x.m, &ys);
    k4_finish(&x.d, &x.dmin, isum, summs, &ys, acc);
}

/// Q5_K weights unpacked to 64 steps of 5-bit quants (step s: elements 4s..4s+4 of each row),
/// once per block for all tokens of the call.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn q5_k_prep(x: &BlockQ5Kx8) -> [__m256i; 64] {
    let m4 = _mm256_set1_epi8(0x0f);
    let mut u = [_mm256_setzero_si256(); 64];
    for k in 0..8 {
        let h = load_u8x32(&x.qh, 32 * k);
        for p in 0..4 {
            let v = load_u8x32(&x.qs, 256 * p + 32 * k);
            u[8 * (2 * p) + k] = _mm256_or_si256(_mm256_and_si256(v, m4), bit_to_16(h, 2 * p));
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4);
            u[8 * (2 * p + 1) + k] = _mm256_or_si256(hi, bit_to_16(h, 2 * p + 1));
        }
    }
    u
}

/// Column quad `k` of sub-blocks 2p and 2p+1 of a Q5_K x8 block as 5-bit quants (steps
/// 8·2p + k and 8·(2p+1) + k): one chunk of nibbles and the high-bit chunk, loaded once, in
/// memory order (for the single-token GEMV).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn q5_k_pair(x: &BlockQ5Kx8, p: usize, k: usize) -> [__m256i; 2] {
    let m4 = _mm256_set1_epi8(0x0f);
    let h = load_u8x32(&x.qh, 32 * k);
    let v = load_u8x32(&x.qs, 256 * p + 32 * k);
    [
        _mm256_or_si256(_mm256_and_si256(v, m4), bit_to_16(h, 2 * p)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(v), m4), bit_to_16(h, 2 * p + 1)),
    ]
}

/// Q5_K: as Q4_K with 5-bit quants, i16 sums widened every 4 steps.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_k_tile<const C: usize>(x: &BlockQ5Kx8, u: &[__m256i; 64], ys: [&BlockQ8K; C], acc: &mut [__m256; C]) {
    let mut isum = [_mm256_setzero_si256(); C];
    for s in 0..8 {
        let sc = dup16(&x.sc, 8 * s, false);
        for half in 0..2 {
            let mut s16 = [_mm256_setzero_si256(); C];
            for k in 4 * half..4 * half + 4 {
                for c in 0..C {
                    s16[c] = _mm256_add_epi16(s16[c], _mm256_maddubs_epi16(u[8 * s + k], bcast4(&ys[c].qs, 32 * s + 4 * k)));
                }
            }
            for c in 0..C {
                isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(s16[c], sc));
            }
        }
    }
    let summs = k4_mins(&x.m, &ys);
    k4_finish(&x.d, &x.dmin, isum, summs, &ys, acc);
}

/// Q6_K weights unpacked to 64 steps of 6-bit quants (stored +32; step s: elements 4s..4s+4),
/// once per block for all tokens of the call.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn q6_k_prep(x: &BlockQ6Kx8) -> [__m256i; 64] {
    let m4 = _mm256_set1_epi8(0x0f);
    let mut u = [_mm256_setzero_si256(); 64];
    for n in 0..2 {
        for k in 0..8 {
            let h = load_u8x32(&x.qh, 32 * (8 * n + k));
            for half in 0..2 {
                let v = load_u8x32(&x.ql, 32 * (16 * n + 8 * half + k));
                // t = half: low nibbles; t = half + 2: high nibbles (element 128n + 32t + 4k).
                let lo = _mm256_and_si256(v, m4);
                let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4);
                u[32 * n + 8 * half + k] = _mm256_or_si256(lo, bits2_to_16(h, half));
                u[32 * n + 8 * (half + 2) + k] = _mm256_or_si256(hi, bits2_to_16(h, half + 2));
            }
        }
    }
    u
}

/// The 6-bit quants (stored +32) of column quad `k` of half `n` of a Q6_K x8 block, for steps
/// t = 0..3 (step 32n + 8t + k): one chunk of high bits and the two chunks of low nibbles it
/// completes, each loaded once, in memory order (what lets a single-token GEMV stream).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn q6_k_quad(x: &BlockQ6Kx8, n: usize, k: usize) -> [__m256i; 4] {
    let m4 = _mm256_set1_epi8(0x0f);
    let h = load_u8x32(&x.qh, 32 * (8 * n + k));
    let v0 = load_u8x32(&x.ql, 32 * (16 * n + k));
    let v1 = load_u8x32(&x.ql, 32 * (16 * n + 8 + k));
    [
        _mm256_or_si256(_mm256_and_si256(v0, m4), bits2_to_16(h, 0)),
        _mm256_or_si256(_mm256_and_si256(v1, m4), bits2_to_16(h, 1)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(v0), m4), bits2_to_16(h, 2)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(v1), m4), bits2_to_16(h, 3)),
    ]
}

/// Q6_K: per group of 16, 6-bit quants (stored +32) times activations (2 steps per i16 sum),
/// times the signed scale; the +32 is removed as 32·Σ_g sc_g·bsum_g. Term d·dy·Σ as
/// `dot_q6_k_q8_k`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q6_k_tile<const C: usize>(x: &BlockQ6Kx8, u: &[__m256i; 64], ys: [&BlockQ8K; C], acc: &mut [__m256; C]) {
    // SAFETY: i8 and u8 have the same layout; the view covers exactly the `sc` array.
    let sc8: &[u8; 128] = unsafe { &*x.sc.as_ptr().cast::<[u8; 128]>() };
    let mut isum = [_mm256_setzero_si256(); C];
    for g in 0..16 {
        let sc = dup16(sc8, 8 * g, true);
        for pair in 0..2 {
            let mut s16 = [_mm256_setzero_si256(); C];
            let st = 4 * g + 2 * pair;
            for (i, w) in u[st..st + 2].iter().enumerate() {
                for c in 0..C {
                    s16[c] = _mm256_add_epi16(s16[c], _mm256_maddubs_epi16(*w, bcast4(&ys[c].qs, 4 * (st + i))));
                }
            }
            for c in 0..C {
                isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(s16[c], sc));
            }
        }
    }
    q6_k_finish(x, isum, &ys, acc);
}

/// The Q6_K epilogue: removes the +32 of the stored quants as 32·Σ_g sc_g·bsum_g, then adds
/// the reference's term d·dy·Σ (as `dot_q6_k_q8_k`) to each token's sum.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn q6_k_finish<const C: usize>(x: &BlockQ6Kx8, isum: [__m256i; C], ys: &[&BlockQ8K; C], acc: &mut [__m256; C]) {
    // SAFETY: i8 and u8 have the same layout; the view covers exactly the `sc` array.
    let sc8: &[u8; 128] = unsafe { &*x.sc.as_ptr().cast::<[u8; 128]>() };
    let mut offs = [_mm256_setzero_si256(); C];
    for q in 0..8 {
        // Lane r: (sc[2q], sc[2q+1]) of row r, sign-extended to i16.
        let (a, b) = (&sc8[16 * q..16 * q + 8], &sc8[16 * q + 8..16 * q + 16]);
        let a = _mm_set_epi64x(0, i64::from_le_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]));
        let b = _mm_set_epi64x(0, i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
        let pairs = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(a, b));
        for c in 0..C {
            offs[c] = _mm256_add_epi32(offs[c], _mm256_madd_epi16(pairs, bsum_pair(ys[c], q)));
        }
    }
    let dw = load_d8(&x.d);
    for c in 0..C {
        let isum = _mm256_sub_epi32(isum[c], _mm256_slli_epi32::<5>(offs[c]));
        let d = _mm256_mul_ps(dw, _mm256_set1_ps(ys[c].d()));
        acc[c] = _mm256_add_ps(acc[c], _mm256_mul_ps(d, _mm256_cvtepi32_ps(isum)));
    }
}

x8_kernel!(
    /// Q4_K x8 weights × Q8_K activations.
    gemm_q4_k_x8, BlockQ4Kx8, BlockQ8K, no_prep, q4_k_tile
);
x8_kernel!(
    /// Q5_K x8 weights × Q8_K activations, 2 or more tokens (a block unpacked once for all).
    gemm_q5_k_x8_tiles, BlockQ5Kx8, BlockQ8K, q5_k_prep, q5_k_tile
);

/// Q5_K x8 weights × Q8_K activations: one token (decode) unpacks in registers, in memory
/// order, two sub-blocks at a time with their own accumulators; more tokens go through
/// [`gemm_q5_k_x8_tiles`]. Same integer sums (i16 over 4 steps, as the tiles), same epilogue.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn gemm_q5_k_x8(w: &[BlockQ5Kx8], a: &[&[BlockQ8K]], out: &mut [[f32; 8]]) {
    if a.len() != 1 {
        // SAFETY: same contract.
        return unsafe { gemm_q5_k_x8_tiles(w, a, out) };
    }
    assert!(out.len() == 1 && a[0].len() == w.len(), "x8 kernel: one token");
    let mut acc = [_mm256_setzero_ps(); 1];
    for (x, y) in w.iter().zip(a[0]) {
        let mut isum = [_mm256_setzero_si256(); 2];
        for p in 0..4 {
            for half in 0..2 {
                let mut s16 = [_mm256_setzero_si256(); 2];
                for k in 4 * half..4 * half + 4 {
                    for (j, (acc, q)) in s16.iter_mut().zip(q5_k_pair(x, p, k)).enumerate() {
                        let s = 2 * p + j;
                        *acc = _mm256_add_epi16(*acc, _mm256_maddubs_epi16(q, bcast4(&y.qs, 32 * s + 4 * k)));
                    }
                }
                for (j, acc) in isum.iter_mut().enumerate() {
                    *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(s16[j], dup16(&x.sc, 8 * (2 * p + j), false)));
                }
            }
        }
        let summs = k4_mins(&x.m, &[y]);
        k4_finish(&x.d, &x.dmin, [_mm256_add_epi32(isum[0], isum[1])], summs, &[y], &mut acc);
    }
    // SAFETY: `out[0]` is 8 writable f32; storeu needs no alignment.
    unsafe { _mm256_storeu_ps(out[0].as_mut_ptr(), acc[0]) };
}
x8_kernel!(
    /// Q6_K x8 weights × Q8_K activations, 2 or more tokens (a block unpacked once for all).
    gemm_q6_k_x8_tiles, BlockQ6Kx8, BlockQ8K, q6_k_prep, q6_k_tile
);

/// Q6_K x8 weights × Q8_K activations: one token (decode) unpacks each step in registers;
/// more tokens go through [`gemm_q6_k_x8_tiles`]. Same integer sums, same epilogue.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
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
        // One pass over the block in memory order, as the VNNI kernel: each chunk of high bits
        // (n, k) and its two chunks of low nibbles give steps t = 0..3 of column quad k, which
        // fall in 4 scale groups (8n + 2t + k/4), each with its own accumulator; two column
        // quads are summed in i16 (no overflow: 2·2·63·127 < 2^15) before the scale.
        let mut isum = [_mm256_setzero_si256(); 4];
        for n in 0..2 {
            for kk in 0..2 {
                let sc: [__m256i; 4] = std::array::from_fn(|t| dup16(sc8, 8 * (8 * n + 2 * t + kk), true));
                for k0 in (4 * kk..4 * kk + 4).step_by(2) {
                    let mut s16 = [_mm256_setzero_si256(); 4];
                    for k in k0..k0 + 2 {
                        for (t, (acc, q)) in s16.iter_mut().zip(q6_k_quad(x, n, k)).enumerate() {
                            *acc = _mm256_add_epi16(*acc, _mm256_maddubs_epi16(q, bcast4(&y.qs, 4 * (32 * n + 8 * t + k))));
                        }
                    }
                    for t in 0..4 {
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(s16[t], sc[t]));
                    }
                }
            }
        }
        let isum = _mm256_add_epi32(_mm256_add_epi32(isum[0], isum[1]), _mm256_add_epi32(isum[2], isum[3]));
        q6_k_finish(x, [isum], &[y], &mut acc);
    }
    // SAFETY: `out[0]` is 8 writable f32; storeu needs no alignment.
    unsafe { _mm256_storeu_ps(out[0].as_mut_ptr(), acc[0]) };
}
