//! Causal self-attention of a chunk of new tokens against the KV cache (f32 or f16), tiled
//! with an online softmax (FlashAttention-2 style): keys and values are visited in tiles
//! ([`tile_keys`] positions in prefill, [`DIRECT_TILE`] in decode), and every query row keeps a
//! running maximum `m`, a running sum `l` and an unnormalised output that is rescaled when `m`
//! grows. A tile serves every query of a block and every query head of a GQA group while it is
//! in L1, so the cache is read from memory once per query block instead of once per query.
//!
//! In prefill blocks (many rows per tile) each tile is first brought into a buffer as f32 (K
//! rows as cached, V transposed back from the cache's columns to rows); then one call of the
//! kernels crate's register-blocked `scores_f32` gives every row's scores against the tile, and
//! `weighted_rows_f32` adds each row's weighted values (`acc += wᵀ·V`). In decode (a few rows
//! per tile) the cache is read in place, since widening a tile would cost more than the few
//! rows gain: `q·k` over a key row and, because the cache stores values transposed, `p·v` over
//! a value column for each output element (`dot_f32`, or `vec_dot(F16, ..)`, which widens f16
//! with F16C as it goes).
//!
//! Supports GQA/MQA, sliding windows (query `i` sees keys `i - w < j <= i`), ALiBi biases before
//! or after the scale, and score soft-capping.
//!
//! Two ways to split the work across the pool, chosen by the chunk size only (never by the
//! thread count, so results do not depend on it):
//! * **rows** (prefill, more than [`SPLIT_MAX_TOKENS`] tokens): work items are blocks of query
//!   tokens with all their heads; each block writes its own rows of `out`. Blocks are handed to
//!   threads in contiguous runs of about equal cost (causal blocks get longer toward the end).
//! * **split** (decode): work items are (query head, run of key tiles); each writes a partial
//!   result (`m`, `l`, unnormalised output) and the caller merges the partials
//!   (flash-decoding), so a single token keeps every thread busy even with one KV head.
//!
//! Tiles start at multiples of the tile size, and the kernels compute each score and each output
//! the same way wherever it falls in their register blocking, so a query row does the same
//! arithmetic whatever block or split it is in: one and many threads give bit-identical results.
//!
//! The work is cut into up to [`PARTS_PER_THREAD`] parts per thread, which the pool's threads
//! claim dynamically (`ThreadPool::for_each_chunk`); each part's slices are handed over through
//! an uncontended mutex in a fixed-size array: safe code, and no allocation in steady state
//! ([`AttnScratch`] is sized for the model up front).
//!
//! ref: Dao, "FlashAttention-2" (2023), Algorithm 1; "Flash-Decoding for long-context
//! inference" (2023); transformers `eager_attention_forward` (`modeling_llama.py`), Gemma 2
//! soft-capping, Falcon-RW ALiBi (`softmax((q·k + alibi) * scale)`); llama.cpp's transposed V
//! cache (`src/llama-kv-cache.cpp`).

use std::ops::Range;
use std::sync::Mutex;

use allmende_kernels::{GgmlType, Kernels};
use allmende_tensor::ThreadPool;
use half::f16;
use half::slice::HalfFloatSliceExt;

use crate::kv_cache::KvLayer;
use crate::nn::ops::{exp_fast, exp_sub_sum};

/// Most parallel parts one call is split into.
const MAX_PARTS: usize = 64;
/// Parts per pool thread: parts are claimed dynamically, so with two per thread a thread the
/// OS runs late (a busy machine) delays the op by at most half its share.
const PARTS_PER_THREAD: usize = 2;
/// Chunks of at most this many tokens use the split (flash-decoding) partition.
pub(crate) const SPLIT_MAX_TOKENS: usize = 4;
/// Most key splits per KV head in the split partition.
const MAX_SPLITS: usize = 32;
/// Most query tokens per block in the rows partition.
const MAX_BLOCK_TOKENS: usize = 16;
/// Values of one buffered K (or V) tile.
const TILE_VALUES: usize = 8192;
/// Keys per tile when the cache is read in place (decode): long value dot products, and the
/// unit of the key splits.
const DIRECT_TILE: usize = 128;
/// Buffered tiles hold a multiple of this many keys.
const STEP: usize = 32;

/// Keys per buffered tile for heads of `head_dim`: a multiple of [`STEP`], at most 256 (the
/// V-transpose buffer), a tile of K and one of V about [`TILE_VALUES`] values each.
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
    parts: Vec<f32>,   // [parts][part_len().0]
    bytes: Vec<u8>,    // [parts][part_len().1]
    partial: Vec<f32>, // split partition: [n_head_kv * splits * group][n * (head_dim + 2)]
}

/// One part's scratch for `rows` query rows and tiles of `bk` keys, in floats and bytes.
/// Buffered (prefill): the K tile and the V tile (row-major), the rows' packed queries, their
/// scores for a tile, and their `m` and `l`. In place (decode): the scores/weights of a tile,
/// `m` and `l`; and in bytes the queries and weights as the f16 kernel takes them.
fn part_len(bk: usize, head_dim: usize, rows: usize, buffered: bool) -> (usize, usize) {
    if buffered {
        (2 * bk * head_dim + rows * head_dim + rows * bk + 2 * rows, 0)
    } else {
        (bk + 2 * rows, 4 * (rows * head_dim + bk))
    }
}

impl AttnScratch {
    /// Scratch sized for prefill chunks and single-token decode at any context length of a
    /// model with these dimensions, so that decoding never grows it.
    pub(crate) fn new(n_head: usize, n_head_kv: usize, head_dim: usize, n_threads: usize) -> AttnScratch {
        let group = n_head / n_head_kv.max(1);
        let parts = (PARTS_PER_THREAD * n_threads).clamp(1, MAX_PARTS);
        let (f, b) = part_len(tile_keys(head_dim), head_dim, MAX_BLOCK_TOKENS * group, true);
        let (fd, bd) = part_len(DIRECT_TILE, head_dim, SPLIT_MAX_TOKENS, false);
        let (f, b) = (f.max(fd), b.max(bd));
        AttnScratch {
            parts: vec![0.0; parts * f],
            bytes: vec![0; parts * b],
            partial: vec![0.0; n_head * MAX_SPLITS * (head_dim + 2)],
        }
    }
}

/// One part's work: its item range, its output rows (rows) or partials (split), its scratch.
struct Part<'a> {
    items: Range<usize>,
    out: &'a mut [f32],
    scratch: &'a mut [f32],
    bytes: &'a mut [u8],
}

type Slot<'a> = Mutex<Part<'a>>;

fn empty_slots<'a>() -> [Slot<'a>; MAX_PARTS] {
    [const { Mutex::new(Part { items: 0..0, out: &mut [], scratch: &mut [], bytes: &mut [] }) }; MAX_PARTS]
}

/// Hands each slot its part scratch of `(floats, bytes)` (grown if needed); returns the
/// partials buffer.
fn hand_out<'a>(slots: &mut [Slot<'a>], scratch: &'a mut AttnScratch, (f, b): (usize, usize)) -> &'a mut Vec<f32> {
    let AttnScratch { parts, bytes, partial } = scratch;
    if parts.len() < slots.len() * f {
        parts.resize(slots.len() * f, 0.0);
    }
    if bytes.len() < slots.len() * b {
        bytes.resize(slots.len() * b, 0);
    }
    let mut bytes = &mut bytes[..];
    for (slot, mf) in slots.iter_mut().zip(parts.chunks_exact_mut(f)) {
        let part = slot.get_mut().unwrap_or_else(|e| e.into_inner());
        let (mb, rest) = std::mem::take(&mut bytes).split_at_mut(b);
        part.scratch = mf;
        part.bytes = mb;
        bytes = rest;
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

/// A set of query rows (tokens `toks` × heads `heads` of KV head `g`'s group) and where its
/// running state lives: with `i = hh - heads.start`, the output row of (token `t`, head `hh` of
/// the group) is `acc[(t - toks.start) * t_stride + i * head_dim..][..head_dim]`, its `m` and
/// `l` are at `(t - toks.start) * heads.len() + i`.
struct Rows<'s> {
    g: usize,
    toks: Range<usize>,
    heads: Range<usize>,
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

/// Writes `src` as little-endian f32 bytes into the front of `dst`.
fn put_f32_bytes(dst: &mut [u8], src: &[f32]) {
    for (d, x) in dst.chunks_exact_mut(4).zip(src) {
        d.copy_from_slice(&x.to_le_bytes());
    }
}

/// Keys `js..` of one KV head read in place from the cache: key `j` is row `j - js` of `k`
/// (`head_dim` values), element `d` of value `j` is `v[d * v_stride + j - js]`.
#[derive(Clone, Copy)]
enum Tile<'t> {
    /// An f32 cache.
    F32 { k: &'t [f32], v: &'t [f32], v_stride: usize },
    /// An f16 cache (little-endian bytes), widened by the kernel as it goes.
    F16 { k: &'t [u8], v: &'t [u8], v_stride: usize },
}

impl Ctx<'_> {
    /// First key position query token `t` (index in the chunk) sees.
    fn lo(&self, t: usize) -> usize {
        self.p.window.map_or(0, |w| (self.pos0 + t + 1).saturating_sub(w))
    }

    /// Turns the raw scores `sw` of keys `a..` for row `r` (query head `h`) into softmax
    /// weights under the row's running maximum: scale, ALiBi, soft-capping, then the online
    /// softmax update (`acc` and `l` rescaled when the maximum grows, `l` += the new weights).
    fn fold_scores(&self, rows: &mut Rows, r: usize, acc: Range<usize>, h: usize, a: usize, sw: &mut [f32]) {
        let p = self.p;
        let scale = p.scale;
        match p.alibi {
            Some((slopes, true)) => {
                let sl = slopes[h];
                sw.iter_mut().enumerate().for_each(|(i, x)| *x = (*x + sl * (a + i) as f32) * scale);
            }
            Some((slopes, false)) => {
                let sl = slopes[h];
                sw.iter_mut().enumerate().for_each(|(i, x)| *x = *x * scale + sl * (a + i) as f32);
            }
            None => sw.iter_mut().for_each(|x| *x *= scale),
        }
        if let Some(cap) = p.softcap {
            sw.iter_mut().for_each(|x| *x = (*x / cap).tanh() * cap);
        }
        // Online softmax: rescale what was summed under the old maximum.
        let mb = max_of(sw);
        if mb > rows.m[r] {
            let c = exp_fast(rows.m[r] - mb); // tiny on the first tile, where acc and l are 0
            if rows.m[r] != f32::NEG_INFINITY {
                self.kern.scale_f32(&mut rows.acc[acc], c);
            }
            rows.l[r] *= c;
            rows.m[r] = mb;
        }
        rows.l[r] += exp_sub_sum(sw, rows.m[r]);
    }

    /// Folds keys `keys` (clipped to each row's causal/window range) into the running state of
    /// `rows`, reading the cache in place, tile by tile (decode: a few rows per tile, where
    /// widening a tile first would cost more than the rows gain). `scratch` and `bytes` are
    /// sized by [`part_len`] (not buffered).
    fn attend(&self, rows: &mut Rows, keys: Range<usize>, scratch: &mut [f32], bytes: &mut [u8]) {
        let (p, hd, bk, group) = (self.p, self.p.head_dim, self.bk, self.group);
        let (q_dim, n_ctx) = (p.n_head * hd, p.n_ctx);
        let kbase = rows.g * n_ctx * hd; // first key row of this KV head
        let vbase = rows.g * hd * n_ctx; // first value column of this KV head
        let sc = &mut scratch[..bk];
        let nh = rows.heads.len();
        let (qbytes, wbytes) = bytes.split_at_mut(4 * rows.toks.len() * nh * hd);
        if let KvLayer::F16 { .. } = self.kv {
            // The f16 kernel takes its f32 operand as bytes: these rows' queries, once.
            for t in rows.toks.clone() {
                let qrow = &self.q[t * q_dim + (rows.g * group + rows.heads.start) * hd..][..nh * hd];
                put_f32_bytes(&mut qbytes[4 * (t - rows.toks.start) * nh * hd..], qrow);
            }
        }
        let mut j0 = keys.start / bk * bk;
        while j0 < keys.end {
            let js = j0.max(keys.start);
            let j1 = (j0 + bk).min(keys.end);
            j0 += bk;
            let len = j1 - js;
            let tile = match self.kv {
                KvLayer::F32 { k, v } => Tile::F32 { k: &k[kbase + js * hd..][..len * hd], v: &v[vbase + js..], v_stride: n_ctx },
                KvLayer::F16 { k, v } => {
                    Tile::F16 { k: &k[2 * (kbase + js * hd)..][..2 * len * hd], v: &v[2 * (vbase + js)..], v_stride: n_ctx }
                }
            };
            for t in rows.toks.clone() {
                let pos = self.pos0 + t;
                let (a, b) = (js.max(self.lo(t)), j1.min(pos + 1));
                if a >= b {
                    continue;
                }
                let ti = t - rows.toks.start;
                for (i, hh) in rows.heads.clone().enumerate() {
                    let h = rows.g * group + hh;
                    let r = ti * nh + i;
                    let sw = &mut sc[a - js..b - js];
                    match tile {
                        Tile::F32 { k, .. } => {
                            let qh = &self.q[t * q_dim + h * hd..][..hd];
                            for (j, sj) in (a..b).zip(sw.iter_mut()) {
                                *sj = self.kern.dot_f32(qh, &k[(j - js) * hd..][..hd]);
                            }
                        }
                        Tile::F16 { k, .. } => {
                            let qh = &qbytes[4 * r * hd..][..4 * hd];
                            for (j, sj) in (a..b).zip(sw.iter_mut()) {
                                *sj = self.kern.vec_dot(GgmlType::F16, hd, &k[2 * (j - js) * hd..][..2 * hd], qh);
                            }
                        }
                    }
                    let acc = ti * rows.t_stride + i * hd..ti * rows.t_stride + (i + 1) * hd;
                    self.fold_scores(rows, r, acc.clone(), h, a, sw);
                    // acc[d] += Σ_j w_j v[j][d], one contiguous value column per d.
                    let (w, acc) = (&*sw, &mut rows.acc[acc]);
                    match tile {
                        Tile::F32 { v, v_stride, .. } => {
                            for (d, o) in acc.iter_mut().enumerate() {
                                *o += self.kern.dot_f32(w, &v[d * v_stride + a - js..][..w.len()]);
                            }
                        }
                        Tile::F16 { v, v_stride, .. } => {
                            let wb = &mut wbytes[..4 * w.len()];
                            put_f32_bytes(wb, w);
                            for (d, o) in acc.iter_mut().enumerate() {
                                let col = &v[2 * (d * v_stride + a - js)..][..2 * w.len()];
                                *o += self.kern.vec_dot(GgmlType::F16, w.len(), col, wb);
                            }
                        }
                    }
                }
            }
        }
    }

    /// As [`Ctx::attend`], for many rows (prefill blocks): each tile of keys is first brought
    /// into `scratch` as f32, K row-major as in the cache and V transposed back to rows, then
    /// the scores of every row against the tile come from one blocked kernel call
    /// (`scores_f32`) and each row's weighted values from `weighted_rows_f32`. Tiles start at
    /// multiples of the tile size, so a row meets the same tiles in whatever block it is.
    fn attend_tiles(&self, rows: &mut Rows, keys: Range<usize>, scratch: &mut [f32]) {
        let (p, hd, bk, group) = (self.p, self.p.head_dim, self.bk, self.group);
        let (q_dim, n_ctx) = (p.n_head * hd, p.n_ctx);
        let kbase = rows.g * n_ctx * hd;
        let vbase = rows.g * hd * n_ctx;
        let (nh, nt) = (rows.heads.len(), rows.toks.len());
        let nr = nt * nh;
        let (kbuf, rest) = scratch.split_at_mut(bk * hd);
        let (vbuf, rest) = rest.split_at_mut(bk * hd);
        let (qpack, rest) = rest.split_at_mut(nr * hd);
        let scores = &mut rest[..nr * bk];
        // The rows' queries, packed: row ti * nh + i is head heads.start + i of token ti.
        for (ti, t) in rows.toks.clone().enumerate() {
            let src = &self.q[t * q_dim + (rows.g * group + rows.heads.start) * hd..][..nh * hd];
            qpack[ti * nh * hd..][..nh * hd].copy_from_slice(src);
        }
        let mut col = [0f32; 256];
        let mut j0 = keys.start / bk * bk;
        while j0 < keys.end {
            let js = j0.max(keys.start);
            let j1 = (j0 + bk).min(keys.end);
            j0 += bk;
            let len = j1 - js;
            let k: &[f32] = match self.kv {
                KvLayer::F32 { k, .. } => &k[kbase + js * hd..][..len * hd],
                KvLayer::F16 { k, .. } => {
                    widen_f16(&k[2 * (kbase + js * hd)..][..2 * len * hd], &mut kbuf[..len * hd]);
                    &kbuf[..len * hd]
                }
            };
            // V from columns (the cache's layout) to rows.
            for d in 0..hd {
                let at = vbase + d * n_ctx + js;
                let c = &mut col[..len];
                match self.kv {
                    KvLayer::F32 { v, .. } => c.copy_from_slice(&v[at..at + len]),
                    KvLayer::F16 { v, .. } => widen_f16(&v[2 * at..2 * (at + len)], c),
                }
                for (j, &x) in c.iter().enumerate() {
                    vbuf[j * hd + d] = x;
                }
            }
            self.kern.scores_f32(qpack, k, hd, scores, bk);
            for (ti, t) in rows.toks.clone().enumerate() {
                let (a, b) = (js.max(self.lo(t)), j1.min(self.pos0 + t + 1));
                if a >= b {
                    continue;
                }
                for i in 0..nh {
                    let r = ti * nh + i;
                    let h = rows.g * group + rows.heads.start + i;
                    let sw = &mut scores[r * bk + a - js..r * bk + b - js];
                    let acc = ti * rows.t_stride + i * hd..ti * rows.t_stride + (i + 1) * hd;
                    self.fold_scores(rows, r, acc.clone(), h, a, sw);
                    self.kern.weighted_rows_f32(sw, &vbuf[(a - js) * hd..(b - js) * hd], &mut rows.acc[acc]);
                }
            }
        }
    }
}

/// Attention of `n` query tokens at positions `pos0..pos0 + n` (`q`: `[n][n_head * head_dim]`)
/// over the cache layer `kv` (filled up to `pos0 + n`), written to `out`
/// (`[n][n_head * head_dim]`).
///
/// `decode` picks the split partition (for at most [`SPLIT_MAX_TOKENS`] tokens), otherwise the
/// rows partition. The two round differently, so the caller decides by the tokens' role, not by
/// the chunk size: prompt tokens always go through rows and generated tokens through split, so
/// a token's result does not depend on how a prompt was cut into chunks or batched with others.
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
    decode: bool,
) {
    if n == 0 {
        return;
    }
    let split = decode && n <= SPLIT_MAX_TOKENS;
    let ctx = Ctx {
        p,
        q,
        kv,
        pos0,
        group: p.n_head / p.n_head_kv.max(1),
        bk: if split { DIRECT_TILE } else { tile_keys(p.head_dim) },
        kern: allmende_kernels::kernels(),
    };
    if split {
        attention_split(pool, &ctx, n, out, scratch);
    } else {
        attention_rows(pool, &ctx, n, out, scratch);
    }
}

/// The rows partition: blocks of query tokens, each with all heads, written straight to `out`.
fn attention_rows(pool: &ThreadPool, ctx: &Ctx, n: usize, out: &mut [f32], scratch: &mut AttnScratch) {
    let (p, hd, bk, group) = (ctx.p, ctx.p.head_dim, ctx.bk, ctx.group);
    let q_dim = p.n_head * hd;
    let threads = pool.n_threads();
    let bq = n.div_ceil(4 * threads).clamp(1, MAX_BLOCK_TOKENS);
    let n_blocks = n.div_ceil(bq);
    let parts = (PARTS_PER_THREAD * threads).min(MAX_PARTS).min(n_blocks);
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
    hand_out(&mut slots[..parts], scratch, part_len(bk, hd, bq * group, true));
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
        let Part { items, out: o, scratch, .. } = &mut *guard;
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
                let (m, l) = (&mut m[..nr], &mut l[..nr]);
                let mut rows = Rows { g, toks: toks.clone(), heads: 0..group, acc, t_stride: q_dim, m, l };
                ctx.attend_tiles(&mut rows, keys, fs);
                for ti in 0..toks.len() {
                    for hh in 0..group {
                        let row = &mut orows[ti * q_dim + (g * group + hh) * hd..][..hd];
                        ctx.kern.scale_f32(row, 1.0 / l[ti * group + hh]);
                    }
                }
            }
        }
    };
    pool.for_each_chunk(parts, 1, &|r| r.for_each(work));
}

/// The split partition: (query head, run of key tiles) items write partial states, then the
/// caller merges them into `out`. Items are numbered KV-head-major, then split, then the heads
/// of the group, so the heads that share a tile run one after the other on one thread while
/// the tile is in L1.
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
    let items = p.n_head_kv * splits * group;
    let item_len = n * (hd + 2); // acc [n][hd], m [n], l [n]
    let parts = (PARTS_PER_THREAD * pool.n_threads()).min(MAX_PARTS).min(items);
    let mut slots = empty_slots();
    let partial = hand_out(&mut slots[..parts], scratch, part_len(bk, hd, n, false));
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
        let Part { items, out: partial, scratch, bytes } = &mut *guard;
        for (item, chunk) in items.clone().zip(partial.chunks_exact_mut(item_len)) {
            let (gs, hh) = (item / group, item % group);
            let (acc, state) = chunk.split_at_mut(n * hd);
            let (m, l) = state.split_at_mut(n);
            acc.fill(0.0);
            m.fill(f32::NEG_INFINITY);
            l.fill(0.0);
            let mut rows = Rows { g: gs / splits, toks: 0..n, heads: hh..hh + 1, acc, t_stride: hd, m, l };
            ctx.attend(&mut rows, split_keys(gs % splits), scratch, bytes);
        }
    };
    pool.for_each_chunk(parts, 1, &|r| r.for_each(work));
    // Merge: out = Σ_s e^(m_s - M) acc_s / Σ_s e^(m_s - M) l_s, M = max_s m_s.
    let partial = &scratch.partial[..items * item_len];
    for h in 0..p.n_head {
        let (g, hh) = (h / group, h % group);
        for t in 0..n {
            let state = |s: usize| {
                let c = &partial[((g * splits + s) * group + hh) * item_len..][..item_len];
                (&c[t * hd..][..hd], c[n * hd + t], c[n * hd + n + t])
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
    #[allow(clippy::too_many_arguments)]
    fn run(p: &AttnParams, threads: usize, q: &[f32], k: &[f32], v: &[f32], f16_kv: bool, pos0: usize, n: usize, decode: bool) -> Vec<f32> {
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
        attention(&pool, p, q, kv, pos0, n, &mut out, &mut scratch, decode);
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
                // Both partitions where both apply (decode: split; prompt: rows).
                for decode in [false, true].into_iter().filter(|&d| !d || n <= SPLIT_MAX_TOKENS) {
                    let one = run(&p, 1, &q, k, v, false, pos0, n, decode);
                    for (a, b) in one.iter().zip(&want) {
                        assert!((a - b).abs() < 2e-6, "{window:?} {softcap:?} {alibi:?} kv{kv_heads} pos0 {pos0} n {n} decode {decode}: {a} vs {b}");
                    }
                    for threads in [2, 3] {
                        let many = run(&p, threads, &q, k, v, false, pos0, n, decode);
                        assert_eq!(many, one, "{window:?} {softcap:?} {alibi:?} kv{kv_heads} pos0 {pos0} n {n} decode {decode} threads {threads}: bit-identical");
                    }
                }
            }
        }
    }

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
                for decode in [false, true].into_iter().filter(|&d| !d || n <= SPLIT_MAX_TOKENS) {
                    let got = run(&p, threads, &q, &k, &v, true, pos0, n, decode);
                    for (a, b) in got.iter().zip(&want) {
                        assert!((a - b).abs() < 2e-6, "pos0 {pos0} n {n} threads {threads} decode {decode}: {a} vs {b}");
                    }
                }
            }
            // and it really is rounded: the f32 cache gives a different result.
            let exact = run(&p, 1, &q, &k, &v, false, pos0, n, false);
            assert!(exact.iter().zip(&want).any(|(a, b)| (a - b).abs() > 1e-5));
        }
    }
}
