//! x86-64 kernel tables. `AVX512VNNI` (below) adds VNNI GEMM kernels to `AVX2`.
//! `AVX2` needs AVX2 + FMA + F16C (Haswell and later, Zen and later) and
//! overrides every dot product, the x8 GEMM kernels, the Q8 activation quantizers and the f32
//! helpers; dequantization and weight quantization stay scalar.

pub(crate) mod avx2;
pub(crate) mod avx512vnni;

use crate::dispatch::{Kernels, SCALAR_TABLE};

/// The AVX2 + FMA + F16C table. It currently overrides every entry; `..SCALAR_TABLE` stays so a
/// new table entry falls back to the scalar reference until it gets an AVX2 version.
pub(crate) static AVX2: Kernels = AVX2_TABLE;

/// `AVX2` as a constant, for `..AVX2_TABLE` in the tables built on it.
#[allow(clippy::needless_update)]
const AVX2_TABLE: Kernels = Kernels {
    name: "avx2",
    dot_f32_f32: avx2::float::dot_f32_f32,
    dot_f16_f32: avx2::float::dot_f16_f32,
    dot_bf16_f32: avx2::float::dot_bf16_f32,
    dot_q4_0_q8_0: avx2::legacy::dot_q4_0_q8_0,
    dot_q4_1_q8_1: avx2::legacy::dot_q4_1_q8_1,
    dot_q5_0_q8_0: avx2::legacy::dot_q5_0_q8_0,
    dot_q5_1_q8_1: avx2::legacy::dot_q5_1_q8_1,
    dot_q8_0_q8_0: avx2::legacy::dot_q8_0_q8_0,
    dot_q2_k_q8_k: avx2::kquants::dot_q2_k_q8_k,
    dot_q3_k_q8_k: avx2::kquants::dot_q3_k_q8_k,
    dot_q4_k_q8_k: avx2::kquants::dot_q4_k_q8_k,
    dot_q5_k_q8_k: avx2::kquants::dot_q5_k_q8_k,
    dot_q6_k_q8_k: avx2::kquants::dot_q6_k_q8_k,
    gemm_q4_0_x8: avx2::gemm_legacy::gemm_q4_0_x8,
    gemm_q4_1_x8: avx2::gemm_legacy::gemm_q4_1_x8,
    gemm_q5_0_x8: avx2::gemm_legacy::gemm_q5_0_x8,
    gemm_q8_0_x8: avx2::gemm_legacy::gemm_q8_0_x8,
    gemm_q4_k_x8: avx2::gemm_kquants::gemm_q4_k_x8,
    gemm_q5_k_x8: avx2::gemm_kquants::gemm_q5_k_x8,
    gemm_q6_k_x8: avx2::gemm_kquants::gemm_q6_k_x8,
    quantize_row_q8_0: avx2::quantize::quantize_row_q8_0,
    quantize_row_q8_0x: avx2::quantize::quantize_row_q8_0x,
    quantize_row_q8_1x: avx2::quantize::quantize_row_q8_1x,
    quantize_row_q8_1: avx2::quantize::quantize_row_q8_1,
    quantize_row_q8_k: avx2::quantize::quantize_row_q8_k,
    axpy_f32: avx2::float::axpy_f32,
    scale_f32: avx2::float::scale_f32,
    scores_f32: avx2::attn::scores_f32,
    weighted_rows_f32: avx2::attn::weighted_rows_f32,
    ..SCALAR_TABLE
};

/// The AVX-512 VNNI table: `AVX2` with the x8 GEMM kernels (Q4_0/Q4_1/Q5_0/Q8_0, Q4_K/Q5_K/Q6_K) done by
/// `vpdpbusd` (bit-identical results).
pub(crate) static AVX512VNNI: Kernels = Kernels {
    name: "avx512vnni",
    gemm_q4_0_x8: avx512vnni::gemm_legacy::gemm_q4_0_x8,
    gemm_q4_1_x8: avx512vnni::gemm_legacy::gemm_q4_1_x8,
    gemm_q5_0_x8: avx512vnni::gemm_legacy::gemm_q5_0_x8,
    gemm_q8_0_x8: avx512vnni::gemm_legacy::gemm_q8_0_x8,
    gemm_q4_k_x8: avx512vnni::gemm_kquants::gemm_q4_k_x8,
    gemm_q5_k_x8: avx512vnni::gemm_kquants::gemm_q5_k_x8,
    gemm_q6_k_x8: avx512vnni::gemm_kquants::gemm_q6_k_x8,
    ..AVX2_TABLE
};

/// Whether this CPU can run the `AVX512VNNI` table.
pub(crate) fn avx512vnni_supported() -> bool {
    avx2_supported()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
}

/// Whether this CPU can run the `AVX2` table.
pub(crate) fn avx2_supported() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
}
