//! allmende-kernels: the CPU hot path.
//!
//! Pure compute on byte slices of GGML blocks: dequantize, quantize and dot products for every
//! block format, each with a scalar reference (`scalar` paths) and, where it pays, SIMD variants
//! picked once per process by runtime CPU-feature dispatch. No I/O, no threads, no allocation.
//!
//! The byte-level API (`dequantize_row`, `quantize_row`, `vec_dot`) is what the rest of the
//! workspace uses; contract violations (lengths that are not whole blocks) are programmer bugs
//! and panic.

mod ggml_type;

pub use ggml_type::GgmlType;

/// Dequantize `dst.len()` elements of type `ty` stored in `src` into f32.
///
/// Panics if `src` does not hold exactly the blocks for `dst.len()` elements.
pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) {
    let need = ty.row_bytes(dst.len()).expect("row length is not a whole number of blocks");
    assert_eq!(src.len(), need, "{ty}: source holds {} bytes, {} elements need {need}", src.len(), dst.len());
    match ty {
        GgmlType::F32 => {
            for (d, s) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *d = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            }
        }
        GgmlType::F16 => {
            for (d, s) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = half::f16::from_le_bytes([s[0], s[1]]).to_f32();
            }
        }
        GgmlType::BF16 => {
            for (d, s) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = half::bf16::from_le_bytes([s[0], s[1]]).to_f32();
            }
        }
        other => panic!("dequantize_row: type {other} not implemented"),
    }
}

/// Quantize `src` into blocks of type `ty` written to `dst` (reference rounding, as llama.cpp's
/// `quantize_row_*_ref`).
///
/// Panics if `dst` is not exactly the size of the blocks for `src.len()` elements.
pub fn quantize_row(ty: GgmlType, src: &[f32], dst: &mut [u8]) {
    let need = ty.row_bytes(src.len()).expect("row length is not a whole number of blocks");
    assert_eq!(dst.len(), need, "{ty}: destination holds {} bytes, {} elements need {need}", dst.len(), src.len());
    match ty {
        GgmlType::F32 => {
            for (d, s) in dst.chunks_exact_mut(4).zip(src) {
                d.copy_from_slice(&s.to_le_bytes());
            }
        }
        GgmlType::F16 => {
            for (d, s) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&half::f16::from_f32(*s).to_le_bytes());
            }
        }
        GgmlType::BF16 => {
            for (d, s) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&half::bf16::from_f32(*s).to_le_bytes());
            }
        }
        other => panic!("quantize_row: type {other} not implemented"),
    }
}

/// Dot product of `n` elements: a weight row `w` of type `ty` with an activation row `a` already
/// converted to `ty.vec_dot_type()`.
pub fn vec_dot(ty: GgmlType, n: usize, w: &[u8], a: &[u8]) -> f32 {
    let wt = ty.row_bytes(n).expect("row length is not a whole number of blocks");
    let at = ty.vec_dot_type().row_bytes(n).expect("row length is not a whole number of blocks");
    assert_eq!(w.len(), wt, "{ty}: weight row has {} bytes, expected {wt}", w.len());
    assert_eq!(a.len(), at, "{ty}: activation row has {} bytes, expected {at}", a.len());
    let f = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    match ty {
        GgmlType::F32 => w.chunks_exact(4).zip(a.chunks_exact(4)).map(|(x, y)| f(x) * f(y)).sum(),
        GgmlType::F16 => w
            .chunks_exact(2)
            .zip(a.chunks_exact(4))
            .map(|(x, y)| half::f16::from_le_bytes([x[0], x[1]]).to_f32() * f(y))
            .sum(),
        GgmlType::BF16 => w
            .chunks_exact(2)
            .zip(a.chunks_exact(4))
            .map(|(x, y)| half::bf16::from_le_bytes([x[0], x[1]]).to_f32() * f(y))
            .sum(),
        other => panic!("vec_dot: type {other} not implemented"),
    }
}
