//! The x8 matrix multiply: repacking a `QMatrix` into groups of 8 interleaved rows, and
//! `out[t][r] = dot(w[r], x[t])` from that copy with the kernels' x8 GEMM tiles.
//!
//! Work is a grid of (token chunk of `GEMM_MAX_TOKENS`, group of 8 rows) items, numbered
//! chunk-major and claimed in contiguous runs (about 4 per thread) by whichever pool threads are
//! running (`ThreadPool::for_each_chunk`): a GEMV (one chunk) splits by rows, a long prompt
//! mostly by tokens, each run goes through consecutive groups of one chunk while that chunk's
//! activations stay in cache, and a thread the OS does not schedule does not hold the op up. Activations are quantized once per call, in parallel
//! for larger batches. The kernels compute each output exactly as `vec_dot` does, so neither the
//! split nor the batch size changes a single bit of the result.

use allmende_kernels::{self as kernels, GgmlType, GEMM_MAX_TOKENS, X8_ROWS};

use crate::huge::HugeBuf;
use crate::qmatrix::SyncPtr;
use crate::{QMatrix, ThreadPool};

/// Tokens from which activation quantization is spread over the pool.
const PARALLEL_QUANT_TOKENS: usize = 8;

/// Items per claim: about 4 claims per thread, so a late or slow thread costs little.
fn claim(items: usize, pool: &ThreadPool) -> usize {
    items.div_ceil(4 * pool.n_threads()).max(1)
}

/// Source bytes per repack claim: each claim hands its rows' file pages back to the OS as soon
/// as they are interleaved, so a mapped matrix is never resident twice, not even while it is
/// being repacked (Gemma 3's 170 MB embedding would otherwise be, for a moment).
const REPACK_CLAIM_BYTES: usize = 1 << 20;

/// The x8 copy of `m`, or `None` when its type has no x8 kernels. Releases the file pages of
/// the rows it has copied as it goes ([`crate::ByteView::release`]; a no-op for owned bytes).
pub(crate) fn repack(m: &QMatrix, pool: &ThreadPool) -> Option<HugeBuf> {
    let (ty, rows, cols) = (m.ty(), m.rows(), m.cols());
    let gb = kernels::x8_group_bytes(ty, cols)?;
    let groups = rows.div_ceil(X8_ROWS);
    // Huge pages where the OS offers them: decode streams this copy once per token. Should the
    // OS refuse the memory, the matrix keeps multiplying from its file rows (slower, same bits).
    let mut buf = HugeBuf::zeroed(groups.checked_mul(gb)?).ok()?;
    let dst = SyncPtr(buf.as_mut_ptr());
    let src_group = X8_ROWS * m.row_bytes();
    let per_claim = claim(groups, pool).min((REPACK_CLAIM_BYTES / src_group.max(1)).max(1));
    pool.for_each_chunk(groups, per_claim, &|range| {
        let dst = &dst;
        let (g0, g1) = (range.start, range.end);
        for g in range {
            let r0 = g * X8_ROWS;
            let n = X8_ROWS.min(rows - r0);
            let src: [&[u8]; X8_ROWS] = std::array::from_fn(|i| if i < n { m.row(r0 + i) } else { &[] });
            // SAFETY: group g owns bytes g*gb..(g+1)*gb of `buf`, which lives until this
            // parallel section returns; each group index is claimed by exactly one thread.
            let out = unsafe { std::slice::from_raw_parts_mut(dst.0.add(g * gb), gb) };
            kernels::repack_x8(ty, cols, &src[..n], out);
        }
        let end = (g1 * X8_ROWS).min(rows) * m.row_bytes();
        if let Some(done) = m.bytes().slice(g0 * src_group..end) {
            done.release();
        }
    });
    // The pages that straddle two claims.
    m.bytes().release();
    Some(buf)
}

/// `out[t*rows + r] = dot(row r, x[t])` from the x8 copy `w8` of `m`.
pub(crate) fn matmul_x8(
    m: &QMatrix,
    w8: &[u8],
    pool: &ThreadPool,
    x: &[f32],
    n_tok: usize,
    out: &mut [f32],
    scratch: &mut Vec<u8>,
) {
    let (ty, rows, cols) = (m.ty(), m.rows(), m.cols());
    let k = kernels::kernels();
    let (Some(act_row), Some(gb)) = (kernels::gemm_act_row_bytes(ty, cols), kernels::x8_group_bytes(ty, cols)) else {
        panic!("matmul: {ty} [{rows} x {cols}] has an x8 copy but no x8 kernels");
    };
    scratch.resize(act_row * n_tok, 0);
    quantize_acts(pool, ty, x, cols, n_tok, act_row, scratch);
    let acts: &[u8] = scratch;

    let groups = rows.div_ceil(X8_ROWS);
    let chunks = n_tok.div_ceil(GEMM_MAX_TOKENS);
    let out_ptr = SyncPtr(out.as_mut_ptr());
    pool.for_each_chunk(groups * chunks, claim(groups * chunks, pool), &|items| {
        let out_ptr = &out_ptr;
        let mut tile = [[0f32; X8_ROWS]; GEMM_MAX_TOKENS];
        let mut a: [&[u8]; GEMM_MAX_TOKENS] = [&[]; GEMM_MAX_TOKENS];
        let mut chunk_now = usize::MAX;
        let mut nt = 0;
        for item in items {
            let (chunk, g) = (item / groups, item % groups);
            let t0 = chunk * GEMM_MAX_TOKENS;
            if chunk != chunk_now {
                chunk_now = chunk;
                nt = GEMM_MAX_TOKENS.min(n_tok - t0);
                for (i, a) in a.iter_mut().enumerate().take(nt) {
                    *a = &acts[(t0 + i) * act_row..(t0 + i + 1) * act_row];
                }
            }
            k.gemm_x8(ty, cols, &w8[g * gb..(g + 1) * gb], &a[..nt], &mut tile[..nt]);
            let r0 = g * X8_ROWS;
            let nr = X8_ROWS.min(rows - r0);
            for (i, v) in tile[..nt].iter().enumerate() {
                // SAFETY: rows r0..r0+nr of token t0+i are inside `out` ([n_tok x rows]), and this
                // (chunk, group) item, so these elements, was claimed by this thread alone while
                // `matmul` holds `out` mutably.
                unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), out_ptr.0.add((t0 + i) * rows + r0), nr) };
            }
        }
    });
}

/// Converts the `n_tok` rows of `x` to GEMM activation rows of `act_row` bytes in `dst`, spread
/// over the pool when there are enough of them.
fn quantize_acts(pool: &ThreadPool, ty: GgmlType, x: &[f32], cols: usize, n_tok: usize, act_row: usize, dst: &mut [u8]) {
    let k = kernels::kernels();
    if n_tok < PARALLEL_QUANT_TOKENS || pool.n_threads() == 1 {
        for (src, d) in x.chunks_exact(cols).zip(dst.chunks_exact_mut(act_row)) {
            k.quantize_gemm_act(ty, src, d);
        }
        return;
    }
    let ptr = SyncPtr(dst.as_mut_ptr());
    pool.for_each_chunk(n_tok, claim(n_tok, pool), &|range| {
        let ptr = &ptr;
        for t in range {
            // SAFETY: row t of `dst` (act_row bytes at t*act_row, in bounds as dst holds n_tok
            // rows) is written by the one thread that claimed t, while `dst` is borrowed
            // mutably by this function.
            let d = unsafe { std::slice::from_raw_parts_mut(ptr.0.add(t * act_row), act_row) };
            k.quantize_gemm_act(ty, &x[t * cols..(t + 1) * cols], d);
        }
    });
}

/// One matrix of a fused multiply: its x8 copy and where its `[n_tok x rows]` output goes.
pub(crate) struct Part<'a> {
    pub m: &'a QMatrix,
    pub w8: &'a [u8],
    pub out: SyncPtr<f32>,
}

/// [`matmul_x8`] of several matrices over the same input `x` (same columns and activation
/// format): the activations are quantized once and all the matrices' (chunk, group) items go to
/// the pool as one operation, so a decode step pays one fork/join for q, k and v (or gate and
/// up) instead of one each. Every output is computed by the same kernel call on the same data as
/// in [`matmul_x8`], so the results are bit-identical.
pub(crate) fn matmul_x8_many(parts: &[Part<'_>], pool: &ThreadPool, x: &[f32], n_tok: usize, scratch: &mut Vec<u8>) {
    let Some(first) = parts.first() else { return };
    let (ty0, cols) = (first.m.ty(), first.m.cols());
    let k = kernels::kernels();
    let Some(act_row) = kernels::gemm_act_row_bytes(ty0, cols) else {
        panic!("matmul: {ty0} rows of {cols} have no x8 kernels");
    };
    scratch.resize(act_row * n_tok, 0);
    quantize_acts(pool, ty0, x, cols, n_tok, act_row, scratch);
    let acts: &[u8] = scratch;
    let chunks = n_tok.div_ceil(GEMM_MAX_TOKENS);
    // Items of part i: ends[i-1]..ends[i], chunk-major within the part.
    let mut ends = [0usize; 8];
    assert!(parts.len() <= ends.len(), "matmul_many: at most {} matrices", ends.len());
    let mut total = 0;
    for (i, p) in parts.iter().enumerate() {
        total += p.m.rows().div_ceil(X8_ROWS) * chunks;
        ends[i] = total;
    }
    pool.for_each_chunk(total, claim(total, pool), &|items| {
        let mut tile = [[0f32; X8_ROWS]; GEMM_MAX_TOKENS];
        let mut a: [&[u8]; GEMM_MAX_TOKENS] = [&[]; GEMM_MAX_TOKENS];
        for item in items {
            let i = ends[..parts.len()].iter().position(|&e| item < e).unwrap_or(0);
            let p = &parts[i];
            let (ty, rows) = (p.m.ty(), p.m.rows());
            let (Some(gb), start) = (kernels::x8_group_bytes(ty, cols), if i == 0 { 0 } else { ends[i - 1] }) else {
                continue;
            };
            let groups = rows.div_ceil(X8_ROWS);
            let (chunk, g) = ((item - start) / groups, (item - start) % groups);
            let t0 = chunk * GEMM_MAX_TOKENS;
            let nt = GEMM_MAX_TOKENS.min(n_tok - t0);
            for (j, a) in a.iter_mut().enumerate().take(nt) {
                *a = &acts[(t0 + j) * act_row..(t0 + j + 1) * act_row];
            }
            k.gemm_x8(ty, cols, &p.w8[g * gb..(g + 1) * gb], &a[..nt], &mut tile[..nt]);
            let r0 = g * X8_ROWS;
            let nr = X8_ROWS.min(rows - r0);
            for (j, v) in tile[..nt].iter().enumerate() {
                // SAFETY: rows r0..r0+nr of token t0+j are inside part i's output ([n_tok x
                // rows], distinct from every other part's), and this item, so these elements,
                // was claimed by this thread alone while `matmul_many` holds the outputs.
                unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), p.out.0.add((t0 + j) * rows + r0), nr) };
            }
        }
    });
}
