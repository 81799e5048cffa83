//! AVX2 x8 GEMM kernels of the 32-element formats: Q4_0, Q5_0, Q8_0 (× Q8_0X) and Q4_1 (× Q8_1X).
//!
//! One 32-byte load of an x8 block holds 4 consecutive quants of each of the 8 rows (one row per
//! 32-bit lane). Each step multiplies them, unpacked to unsigned bytes, with 4 activation bytes
//! broadcast to every lane (`maddubs`), so a lane's i16 pair sums belong to one row; per block the
//! lanes are reduced to i32 (`madd`) and the format offset is applied through Σa. Tokens run in
//! groups of 4 per unpacked step, so the unpacking is shared by 4 tokens; Q5_0, whose fifth bits
//! cost more to unpack, unpacks a block once for all tokens of the call. Each lane then adds the
//! reference's f32 term of its block, which keeps every output bit-identical to the scalar
//! `vec_dot` (see `gemm/mod.rs`).
//!
//! i16 bounds (|a| ≤ 127): nibbles 2·15·127 = 3810 per step, 8 steps fit; 5-bit quants 7874 per
//! step, 4 steps fit; Q8_0 uses |w|·(a·sign w) (≤ 2·128·127) and widens every step.

use std::arch::x86_64::*;

use super::util::{load_i8x32, load_u8x32};
use crate::gemm::act::{BlockQ8_0X, BlockQ8_1X};
use crate::gemm::layout::{BlockQ4_0x8, BlockQ4_1x8, BlockQ5_0x8, BlockQ8_0x8};
use crate::gemm::GEMM_MAX_TOKENS;

/// Activation bytes `qs[off..off + 4]` in every 32-bit lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn bcast4(qs: &[i8], off: usize) -> __m256i {
    let q = &qs[off..off + 4];
    _mm256_set1_epi32(i32::from_le_bytes([q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8]))
}

/// The 8 f16 scales of an x8 block as f32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn load_d8(d: &[[u8; 2]; 8]) -> __m256 {
    // SAFETY: `d` is 16 readable bytes; loadu needs no alignment.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(d.as_ptr().cast()) })
}

/// Bit `j` of every byte of `h`, moved to bit 4 (0x10 or 0).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn bit_to_16(h: __m256i, j: usize) -> __m256i {
    let b = _mm256_and_si256(h, _mm256_set1_epi8((1u8 << j) as i8));
    match j {
        0 => _mm256_slli_epi16::<4>(b),
        1 => _mm256_slli_epi16::<3>(b),
        2 => _mm256_slli_epi16::<2>(b),
        3 => _mm256_slli_epi16::<1>(b),
        4 => b,
        5 => _mm256_srli_epi16::<1>(b),
        6 => _mm256_srli_epi16::<2>(b),
        _ => _mm256_srli_epi16::<3>(b),
    }
}

/// Σ of the i16 pairs of each 32-bit lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn widen(s16: __m256i) -> __m256i {
    _mm256_madd_epi16(s16, _mm256_set1_epi16(1))
}

/// The block loop shared by every x8 kernel: one f32 accumulator per token; per block
/// `$prep(x8 block)` once (weights unpacked for all tokens of the call), then tokens in tiles of
/// 4 (then 3, 2, 1), `$tile::<C>(x8 block, &prepared, [activation block; C], &mut [acc; C])`.
macro_rules! x8_kernel {
    ($(#[$doc:meta])* $name:ident, $W:ty, $A:ty, $prep:ident, $tile:ident) => {
        $crate::x86_64::avx2::gemm_legacy::x8_kernel!(
            $(#[$doc])*
            ///
            /// # Safety
            /// The CPU must support AVX2, FMA and F16C.
            $name, $W, $A, $prep, $tile, "avx2,fma,f16c"
        );
    };
    ($(#[$doc:meta])* $name:ident, $W:ty, $A:ty, $prep:ident, $tile:ident, $features:literal) => {
        $(#[$doc])*
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $name(w: &[$W], a: &[&[$A]], out: &mut [[f32; 8]]) {
            assert!(a.len() == out.len() && a.len() <= GEMM_MAX_TOKENS, "x8 kernel: {} tokens", a.len());
            for at in a {
                assert_eq!(at.len(), w.len());
            }
            let n = a.len();
            let mut acc = [_mm256_setzero_ps(); GEMM_MAX_TOKENS];
            for (b, x) in w.iter().enumerate() {
                let p = $prep(x);
                let mut t = 0;
                while t + 4 <= n {
                    if let Some(acc) = acc[t..].first_chunk_mut::<4>() {
                        $tile::<4>(x, &p, std::array::from_fn(|c| &a[t + c][b]), acc);
                    }
                    t += 4;
                }
                let rest = &mut acc[t..];
                match n - t {
                    3 => {
                        if let Some(acc) = rest.first_chunk_mut::<3>() {
                            $tile::<3>(x, &p, std::array::from_fn(|c| &a[t + c][b]), acc);
                        }
                    }
                    2 => {
                        if let Some(acc) = rest.first_chunk_mut::<2>() {
                            $tile::<2>(x, &p, std::array::from_fn(|c| &a[t + c][b]), acc);
                        }
                    }
                    1 => {
                        if let Some(acc) = rest.first_chunk_mut::<1>() {
                            $tile::<1>(x, &p, [&a[t][b]], acc);
                        }
                    }
                    _ => {}
                }
            }
            for (o, acc) in out.iter_mut().zip(&acc) {
                // SAFETY: `o` is 8 writable f32; storeu needs no alignment.
                unsafe { _mm256_storeu_ps(o.as_mut_ptr(), *acc) };
            }
        }
    };
}
pub(crate) use x8_kernel;

/// The Q8_0-paired epilogue: per token, `acc += f32(isum − offset·Σa) · (d_w·d_a)` (the
/// reference's term of `dot_q4_0_q8_0` / `dot_q5_0_q8_0` / `dot_q8_0_q8_0`, offset 8, 16, 0).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn finish_q8_0<const C: usize>(d: &[[u8; 2]; 8], isum: [__m256i; C], offset: i32, ys: &[&BlockQ8_0X; C], acc: &mut [__m256; C]) {
    let dw = load_d8(d);
    for c in 0..C {
        let isum = _mm256_sub_epi32(isum[c], _mm256_set1_epi32(offset * ys[c].sum()));
        let d = _mm256_mul_ps(dw, _mm256_set1_ps(ys[c].d()));
        acc[c] = _mm256_add_ps(acc[c], _mm256_mul_ps(_mm256_cvtepi32_ps(isum), d));
    }
}

/// No preparation: the tile unpacks in registers (cheap 4-bit formats).
#[inline(always)]
pub(crate) fn no_prep<W>(_: &W) {}

/// Q4_0: nibbles times activations, minus 8·Σa; term Σ·(d_w·d_a) as `dot_q4_0_q8_0`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_0_tile<const C: usize>(x: &BlockQ4_0x8, _: &(), ys: [&BlockQ8_0X; C], acc: &mut [__m256; C]) {
    let m4 = _mm256_set1_epi8(0x0f);
    let mut s16 = [_mm256_setzero_si256(); C];
    for g in 0..4 {
        let v = load_u8x32(&x.qs, 32 * g);
        let lo = _mm256_and_si256(v, m4);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4);
        for c in 0..C {
            let p0 = _mm256_maddubs_epi16(lo, bcast4(&ys[c].qs, 4 * g));
            let p1 = _mm256_maddubs_epi16(hi, bcast4(&ys[c].qs, 16 + 4 * g));
            s16[c] = _mm256_add_epi16(s16[c], _mm256_add_epi16(p0, p1));
        }
    }
    finish_q8_0(&x.d, std::array::from_fn(|c| widen(s16[c])), 8, &ys, acc);
}

/// Q4_1: nibbles times activations; term (d_w·d_a)·Σ + m_w·s_a as `dot_q4_1_q8_1`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_1_tile<const C: usize>(x: &BlockQ4_1x8, _: &(), ys: [&BlockQ8_1X; C], acc: &mut [__m256; C]) {
    let m4 = _mm256_set1_epi8(0x0f);
    let mut s16 = [_mm256_setzero_si256(); C];
    for g in 0..4 {
        let v = load_u8x32(&x.qs, 32 * g);
        let lo = _mm256_and_si256(v, m4);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4);
        for c in 0..C {
            let p0 = _mm256_maddubs_epi16(lo, bcast4(&ys[c].qs, 4 * g));
            let p1 = _mm256_maddubs_epi16(hi, bcast4(&ys[c].qs, 16 + 4 * g));
            s16[c] = _mm256_add_epi16(s16[c], _mm256_add_epi16(p0, p1));
        }
    }
    let (dw, mw) = (load_d8(&x.d), load_d8(&x.m));
    for c in 0..C {
        let d = _mm256_mul_ps(dw, _mm256_set1_ps(ys[c].d()));
        let t = _mm256_mul_ps(d, _mm256_cvtepi32_ps(widen(s16[c])));
        let t = _mm256_add_ps(t, _mm256_mul_ps(mw, _mm256_set1_ps(ys[c].s())));
        acc[c] = _mm256_add_ps(acc[c], t);
    }
}

/// Q5_0 weights unpacked to 8 steps of 5-bit quants (step j: elements 4j..4j+4 of each row),
/// once per block for all tokens of the call.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn q5_0_prep(x: &BlockQ5_0x8) -> [__m256i; 8] {
    let m4 = _mm256_set1_epi8(0x0f);
    let h = load_u8x32(&x.qh, 0);
    let mut u = [_mm256_setzero_si256(); 8];
    for g in 0..4 {
        let v = load_u8x32(&x.qs, 32 * g);
        u[g] = _mm256_or_si256(_mm256_and_si256(v, m4), bit_to_16(h, g));
        u[4 + g] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(v), m4), bit_to_16(h, 4 + g));
    }
    u
}

/// Q5_0: 5-bit quants times activations (4 steps per i16 sum), minus 16·Σa; term as Q4_0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_0_tile<const C: usize>(x: &BlockQ5_0x8, u: &[__m256i; 8], ys: [&BlockQ8_0X; C], acc: &mut [__m256; C]) {
    let mut isum = [_mm256_setzero_si256(); C];
    for half in 0..2 {
        let mut s16 = [_mm256_setzero_si256(); C];
        for (i, w) in u[4 * half..4 * half + 4].iter().enumerate() {
            for c in 0..C {
                s16[c] = _mm256_add_epi16(s16[c], _mm256_maddubs_epi16(*w, bcast4(&ys[c].qs, 16 * half + 4 * i)));
            }
        }
        for c in 0..C {
            isum[c] = _mm256_add_epi32(isum[c], widen(s16[c]));
        }
    }
    finish_q8_0(&x.d, isum, 16, &ys, acc);
}

/// Q8_0: |w|·(a·sign w), widened every step; term as Q4_0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_0_tile<const C: usize>(x: &BlockQ8_0x8, _: &(), ys: [&BlockQ8_0X; C], acc: &mut [__m256; C]) {
    let mut s32 = [_mm256_setzero_si256(); C];
    for j in 0..8 {
        let w = load_i8x32(&x.qs, 32 * j);
        let aw = _mm256_sign_epi8(w, w);
        for c in 0..C {
            let p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(bcast4(&ys[c].qs, 4 * j), w));
            s32[c] = _mm256_add_epi32(s32[c], widen(p));
        }
    }
    finish_q8_0(&x.d, s32, 0, &ys, acc);
}

x8_kernel!(
    /// Q4_0 x8 weights × Q8_0X activations.
    gemm_q4_0_x8, BlockQ4_0x8, BlockQ8_0X, no_prep, q4_0_tile
);
x8_kernel!(
    /// Q4_1 x8 weights × Q8_1X activations.
    gemm_q4_1_x8, BlockQ4_1x8, BlockQ8_1X, no_prep, q4_1_tile
);
x8_kernel!(
    /// Q5_0 x8 weights × Q8_0X activations.
    gemm_q5_0_x8, BlockQ5_0x8, BlockQ8_0X, q5_0_prep, q5_0_tile
);
x8_kernel!(
    /// Q8_0 x8 weights × Q8_0X activations.
    gemm_q8_0_x8, BlockQ8_0x8, BlockQ8_0X, no_prep, q8_0_tile
);
