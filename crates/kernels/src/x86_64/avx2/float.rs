//! AVX2/FMA float kernels: f32·f32, f16·f32 (F16C) and bf16·f32 dot products on raw byte rows
//! (any alignment), and the f32 helpers `axpy` and `scale`. Four 8-lane accumulators over
//! 32-element chunks, then 8-element chunks, then the last 0..7 elements through a zero-padded
//! 8-lane buffer (short rows, such as attention over a few positions, stay vectorised).

use std::arch::x86_64::*;

use super::util::{hsum_ps, load_f32x8};
use crate::float as scalar;

/// Σ w·a for two f32 rows given as bytes.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_f32_f32(w: &[u8], a: &[u8]) -> f32 {
    assert_eq!(w.len(), a.len());
    let n = w.len() / 4;
    let main = n / 32 * 32;
    let (wp, ap) = (w.as_ptr().cast::<f32>(), a.as_ptr().cast::<f32>());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i < main {
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8r + 8 <= main <= n floats = the byte length of both rows;
            // loadu reads unaligned f32 lanes, so byte rows of any alignment are fine.
            let (x, y) = unsafe { (_mm256_loadu_ps(wp.add(i + 8 * r)), _mm256_loadu_ps(ap.add(i + 8 * r))) };
            *acc = _mm256_fmadd_ps(x, y, *acc);
        }
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n floats in both rows; unaligned loads.
        let (x, y) = unsafe { (_mm256_loadu_ps(wp.add(i)), _mm256_loadu_ps(ap.add(i))) };
        acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
        i += 8;
    }
    if i < n {
        let (mut xb, mut yb) = ([0f32; 8], [0f32; 8]);
        for j in i..n {
            xb[j - i] = f32::from_le_bytes([w[4 * j], w[4 * j + 1], w[4 * j + 2], w[4 * j + 3]]);
            yb[j - i] = f32::from_le_bytes([a[4 * j], a[4 * j + 1], a[4 * j + 2], a[4 * j + 3]]);
        }
        acc[1] = _mm256_fmadd_ps(load_f32x8(&xb, 0), load_f32x8(&yb, 0), acc[1]);
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    hsum_ps(sum)
}

/// Σ w·a for an f16 row and an f32 row, both as bytes.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_f16_f32(w: &[u8], a: &[u8]) -> f32 {
    assert_eq!(2 * w.len(), a.len());
    let n = w.len() / 2;
    let main = n / 32 * 32;
    let (wp, ap) = (w.as_ptr().cast::<u16>(), a.as_ptr().cast::<f32>());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i < main {
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8r + 8 <= main <= n elements: 16 bytes of halves and 32 bytes of
            // floats in bounds; both loads are unaligned loads.
            let (h, y) = unsafe { (_mm_loadu_si128(wp.add(i + 8 * r).cast()), _mm256_loadu_ps(ap.add(i + 8 * r))) };
            *acc = _mm256_fmadd_ps(_mm256_cvtph_ps(h), y, *acc);
        }
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n elements: 16 bytes of halves and 32 bytes of floats in bounds.
        let (h, y) = unsafe { (_mm_loadu_si128(wp.add(i).cast()), _mm256_loadu_ps(ap.add(i))) };
        acc[0] = _mm256_fmadd_ps(_mm256_cvtph_ps(h), y, acc[0]);
        i += 8;
    }
    if i < n {
        let (mut hb, mut yb) = ([0u16; 8], [0f32; 8]);
        for j in i..n {
            hb[j - i] = u16::from_le_bytes([w[2 * j], w[2 * j + 1]]);
            yb[j - i] = f32::from_le_bytes([a[4 * j], a[4 * j + 1], a[4 * j + 2], a[4 * j + 3]]);
        }
        // SAFETY: `hb` is 16 readable bytes.
        let h = unsafe { _mm_loadu_si128(hb.as_ptr().cast()) };
        acc[1] = _mm256_fmadd_ps(_mm256_cvtph_ps(h), load_f32x8(&yb, 0), acc[1]);
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    hsum_ps(sum)
}

/// Σ w·a for a bf16 row and an f32 row, both as bytes.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_bf16_f32(w: &[u8], a: &[u8]) -> f32 {
    assert_eq!(2 * w.len(), a.len());
    let n = w.len() / 2;
    let main = n / 32 * 32;
    let (wp, ap) = (w.as_ptr().cast::<u16>(), a.as_ptr().cast::<f32>());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i < main {
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: as in `dot_f16_f32`: 8 halves and 8 floats at i + 8r are in bounds.
            let (h, y) = unsafe { (_mm_loadu_si128(wp.add(i + 8 * r).cast()), _mm256_loadu_ps(ap.add(i + 8 * r))) };
            // bf16 is the top half of an f32: widen and shift left by 16.
            let x = _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)));
            *acc = _mm256_fmadd_ps(x, y, *acc);
        }
        i += 32;
    }
    while i < n {
        let mut hb = [0u16; 8];
        let mut yb = [0f32; 8];
        for j in i..n.min(i + 8) {
            hb[j - i] = u16::from_le_bytes([w[2 * j], w[2 * j + 1]]);
            yb[j - i] = f32::from_le_bytes([a[4 * j], a[4 * j + 1], a[4 * j + 2], a[4 * j + 3]]);
        }
        // SAFETY: `hb` is 16 readable bytes.
        let h = unsafe { _mm_loadu_si128(hb.as_ptr().cast()) };
        let x = _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)));
        acc[0] = _mm256_fmadd_ps(x, load_f32x8(&yb, 0), acc[0]);
        i += 8;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    hsum_ps(sum)
}

/// y += alpha·x (fused multiply-add, so results may differ from scalar in the last bit).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn axpy_f32(y: &mut [f32], alpha: f32, x: &[f32]) {
    assert_eq!(y.len(), x.len());
    let main = y.len() / 8 * 8;
    let va = _mm256_set1_ps(alpha);
    let mut i = 0;
    while i < main {
        let v = _mm256_fmadd_ps(va, load_f32x8(x, i), load_f32x8(y, i));
        // SAFETY: i + 8 <= main <= y.len(), and `y` is exclusively borrowed.
        unsafe { _mm256_storeu_ps(y.as_mut_ptr().add(i), v) };
        i += 8;
    }
    scalar::axpy_f32(&mut y[main..], alpha, &x[main..]);
}

/// x *= s (bit-identical to scalar).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn scale_f32(x: &mut [f32], s: f32) {
    let main = x.len() / 8 * 8;
    let vs = _mm256_set1_ps(s);
    let mut i = 0;
    while i < main {
        let v = _mm256_mul_ps(load_f32x8(x, i), vs);
        // SAFETY: i + 8 <= main <= x.len(), and `x` is exclusively borrowed.
        unsafe { _mm256_storeu_ps(x.as_mut_ptr().add(i), v) };
        i += 8;
    }
    scalar::scale_f32(&mut x[main..], s);
}
