//! The row-interleaved ("x8") weight layouts the GEMM kernels read, and the functions that
//! convert between them and the file layout.
//!
//! A weight matrix is cut into groups of 8 rows (the last group padded with all-zero rows). A
//! group is stored as one x8 block per block column: block b of the 8 rows, rearranged so that
//! one 32-byte load gives 4 consecutive quants of each of the 8 rows (row r in bytes 4r..4r+4,
//! the "lane" of an AVX2 register). The kernels can then multiply all 8 rows by 4 activation
//! bytes broadcast to every lane, and each 32-bit lane accumulates exactly one row's dot product:
//! no horizontal sums, and the weights are unpacked once per tile of tokens instead of once per
//! (row, token) pair. Scales are gathered per group (8 f16 in one 16-byte load), and the 6-bit
//! packed K-quant scales are decoded once, at repack time.
//!
//! Every layout is a pure permutation of the file's bits (the K-quant scales are stored decoded,
//! which is one-to-one with the packed form), so [`unpack_x8_row`] rebuilds the original bytes
//! exactly; the tests check that round trip on random bytes.
//!
//! Reference: the idea is llama.cpp's `block_q4_0x8` / `block_q4_Kx8` repacking
//! (`ggml-cpu/repack.cpp`); the byte layouts here are our own, chosen for our kernels.

use crate::block::Block;
use crate::quant::k_common::{pack_scale_min_k4, scale_min_k4};
use crate::quant::{BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ6K, BlockQ8_0};
use crate::GgmlType;

/// A block of 8 interleaved rows that can be viewed from raw bytes.
///
/// # Safety
///
/// Implementors must be `#[repr(C)]` structs of byte arrays only (alignment 1, no padding,
/// every bit pattern valid); the const assertions next to each struct check size and alignment.
pub unsafe trait X8Block: Copy + 'static {
    /// The file block type this interleaves.
    type Row: Block;
    /// Bytes of one x8 block.
    const SIZE: usize;
    /// An all-zero block.
    const ZERO: Self;
    /// Interleave block `src[r]` of 8 rows (missing rows are zero blocks).
    fn pack(src: &[Self::Row; 8]) -> Self;
    /// Block of row `r` (0..8), exactly as it was before [`X8Block::pack`].
    fn unpack(&self, r: usize) -> Self::Row;
}

macro_rules! x8_layout {
    ($x8:ty, $row:ty, $size:expr, $zero:expr) => {
        const _: () = assert!(std::mem::size_of::<$x8>() == $size);
        const _: () = assert!(std::mem::align_of::<$x8>() == 1);
        impl $x8 {
            /// An all-zero block.
            pub const ZERO: $x8 = $zero;
        }
    };
}

/// 4 bytes of each of 8 rows per 32-byte chunk: `dst[32c + 4r + i] = src_r[4c + i]`.
#[inline]
fn interleave4(src: [&[u8]; 8], dst: &mut [u8]) {
    for (c, chunk) in dst.chunks_exact_mut(32).enumerate() {
        for (r, s) in src.iter().enumerate() {
            chunk[4 * r..4 * r + 4].copy_from_slice(&s[4 * c..4 * c + 4]);
        }
    }
}

/// The inverse of [`interleave4`] for row `r`.
#[inline]
fn deinterleave4(src: &[u8], r: usize, dst: &mut [u8]) {
    for (c, out) in dst.chunks_exact_mut(4).enumerate() {
        out.copy_from_slice(&src[32 * c + 4 * r..32 * c + 4 * r + 4]);
    }
}

fn i8s(x: &[i8]) -> &[u8] {
    // SAFETY: i8 and u8 have the same size and alignment and every bit pattern is valid for both.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast(), x.len()) }
}

fn i8s_mut(x: &mut [i8]) -> &mut [u8] {
    // SAFETY: as in `i8s`; the exclusive borrow moves to the returned slice.
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast(), x.len()) }
}

/// Q4_0 × 8 rows (144 bytes). `qs[32g + 4r + i]` = byte `4g + i` of row r (g < 4): its low
/// nibbles are elements 4g..4g+4, its high nibbles elements 16+4g..16+4g+4.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ4_0x8 {
    /// Scales of the 8 rows, f16 little-endian.
    pub d: [[u8; 2]; 8],
    /// Interleaved nibbles.
    pub qs: [u8; 128],
}
x8_layout!(BlockQ4_0x8, BlockQ4_0, 144, BlockQ4_0x8 { d: [[0; 2]; 8], qs: [0; 128] });

// SAFETY: byte arrays only; size and alignment asserted by `x8_layout!`.
unsafe impl X8Block for BlockQ4_0x8 {
    type Row = BlockQ4_0;
    const SIZE: usize = 144;
    const ZERO: Self = BlockQ4_0x8::ZERO;
    fn pack(src: &[BlockQ4_0; 8]) -> Self {
        let mut o = Self::ZERO;
        for (d, s) in o.d.iter_mut().zip(src) {
            *d = s.d;
        }
        interleave4(src.each_ref().map(|s| &s.qs[..]), &mut o.qs);
        o
    }
    fn unpack(&self, r: usize) -> BlockQ4_0 {
        let mut b = BlockQ4_0::ZERO;
        b.d = self.d[r];
        deinterleave4(&self.qs, r, &mut b.qs);
        b
    }
}

/// Q4_1 × 8 rows (160 bytes): scales, mins, then nibbles as [`BlockQ4_0x8`].
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ4_1x8 {
    /// Scales, f16 little-endian.
    pub d: [[u8; 2]; 8],
    /// Mins, f16 little-endian.
    pub m: [[u8; 2]; 8],
    /// Interleaved nibbles.
    pub qs: [u8; 128],
}
x8_layout!(BlockQ4_1x8, BlockQ4_1, 160, BlockQ4_1x8 { d: [[0; 2]; 8], m: [[0; 2]; 8], qs: [0; 128] });

// SAFETY: byte arrays only; size and alignment asserted by `x8_layout!`.
unsafe impl X8Block for BlockQ4_1x8 {
    type Row = BlockQ4_1;
    const SIZE: usize = 160;
    const ZERO: Self = BlockQ4_1x8::ZERO;
    fn pack(src: &[Self::Row; 8]) -> Self {
        let mut o = Self::ZERO;
        for ((d, m), s) in o.d.iter_mut().zip(&mut o.m).zip(src) {
            (*d, *m) = (s.d, s.m);
        }
        interleave4(src.each_ref().map(|s| &s.qs[..]), &mut o.qs);
        o
    }
    fn unpack(&self, r: usize) -> Self::Row {
        let mut b = <Self::Row as Block>::ZERO;
        b.d = self.d[r];
        b.m = self.m[r];
        deinterleave4(&self.qs, r, &mut b.qs);
        b
    }
}

/// Q5_0 × 8 rows (176 bytes). Nibbles as [`BlockQ4_0x8`]; `qh[4r + i]` holds at bit j the fifth
/// bit of element `4j + i` of row r, so step j (elements 4j..4j+4) needs one mask and one shift.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ5_0x8 {
    /// Scales, f16 little-endian.
    pub d: [[u8; 2]; 8],
    /// Fifth bits, regrouped per step (see above).
    pub qh: [u8; 32],
    /// Interleaved low nibbles.
    pub qs: [u8; 128],
}
x8_layout!(BlockQ5_0x8, BlockQ5_0, 176, BlockQ5_0x8 { d: [[0; 2]; 8], qh: [0; 32], qs: [0; 128] });

// SAFETY: byte arrays only; size and alignment asserted by `x8_layout!`.
unsafe impl X8Block for BlockQ5_0x8 {
    type Row = BlockQ5_0;
    const SIZE: usize = 176;
    const ZERO: Self = BlockQ5_0x8::ZERO;
    fn pack(src: &[BlockQ5_0; 8]) -> Self {
        let mut o = Self::ZERO;
        for (r, s) in src.iter().enumerate() {
            o.d[r] = s.d;
            let qh = u32::from_le_bytes(s.qh);
            for i in 0..4 {
                let mut byte = 0u8;
                for j in 0..8 {
                    byte |= (((qh >> (4 * j + i)) & 1) as u8) << j;
                }
                o.qh[4 * r + i] = byte;
            }
        }
        interleave4(src.each_ref().map(|s| &s.qs[..]), &mut o.qs);
        o
    }
    fn unpack(&self, r: usize) -> BlockQ5_0 {
        let mut b = BlockQ5_0::ZERO;
        b.d = self.d[r];
        let mut qh = 0u32;
        for i in 0..4 {
            for j in 0..8 {
                qh |= u32::from((self.qh[4 * r + i] >> j) & 1) << (4 * j + i);
            }
        }
        b.qh = qh.to_le_bytes();
        deinterleave4(&self.qs, r, &mut b.qs);
        b
    }
}

/// Q8_0 × 8 rows (272 bytes). `qs[32j + 4r + i]` = quant `4j + i` of row r.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ8_0x8 {
    /// Scales, f16 little-endian.
    pub d: [[u8; 2]; 8],
    /// Interleaved quants.
    pub qs: [i8; 256],
}
x8_layout!(BlockQ8_0x8, BlockQ8_0, 272, BlockQ8_0x8 { d: [[0; 2]; 8], qs: [0; 256] });

// SAFETY: byte arrays only; size and alignment asserted by `x8_layout!`.
unsafe impl X8Block for BlockQ8_0x8 {
    type Row = BlockQ8_0;
    const SIZE: usize = 272;
    const ZERO: Self = BlockQ8_0x8::ZERO;
    fn pack(src: &[BlockQ8_0; 8]) -> Self {
        let mut o = Self::ZERO;
        for (d, s) in o.d.iter_mut().zip(src) {
            *d = s.d;
        }
        interleave4(src.each_ref().map(|s| i8s(&s.qs)), i8s_mut(&mut o.qs));
        o
    }
    fn unpack(&self, r: usize) -> BlockQ8_0 {
        let mut b = BlockQ8_0::ZERO;
        b.d = self.d[r];
        deinterleave4(i8s(&self.qs), r, i8s_mut(&mut b.qs));
        b
    }
}

/// Q4_K × 8 rows (1184 bytes; the decoded scales take 32 bytes more than the packed ones).
/// `sc[8s + r]` and `m[8s + r]` are the 6-bit scale and min of sub-block s of row r;
/// `qs[256p + 32k + 4r + i]` = byte `32p + 4k + i` of row r (low nibbles: sub-block 2p, high:
/// 2p+1, elements 4k..4k+4 of the sub-block).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ4Kx8 {
    /// Super-block scales, f16 little-endian.
    pub d: [[u8; 2]; 8],
    /// Super-block min scales, f16 little-endian.
    pub dmin: [[u8; 2]; 8],
    /// Decoded sub-block scales.
    pub sc: [u8; 64],
    /// Decoded sub-block mins.
    pub m: [u8; 64],
    /// Interleaved nibbles.
    pub qs: [u8; 1024],
}
x8_layout!(BlockQ4Kx8, BlockQ4K, 1184, BlockQ4Kx8 { d: [[0; 2]; 8], dmin: [[0; 2]; 8], sc: [0; 64], m: [0; 64], qs: [0; 1024] });

/// Decoded scales and mins of a Q4_K/Q5_K row block into the x8 `sc`/`m` arrays at lane `r`.
fn put_scales_k4(scales: &[u8; 12], r: usize, sc: &mut [u8; 64], m: &mut [u8; 64]) {
    for s in 0..8 {
        let (c, mm) = scale_min_k4(s, scales);
        sc[8 * s + r] = c;
        m[8 * s + r] = mm;
    }
}

/// The packed 12 bytes of lane `r` from the x8 `sc`/`m` arrays.
fn get_scales_k4(sc: &[u8; 64], m: &[u8; 64], r: usize) -> [u8; 12] {
    let (mut ls, mut lm) = ([0u8; 8], [0u8; 8]);
    for s in 0..8 {
        ls[s] = sc[8 * s + r];
        lm[s] = m[8 * s + r];
    }
    pack_scale_min_k4(&ls, &lm)
}

// SAFETY: byte arrays only; size and alignment asserted by `x8_layout!`.
unsafe impl X8Block for BlockQ4Kx8 {
    type Row = BlockQ4K;
    const SIZE: usize = 1184;
    const ZERO: Self = BlockQ4Kx8::ZERO;
    fn pack(src: &[BlockQ4K; 8]) -> Self {
        let mut o = Self::ZERO;
        for (r, s) in src.iter().enumerate() {
            o.d[r] = s.d;
            o.dmin[r] = s.dmin;
            put_scales_k4(&s.scales, r, &mut o.sc, &mut o.m);
        }
        interleave4(src.each_ref().map(|s| &s.qs[..]), &mut o.qs);
        o
    }
    fn unpack(&self, r: usize) -> BlockQ4K {
        let mut b = BlockQ4K::ZERO;
        b.d = self.d[r];
        b.dmin = self.dmin[r];
        b.scales = get_scales_k4(&self.sc, &self.m, r);
        deinterleave4(&self.qs, r, &mut b.qs);
        b
    }
}

/// Q5_K × 8 rows (1440 bytes): [`BlockQ4Kx8`] plus `qh[32k + 4r + i]` = byte `4k + i` of row r's
/// `qh` (bit s: fifth bit of element 32s + 4k + i).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ5Kx8 {
    /// Super-block scales, f16 little-endian.
    pub d: [[u8; 2]; 8],
    /// Super-block min scales, f16 little-endian.
    pub dmin: [[u8; 2]; 8],
    /// Decoded sub-block scales.
    pub sc: [u8; 64],
    /// Decoded sub-block mins.
    pub m: [u8; 64],
    /// Interleaved fifth bits.
    pub qh: [u8; 256],
    /// Interleaved nibbles.
    pub qs: [u8; 1024],
}
x8_layout!(
    BlockQ5Kx8,
    BlockQ5K,
    1440,
    BlockQ5Kx8 { d: [[0; 2]; 8], dmin: [[0; 2]; 8], sc: [0; 64], m: [0; 64], qh: [0; 256], qs: [0; 1024] }
);

// SAFETY: byte arrays only; size and alignment asserted by `x8_layout!`.
unsafe impl X8Block for BlockQ5Kx8 {
    type Row = BlockQ5K;
    const SIZE: usize = 1440;
    const ZERO: Self = BlockQ5Kx8::ZERO;
    fn pack(src: &[BlockQ5K; 8]) -> Self {
        let mut o = Self::ZERO;
        for (r, s) in src.iter().enumerate() {
            o.d[r] = s.d;
            o.dmin[r] = s.dmin;
            put_scales_k4(&s.scales, r, &mut o.sc, &mut o.m);
        }
        interleave4(src.each_ref().map(|s| &s.qh[..]), &mut o.qh);
        interleave4(src.each_ref().map(|s| &s.qs[..]), &mut o.qs);
        o
    }
    fn unpack(&self, r: usize) -> BlockQ5K {
        let mut b = BlockQ5K::ZERO;
        b.d = self.d[r];
        b.dmin = self.dmin[r];
        b.scales = get_scales_k4(&self.sc, &self.m, r);
        deinterleave4(&self.qh, r, &mut b.qh);
        deinterleave4(&self.qs, r, &mut b.qs);
        b
    }
}

/// Q6_K × 8 rows (1680 bytes). `sc[8g + r]` = scale of group g of row r; `ql[32c + 4r + i]` =
/// `ql[4c + i]` of row r (c < 32); `qh[32c + 4r + i]` = `qh[4c + i]` of row r (c < 16).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQ6Kx8 {
    /// Super-block scales, f16 little-endian.
    pub d: [[u8; 2]; 8],
    /// Group scales, transposed.
    pub sc: [i8; 128],
    /// Interleaved low nibbles.
    pub ql: [u8; 1024],
    /// Interleaved high bits.
    pub qh: [u8; 512],
}
x8_layout!(BlockQ6Kx8, BlockQ6K, 1680, BlockQ6Kx8 { d: [[0; 2]; 8], sc: [0; 128], ql: [0; 1024], qh: [0; 512] });

// SAFETY: byte arrays only; size and alignment asserted by `x8_layout!`.
unsafe impl X8Block for BlockQ6Kx8 {
    type Row = BlockQ6K;
    const SIZE: usize = 1680;
    const ZERO: Self = BlockQ6Kx8::ZERO;
    fn pack(src: &[BlockQ6K; 8]) -> Self {
        let mut o = Self::ZERO;
        for (r, s) in src.iter().enumerate() {
            o.d[r] = s.d;
            for g in 0..16 {
                o.sc[8 * g + r] = s.scales[g];
            }
        }
        interleave4(src.each_ref().map(|s| &s.ql[..]), &mut o.ql);
        interleave4(src.each_ref().map(|s| &s.qh[..]), &mut o.qh);
        o
    }
    fn unpack(&self, r: usize) -> BlockQ6K {
        let mut b = BlockQ6K::ZERO;
        b.d = self.d[r];
        for g in 0..16 {
            b.scales[g] = self.sc[8 * g + r];
        }
        deinterleave4(&self.ql, r, &mut b.ql);
        deinterleave4(&self.qh, r, &mut b.qh);
        b
    }
}

/// View bytes as x8 blocks. Panics if the length is not a whole number of blocks.
pub(crate) fn as_x8<B: X8Block>(bytes: &[u8]) -> &[B] {
    assert_eq!(bytes.len() % B::SIZE, 0, "{} bytes is not a whole number of {}-byte x8 blocks", bytes.len(), B::SIZE);
    // SAFETY: `X8Block` guarantees alignment 1, no padding and that every bit pattern is valid,
    // and the length is an exact multiple of the block size.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<B>(), bytes.len() / B::SIZE) }
}

/// Mutable variant of [`as_x8`].
fn as_x8_mut<B: X8Block>(bytes: &mut [u8]) -> &mut [B] {
    assert_eq!(bytes.len() % B::SIZE, 0, "{} bytes is not a whole number of {}-byte x8 blocks", bytes.len(), B::SIZE);
    // SAFETY: as in `as_x8`; the exclusive borrow moves to the returned slice.
    unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<B>(), bytes.len() / B::SIZE) }
}

/// Size in bytes of one x8 block of `ty`, or `None` if `ty` has no x8 layout.
pub(crate) const fn x8_block_size(ty: GgmlType) -> Option<usize> {
    use GgmlType::*;
    match ty {
        Q4_0 => Some(BlockQ4_0x8::SIZE),
        Q4_1 => Some(BlockQ4_1x8::SIZE),
        Q5_0 => Some(BlockQ5_0x8::SIZE),
        Q8_0 => Some(BlockQ8_0x8::SIZE),
        Q4_K => Some(BlockQ4Kx8::SIZE),
        Q5_K => Some(BlockQ5Kx8::SIZE),
        Q6_K => Some(BlockQ6Kx8::SIZE),
        _ => None,
    }
}

fn pack_rows<B: X8Block>(rows: &[&[u8]], dst: &mut [u8]) {
    assert!(rows.len() <= 8, "repack_x8: {} rows given, a group holds 8", rows.len());
    let srcs: [&[B::Row]; 8] = std::array::from_fn(|r| rows.get(r).map_or(&[][..], |x| crate::as_blocks::<B::Row>(x)));
    for (b, out) in as_x8_mut::<B>(dst).iter_mut().enumerate() {
        let blocks: [B::Row; 8] = std::array::from_fn(|r| srcs[r].get(b).copied().unwrap_or(<B::Row as Block>::ZERO));
        *out = B::pack(&blocks);
    }
}

fn unpack_row<B: X8Block>(group: &[u8], r: usize, dst: &mut [u8]) {
    let out = crate::as_blocks_mut::<B::Row>(dst);
    for (o, x) in out.iter_mut().zip(as_x8::<B>(group)) {
        *o = x.unpack(r);
    }
}

/// Dispatch on the weight type with the x8 block type as `$B` (`None` arm for other types).
macro_rules! with_x8 {
    ($ty:expr, $B:ident => $e:expr, _ => $none:expr) => {{
        use $crate::gemm::layout::*;
        match $ty {
            GgmlType::Q4_0 => {
                type $B = BlockQ4_0x8;
                $e
            }
            GgmlType::Q4_1 => {
                type $B = BlockQ4_1x8;
                $e
            }
            GgmlType::Q5_0 => {
                type $B = BlockQ5_0x8;
                $e
            }
            GgmlType::Q8_0 => {
                type $B = BlockQ8_0x8;
                $e
            }
            GgmlType::Q4_K => {
                type $B = BlockQ4Kx8;
                $e
            }
            GgmlType::Q5_K => {
                type $B = BlockQ5Kx8;
                $e
            }
            GgmlType::Q6_K => {
                type $B = BlockQ6Kx8;
                $e
            }
            _ => $none,
        }
    }};
}

/// Interleave up to 8 rows (raw bytes in the file layout) into one x8 group.
pub(crate) fn repack_rows(ty: GgmlType, rows: &[&[u8]], dst: &mut [u8]) {
    with_x8!(ty, B => pack_rows::<B>(rows, dst), _ => panic!("repack_x8: {ty} has no x8 layout"))
}

/// Rebuild row `r` of an x8 group in the file layout.
pub(crate) fn unpack_group_row(ty: GgmlType, group: &[u8], r: usize, dst: &mut [u8]) {
    with_x8!(ty, B => unpack_row::<B>(group, r, dst), _ => panic!("unpack_x8_row: {ty} has no x8 layout"))
}
