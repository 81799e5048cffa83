//! `QMatrix`: a 2-D weight matrix stored row-major in one GGML type (float or block-quantized),
//! kept as the file stores it (zero-copy when mmapped), and the matrix multiply that models
//! use: `out[t][r] = dot(w[r], x[t])`.
//!
//! Types with x8 GEMM kernels (Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K) are multiplied from a
//! row-interleaved copy ([`Layout::X8`]) for any number of tokens, decode included. The copy is
//! built once, by [`QMatrix::repack`] (models call it at load, on their pool) or else on the
//! first `matmul`; right after, the file pages of the matrix are handed back to the OS
//! ([`ByteView::release`]), so a mapped model is resident once, not twice. From then on the copy
//! also serves row lookups (`dequantize_row`, the embedding's get_rows), so the released pages
//! are not faulted back in; [`QMatrix::row`] still reads the file bytes. The x8 path
//! (`matmul.rs`) gives every output bit-identical to `vec_dot` of the original row, whatever the
//! batch size or thread count. Other types use one `vec_dot` per (row, token).

use std::sync::{Arc, OnceLock};

use allmende_kernels::{self as kernels, GgmlType, X8_ROWS};

use crate::huge::HugeBuf;
use crate::{ByteView, ThreadPool};

/// Why a matrix could not be built from the bytes given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TensorError {
    /// The byte length does not match type, rows and columns.
    #[error("{ty} matrix [{rows} x {cols}] needs {expected} bytes, got {got}")]
    SizeMismatch {
        /// element type
        ty: GgmlType,
        /// rows
        rows: usize,
        /// columns
        cols: usize,
        /// bytes needed
        expected: usize,
        /// bytes given
        got: usize,
    },
    /// The row length is not a whole number of blocks of the type.
    #[error("{ty} rows of {cols} elements are not a whole number of {block}-element blocks")]
    PartialBlock {
        /// element type
        ty: GgmlType,
        /// columns
        cols: usize,
        /// block size of the type
        block: usize,
    },
    /// The type cannot hold weights (an integer type).
    #[error("type {0} cannot be used for a weight matrix")]
    NotAWeightType(GgmlType),
}

/// The layout `matmul` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The file's row-major blocks (`vec_dot` per row and token).
    Rows,
    /// Groups of 8 interleaved rows (`allmende_kernels::repack_x8`), multiplied by the x8 GEMM
    /// kernels; the last group is padded with zero rows.
    X8,
}

/// A weight matrix `[rows x cols]`, row-major, each row `cols` elements of `ty`.
#[derive(Clone, Debug)]
pub struct QMatrix {
    ty: GgmlType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    data: ByteView,
    /// The x8 copy, built once and shared by clones (`None` inside: no x8 kernels for `ty`).
    x8: Arc<OnceLock<Option<HugeBuf>>>, // [rows.div_ceil(8) groups x x8_group_bytes]
}

impl QMatrix {
    /// Wraps `data` as a `[rows x cols]` matrix of `ty`, checking the size.
    pub fn new(ty: GgmlType, rows: usize, cols: usize, data: ByteView) -> Result<QMatrix, TensorError> {
        if !ty.is_weight_type() {
            return Err(TensorError::NotAWeightType(ty));
        }
        let row_bytes =
            ty.row_bytes(cols).ok_or(TensorError::PartialBlock { ty, cols, block: ty.block_size() })?;
        let expected = row_bytes.saturating_mul(rows);
        if data.len() != expected {
            return Err(TensorError::SizeMismatch { ty, rows, cols, expected, got: data.len() });
        }
        Ok(QMatrix { ty, rows, cols, row_bytes, data, x8: Arc::new(OnceLock::new()) })
    }

    /// An owned F32 matrix from row-major values.
    pub fn from_f32(rows: usize, cols: usize, values: &[f32]) -> Result<QMatrix, TensorError> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        QMatrix::new(GgmlType::F32, rows, cols, ByteView::from_vec(bytes))
    }

    /// Quantizes row-major f32 values into an owned matrix of `ty`.
    pub fn quantize(ty: GgmlType, rows: usize, cols: usize, values: &[f32]) -> Result<QMatrix, TensorError> {
        let row_bytes =
            ty.row_bytes(cols).ok_or(TensorError::PartialBlock { ty, cols, block: ty.block_size() })?;
        if values.len() != rows * cols {
            return Err(TensorError::SizeMismatch {
                ty: GgmlType::F32,
                rows,
                cols,
                expected: rows * cols * 4,
                got: values.len() * 4,
            });
        }
        let mut bytes = vec![0u8; row_bytes * rows];
        for (src, dst) in values.chunks_exact(cols.max(1)).zip(bytes.chunks_exact_mut(row_bytes.max(1))) {
            kernels::quantize_row(ty, src, dst);
        }
        QMatrix::new(ty, rows, cols, ByteView::from_vec(bytes))
    }

    /// Element type.
    pub fn ty(&self) -> GgmlType {
        self.ty
    }
    /// Number of rows (output features).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns (input features).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// The raw bytes, in the file layout. After a repack of a mapped matrix, reading them
    /// faults released pages back in (see the module doc).
    pub fn bytes(&self) -> &ByteView {
        &self.data
    }

    /// Bytes of one row in the file layout.
    pub(crate) fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    /// The raw bytes of row `r`, in the file layout (as [`QMatrix::bytes`]).
    pub fn row(&self, r: usize) -> &[u8] {
        &self.data.as_slice()[r * self.row_bytes..(r + 1) * self.row_bytes]
    }

    /// Row `r` as f32 values into `out` (`out.len() == cols`): from the x8 copy when there is
    /// one (the same values: the copy is an exact permutation of the row's bits), else from the
    /// file bytes. Does not allocate.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        match self.x8.get() {
            Some(Some(w8)) => self.dequantize_x8_row(w8, r, out),
            _ => kernels::dequantize_row(self.ty, self.row(r), out),
        }
    }

    /// Row `r` rebuilt from the x8 copy a few blocks at a time (through a stack buffer) and
    /// dequantized.
    fn dequantize_x8_row(&self, w8: &[u8], r: usize, out: &mut [f32]) {
        const BUF: usize = 1024;
        let ty = self.ty;
        let bsz = ty.block_size();
        let (Some(block_bytes), Some(x8_block), Some(gb)) =
            (ty.row_bytes(bsz), kernels::x8_group_bytes(ty, bsz), kernels::x8_group_bytes(ty, self.cols))
        else {
            panic!("dequantize_row: {ty} [{} x {}] has an x8 copy but no x8 layout", self.rows, self.cols);
        };
        assert!(r < self.rows, "dequantize_row: row {r} of {}", self.rows);
        assert_eq!(out.len(), self.cols, "dequantize_row: out has {} values, a row {}", out.len(), self.cols);
        let group = &w8[r / X8_ROWS * gb..(r / X8_ROWS + 1) * gb];
        let step = (BUF / block_bytes).max(1);
        let mut buf = [0u8; BUF];
        let n_blocks = self.cols / bsz;
        for b0 in (0..n_blocks).step_by(step) {
            let nb = step.min(n_blocks - b0);
            let dst = &mut buf[..nb * block_bytes];
            kernels::unpack_x8_row(ty, nb * bsz, &group[b0 * x8_block..(b0 + nb) * x8_block], r % X8_ROWS, dst);
            kernels::dequantize_row(ty, dst, &mut out[b0 * bsz..(b0 + nb) * bsz]);
        }
    }

    /// The whole matrix as f32, row-major.
    pub fn to_f32(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        for (r, dst) in out.chunks_exact_mut(self.cols.max(1)).enumerate().take(self.rows) {
            self.dequantize_row(r, dst);
        }
        out
    }

    /// The layout `matmul` uses: [`Layout::X8`] for types with x8 kernels (repacked on first
    /// use), [`Layout::Rows`] otherwise.
    pub fn layout(&self) -> Layout {
        if kernels::x8_group_bytes(self.ty, self.cols).is_some() {
            Layout::X8
        } else {
            Layout::Rows
        }
    }

    /// Builds the x8 copy now (in parallel on `pool`) instead of on the first `matmul`, and
    /// releases the file pages it replaces; a no-op for [`Layout::Rows`] matrices and when the
    /// copy already exists. Returns the bytes the copy takes (0 when there is none).
    pub fn repack(&self, pool: &ThreadPool) -> usize {
        self.x8(pool).map_or(0, <[u8]>::len)
    }

    /// The x8 copy, built on first use; once it exists nothing reads the file rows on the hot
    /// paths, so `repack` hands their mapped pages back to the OS.
    pub(crate) fn x8(&self, pool: &ThreadPool) -> Option<&[u8]> {
        self.x8.get_or_init(|| crate::matmul::repack(self, pool)).as_deref()
    }

    /// Matrix multiply: for each of the `n_tok` activation rows in `x` (`[n_tok x cols]`),
    /// writes `out[t*rows + r] = dot(self.row(r), x[t])` (`out` is `[n_tok x rows]`).
    /// `scratch` holds the converted activations between calls, so steady-state calls do not
    /// allocate. Each output is bit-identical to [`allmende_kernels::vec_dot`] of row r with
    /// token t's converted activations, for any `n_tok` and any pool size.
    pub fn matmul(&self, pool: &ThreadPool, x: &[f32], n_tok: usize, out: &mut [f32], scratch: &mut Vec<u8>) {
        assert_eq!(x.len(), n_tok * self.cols, "matmul: x has {} values, expected {} x {}", x.len(), n_tok, self.cols);
        assert_eq!(out.len(), n_tok * self.rows, "matmul: out has {} values, expected {} x {}", out.len(), n_tok, self.rows);
        if n_tok == 0 || self.rows == 0 {
            return;
        }
        match self.x8(pool) {
            Some(w8) => crate::matmul::matmul_x8(self, w8, pool, x, n_tok, out, scratch),
            None => self.matmul_rows(pool, x, n_tok, out, scratch),
        }
    }

    /// [`QMatrix::matmul`] of several matrices over the same input `x`, e.g. the q, k and v
    /// projections of one layer: `outs[i]` gets `mats[i]`'s `[n_tok x rows]` result. When the
    /// matrices share the column count and the activation format and all have x8 kernels, the
    /// input is converted once and the pool runs one operation for all of them (one fork/join
    /// per decode step instead of one per matrix); otherwise they run one after the other. The
    /// results are bit-identical either way.
    pub fn matmul_many(pool: &ThreadPool, mats: &[&QMatrix], x: &[f32], n_tok: usize, outs: &mut [&mut [f32]], scratch: &mut Vec<u8>) {
        assert_eq!(mats.len(), outs.len(), "matmul_many: {} matrices, {} outputs", mats.len(), outs.len());
        let Some(first) = mats.first() else { return };
        let act = |m: &QMatrix| (m.ty.vec_dot_type(), kernels::gemm_act_row_bytes(m.ty, m.cols));
        let fused = n_tok > 0
            && mats.len() <= 8
            && mats.iter().all(|m| m.cols == first.cols && act(m) == act(first) && m.rows > 0 && m.x8(pool).is_some());
        if !fused {
            for (m, out) in mats.iter().zip(outs.iter_mut()) {
                m.matmul(pool, x, n_tok, out, scratch);
            }
            return;
        }
        assert_eq!(x.len(), n_tok * first.cols, "matmul_many: x has {} values, expected {} x {}", x.len(), n_tok, first.cols);
        // A fixed array (no allocation per call); slots past `mats.len()` are never read.
        let mut parts: [crate::matmul::Part<'_>; 8] =
            std::array::from_fn(|_| crate::matmul::Part { m: first, w8: &[], out: SyncPtr(std::ptr::null_mut()) });
        for ((m, out), part) in mats.iter().zip(outs.iter_mut()).zip(parts.iter_mut()) {
            assert_eq!(out.len(), n_tok * m.rows, "matmul_many: out has {} values, expected {} x {}", out.len(), n_tok, m.rows);
            let Some(w8) = m.x8(pool) else { unreachable!("checked above") };
            *part = crate::matmul::Part { m, w8, out: SyncPtr(out.as_mut_ptr()) };
        }
        crate::matmul::matmul_x8_many(&parts[..mats.len()], pool, x, n_tok, scratch);
    }

    /// The row-layout multiply: one `vec_dot` per (row, token), rows split across the pool.
    fn matmul_rows(&self, pool: &ThreadPool, x: &[f32], n_tok: usize, out: &mut [f32], scratch: &mut Vec<u8>) {
        let act_ty = self.ty.vec_dot_type();
        let Some(act_row) = act_ty.row_bytes(self.cols) else {
            panic!("matmul: {} rows of {} elements cannot be converted to {act_ty}", self.ty, self.cols);
        };
        scratch.resize(act_row * n_tok, 0);
        for (src, dst) in x.chunks_exact(self.cols).zip(scratch.chunks_exact_mut(act_row)) {
            kernels::quantize_row(act_ty, src, dst);
        }
        let acts: &[u8] = scratch;
        let out_ptr = SyncPtr(out.as_mut_ptr());
        let rows = self.rows;
        let cols = self.cols;
        let ty = self.ty;
        // Small row blocks keep each thread's share contiguous and cache-friendly.
        pool.for_each_range(rows, 16, &|range| {
            let out_ptr = &out_ptr;
            for r in range {
                let w = self.row(r);
                for t in 0..n_tok {
                    let a = &acts[t * act_row..(t + 1) * act_row];
                    let v = kernels::vec_dot(ty, cols, w, a);
                    // SAFETY: `r` is in this thread's disjoint row range and `t < n_tok`, so
                    // `t*rows + r` is in bounds of `out` and no other thread writes it.
                    unsafe { *out_ptr.0.add(t * rows + r) = v };
                }
            }
        });
    }
}

/// A raw pointer that may be shared across the pool's threads; every use writes disjoint
/// elements.
pub(crate) struct SyncPtr<T>(pub(crate) *mut T);
// SAFETY: the pointer is only used to write disjoint indices from different threads while the
// owning slice is mutably borrowed for the whole parallel section.
unsafe impl<T> Sync for SyncPtr<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    }

    #[test]
    fn f32_matmul_matches_naive() {
        let (rows, cols, n_tok) = (37, 19, 5);
        let mut s = 7u64;
        let w: Vec<f32> = (0..rows * cols).map(|_| lcg(&mut s)).collect();
        let x: Vec<f32> = (0..n_tok * cols).map(|_| lcg(&mut s)).collect();
        let m = QMatrix::from_f32(rows, cols, &w).unwrap();
        for threads in [1, 2, 3] {
            let pool = ThreadPool::new(threads);
            let mut out = vec![0f32; n_tok * rows];
            m.matmul(&pool, &x, n_tok, &mut out, &mut Vec::new());
            for t in 0..n_tok {
                for r in 0..rows {
                    let want: f32 = (0..cols).map(|c| w[r * cols + c] * x[t * cols + c]).sum();
                    assert!((out[t * rows + r] - want).abs() < 1e-5, "t={t} r={r}");
                }
            }
        }
    }

    #[test]
    fn rejects_wrong_sizes() {
        assert!(matches!(
            QMatrix::new(GgmlType::F32, 2, 3, ByteView::from_vec(vec![0; 23])),
            Err(TensorError::SizeMismatch { expected: 24, got: 23, .. })
        ));
        assert!(matches!(
            QMatrix::new(GgmlType::Q8_0, 1, 31, ByteView::from_vec(vec![0; 34])),
            Err(TensorError::PartialBlock { .. })
        ));
        assert!(matches!(
            QMatrix::new(GgmlType::I32, 1, 1, ByteView::from_vec(vec![0; 4])),
            Err(TensorError::NotAWeightType(_))
        ));
    }
}
