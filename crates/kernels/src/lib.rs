//! allmende-kernels: the CPU hot path.
//!
//! Pure compute on byte slices of GGML blocks: dequantize, quantize and dot products for every
//! block format, each with a scalar reference (`quant::*`, `float`) and, where it pays, SIMD
//! variants picked once per process by runtime CPU-feature dispatch (`dispatch`, `x86_64`).
//! No I/O, no threads, no allocation in the hot paths.
//!
//! The byte-level API (`dequantize_row`, `quantize_row`, `vec_dot`) is what the rest of the
//! workspace uses; contract violations (lengths that are not whole blocks) are programmer bugs
//! and panic. Batched matrix products go through the x8 GEMM path ([`gemm`]: `repack_x8`,
//! `quantize_gemm_act`, `gemm_x8`), whose outputs are bit-identical to `vec_dot`; quantized
//! `vec_dot`s are themselves bit-identical to the scalar reference on every table. `ALLMENDE_ISA=scalar|avx2|avx512vnni` forces a kernel table; [`isa_name`] reports the active
//! one.
//!
//! Reference: ggml (`ggml-common.h`, `ggml-quants.c`, `ggml-cpu/quants.c`) for layouts and
//! rounding; gguf-py `gguf.quants` for the test fixtures.

pub mod block;
mod dispatch;
mod float;
pub mod gemm;
mod ggml_type;
pub mod quant;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(test)]
mod tests;

pub use block::{as_blocks, as_blocks_mut, blocks_as_bytes, Block};
pub use dispatch::{isa_name, kernels, Kernels, SCALAR};
pub use gemm::{gemm_act_row_bytes, has_x8, repack_x8, unpack_x8_row, x8_group_bytes, GEMM_MAX_TOKENS, X8_ROWS};
pub use ggml_type::GgmlType;

/// Dequantize `dst.len()` elements of type `ty` stored in `src` into f32 (scalar reference).
///
/// Panics if `src` does not hold exactly the blocks for `dst.len()` elements, or if `ty` is not a
/// weight type (I8..F64).
pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) {
    let need = dispatch::row_bytes(ty, dst.len());
    assert_eq!(src.len(), need, "{ty}: source holds {} bytes, {} elements need {need}", src.len(), dst.len());
    quant::dequantize_bytes(ty, src, dst);
}

/// Quantize `src` into blocks of type `ty` written to `dst` (reference rounding, as llama.cpp's
/// `quantize_row_*_ref`; Q8_0/Q8_1/Q8_K use the active SIMD table, bit-identical to it).
///
/// Panics if `dst` is not exactly the size of the blocks for `src.len()` elements.
pub fn quantize_row(ty: GgmlType, src: &[f32], dst: &mut [u8]) {
    kernels().quantize_row(ty, src, dst)
}

/// Dot product of `n` elements: a weight row `w` of type `ty` with an activation row `a` already
/// converted to `ty.vec_dot_type()`.
///
/// Panics if the lengths do not match `n`, or if `ty` is not a weight type.
pub fn vec_dot(ty: GgmlType, n: usize, w: &[u8], a: &[u8]) -> f32 {
    kernels().vec_dot(ty, n, w, a)
}

/// Quantize `src` into an activation row for the x8 GEMM kernels of weight type `ty` (active
/// table); see [`Kernels::quantize_gemm_act`].
pub fn quantize_gemm_act(ty: GgmlType, src: &[f32], dst: &mut [u8]) {
    kernels().quantize_gemm_act(ty, src, dst)
}

/// Dot products of the 8 rows of an x8 group with any number of activation rows (active
/// table); see [`Kernels::gemm_x8`].
pub fn gemm_x8(ty: GgmlType, cols: usize, group: &[u8], acts: &[&[u8]], out: &mut [[f32; 8]]) {
    kernels().gemm_x8(ty, cols, group, acts, out)
}

/// Σ a·b over two f32 slices of equal length (panics otherwise).
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    kernels().dot_f32(a, b)
}

/// y += alpha·x over slices of equal length (panics otherwise).
pub fn axpy_f32(y: &mut [f32], alpha: f32, x: &[f32]) {
    kernels().axpy_f32(y, alpha, x)
}

/// x *= s.
pub fn scale_f32(x: &mut [f32], s: f32) {
    kernels().scale_f32(x, s)
}
