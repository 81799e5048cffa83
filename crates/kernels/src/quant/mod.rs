//! GGML block formats: one module per format with its `#[repr(C)]` block struct (byte-exact
//! `ggml-common.h` layout), scalar reference `dequantize_row_*`, `quantize_row_*` (ggml's `_ref`
//! rounding) and `dot_*` with the format's activation type.
//!
//! These scalar functions are the specification every SIMD kernel is tested against.

pub mod k_common;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;
pub mod q6_k;
pub mod q8_0;
pub mod q8_1;
pub mod q8_k;

pub use q2_k::BlockQ2K;
pub use q3_k::BlockQ3K;
pub use q4_0::BlockQ4_0;
pub use q4_1::BlockQ4_1;
pub use q4_k::BlockQ4K;
pub use q5_0::BlockQ5_0;
pub use q5_1::BlockQ5_1;
pub use q5_k::BlockQ5K;
pub use q6_k::BlockQ6K;
pub use q8_0::BlockQ8_0;
pub use q8_1::BlockQ8_1;
pub use q8_k::{BlockQ8K, QK_K};

use crate::block::{as_blocks, as_blocks_mut};
use crate::GgmlType;

/// Scalar dequantization of a row of `ty` given as raw bytes (lengths already checked).
pub(crate) fn dequantize_bytes(ty: GgmlType, src: &[u8], dst: &mut [f32]) {
    use GgmlType::*;
    match ty {
        F32 => {
            for (d, s) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *d = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            }
        }
        F16 => {
            for (d, s) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = half::f16::from_le_bytes([s[0], s[1]]).to_f32();
            }
        }
        BF16 => {
            for (d, s) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = half::bf16::from_le_bytes([s[0], s[1]]).to_f32();
            }
        }
        Q4_0 => q4_0::dequantize_row_q4_0(as_blocks(src), dst),
        Q4_1 => q4_1::dequantize_row_q4_1(as_blocks(src), dst),
        Q5_0 => q5_0::dequantize_row_q5_0(as_blocks(src), dst),
        Q5_1 => q5_1::dequantize_row_q5_1(as_blocks(src), dst),
        Q8_0 => q8_0::dequantize_row_q8_0(as_blocks(src), dst),
        Q8_1 => q8_1::dequantize_row_q8_1(as_blocks(src), dst),
        Q2_K => q2_k::dequantize_row_q2_k(as_blocks(src), dst),
        Q3_K => q3_k::dequantize_row_q3_k(as_blocks(src), dst),
        Q4_K => q4_k::dequantize_row_q4_k(as_blocks(src), dst),
        Q5_K => q5_k::dequantize_row_q5_k(as_blocks(src), dst),
        Q6_K => q6_k::dequantize_row_q6_k(as_blocks(src), dst),
        Q8_K => q8_k::dequantize_row_q8_k(as_blocks(src), dst),
        I8 | I16 | I32 | I64 | F64 => panic!("dequantize_row: {ty} is not a weight type"),
    }
}

/// Scalar quantization of `src` into a row of `ty` given as raw bytes (lengths already checked).
pub(crate) fn quantize_bytes(ty: GgmlType, src: &[f32], dst: &mut [u8]) {
    use GgmlType::*;
    match ty {
        F32 => {
            for (d, s) in dst.chunks_exact_mut(4).zip(src) {
                d.copy_from_slice(&s.to_le_bytes());
            }
        }
        F16 => {
            for (d, s) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&half::f16::from_f32(*s).to_le_bytes());
            }
        }
        BF16 => {
            for (d, s) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&half::bf16::from_f32(*s).to_le_bytes());
            }
        }
        Q4_0 => q4_0::quantize_row_q4_0(src, as_blocks_mut(dst)),
        Q4_1 => q4_1::quantize_row_q4_1(src, as_blocks_mut(dst)),
        Q5_0 => q5_0::quantize_row_q5_0(src, as_blocks_mut(dst)),
        Q5_1 => q5_1::quantize_row_q5_1(src, as_blocks_mut(dst)),
        Q8_0 => q8_0::quantize_row_q8_0(src, as_blocks_mut(dst)),
        Q8_1 => q8_1::quantize_row_q8_1(src, as_blocks_mut(dst)),
        Q2_K => q2_k::quantize_row_q2_k(src, as_blocks_mut(dst)),
        Q3_K => q3_k::quantize_row_q3_k(src, as_blocks_mut(dst)),
        Q4_K => q4_k::quantize_row_q4_k(src, as_blocks_mut(dst)),
        Q5_K => q5_k::quantize_row_q5_k(src, as_blocks_mut(dst)),
        Q6_K => q6_k::quantize_row_q6_k(src, as_blocks_mut(dst)),
        Q8_K => q8_k::quantize_row_q8_k(src, as_blocks_mut(dst)),
        I8 | I16 | I32 | I64 | F64 => panic!("quantize_row: {ty} is not a weight type"),
    }
}
