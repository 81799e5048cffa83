//! Causal self-attention of a chunk of new tokens against the KV cache (f32 or f16), tiled
//! with an online softmax (FlashAttention-2 style): keys and values are visited in tiles of
//! [`tile_keys`] positions, and every query row keeps a running maximum `m`, a running sum `l`
//! and an unnormalised output that is rescaled when `m` grows. Each tile is brought into L1 once
//! (f16 widened to f32 with F16C, f32 values copied) and then serves every query of a block and
//! every query head of a GQA group, so the cache is read from memory once per query block
//! instead of once per query.
//!
//! Only dot products are needed: `q·k` over a key row and, because the cache stores values
//! transposed, `p·v` over a value column for each output element. The value columns of a tile
//! are zero-padded to a multiple of 32 and the weights of keys a row does not see are 0, so
//! every dot product is whole SIMD steps of the kernels crate's `dot_f32`.
//!
//! Supports GQA/MQA, sliding windows (query `i` sees keys `i - w < j <= i`), ALiBi biases before
//! or after the scale, and score soft-capping.
//!
//! Two ways to split the work across the pool, chosen by the chunk size only (never by the
//! thread count, so results do not depend on it):
//! * **rows** (prefill, more than [`SPLIT_MAX_TOKENS`] tokens): work items are blocks of query
//!   tokens with all their heads; each block writes its own rows of `out`. Blocks are handed to
//!   threads in contiguous runs of about equal cost (causal blocks get longer toward the end).
//! * **split** (decode): work items are (KV head, run of key tiles); each writes a partial
//!   result (`m`, `l`, unnormalised output) and the caller merges the partials
//!   (flash-decoding), so a single token still keeps every thread busy.
//!
//! Tiles start at multiples of the tile size and the value dot products run over whole 32-steps
//! from the tile start, so a query row does the same arithmetic whatever block or split it is
//! in: one and many threads give bit-identical results.
//!
//! Per-thread slices are handed over through uncontended mutexes in a fixed-size array: safe
//! code, and no allocation in steady state ([`AttnScratch`] is sized for the model up front).
//!
//! ref: Dao, "FlashAttention-2" (2023), Algorithm 1; "Flash-Decoding for long-context
//! inference" (2023); transformers `eager_attention_forward` (`modeling_llama.py`), Gemma 2
//! soft-capping, Falcon-RW ALiBi (`softmax((q·k + alibi) * scale)`); llama.cpp's transposed V
//! cache (`src/llama-kv-cache.cpp`).

use std::ops::Range;
use std::sync::Mutex;

use allmende_kernels::Kernels;
use allmende_tensor::ThreadPool;
use half::f16;
use half::slice::HalfFloatSliceExt;

use crate::kv_cache::KvLayer;
use crate::nn::ops::{exp_fast, exp_sub_sum};

/// Most parallel parts one call is split into.
const MAX_PARTS: usize = 64;
/// Chunks of at most this many tokens use the split (flash-decoding) partition.
pub(crate) const SPLIT_MAX_TOKENS: usize = 4;
/// Most key splits per KV head in the split partition.
const MAX_SPLITS: usize = 32;
/// Most query tokens per block in the rows partition.
const MAX_BLOCK_TOKENS: usize = 16;
/// Values of one K (or V) tile.
const TILE_VALUES: usize = 8192;
/// The SIMD step the value columns are padded to.
const STEP: usize = 32;

/// Keys per tile for heads of `head_dim` (a multiple of [`STEP`]; a tile of K and one of V
/// stay in L1).
pub(crate) fn tile_keys(head_dim: usize) -> usize {
    (TILE_VALUES / head_dim.max(1)).clamp(STEP, 256) / STEP * STEP
}

/// Per-layer attention parameters.
pub(crate) struct AttnParams<'a> {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// Positions per head in the cache layout.
    pub n_ctx: usize,
    pub scale: f32,
    pub softcap: Option<f32>,
    pub window: Option<usize>,
    /// ALiBi slopes per head and whether the bias goes before the scale.
    pub alibi: Option<(&'a [f32], bool)>,
}

/// Scratch that survives between calls.
#[derive(Debug, Default)]
pub(crate) struct AttnScratch {
    parts: Vec<f32>,   // [parts][part_len]
    partial: Vec<f32>, // split partition: [n_head_kv * splits][n * group * (head_dim + 2)]
}

/// Floats of one part's scratch for `rows` query rows: the scores/weights of a tile, the
/// widened K tile, the padded value columns, the rows' `m` and `l`.
fn part_len(bk: usize, head_dim: usize, rows: usize) -> usize {
    bk + 2 * bk * head_dim + 2 * rows
}

impl AttnScratch {
    /// Scratch sized for prefill chunks and single-token decode at any context length of a
    /// model with these dimensions, so that decoding never grows it.
    pub(crate) fn new(n_head: usize, n_head_kv: usize, head_dim: usize, n_threads: usize) -> AttnScratch {
        let group = n_head / n_head_kv.max(1);
        let parts = n_threads.clamp(1, MAX_PARTS);
        let rows = MAX_BLOCK_TOKENS.max(SPLIT_MAX_TOKENS) * group;
        AttnScratch {
            parts: vec![0.0; parts * part_len(tile_keys(head_dim), head_dim, rows)],
            partial: vec![0.0; n_head * MAX_SPLITS * (head_dim + 2)],
        }
    }
}

/// One part's work: its item range, its output rows (rows) or partials (split), its scratch.
struct Part<'a> {
    items: Range<usize>,
    out: &'a mut [f32],
    scratch: &'a mut [f32],
}

type Slot<'a> = Mutex<Part<'a>>;

fn empty_slots<'a>() -> [Slot<'a>; MAX_PARTS] {
    [const { Mutex::new(Part { items: 0..0, out: &mut [], scratch: &mut [] }) }; MAX_PARTS]
}

/// Hands each slot `len` floats of part scratch (grown if needed); returns the partials buffer.
fn hand_out<'a>(slots: &mut [Slot<'a>], scratch: &'a mut AttnScratch, len: usize) -> &'a mut Vec<f32> {
    let AttnScratch { parts, partial } = scratch;
    if parts.len() < slots.len() * len {
        parts.resize(slots.len() * len, 0.0);
    }
    for (slot, mine) in slots.iter_mut().zip(parts.chunks_exact_mut(len)) {
        slot.get_mut().unwrap_or_else(|e| e.into_inner()).scratch = mine;
    }
    partial
}

/// What every work item reads.
struct Ctx<'a> {
    p: &'a AttnParams<'a>,
    q: &'a [f32],
    kv: KvLayer<'a>,
    pos0: usize,
    group: usize,
    bk: usize,
    kern: &'static Kernels,
}

/// One group of query rows (tokens `toks` × the heads of KV head `g`) and where its running
/// state lives: the output row of (token `t`, head `hh` of the group) is
/// `acc[(t - toks.start) * t_stride + hh * head_dim..][..head_dim]`, its `m` and `l` are at
/// `(t - toks.start) * group + hh`.
struct Rows<'s> {
    g: usize,
    toks: Range<usize>,
    acc: &'s mut [f32],
    t_stride: usize,
    m: &'s mut [f32],
    l: &'s mut [f32],
}

/// Widens little-endian f16 bytes into `dst` (`src.len() == 2 * dst.len()`), 64 values per
/// F16C slice conversion.
fn widen_f16(src: &[u8], dst: &mut [f32]) {
    let mut h = [f16::ZERO; 64];
    for (s, d) in src.chunks(128).zip(dst.chunks_mut(64)) {
        let hs = &mut h[..d.len()];
        for (x, b) in hs.iter_mut().zip(s.chunks_exact(2)) {
            *x = f16::from_bits(u16::from_le_bytes([b[0], b[1]]));
        }
        hs.convert_to_f32_slice(d);
    }
}

/// The largest element (`-inf` for none), in 8 lanes so that it vectorises.
fn max_of(x: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in m.iter_mut().zip(c) {
            *a = if v > *a { v } else { *a };
        }
    }
    chunks.remainder().iter().chain(m.iter()).fold(f32::NEG_INFINITY, |a, &v| if v > a { v } else { a })
}

impl Ctx<'_> {
    /// First key position query token `t` (index in the chunk) sees.
    fn lo(&self, t: usize) -> usize {
        self.p.window.map_or(0, |w| (self.pos0 + t + 1).saturating_sub(w))
    }

    /// Folds keys `keys` (clipped to each row's causal/window range) into the running state of
    /// `rows`, tile by tile. `scratch` holds at least `bk + 2 * bk * head_dim` floats.
    ///
    /// The value dot products run over whole 32-steps with weight 0 for keys a row does not
    /// see; like PyTorch's `softmax(..) @ v`, that gives NaN only if such a masked value is
    /// itself not finite.
    fn attend(&self, rows: &mut Rows, keys: Range<usize>, scratch: &mut [f32]) {
        let (p, hd, bk, group) = (self.p, self.p.head_dim, self.bk, self.group);
        let (q_dim, n_ctx) = (p.n_head * hd, p.n_ctx);
        let kbase = rows.g * n_ctx * hd; // first key row of this KV head
        let vbase = rows.g * hd * n_ctx; // first value column of this KV head
        let (sc, bufs) = scratch.split_at_mut(bk);
        let (kbuf, vbuf) = bufs.split_at_mut(bk * hd);
        let mut js = keys.start / bk * bk;
        while js < keys.end {
            // Tile js..j1, always from its aligned start so that a row's 32-steps fall at the
            // same keys whatever block or split it is in.
            let j1 = (js + bk).min(keys.end);
            let len = j1 - js;
            let padded = len.div_ceil(STEP) * STEP;
            for (d, col) in vbuf.chunks_exact_mut(bk).take(hd).enumerate() {
                let at = vbase + d * n_ctx + js;
                match self.kv {
                    KvLayer::F32 { v, .. } => col[..len].copy_from_slice(&v[at..at + len]),
                    KvLayer::F16 { v, .. } => widen_f16(&v[2 * at..2 * (at + len)], &mut col[..len]),
                }
                col[len..padded].fill(0.0);
            }
            let kt: &[f32] = match self.kv {
                KvLayer::F32 { k, .. } => &k[kbase + js * hd..][..len * hd],
                KvLayer::F16 { k, .. } => {
                    widen_f16(&k[2 * (kbase + js * hd)..][..2 * len * hd], &mut kbuf[..len * hd]);
                    &kbuf[..len * hd]
                }
            };
            for t in rows.toks.clone() {
                let pos = self.pos0 + t;
                let (a, b) = (js.max(self.lo(t)), j1.min(pos + 1));
                if a >= b {
                    continue;
                }
                let ti = t - rows.toks.start;
                // The value dot products cover the whole 32-steps around a..b.
                let (r0, r1) = ((a - js) / STEP * STEP, (b - js).div_ceil(STEP) * STEP);
                for hh in 0..group {
                    let h = rows.g * group + hh;
                    let r = ti * group + hh;
                    let sw = &mut sc[a - js..b - js];
                    let qh = &self.q[t * q_dim + h * hd..][..hd];
                    for (j, sj) in (a..b).zip(sw.iter_mut()) {
                        *sj = self.kern.dot_f32(qh, &kt[(j - js) * hd..][..hd]);
                    }
                    let scale = p.scale;
                    match p.alibi {
                        Some((slopes, true)) => {
                            let sl = slopes[h];
                            (a..b).zip(sw.iter_mut()).for_each(|(j, x)| *x = (*x + sl * j as f32) * scale);
                        }
                        Some((slopes, false)) => {
                            let sl = slopes[h];
                            (a..b).zip(sw.iter_mut()).for_each(|(j, x)| *x = *x * scale + sl * j as f32);
                        }
                        None => sw.iter_mut().for_each(|x| *x *= scale),
                    }
                    if let Some(cap) = p.softcap {
                        sw.iter_mut().for_each(|x| *x = (*x / cap).tanh() * cap);
                    }
                    // Online softmax: rescale what was summed under the old maximum.
                    let mb = max_of(sw);
                    let acc = &mut rows.acc[ti * rows.t_stride + hh * hd..][..hd];
                    if mb > rows.m[r] {
                        let c = exp_fast(rows.m[r] - mb); // tiny on the first tile, where acc and l are 0
                        if rows.m[r] != f32::NEG_INFINITY {
                            self.kern.scale_f32(acc, c);
                        }
                        rows.l[r] *= c;
                        rows.m[r] = mb;
                    }
                    rows.l[r] += exp_sub_sum(sw, rows.m[r]);
                    // acc[d] += Σ_j w_j v[j][d], one contiguous value column per d.
                    sc[r0..a - js].fill(0.0);
                    sc[b - js..r1].fill(0.0);
                    let w = &sc[r0..r1];
                    for (d, o) in acc.iter_mut().enumerate() {
                        *o += self.kern.dot_f32(w, &vbuf[d * bk + r0..d * bk + r1]);
                    }
                }
            }
            js = j1;
        }
    }
}

/// Attention of `n` query tokens at positions `pos0..pos0 + n` (`q`: `[n][n_head * head_dim]`)
/// over the cache layer `kv` (filled up to `pos0 + n`), written to `out`
/// (`[n][n_head * head_dim]`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention(
    pool: &ThreadPool,
    p: &AttnParams,
    q: &[f32],
    kv: KvLayer,
    pos0: usize,
    n: usize,
    out: &mut [f32],
    scratch: &mut AttnScratch,
) {
    if n == 0 {
        return;
    }
    let ctx = Ctx {
        p,
        q,
        kv,
        pos0,
        group: p.n_head / p.n_head_kv.max(1),
        bk: tile_keys(p.head_dim),
        kern: allmende_kernels::kernels(),
    };
    if n <= SPLIT_MAX_TOKENS {
        attention_split(pool, &ctx, n, out, scratch);
    } else {
        attention_rows(pool, &ctx, n, out, scratch);
    }
}

/// The rows partition: blocks of query tokens, each with all heads, written straight to `out`.
fn attention_rows(pool: &ThreadPool, ctx: &Ctx, n: usize, out: &mut [f32], scratch: &mut AttnScratch) {
    let (p, hd, bk, group) = (ctx.p, ctx.p.head_dim, ctx.bk, ctx.group);
    let q_dim = p.n_head * hd;
    let threads = pool.n_threads().min(MAX_PARTS);
    let bq = n.div_ceil(4 * threads).clamp(1, MAX_BLOCK_TOKENS);
    let n_blocks = n.div_ceil(bq);
    let parts = threads.min(n_blocks);
    // Cost of a block ~ keys its queries see; cut the blocks into runs of about equal cost.
    let visible = |t: usize| ctx.pos0 + t + 1 - ctx.lo(t);
    let cost = |b: usize| (b * bq..((b + 1) * bq).min(n)).map(visible).sum::<usize>() + 1;
    let total: usize = (0..n_blocks).map(cost).sum();
    let mut bounds = [n_blocks; MAX_PARTS + 1];
    bounds[0] = 0;
    let (mut acc, mut next) = (0usize, 1usize);
    for b in 0..n_blocks {
        while next < parts && acc * parts >= total * next {
            bounds[next] = b;
            next += 1;
        }
        acc += cost(b);
    }
    let mut slots = empty_slots();
    hand_out(&mut slots[..parts], scratch, part_len(bk, hd, bq * group));
    let mut rest = &mut out[..n * q_dim];
    for (i, slot) in slots.iter_mut().enumerate().take(parts) {
        let toks = (bounds[i] * bq).min(n)..(bounds[i + 1] * bq).min(n);
        let (mine, r) = std::mem::take(&mut rest).split_at_mut(toks.len() * q_dim);
        let part = slot.get_mut().unwrap_or_else(|e| e.into_inner());
        part.items = bounds[i]..bounds[i + 1];
        part.out = mine;
        rest = r;
    }
    let work = |i: usize| {
        let Some(slot) = slots.get(i).filter(|_| i < parts) else { return };
        let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
        let Part { items, out: o, scratch } = &mut *guard;
        let first_tok = items.start * bq;
        let (fs, state) = scratch.split_at_mut(scratch.len() - 2 * bq * group);
        let (m, l) = state.split_at_mut(bq * group);
        for b in items.clone() {
            let toks = b * bq..((b + 1) * bq).min(n);
            let orows = &mut o[(toks.start - first_tok) * q_dim..(toks.end - first_tok) * q_dim];
            orows.fill(0.0);
            for g in 0..p.n_head_kv {
                let nr = toks.len() * group;
                m[..nr].fill(f32::NEG_INFINITY);
                l[..nr].fill(0.0);
                let keys = ctx.lo(toks.start)..ctx.pos0 + toks.end;
                let acc = &mut orows[g * group * hd..];
                let mut rows = Rows { g, toks: toks.clone(), acc, t_stride: q_dim, m: &mut m[..nr], l: &mut l[..nr] };
                ctx.attend(&mut rows, keys, fs);
                for ti in 0..toks.len() {
                    for hh in 0..group {
                        let row = &mut orows[ti * q_dim + (g * group + hh) * hd..][..hd];
                        ctx.kern.scale_f32(row, 1.0 / l[ti * group + hh]);
                    }
                }
            }
        }
    };
    pool.run(&work);
}

/// The split partition: (KV head, run of key tiles) items write partial states, then the
/// caller merges them into `out`.
fn attention_split(pool: &ThreadPool, ctx: &Ctx, n: usize, out: &mut [f32], scratch: &mut AttnScratch) {
    let (p, hd, bk, group) = (ctx.p, ctx.p.head_dim, ctx.bk, ctx.group);
    let q_dim = p.n_head * hd;
    // The union of the rows' key ranges, in whole tiles.
    let keys = ctx.lo(0)..ctx.pos0 + n;
    let (tile0, tile1) = (keys.start / bk, (keys.end - 1) / bk + 1);
    let n_tiles = tile1 - tile0;
    let splits = n_tiles.min(MAX_SPLITS);
    let split_keys = |s: usize| {
        let a = (tile0 + n_tiles * s / splits) * bk;
        let b = (tile0 + n_tiles * (s + 1) / splits) * bk;
        a.max(keys.start)..b.min(keys.end)
    };
    let items = p.n_head_kv * splits;
    let nr = n * group;
    let item_len = nr * (hd + 2);
    let parts = pool.n_threads().min(MAX_PARTS).min(items);
    let mut slots = empty_slots();
    let partial = hand_out(&mut slots[..parts], scratch, part_len(bk, hd, 0));
    if partial.len() < items * item_len {
        partial.resize(items * item_len, 0.0);
    }
    let mut rest = &mut partial[..items * item_len];
    let mut start = 0;
    for (i, slot) in slots.iter_mut().enumerate().take(parts) {
        let end = items * (i + 1) / parts;
        let (mine, r) = std::mem::take(&mut rest).split_at_mut((end - start) * item_len);
        let part = slot.get_mut().unwrap_or_else(|e| e.into_inner());
        part.items = start..end;
        part.out = mine;
        rest = r;
        start = end;
    }
    let work = |i: usize| {
        let Some(slot) = slots.get(i).filter(|_| i < parts) else { return };
        let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
        let Part { items, out: partial, scratch } = &mut *guard;
        for (item, chunk) in items.clone().zip(partial.chunks_exact_mut(item_len)) {
            let (acc, state) = chunk.split_at_mut(nr * hd);
            let (m, l) = state.split_at_mut(nr);
            acc.fill(0.0);
            m.fill(f32::NEG_INFINITY);
            l.fill(0.0);
            let mut rows = Rows { g: item / splits, toks: 0..n, acc, t_stride: group * hd, m, l };
            ctx.attend(&mut rows, split_keys(item % splits), scratch);
        }
    };
    pool.run(&work);
    // Merge: out = Σ_s e^(m_s - M) acc_s / Σ_s e^(m_s - M) l_s, M = max_s m_s.
    let partial = &scratch.partial[..items * item_len];
    for t in 0..n {
        for h in 0..p.n_head {
            let (g, hh) = (h / group, h % group);
            let r = t * group + hh;
            let state = |s: usize| {
                let c = &partial[(g * splits + s) * item_len..][..item_len];
                (&c[r * hd..][..hd], c[nr * hd + r], c[nr * hd + nr + r])
            };
            let big_m = (0..splits).map(|s| state(s).1).fold(f32::NEG_INFINITY, f32::max);
            let o = &mut out[t * q_dim + h * hd..][..hd];
            o.fill(0.0);
            let mut sum = 0f32;
            for s in 0..splits {
                let (acc, m, l) = state(s);
                if m == f32::NEG_INFINITY {
                    continue;
                }
                let c = exp_fast(m - big_m);
                sum += c * l;
                ctx.kern.axpy_f32(o, c, acc);
            }
            ctx.kern.scale_f32(o, 1.0 / sum);
        }
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::ops::softmax;

    /// Naive reference: full score matrix with -inf masking, f64 sums.
    fn naive(p: &AttnParams, q: &[f32], k: &[f32], v: &[f32], pos0: usize, n: usize) -> Vec<f32> {
        let hd = p.head_dim;
        let mut out = vec![0f32; n * p.n_head * hd];
        for t in 0..n {
            let pos = pos0 + t;
            for h in 0..p.n_head {
                let kvh = h / (p.n_head / p.n_head_kv);
                let mut s: Vec<f32> = (0..p.n_ctx)
                    .map(|j| {
                        let visible = j <= pos && p.window.is_none_or(|w| j + w > pos);
                        if !visible {
                            return f32::NEG_INFINITY;
                        }
                        let d: f32 = (0..hd).map(|i| q[(t * p.n_head + h) * hd + i] * k[(kvh * p.n_ctx + j) * hd + i]).sum();
                        let mut x = match p.alibi {
                            Some((slopes, true)) => (d + slopes[h] * j as f32) * p.scale,
                            Some((slopes, false)) => d * p.scale + slopes[h] * j as f32,
                            None => d * p.scale,
                        };
                        if let Some(cap) = p.softcap {
                            x = (x / cap).tanh() * cap;
                        }
                        x
                    })
                    .collect();
                softmax(&mut s);
                for j in 0..p.n_ctx {
                    for i in 0..hd {
                        out[(t * p.n_head + h) * hd + i] += s[j] * v[(kvh * p.n_ctx + j) * hd + i];
                    }
                }
            }
        }
        out
    }

    /// Runs the tiled attention on a cache layer built from `k`, `v` (`[n_head_kv][n_ctx][hd]`).
    #[allow(clippy::too_many_arguments)]
    fn run(p: &AttnParams, threads: usize, q: &[f32], k: &[f32], v: &[f32], f16_kv: bool, pos0: usize, n: usize) -> Vec<f32> {
        let pool = ThreadPool::new(threads);
        let mut out = vec![f32::NAN; n * p.n_head * p.head_dim];
        let mut scratch = AttnScratch::default();
        let (hd, n_ctx) = (p.head_dim, p.n_ctx);
        // Values transposed per head: [n_head_kv][hd][n_ctx].
        let mut vt = vec![0f32; v.len()];
        for h in 0..p.n_head_kv {
            for j in 0..n_ctx {
                for d in 0..hd {
                    vt[(h * hd + d) * n_ctx + j] = v[(h * n_ctx + j) * hd + d];
                }
            }
        }
        let bytes = |x: &[f32]| x.iter().flat_map(|&y| f16::from_f32(y).to_le_bytes()).collect::<Vec<u8>>();
        let (kh, vh) = (bytes(k), bytes(&vt));
        let kv = if f16_kv { KvLayer::F16 { k: &kh, v: &vh } } else { KvLayer::F32 { k, v: &vt } };
        attention(&pool, p, q, kv, pos0, n, &mut out, &mut scratch);
        out
    }

    /// Every feature and both partitions against the naive reference, for thread counts 1-3;
    /// keys span several tiles (head_dim 64: 64 keys per tile).
    #[test]
    fn matches_naive_reference() {
        let (n_head, hd, n_ctx) = (4, 64, 200);
        let val = |i: usize| ((i as f32) * 0.731).sin();
        let k: Vec<f32> = (0..n_head * n_ctx * hd).map(val).collect();
        let v: Vec<f32> = (0..n_head * n_ctx * hd).map(|i| val(i + 1000)).collect();
        let slopes = [0.02f32, 0.01, 0.005, 0.0025]; // biases up to 4: scores stay O(1), so f32 rounding too
        type Case<'a> = (Option<usize>, Option<f32>, Option<(&'a [f32], bool)>, usize);
        let cases: [Case; 6] = [
            (None, None, None, 4),
            (Some(70), None, None, 4),
            (None, Some(2.0), None, 2),
            (None, None, Some((&slopes[..], true)), 2),
            (None, None, Some((&slopes[..], false)), 1),
            (Some(5), Some(3.0), None, 4),
        ];
        for (window, softcap, alibi, kv_heads) in cases {
            let k = &k[..kv_heads * n_ctx * hd];
            let v = &v[..kv_heads * n_ctx * hd];
            let p = AttnParams { n_head, n_head_kv: kv_heads, head_dim: hd, n_ctx, scale: 0.125, softcap, window, alibi };
            // Decode-sized (split) and prefill-sized (rows) chunks, from empty and later positions.
            for (pos0, n) in [(0, 1), (130, 1), (150, 3), (0, 37), (100, 100), (190, 10)] {
                let q: Vec<f32> = (0..n * n_head * hd).map(|i| val(i + 7) * 3.0).collect();
                let want = naive(&p, &q, k, v, pos0, n);
                let one = run(&p, 1, &q, k, v, false, pos0, n);
                for (a, b) in one.iter().zip(&want) {
                    assert!((a - b).abs() < 2e-6, "{window:?} {softcap:?} {alibi:?} kv{kv_heads} pos0 {pos0} n {n}: {a} vs {b}");
                }
                for threads in [2, 3] {
                    assert_eq!(run(&p, threads, &q, k, v, false, pos0, n), one, "{window:?} {softcap:?} {alibi:?} kv{kv_heads} pos0 {pos0} n {n} threads {threads}: bit-identical");
                }
            }
        }
    }

    /// The f16 cache gives the reference's result on the rounded keys and values.
    #[test]
    fn f16_cache_matches_reference_on_rounded_values() {
        let (n_head, n_head_kv, hd, n_ctx) = (6, 2, 32, 300);
        let val = |i: usize| ((i as f32) * 0.377).cos();
        let k: Vec<f32> = (0..n_head_kv * n_ctx * hd).map(val).collect();
        let v: Vec<f32> = (0..n_head_kv * n_ctx * hd).map(|i| val(i + 99)).collect();
        let round = |x: &[f32]| x.iter().map(|&y| f16::from_f32(y).to_f32()).collect::<Vec<f32>>();
        let (kr, vr) = (round(&k), round(&v));
        let p = AttnParams { n_head, n_head_kv, head_dim: hd, n_ctx, scale: 0.2, softcap: None, window: Some(200), alibi: None };
        for (pos0, n) in [(0, 1), (299, 1), (10, 64), (250, 50)] {
            let q: Vec<f32> = (0..n * n_head * hd).map(|i| val(i + 5)).collect();
            let want = naive(&p, &q, &kr, &vr, pos0, n);
            for threads in [1, 2] {
                let got = run(&p, threads, &q, &k, &v, true, pos0, n);
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() < 2e-6, "pos0 {pos0} n {n} threads {threads}: {a} vs {b}");
                }
            }
            // and it really is rounded: the f32 cache gives a different result.
            let exact = run(&p, 1, &q, &k, &v, false, pos0, n);
            assert!(exact.iter().zip(&want).any(|(a, b)| (a - b).abs() > 1e-5));
        }
    }
}
