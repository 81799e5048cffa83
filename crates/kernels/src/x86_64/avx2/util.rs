//! Small AVX2 helpers shared by the kernels: horizontal sums and int8 multiply-add.

use std::arch::x86_64::*;

/// Horizontal sum of 8 f32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn hsum_ps(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Horizontal sum of 8 i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn hsum_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// Σ over pairs of 4 adjacent products u8·i8 → 8 i32 lanes: `ax` unsigned (0..=127 or nibbles),
/// `sy` signed. Each i16 intermediate is a sum of two products ≤ 2·255·128, which fits because
/// callers keep `ax` ≤ 127 or use nibble/6-bit values.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn mul_sum_us8(ax: __m256i, sy: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1))
}

/// Σ over groups of 4 adjacent products of two signed int8 vectors → 8 i32 lanes, computed as
/// |x|·(y·sign x). Exact as long as y ≠ −128, which ggml's and our activation quantizers never
/// produce (their quants lie in −127..=127).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn mul_sum_i8(x: __m256i, y: __m256i) -> __m256i {
    mul_sum_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

/// Load 32 bytes at `s[off..off + 32]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn load_u8x32(s: &[u8], off: usize) -> __m256i {
    assert!(off + 32 <= s.len());
    // SAFETY: the 32 bytes at `off` are in bounds (checked above); loadu needs no alignment.
    unsafe { _mm256_loadu_si256(s.as_ptr().add(off).cast()) }
}

/// Load 32 signed bytes at `s[off..off + 32]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn load_i8x32(s: &[i8], off: usize) -> __m256i {
    assert!(off + 32 <= s.len());
    // SAFETY: the 32 bytes at `off` are in bounds (checked above); loadu needs no alignment.
    unsafe { _mm256_loadu_si256(s.as_ptr().add(off).cast()) }
}

/// Load 16 bytes at `s[off..off + 16]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn load_u8x16(s: &[u8], off: usize) -> __m128i {
    assert!(off + 16 <= s.len());
    // SAFETY: the 16 bytes at `off` are in bounds (checked above); loadu needs no alignment.
    unsafe { _mm_loadu_si128(s.as_ptr().add(off).cast()) }
}

/// Load 8 f32 at `s[off..off + 8]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn load_f32x8(s: &[f32], off: usize) -> __m256 {
    assert!(off + 8 <= s.len());
    // SAFETY: the 8 floats at `off` are in bounds (checked above); loadu needs no alignment.
    unsafe { _mm256_loadu_ps(s.as_ptr().add(off)) }
}

/// 32 nibbles of 16 bytes as 32 bytes 0..=15: low nibbles first (elements 0..16), then high
/// nibbles (elements 16..32), the Q4_0/Q4_1/Q5_x element order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn nibbles_32(qs: &[u8], off: usize) -> __m256i {
    let t = load_u8x16(qs, off);
    let both = _mm256_set_m128i(_mm_srli_epi16::<4>(t), t);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0f))
}

/// Spread the 32 bits of `bits` to 32 bytes: 0xFF where the bit is set, 0x00 elsewhere.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn bytes_from_bits_32(bits: u32) -> __m256i {
    let shuf = _mm256_set_epi64x(0x0303_0303_0303_0303, 0x0202_0202_0202_0202, 0x0101_0101_0101_0101, 0);
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(bits as i32), shuf);
    // Each byte gets every bit set except the one it tests; all-ones iff that bit was set.
    let others = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe);
    _mm256_cmpeq_epi8(_mm256_or_si256(bytes, others), _mm256_set1_epi64x(-1))
}

/// f16 (little-endian bytes) to f32 with F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn f16x(h: [u8; 2]) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(u16::from_le_bytes(h)))))
}

/// An i16 vector holding `lo` in the lower 128-bit lane and `hi` in the upper one: the scales of
/// two consecutive groups of 16 quants for `_mm256_madd_epi16`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn lane_scales(lo: i16, hi: i16) -> __m256i {
    _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo))
}

/// Blocks ahead that [`prefetch_ahead`] asks for.
pub(crate) const PREFETCH_BLOCKS: usize = 8;

/// Asks L2 for every line of the block [`PREFETCH_BLOCKS`] after `w[i]`, for single-token GEMVs
/// over a layout with several regions per block (Q6_K: low nibbles, high bits, scales), which
/// the hardware prefetcher does not follow (measured: Q6_K streams at 13.7 GB/s without, 28
/// with; single-region layouts such as Q4_K stream faster without it). The address may lie
/// past `w` (the next group of rows follows in memory, and a prefetch never faults).
#[inline(always)]
pub(crate) fn prefetch_ahead<T>(w: &[T], i: usize) {
    let size = std::mem::size_of::<T>();
    let base = w.as_ptr().cast::<i8>().wrapping_add((i + PREFETCH_BLOCKS) * size);
    let mut off = 0;
    while off < size {
        // SAFETY: prefetching is a hint that never faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(base.wrapping_add(off)) };
        off += 64;
    }
}
