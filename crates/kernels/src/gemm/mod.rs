//! Quantized GEMM: weights repacked into groups of 8 interleaved rows (the "x8" layouts of
//! [`X8Block`] types) times a tile of up to [`GEMM_MAX_TOKENS`] activation rows.
//!
//! The model's matrix multiply (`allmende-tensor`'s `QMatrix::matmul`) repacks a weight matrix
//! once with [`repack_x8`], converts the activations with
//! [`Kernels::quantize_gemm_act`](crate::Kernels::quantize_gemm_act), and calls
//! [`Kernels::gemm_x8`](crate::Kernels::gemm_x8) for each (group of 8 rows, tile of tokens);
//! threading and cache blocking stay in the caller.
//!
//! **Results are exact.** Every x8 kernel (scalar and SIMD), and every `vec_dot` of the same
//! weight types, computes each output as the scalar reference does: per block the exact integer
//! dot product, turned into the reference's f32 term with the same operations in the same order,
//! added to a running sum block by block. So a matmul output does not depend on the ISA, on how
//! many tokens are in the batch, or on where a token falls in a tile (batch invariance).
//!
//! Weight types with x8 kernels: Q4_0, Q5_0, Q8_0 (activations [`BlockQ8_0X`]: Q8_0 with a
//! widened scale and the sum of its quants), Q4_1 ([`BlockQ8_1X`]: Q8_1 widened), Q4_K, Q5_K,
//! Q6_K (Q8_K). Other types keep the per-row `vec_dot`.

pub(crate) mod act;
pub(crate) mod layout;
pub(crate) mod scalar;

pub use act::{BlockQ8_0X, BlockQ8_1X};
pub use layout::{BlockQ4Kx8, BlockQ4_0x8, BlockQ4_1x8, BlockQ5Kx8, BlockQ5_0x8, BlockQ6Kx8, BlockQ8_0x8, X8Block};

use crate::GgmlType;

/// Rows in one x8 group.
pub const X8_ROWS: usize = 8;

/// Tokens one kernel call handles at once; [`Kernels::gemm_x8`](crate::Kernels::gemm_x8) splits
/// wider calls. A tile's activations (16 rows) stay in L1/L2 while the group's weights are
/// unpacked once per 4 tokens.
pub const GEMM_MAX_TOKENS: usize = 16;

/// True when `ty` has an x8 layout and GEMM kernels.
pub const fn has_x8(ty: GgmlType) -> bool {
    layout::x8_block_size(ty).is_some()
}

/// Bytes of one x8 group (8 rows) of `cols` columns of `ty`, or `None` when `ty` has no x8
/// layout or `cols` is not a whole number of blocks.
pub fn x8_group_bytes(ty: GgmlType, cols: usize) -> Option<usize> {
    let bs = layout::x8_block_size(ty)?;
    if !cols.is_multiple_of(ty.block_size()) {
        return None;
    }
    (cols / ty.block_size()).checked_mul(bs)
}

/// The type of the activation blocks the x8 kernels of `ty` take.
pub(crate) const fn gemm_act_type(ty: GgmlType) -> Option<GemmAct> {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => Some(GemmAct::Q8_0X),
        Q4_1 => Some(GemmAct::Q8_1X),
        Q4_K | Q5_K | Q6_K => Some(GemmAct::Q8K),
        _ => None,
    }
}

/// Activation block formats of the x8 kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GemmAct {
    Q8_0X,
    Q8_1X,
    Q8K,
}

/// Bytes of one activation row of `cols` elements for the x8 kernels of `ty`, or `None` when
/// `ty` has no x8 kernels or `cols` is not a whole number of blocks.
pub fn gemm_act_row_bytes(ty: GgmlType, cols: usize) -> Option<usize> {
    if !cols.is_multiple_of(ty.block_size()) {
        return None;
    }
    let nb = cols / ty.block_size();
    match gemm_act_type(ty)? {
        GemmAct::Q8_0X | GemmAct::Q8_1X => nb.checked_mul(act::ACT_X_SIZE),
        GemmAct::Q8K => GgmlType::Q8_K.row_bytes(cols),
    }
}

/// Interleave up to 8 rows of `ty` (each `cols` elements, in the file layout) into one x8 group
/// `dst` of [`x8_group_bytes`] bytes; missing rows are zero (their outputs are 0).
///
/// Panics if `ty` has no x8 layout, there are more than 8 rows, or a length does not match.
pub fn repack_x8(ty: GgmlType, cols: usize, rows: &[&[u8]], dst: &mut [u8]) {
    let Some(group) = x8_group_bytes(ty, cols) else {
        panic!("repack_x8: {ty} rows of {cols} elements have no x8 layout");
    };
    let row = crate::dispatch::row_bytes(ty, cols);
    assert!(rows.len() <= X8_ROWS, "repack_x8: {} rows given, a group holds {X8_ROWS}", rows.len());
    for r in rows {
        assert_eq!(r.len(), row, "repack_x8: {ty} row has {} bytes, {cols} elements need {row}", r.len());
    }
    assert_eq!(dst.len(), group, "repack_x8: destination has {} bytes, the group needs {group}", dst.len());
    layout::repack_rows(ty, rows, dst);
}

/// Rebuild row `r` (0..8) of an x8 group of `ty` in the file layout (the inverse of
/// [`repack_x8`]; exact). Panics if `ty` has no x8 layout or a length does not match.
pub fn unpack_x8_row(ty: GgmlType, cols: usize, group: &[u8], r: usize, dst: &mut [u8]) {
    let Some(size) = x8_group_bytes(ty, cols) else {
        panic!("unpack_x8_row: {ty} rows of {cols} elements have no x8 layout");
    };
    assert!(r < X8_ROWS, "unpack_x8_row: row {r} of a group of {X8_ROWS}");
    assert_eq!(group.len(), size, "unpack_x8_row: group has {} bytes, expected {size}", group.len());
    assert_eq!(dst.len(), crate::dispatch::row_bytes(ty, cols), "unpack_x8_row: destination length");
    layout::unpack_group_row(ty, group, r, dst);
}
