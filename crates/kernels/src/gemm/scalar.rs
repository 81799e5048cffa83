//! Scalar reference GEMM on x8 groups: for each of the 8 rows, rebuild the row's file block from
//! the x8 block and add the scalar dot product of that one block to the running sum.
//!
//! The scalar `dot_*` functions are exactly `sum = 0; for each block { sum += term }`, and a dot
//! over one block returns `0 + term`, which adds to a running sum exactly as `term` does (the sum
//! starts at +0 and so is never −0). The result is therefore bit-identical to the scalar
//! `vec_dot` of the original row, for every output and every tile shape: this is the
//! specification the SIMD kernels are tested against.

use super::act::{BlockQ8_0X, BlockQ8_1X};
use super::layout::*;
use crate::quant::{self, BlockQ8K};

/// `out[t][r] = Σ_b dot(unpack(w[b], r), a[t][b])`, block by block.
fn gemm_ref<B: X8Block, A>(w: &[B], a: &[&[A]], out: &mut [[f32; 8]], dot: impl Fn(&B::Row, &A) -> f32) {
    assert_eq!(a.len(), out.len());
    for at in a {
        assert_eq!(at.len(), w.len());
    }
    for o in out.iter_mut() {
        *o = [0.0; 8];
    }
    for (b, x8) in w.iter().enumerate() {
        for r in 0..8 {
            let x = x8.unpack(r);
            for (o, at) in out.iter_mut().zip(a) {
                o[r] += dot(&x, &at[b]);
            }
        }
    }
}

/// Q4_0 weights × Q8_0X activations.
pub(crate) fn gemm_q4_0_x8(w: &[BlockQ4_0x8], a: &[&[BlockQ8_0X]], out: &mut [[f32; 8]]) {
    gemm_ref(w, a, out, |x, y| quant::q4_0::dot_q4_0_q8_0(&[*x], &[y.to_q8_0()]))
}

/// Q4_1 weights × Q8_1X activations.
pub(crate) fn gemm_q4_1_x8(w: &[BlockQ4_1x8], a: &[&[BlockQ8_1X]], out: &mut [[f32; 8]]) {
    gemm_ref(w, a, out, |x, y| quant::q4_1::dot_q4_1_q8_1(&[*x], &[y.to_q8_1()]))
}

/// Q5_0 weights × Q8_0X activations.
pub(crate) fn gemm_q5_0_x8(w: &[BlockQ5_0x8], a: &[&[BlockQ8_0X]], out: &mut [[f32; 8]]) {
    gemm_ref(w, a, out, |x, y| quant::q5_0::dot_q5_0_q8_0(&[*x], &[y.to_q8_0()]))
}

/// Q8_0 weights × Q8_0X activations.
pub(crate) fn gemm_q8_0_x8(w: &[BlockQ8_0x8], a: &[&[BlockQ8_0X]], out: &mut [[f32; 8]]) {
    gemm_ref(w, a, out, |x, y| quant::q8_0::dot_q8_0_q8_0(&[*x], &[y.to_q8_0()]))
}

/// Q4_K weights × Q8_K activations.
pub(crate) fn gemm_q4_k_x8(w: &[BlockQ4Kx8], a: &[&[BlockQ8K]], out: &mut [[f32; 8]]) {
    gemm_ref(w, a, out, |x, y| quant::q4_k::dot_q4_k_q8_k(&[*x], &[*y]))
}

/// Q5_K weights × Q8_K activations.
pub(crate) fn gemm_q5_k_x8(w: &[BlockQ5Kx8], a: &[&[BlockQ8K]], out: &mut [[f32; 8]]) {
    gemm_ref(w, a, out, |x, y| quant::q5_k::dot_q5_k_q8_k(&[*x], &[*y]))
}

/// Q6_K weights × Q8_K activations.
pub(crate) fn gemm_q6_k_x8(w: &[BlockQ6Kx8], a: &[&[BlockQ8K]], out: &mut [[f32; 8]]) {
    gemm_ref(w, a, out, |x, y| quant::q6_k::dot_q6_k_q8_k(&[*x], &[*y]))
}
