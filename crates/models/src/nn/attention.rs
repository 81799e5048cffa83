//! Causal self-attention of a chunk of new tokens against the KV cache, split across the
//! thread pool by (token, head) work items. Supports GQA/MQA, sliding windows (query `i` sees
//! keys `i - w < j <= i`), ALiBi biases before or after the scale, and score soft-capping.
//!
//! Each thread takes a contiguous run of work items; items are ordered token-major, so the
//! run's outputs are one contiguous slice of `out`. The slices (and per-thread score rows) are
//! handed to the threads through uncontended mutexes in a fixed-size array: safe code, and no
//! allocation per call.
//!
//! ref: transformers `eager_attention_forward` (`modeling_llama.py`), Gemma 2 soft-capping,
//! Falcon-RW ALiBi (`softmax((q·k + alibi) * scale)`).

use std::sync::Mutex;

use allmende_tensor::ThreadPool;

use super::ops::{axpy, dot, softmax};

/// Most parallel parts one call is split into.
const MAX_PARTS: usize = 64;

/// One part's work: first work item, its output rows, its score row.
type Slot<'a> = Mutex<(usize, &'a mut [f32], &'a mut [f32])>;

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

/// Attention of `n` query tokens at positions `pos0..pos0 + n` (`q`: `[n][n_head * head_dim]`)
/// over the cache layer (`k`, `v`: `[n_head_kv][n_ctx][head_dim]`, filled up to `pos0 + n`),
/// written to `out` (`[n][n_head * head_dim]`). `scores` holds at least
/// `min(n_threads, 64) * n_ctx` values.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention(
    pool: &ThreadPool,
    p: &AttnParams,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    pos0: usize,
    n: usize,
    out: &mut [f32],
    scores: &mut [f32],
) {
    let hd = p.head_dim;
    let n_items = n * p.n_head;
    let parts = pool.n_threads().min(MAX_PARTS).min(n_items).max(1);
    let mut slots: [Slot; MAX_PARTS] =
        std::array::from_fn(|_| Mutex::new((0, &mut [][..], &mut [][..])));
    let mut rest_out = &mut out[..n_items * hd];
    let mut rest_scores = &mut scores[..];
    let mut start = 0;
    for (i, slot) in slots.iter_mut().enumerate().take(parts) {
        let end = n_items * (i + 1) / parts;
        let (o, ro) = std::mem::take(&mut rest_out).split_at_mut((end - start) * hd);
        let (s, rs) = std::mem::take(&mut rest_scores).split_at_mut(p.n_ctx);
        *slot.get_mut().unwrap_or_else(|e| e.into_inner()) = (start, o, s);
        rest_out = ro;
        rest_scores = rs;
        start = end;
    }
    let group = p.n_head / p.n_head_kv;
    let work = |part: usize| {
        if part >= parts {
            return;
        }
        let mut guard = slots[part].lock().unwrap_or_else(|e| e.into_inner());
        let (first, ref mut o, ref mut s) = *guard;
        for (idx, out_h) in o.chunks_exact_mut(hd).enumerate() {
            let item = first + idx;
            let (t, h) = (item / p.n_head, item % p.n_head);
            let pos = pos0 + t;
            let lo = p.window.map_or(0, |w| (pos + 1).saturating_sub(w));
            let kvh = h / group;
            let qh = &q[t * p.n_head * hd + h * hd..][..hd];
            let kh = &k[kvh * p.n_ctx * hd..];
            let vh = &v[kvh * p.n_ctx * hd..];
            let sc = &mut s[lo..=pos];
            for (j, sj) in (lo..=pos).zip(sc.iter_mut()) {
                let mut x = dot(qh, &kh[j * hd..(j + 1) * hd]);
                x = match p.alibi {
                    Some((slopes, true)) => (x + slopes[h] * j as f32) * p.scale,
                    Some((slopes, false)) => x * p.scale + slopes[h] * j as f32,
                    None => x * p.scale,
                };
                if let Some(cap) = p.softcap {
                    x = (x / cap).tanh() * cap;
                }
                *sj = x;
            }
            softmax(sc);
            out_h.fill(0.0);
            for (j, &w) in (lo..=pos).zip(sc.iter()) {
                axpy(out_h, w, &vh[j * hd..(j + 1) * hd]);
            }
        }
    };
    pool.run(&work);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive reference: full score matrix with -inf masking.
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
                        d * p.scale
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

    #[test]
    fn matches_naive_with_gqa_window_and_threads() {
        let (n_head, n_head_kv, hd, n_ctx) = (4, 2, 8, 12);
        let val = |i: usize| ((i as f32) * 0.731).sin();
        let k: Vec<f32> = (0..n_head_kv * n_ctx * hd).map(val).collect();
        let v: Vec<f32> = (0..n_head_kv * n_ctx * hd).map(|i| val(i + 1000)).collect();
        for window in [None, Some(3)] {
            for threads in [1, 2, 3] {
                let pool = ThreadPool::new(threads);
                let p = AttnParams { n_head, n_head_kv, head_dim: hd, n_ctx, scale: 0.35, softcap: None, window, alibi: None };
                let (pos0, n) = (5, 4);
                let q: Vec<f32> = (0..n * n_head * hd).map(|i| val(i + 7)).collect();
                let mut out = vec![0f32; n * n_head * hd];
                let mut scores = vec![0f32; 64 * n_ctx];
                attention(&pool, &p, &q, &k, &v, pos0, n, &mut out, &mut scores);
                let want = naive(&p, &q, &k, &v, pos0, n);
                for (a, b) in out.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-5, "window {window:?} threads {threads}: {a} vs {b}");
                }
            }
        }
    }
}
