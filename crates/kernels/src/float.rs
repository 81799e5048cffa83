//! Scalar reference kernels on float rows: dot products of F32/F16/BF16 weight rows (raw
//! little-endian bytes, any alignment) with F32 activations, and the f32 vector helpers the
//! decoder uses (`dot`, `axpy`, `scale`). Plain sequential loops: the specification for the
//! SIMD versions.

#[inline(always)]
fn f32_at(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Σ w·a for two f32 rows given as bytes.
pub fn dot_f32_f32(w: &[u8], a: &[u8]) -> f32 {
    assert_eq!(w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.chunks_exact(4).zip(a.chunks_exact(4)) {
        sum += f32_at(x) * f32_at(y);
    }
    sum
}

/// Σ w·a for an f16 row and an f32 row, both as bytes (`a.len() == 2 * w.len()`).
pub fn dot_f16_f32(w: &[u8], a: &[u8]) -> f32 {
    assert_eq!(2 * w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.chunks_exact(2).zip(a.chunks_exact(4)) {
        sum += half::f16::from_le_bytes([x[0], x[1]]).to_f32() * f32_at(y);
    }
    sum
}

/// Σ w·a for a bf16 row and an f32 row, both as bytes (`a.len() == 2 * w.len()`).
pub fn dot_bf16_f32(w: &[u8], a: &[u8]) -> f32 {
    assert_eq!(2 * w.len(), a.len());
    let mut sum = 0.0f32;
    for (x, y) in w.chunks_exact(2).zip(a.chunks_exact(4)) {
        sum += half::bf16::from_le_bytes([x[0], x[1]]).to_f32() * f32_at(y);
    }
    sum
}

/// y += alpha·x.
pub fn axpy_f32(y: &mut [f32], alpha: f32, x: &[f32]) {
    assert_eq!(y.len(), x.len());
    for (y, &x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// x *= s.
pub fn scale_f32(x: &mut [f32], s: f32) {
    for v in x {
        *v *= s;
    }
}

/// Attention scores: `out[i * out_stride + j] = q_i · k_j` for the `q.len() / dim` rows of `q`
/// and the `k.len() / dim` rows of `k` (both row-major, `dim` values a row).
pub fn scores_f32(q: &[f32], k: &[f32], dim: usize, out: &mut [f32], out_stride: usize) {
    for (i, qi) in q.chunks_exact(dim).enumerate() {
        for (j, kj) in k.chunks_exact(dim).enumerate() {
            out[i * out_stride + j] = qi.iter().zip(kj).map(|(a, b)| a * b).sum();
        }
    }
}

/// Weighted sum of rows: `acc[d] += Σ_j w[j] · v[j * acc.len() + d]` (`v` holds `w.len()`
/// rows of `acc.len()` values).
pub fn weighted_rows_f32(w: &[f32], v: &[f32], acc: &mut [f32]) {
    let dim = acc.len();
    for (&wj, vj) in w.iter().zip(v.chunks_exact(dim.max(1))) {
        for (a, &x) in acc.iter_mut().zip(vj) {
            *a += wj * x;
        }
    }
}
