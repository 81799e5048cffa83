//! AVX2/FMA kernels for tiled attention: the score block `Q·Kᵀ` of a tile of keys and the
//! weighted sum of value rows `acc += wᵀ·V`.
//!
//! Both compute every output with the same arithmetic whatever its place in the register
//! blocking: a score is one 8-lane FMA chain over `dim` from zero, a fixed horizontal sum, then
//! the last `dim % 8` products fused in order; an output of the weighted sum is one FMA chain
//! over the rows in order. So a query row's scores and outputs do not depend on which other
//! rows share its block, and one and many threads give bit-identical attention.

use std::arch::x86_64::*;

use super::util::hsum_ps;

/// Scores of `R` query rows (from `i0`) × `C` key rows (from `j0`).
///
/// # Safety
/// AVX2 + FMA; rows `i0..i0 + R` of `q` and `j0..j0 + C` of `k` exist (`dim` values each), and
/// `out` has `(i0 + R - 1) * stride + j0 + C` elements.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn score_block<const R: usize, const C: usize>(
    q: &[f32],
    k: &[f32],
    dim: usize,
    (i0, j0): (usize, usize),
    out: &mut [f32],
    stride: usize,
) {
    let main = dim / 8 * 8;
    let (qp, kp) = (q.as_ptr(), k.as_ptr());
    let mut acc = [[_mm256_setzero_ps(); C]; R];
    let mut c = 0;
    while c < main {
        let mut kv = [_mm256_setzero_ps(); C];
        for (cc, kv) in kv.iter_mut().enumerate() {
            // SAFETY: key row j0 + cc exists and c + 8 <= main <= dim (caller's contract).
            *kv = unsafe { _mm256_loadu_ps(kp.add((j0 + cc) * dim + c)) };
        }
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: query row i0 + r exists and c + 8 <= dim.
            let qv = unsafe { _mm256_loadu_ps(qp.add((i0 + r) * dim + c)) };
            for (a, &kv) in acc.iter_mut().zip(&kv) {
                *a = _mm256_fmadd_ps(qv, kv, *a);
            }
        }
        c += 8;
    }
    for (r, acc) in acc.iter().enumerate() {
        for (cc, &a) in acc.iter().enumerate() {
            let (qi, kj) = (&q[(i0 + r) * dim..][..dim], &k[(j0 + cc) * dim..][..dim]);
            let mut s = hsum_ps(a);
            for t in main..dim {
                s = qi[t].mul_add(kj[t], s);
            }
            out[(i0 + r) * stride + j0 + cc] = s;
        }
    }
}

/// `out[i * out_stride + j] = q_i · k_j`, in blocks of 4 query rows × 2 keys.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn scores_f32(q: &[f32], k: &[f32], dim: usize, out: &mut [f32], out_stride: usize) {
    assert!(dim > 0 && q.len().is_multiple_of(dim) && k.len().is_multiple_of(dim));
    let (n_q, n_k) = (q.len() / dim, k.len() / dim);
    assert!(n_q == 0 || n_k == 0 || (n_q - 1) * out_stride + n_k <= out.len());
    assert!(n_k <= out_stride || n_q <= 1);
    let mut i = 0;
    while i < n_q {
        let rows4 = i + 4 <= n_q;
        let mut j = 0;
        while j < n_k {
            let pair = j + 2 <= n_k;
            // SAFETY: rows i.. (4 or 1) and keys j.. (2 or 1) exist, and `out` holds them
            // (asserted above); features are the caller's contract.
            unsafe {
                match (rows4, pair) {
                    (true, true) => score_block::<4, 2>(q, k, dim, (i, j), out, out_stride),
                    (true, false) => score_block::<4, 1>(q, k, dim, (i, j), out, out_stride),
                    (false, true) => score_block::<1, 2>(q, k, dim, (i, j), out, out_stride),
                    (false, false) => score_block::<1, 1>(q, k, dim, (i, j), out, out_stride),
                }
            }
            j += if pair { 2 } else { 1 };
        }
        i += if rows4 { 4 } else { 1 };
    }
}

/// `N` 8-lane chunks of outputs from `d`: loaded, one FMA chain per chunk over all rows,
/// stored.
///
/// # Safety
/// AVX2 + FMA; `d + 8N <= acc.len() == dim` and `v` holds `w.len()` rows of `dim`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn weighted_chunk<const N: usize>(w: &[f32], v: &[f32], acc: &mut [f32], d: usize) {
    let dim = acc.len();
    let (vp, ap) = (v.as_ptr(), acc.as_mut_ptr());
    // SAFETY: d + 8N <= dim: acc[d..d + 8N] and every row's v[j * dim + d..][..8N] are in
    // bounds (caller's contract).
    unsafe {
        let mut a: [__m256; N] = std::array::from_fn(|u| _mm256_loadu_ps(ap.add(d + 8 * u)));
        for (j, &wj) in w.iter().enumerate() {
            let b = _mm256_set1_ps(wj);
            let row = vp.add(j * dim + d);
            for (u, a) in a.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(b, _mm256_loadu_ps(row.add(8 * u)), *a);
            }
        }
        for (u, a) in a.iter().enumerate() {
            _mm256_storeu_ps(ap.add(d + 8 * u), *a);
        }
    }
}

/// `acc[d] += Σ_j w[j] · v[j * acc.len() + d]`: 64 outputs at a time held in registers over
/// all rows (8 independent FMA chains hide the FMA latency), then 8 at a time, then the last
/// few.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn weighted_rows_f32(w: &[f32], v: &[f32], acc: &mut [f32]) {
    let dim = acc.len();
    assert!(v.len() >= w.len() * dim);
    let mut d = 0;
    while d + 64 <= dim {
        // SAFETY: d + 64 <= dim and v holds w.len() rows (asserted).
        unsafe { weighted_chunk::<8>(w, v, acc, d) };
        d += 64;
    }
    while d + 8 <= dim {
        // SAFETY: as above, for 8 outputs.
        unsafe { weighted_chunk::<1>(w, v, acc, d) };
        d += 8;
    }
    for dd in d..dim {
        let mut s = acc[dd];
        for (j, &wj) in w.iter().enumerate() {
            s = wj.mul_add(v[j * dim + dd], s);
        }
        acc[dd] = s;
    }
}
