//! Byte-level views of GGML blocks and the small scalar conversions every format shares.
//!
//! Every block struct in `quant/` is `#[repr(C)]` and made only of byte arrays (`u8`/`i8`), so it
//! has alignment 1, no padding and no invalid bit patterns. That is what lets a `&[u8]` row taken
//! straight from a GGUF mmap be viewed as `&[BlockQ4_0]` without copying or alignment checks.
//! Multi-byte fields (f16 scales, the f32 `d` and i16 `bsums` of Q8_K) are stored little-endian,
//! as on disk, and read through accessors.
//!
//! Reference: `ggml/src/ggml-common.h` (block layouts), `ggml-impl.h` (fp16 conversion, which is
//! IEEE round-to-nearest-even, as `half` does).

use crate::GgmlType;

/// A GGML block type that can be viewed from raw bytes.
///
/// # Safety
///
/// Implementors must be `#[repr(C)]`, have `align_of == 1`, contain no padding, accept every bit
/// pattern, and have `size_of == TYPE.type_size()`. The const assertions next to each block
/// struct check size and alignment at compile time.
pub unsafe trait Block: Copy + 'static {
    /// The GGML type this block belongs to.
    const TYPE: GgmlType;
    /// An all-zero block (scales 0, quants 0).
    const ZERO: Self;
}

/// View `bytes` as a slice of blocks. Panics if the length is not a whole number of blocks.
pub fn as_blocks<B: Block>(bytes: &[u8]) -> &[B] {
    let size = std::mem::size_of::<B>();
    assert_eq!(bytes.len() % size, 0, "{}: {} bytes is not a whole number of blocks", B::TYPE, bytes.len());
    // SAFETY: `Block` guarantees alignment 1, no padding and that every bit pattern is valid,
    // and the length is an exact multiple of the block size, so the new slice covers exactly the
    // same initialised bytes with the same lifetime.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<B>(), bytes.len() / size) }
}

/// Mutable variant of [`as_blocks`]. Panics if the length is not a whole number of blocks.
pub fn as_blocks_mut<B: Block>(bytes: &mut [u8]) -> &mut [B] {
    let size = std::mem::size_of::<B>();
    assert_eq!(bytes.len() % size, 0, "{}: {} bytes is not a whole number of blocks", B::TYPE, bytes.len());
    // SAFETY: as in `as_blocks`; the exclusive borrow of `bytes` moves to the returned slice, and
    // any bit pattern written through it is a valid byte sequence.
    unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<B>(), bytes.len() / size) }
}

/// View blocks as their raw bytes (the on-disk layout).
pub fn blocks_as_bytes<B: Block>(blocks: &[B]) -> &[u8] {
    // SAFETY: `Block` types have no padding, so every byte is initialised; u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(blocks.as_ptr().cast::<u8>(), std::mem::size_of_val(blocks)) }
}

/// View an f32 slice as its little-endian bytes (this crate only targets little-endian CPUs).
pub(crate) fn f32s_as_bytes(x: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and every byte of it is initialised; u8 has alignment 1 and the
    // length in bytes is exactly `size_of_val(x)`.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<u8>(), std::mem::size_of_val(x)) }
}

#[cfg(target_endian = "big")]
compile_error!("allmende-kernels assumes a little-endian target (GGUF data is little-endian)");

/// IEEE half (stored little-endian) to f32, exact.
#[inline(always)]
pub fn f16_to_f32(h: [u8; 2]) -> f32 {
    half::f16::from_le_bytes(h).to_f32()
}

/// f32 to IEEE half with round-to-nearest-even (ggml's `GGML_FP32_TO_FP16`), little-endian bytes.
#[inline(always)]
pub fn f32_to_f16(x: f32) -> [u8; 2] {
    half::f16::from_f32(x).to_le_bytes()
}

/// ggml's `nearest_int`: round to nearest with ties to even via the 1.5·2^23 magic-number trick.
/// Bit-identical to the C version for every input (ggml asserts |x| <= 4194303).
#[inline(always)]
pub fn nearest_int(x: f32) -> i32 {
    let v = x + 12_582_912.0;
    (v.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// Implements [`Block`] for a `#[repr(C)]` byte-array struct and checks its size and alignment
/// against the GGML type at compile time.
macro_rules! block_layout {
    ($block:ty, $ty:ident, $zero:expr) => {
        // SAFETY: `$block` is a #[repr(C)] struct whose fields are all u8/i8 arrays: alignment 1,
        // no padding, every bit pattern valid. Size and alignment are asserted just below.
        unsafe impl crate::block::Block for $block {
            const TYPE: crate::GgmlType = crate::GgmlType::$ty;
            const ZERO: Self = $zero;
        }
        const _: () = assert!(std::mem::size_of::<$block>() == crate::GgmlType::$ty.type_size());
        const _: () = assert!(std::mem::align_of::<$block>() == 1);
    };
}
pub(crate) use block_layout;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_is_round_half_even() {
        assert_eq!(nearest_int(0.5), 0);
        assert_eq!(nearest_int(1.5), 2);
        assert_eq!(nearest_int(2.5), 2);
        assert_eq!(nearest_int(-0.5), 0);
        assert_eq!(nearest_int(-1.5), -2);
        assert_eq!(nearest_int(-126.7), -127);
        assert_eq!(nearest_int(3.49), 3);
    }

    #[test]
    fn f16_round_trip_is_rne() {
        // 1 + 2^-11 is exactly half way between 1 and the next f16; ties go to even (1.0).
        assert_eq!(f16_to_f32(f32_to_f16(1.0 + 1.0 / 2048.0)), 1.0);
        assert_eq!(f16_to_f32(f32_to_f16(65504.0)), 65504.0);
        assert_eq!(f32_to_f16(-2.0), [0x00, 0xc0]);
    }
}
