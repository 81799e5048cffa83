//! AVX2 activation quantizers Q8_0, Q8_1 and Q8_K, bit-identical to the scalar activation
//! quantizers: the same IEEE operations per element. Q8_0/Q8_1 follow llama.cpp's x86
//! `quantize_row_q8_0`/`q8_1` (d = amax/127, multiplier 127/amax, round half to even), which its
//! matmuls use for activations, rather than the `_ref` versions (multiplier 1/d, roundf): the
//! two differ often enough in real activations to move a 4-bit model's log-probs measurably.
//! Q8_K is `quantize_row_q8_K_ref` (round half to even via `nearest_int`), as llama.cpp uses.

use std::arch::x86_64::*;

use super::util::load_f32x8;
use crate::block::f32_to_f16;
use crate::gemm::act::{widen_rows, BlockQ8_0X, BlockQ8_1X};
use crate::quant::{BlockQ8K, BlockQ8_0, BlockQ8_1, QK_K};

/// Largest |x| over 32 floats at `x[off..]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn abs_max_32(x: &[f32], off: usize) -> f32 {
    let sign = _mm256_set1_ps(-0.0);
    let mut m = _mm256_andnot_ps(sign, load_f32x8(x, off));
    for r in 1..4 {
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, load_f32x8(x, off + 8 * r)));
    }
    let m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
    let m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)))
}

/// Four vectors of 8 integral floats in −128..=127 to 32 signed bytes in element order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn pack_i8(v: [__m256; 4]) -> __m256i {
    let i = v.map(|v| _mm256_cvttps_epi32(v));
    let a = _mm256_packs_epi32(i[0], i[1]);
    let b = _mm256_packs_epi32(i[2], i[3]);
    // packs works per 128-bit lane: undo the lane interleave.
    _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

/// Quantize 32 floats at `x[off..]` with `id` (rounding half to even) into `qs`; returns the
/// quants as bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_32(x: &[f32], off: usize, id: f32, qs: &mut [i8; 32]) -> __m256i {
    let vid = _mm256_set1_ps(id);
    let v = [0, 1, 2, 3].map(|r| {
        _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(load_f32x8(x, off + 8 * r), vid))
    });
    let q = pack_i8(v);
    // SAFETY: `qs` is 32 writable bytes; storeu needs no alignment.
    unsafe { _mm256_storeu_si256(qs.as_mut_ptr().cast(), q) };
    q
}

/// Quantize `x` into Q8_0 blocks, bit-identical to `q8_0::quantize_row_q8_0_act` (llama.cpp's
/// x86 `quantize_row_q8_0`).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), 32 * y.len());
    for (i, b) in y.iter_mut().enumerate() {
        let amax = abs_max_32(x, 32 * i);
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        b.d = f32_to_f16(amax / 127.0);
        q8_32(x, 32 * i, id, &mut b.qs);
    }
}

/// Quantize `x` into Q8_1 blocks, bit-identical to `q8_1::quantize_row_q8_1_act` (llama.cpp's
/// x86 `quantize_row_q8_1`).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn quantize_row_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    assert_eq!(x.len(), 32 * y.len());
    for (i, b) in y.iter_mut().enumerate() {
        let amax = abs_max_32(x, 32 * i);
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        b.d = f32_to_f16(d);
        let q = q8_32(x, 32 * i, id, &mut b.qs);
        // Σ of the 32 signed bytes: |q|·sign via maddubs with ones, then pairwise i32 sums.
        let s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);
        let s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
        let sum = super::util::hsum_epi32(s32);
        b.s = f32_to_f16(sum as f32 * d);
    }
}

/// Quantize `x` into Q8_0X blocks: `quantize_row_q8_0` block by block, widened.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn quantize_row_q8_0x(x: &[f32], y: &mut [BlockQ8_0X]) {
    // SAFETY: the caller guarantees the CPU features `quantize_row_q8_0` needs.
    widen_rows(x, y, |x, b| unsafe { quantize_row_q8_0(x, b) }, BlockQ8_0X::from_q8_0)
}

/// Quantize `x` into Q8_1X blocks: `quantize_row_q8_1` block by block, widened.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn quantize_row_q8_1x(x: &[f32], y: &mut [BlockQ8_1X]) {
    // SAFETY: the caller guarantees the CPU features `quantize_row_q8_1` needs.
    widen_rows(x, y, |x, b| unsafe { quantize_row_q8_1(x, b) }, BlockQ8_1X::from_q8_1)
}

/// Quantize `x` into Q8_K blocks, bit-identical to `quantize_row_q8_K_ref`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn quantize_row_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    assert_eq!(x.len(), QK_K * y.len());
    for (i, b) in y.iter_mut().enumerate() {
        let xb = &x[QK_K * i..QK_K * (i + 1)];
        let mut amax = 0.0f32;
        for c in 0..8 {
            amax = amax.max(abs_max_32(xb, 32 * c));
        }
        if amax == 0.0 {
            *b = BlockQ8K { d: [0; 4], qs: [0; QK_K], bsums: [0; 32] };
            continue;
        }
        // ggml keeps the sign of the first element of largest magnitude.
        let max = xb.iter().copied().find(|v| v.abs() == amax).unwrap_or(amax);
        let iscale = -127.0 / max;
        let vs = _mm256_set1_ps(iscale);
        for c in 0..8 {
            let v = [0, 1, 2, 3].map(|r| {
                _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(vs, load_f32x8(xb, 32 * c + 8 * r)))
            });
            let q = pack_i8(v);
            // SAFETY: qs[32c..32c+32] is in bounds of the 256-byte array; storeu is unaligned.
            unsafe { _mm256_storeu_si256(b.qs.as_mut_ptr().add(32 * c).cast(), q) };
        }
        for g in 0..16 {
            let s: i32 = b.qs[16 * g..16 * g + 16].iter().map(|&q| i32::from(q)).sum();
            b.bsums[2 * g..2 * g + 2].copy_from_slice(&(s as i16).to_le_bytes());
        }
        b.d = (1.0 / iscale).to_le_bytes();
    }
}
