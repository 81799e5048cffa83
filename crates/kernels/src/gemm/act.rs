//! The activation blocks of the x8 GEMM kernels of the 32-element formats: a Q8_0 or Q8_1 block
//! (same quants, quantized by the same code) with its f16 fields widened to f32 (exactly: every
//! f16 is an f32), and for Q8_0 the integer sum of the quants.
//!
//! Widening once per matmul spares the kernels an f16 conversion per (block, token, group of 8
//! rows). The sum serves the Q4_0/Q5_0 kernels, which multiply unsigned quants (0..15, 0..31)
//! and apply the format's offset (−8, −16) afterwards as offset·Σa. Q8_1's `s` (d·Σq rounded to
//! f16, as in ggml) is kept as is, since Q4_1's reference dot uses that rounded value. The
//! K-quants keep Q8_K, whose f32 `d` and `bsums` already serve the same purposes.

use crate::block::{f16_to_f32, Block};
use crate::quant::{BlockQ8_0, BlockQ8_1};

/// A Q8_0 block with a widened scale and the sum of its quants (40 bytes).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ8_0X {
    /// The Q8_0 scale widened to f32, little-endian.
    pub d: [u8; 4],
    /// Σ qs, i32 little-endian.
    pub s: [u8; 4],
    /// Quants (as Q8_0).
    pub qs: [i8; 32],
}

/// A Q8_1 block with its scale and `s` widened to f32 (40 bytes).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ8_1X {
    /// The Q8_1 scale widened to f32, little-endian.
    pub d: [u8; 4],
    /// The Q8_1 `s` (f16 of d·Σq) widened to f32, little-endian.
    pub s: [u8; 4],
    /// Quants (as Q8_1).
    pub qs: [i8; 32],
}

/// Bytes per widened activation block (both kinds).
pub(crate) const ACT_X_SIZE: usize = 40;
const _: () = assert!(std::mem::size_of::<BlockQ8_0X>() == ACT_X_SIZE && std::mem::align_of::<BlockQ8_0X>() == 1);
const _: () = assert!(std::mem::size_of::<BlockQ8_1X>() == ACT_X_SIZE && std::mem::align_of::<BlockQ8_1X>() == 1);

impl BlockQ8_0X {
    /// The scale.
    #[inline(always)]
    pub fn d(&self) -> f32 {
        f32::from_le_bytes(self.d)
    }
    /// The sum of the quants.
    #[inline(always)]
    pub fn sum(&self) -> i32 {
        i32::from_le_bytes(self.s)
    }
    /// The Q8_0 block this widens (the scale narrows back exactly).
    pub fn to_q8_0(&self) -> BlockQ8_0 {
        BlockQ8_0 { d: half::f16::from_f32(self.d()).to_le_bytes(), qs: self.qs }
    }
    /// Widens a Q8_0 block.
    #[inline(always)]
    pub fn from_q8_0(b: &BlockQ8_0) -> BlockQ8_0X {
        let s: i32 = b.qs.iter().map(|&q| i32::from(q)).sum();
        BlockQ8_0X { d: f16_to_f32(b.d).to_le_bytes(), s: s.to_le_bytes(), qs: b.qs }
    }
}

impl BlockQ8_1X {
    /// The scale.
    #[inline(always)]
    pub fn d(&self) -> f32 {
        f32::from_le_bytes(self.d)
    }
    /// d·Σq as rounded to f16 by the Q8_1 quantizer.
    #[inline(always)]
    pub fn s(&self) -> f32 {
        f32::from_le_bytes(self.s)
    }
    /// The Q8_1 block this widens (both fields narrow back exactly).
    pub fn to_q8_1(&self) -> BlockQ8_1 {
        let h = |v: f32| half::f16::from_f32(v).to_le_bytes();
        BlockQ8_1 { d: h(self.d()), s: h(self.s()), qs: self.qs }
    }
    /// Widens a Q8_1 block.
    #[inline(always)]
    pub fn from_q8_1(b: &BlockQ8_1) -> BlockQ8_1X {
        BlockQ8_1X { d: f16_to_f32(b.d).to_le_bytes(), s: f16_to_f32(b.s).to_le_bytes(), qs: b.qs }
    }
}

/// View bytes as widened activation blocks. Panics if the length is not a whole number of
/// blocks.
pub(crate) fn as_act_x<B: ActX>(bytes: &[u8]) -> &[B] {
    assert_eq!(bytes.len() % ACT_X_SIZE, 0, "{} bytes is not a whole number of activation blocks", bytes.len());
    // SAFETY: `ActX` types are #[repr(C)] byte arrays of ACT_X_SIZE bytes (alignment 1, no
    // padding, any bit pattern valid, asserted above) and the length is a whole number of them.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len() / ACT_X_SIZE) }
}

/// Mutable variant of [`as_act_x`].
pub(crate) fn as_act_x_mut<B: ActX>(bytes: &mut [u8]) -> &mut [B] {
    assert_eq!(bytes.len() % ACT_X_SIZE, 0, "{} bytes is not a whole number of activation blocks", bytes.len());
    // SAFETY: as in `as_act_x`; the exclusive borrow moves to the returned slice.
    unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast(), bytes.len() / ACT_X_SIZE) }
}

/// The widened activation blocks.
///
/// # Safety
/// Implementors are #[repr(C)] byte arrays of exactly `ACT_X_SIZE` bytes.
pub(crate) unsafe trait ActX {}
// SAFETY: asserted above.
unsafe impl ActX for BlockQ8_0X {}
// SAFETY: asserted above.
unsafe impl ActX for BlockQ8_1X {}

/// Quantizes `x` block by block with `q` (a Q8_0 or Q8_1 quantizer) and widens each block.
#[inline(always)]
pub(crate) fn widen_rows<B: Block, W>(x: &[f32], y: &mut [W], mut q: impl FnMut(&[f32], &mut [B]), widen: impl Fn(&B) -> W) {
    assert_eq!(x.len(), 32 * y.len());
    let mut b = [B::ZERO];
    for (o, x) in y.iter_mut().zip(x.chunks_exact(32)) {
        q(x, &mut b);
        *o = widen(&b[0]);
    }
}

/// Scalar Q8_0X quantizer (the Q8_0 activation quantizer, widened).
pub(crate) fn quantize_row_q8_0x(x: &[f32], y: &mut [BlockQ8_0X]) {
    widen_rows(x, y, crate::quant::q8_0::quantize_row_q8_0_act, BlockQ8_0X::from_q8_0)
}

/// Scalar Q8_1X quantizer (the Q8_1 activation quantizer, widened).
pub(crate) fn quantize_row_q8_1x(x: &[f32], y: &mut [BlockQ8_1X]) {
    widen_rows(x, y, crate::quant::q8_1::quantize_row_q8_1_act, BlockQ8_1X::from_q8_1)
}
