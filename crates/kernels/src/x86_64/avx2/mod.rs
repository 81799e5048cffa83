//! AVX2 + FMA + F16C kernels. Every table entry here is an `unsafe fn` with
//! `#[target_feature(enable = "avx2,fma,f16c")]`: callers must have checked those CPU features
//! (the `AVX2` table is only handed out after `avx2_supported()`). Kernels process whole blocks
//! (or whole 8/32-lane chunks) and leave any remainder to the scalar reference.

pub(crate) mod attn;
pub(crate) mod float;
pub(crate) mod gemm_kquants;
pub(crate) mod gemm_legacy;
pub(crate) mod kquants;
pub(crate) mod legacy;
pub(crate) mod quantize;
pub(crate) mod util;
