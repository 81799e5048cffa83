//! AVX2 dot products of the 32-element formats: Q4_0·Q8_0, Q4_1·Q8_1, Q5_0·Q8_0, Q5_1·Q8_1,
//! Q8_0·Q8_0. One block per iteration: unpack the weights to 32 bytes, multiply-add with the
//! activation bytes into 8 i32 lanes and sum them to the block's exact integer dot product, then
//! add the block's f32 term exactly as the scalar reference does, so results are bit-identical
//! to it (and to the x8 GEMM kernels).
//! Reference: `ggml-cpu/arch/x86/quants.c` (same algorithms, written anew).

use std::arch::x86_64::*;

use super::util::{bytes_from_bits_32, f16x, hsum_epi32, load_i8x32, mul_sum_i8, mul_sum_us8, nibbles_32};
use crate::quant::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};

/// Σ w·a over Q4_0 weights and Q8_0 activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_q4_0_q8_0(w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let qx = _mm256_sub_epi8(nibbles_32(&x.qs, 0), _mm256_set1_epi8(8));
        let sumi = hsum_epi32(mul_sum_i8(qx, load_i8x32(&y.qs, 0)));
        sum += sumi as f32 * (f16x(x.d) * f16x(y.d));
    }
    sum
}

/// Σ w·a over Q4_1 weights and Q8_1 activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_q4_1_q8_1(w: &[BlockQ4_1], a: &[BlockQ8_1]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let sumi = hsum_epi32(mul_sum_us8(nibbles_32(&x.qs, 0), load_i8x32(&y.qs, 0)));
        sum += (f16x(x.d) * f16x(y.d)) * sumi as f32 + f16x(x.m) * f16x(y.s);
    }
    sum
}

/// Σ w·a over Q5_0 weights and Q8_0 activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_q5_0_q8_0(w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        // q − 16 as a signed byte: where the fifth bit is clear, OR in 0xF0 (= low − 16).
        let clear = _mm256_andnot_si256(bytes_from_bits_32(u32::from_le_bytes(x.qh)), _mm256_set1_epi8(0xf0u8 as i8));
        let qx = _mm256_or_si256(nibbles_32(&x.qs, 0), clear);
        let sumi = hsum_epi32(mul_sum_i8(qx, load_i8x32(&y.qs, 0)));
        sum += sumi as f32 * (f16x(x.d) * f16x(y.d));
    }
    sum
}

/// Σ w·a over Q5_1 weights and Q8_1 activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_q5_1_q8_1(w: &[BlockQ5_1], a: &[BlockQ8_1]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let high = _mm256_and_si256(bytes_from_bits_32(u32::from_le_bytes(x.qh)), _mm256_set1_epi8(0x10));
        let qx = _mm256_or_si256(nibbles_32(&x.qs, 0), high);
        let sumi = hsum_epi32(mul_sum_us8(qx, load_i8x32(&y.qs, 0)));
        sum += (f16x(x.d) * f16x(y.d)) * sumi as f32 + f16x(x.m) * f16x(y.s);
    }
    sum
}

/// Σ w·a over Q8_0 weights and Q8_0 activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_q8_0_q8_0(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let sumi = hsum_epi32(mul_sum_i8(load_i8x32(&x.qs, 0), load_i8x32(&y.qs, 0)));
        sum += sumi as f32 * (f16x(x.d) * f16x(y.d));
    }
    sum
}
