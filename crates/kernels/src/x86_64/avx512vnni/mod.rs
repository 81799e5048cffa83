//! AVX-512 VNNI kernels (on CPUs with AVX512F/BW/VL + VNNI: Intel Ice Lake and later, AMD
//! Zen 4 and later). They override the x8 GEMM kernels (32-element formats and K-quants), where
//! `vpdpbusd` replaces AVX2's `maddubs` + widening adds: four u8·i8 products summed straight
//! into i32 lanes, exactly. The integer sums are the same as the AVX2 and scalar kernels', so
//! every output stays bit-identical to the scalar `vec_dot`. Everything else comes from the AVX2
//! table. Only 256-bit registers are used: the x8 layouts hold 8 rows of 32-bit lanes.

pub(crate) mod gemm_kquants;
pub(crate) mod gemm_legacy;
