//! The BERT forward pass over a group of sequences, each attending only to itself.
//!
//! Sequences are never padded: their tokens are laid end to end (`[n_tokens_total, n_embd]`),
//! every token-wise step (embeddings, the linear layers, LayerNorm, the activation) runs on all
//! of them at once, and attention runs per sequence. That is what transformers computes for a
//! padded batch with an attention mask (masked keys get a softmax weight of exactly zero), minus
//! the padding work; and a sequence's result does not depend on what else is in the batch.
//!
//! Per block (post-LN): `x = LN(x + O·attn(Qx, Kx, Vx))`, then `x = LN(x + D·act(U·x))`, every
//! linear layer with a bias. Embeddings: `LN(word[id] + type[0] + pos[i])`.
//!
//! Attention work is cut into blocks of up to [`BLOCK_ROWS`] query rows of one sequence (all
//! heads), claimed by the pool's threads; each writes its own rows of the output, handed over
//! through an uncontended mutex (no unsafe). A row's arithmetic is the same whatever block or
//! thread runs it.
//!
//! ref: transformers `modeling_bert.py` (`BertEmbeddings`, `BertSelfAttention`,
//! `BertSelfOutput`, `BertIntermediate`, `BertOutput`).

use std::sync::Mutex;

use allmende_kernels::{axpy_f32, dot_f32};
use allmende_tensor::{QMatrix, ThreadPool};

use super::config::BertConfig;
use super::ops::activate;
use super::weights::{BertWeights, Lin, Ln};
use crate::nn::ops::{add_bias, add_into, layer_norm, softmax};

/// Most query rows per attention work item.
const BLOCK_ROWS: usize = 16;

/// Buffers of one pass.
struct Bufs {
    x: Vec<f32>,   // [T, n_embd] hidden states
    q: Vec<f32>,   // [T, n_embd]
    k: Vec<f32>,   // [T, n_embd]
    v: Vec<f32>,   // [T, n_embd]
    ctx: Vec<f32>, // [T, n_embd] attention output
    o: Vec<f32>,   // [T, n_embd] sub-block output + residual
    ff: Vec<f32>,  // [T, n_ff]
    act: Vec<u8>,  // converted activations for QMatrix::matmul
}

/// `out = W x + b` for `n` rows.
fn linear(pool: &ThreadPool, l: &Lin, x: &[f32], n: usize, out: &mut [f32], act: &mut Vec<u8>) {
    l.w.matmul(pool, x, n, out, act);
    add_bias(out, &l.b);
}

fn ln(l: &Ln, eps: f32, x: &[f32], out: &mut [f32]) {
    layer_norm(x, &l.w, Some(&l.b), eps, out);
}

fn add_row(m: &QMatrix, r: usize, dst: &mut [f32], tmp: &mut [f32]) {
    m.dequantize_row(r, tmp);
    add_into(dst, tmp);
}

/// The last hidden states of `seqs` laid end to end, `[sum of lengths, n_embd]`. Ids and
/// lengths must already be checked against the vocabulary and `c.n_pos`.
pub(crate) fn forward(c: &BertConfig, w: &BertWeights, pool: &ThreadPool, seqs: &[&[u32]]) -> Vec<f32> {
    let e = c.n_embd;
    let t_all: usize = seqs.iter().map(|s| s.len()).sum();
    let te = t_all * e;
    let mut b = Bufs {
        x: vec![0.0; te],
        q: vec![0.0; te],
        k: vec![0.0; te],
        v: vec![0.0; te],
        ctx: vec![0.0; te],
        o: vec![0.0; te],
        ff: vec![0.0; t_all * c.n_ff],
        act: Vec::new(),
    };

    // Embeddings (token type 0 for every token: single sequences).
    let mut tmp = vec![0f32; e];
    let mut row = 0;
    for s in seqs {
        for (p, &id) in s.iter().enumerate() {
            let dst = &mut b.o[row * e..(row + 1) * e];
            w.word.dequantize_row(id as usize, dst);
            add_row(&w.types, 0, dst, &mut tmp);
            add_row(&w.pos, p, dst, &mut tmp);
            row += 1;
        }
    }
    ln(&w.emb_ln, c.eps, &b.o, &mut b.x);

    let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
    let scale = 1.0 / (c.head_dim() as f32).sqrt();
    for blk in &w.blocks {
        linear(pool, &blk.q, &b.x, t_all, &mut b.q, &mut b.act);
        linear(pool, &blk.k, &b.x, t_all, &mut b.k, &mut b.act);
        linear(pool, &blk.v, &b.x, t_all, &mut b.v, &mut b.act);
        attention(pool, c.n_head, c.head_dim(), scale, &lens, &b.q, &b.k, &b.v, &mut b.ctx);
        linear(pool, &blk.o, &b.ctx, t_all, &mut b.o, &mut b.act);
        add_into(&mut b.o, &b.x);
        ln(&blk.attn_ln, c.eps, &b.o, &mut b.x);

        linear(pool, &blk.up, &b.x, t_all, &mut b.ff, &mut b.act);
        activate(c.act, &mut b.ff);
        linear(pool, &blk.down, &b.ff, t_all, &mut b.o, &mut b.act);
        add_into(&mut b.o, &b.x);
        ln(&blk.out_ln, c.eps, &b.o, &mut b.x);
    }
    b.x
}

/// One attention work item: query rows `rows` (global token indices) of the sequence that
/// starts at token `seq_start` and has `seq_len` tokens, and those rows of the output.
struct Item<'a> {
    rows: std::ops::Range<usize>,
    seq_start: usize,
    seq_len: usize,
    out: &'a mut [f32],
}

/// Bidirectional multi-head attention of each sequence with itself:
/// `out[t, h] = softmax_j(scale · q[t, h]·k[j, h]) · v[j, h]` over the tokens `j` of `t`'s
/// sequence. `q`, `k`, `v`, `out` are `[T, n_head * head_dim]`.
#[allow(clippy::too_many_arguments)]
fn attention(
    pool: &ThreadPool,
    n_head: usize,
    hd: usize,
    scale: f32,
    lens: &[usize],
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
) {
    let e = n_head * hd;
    let mut items: Vec<Mutex<Item<'_>>> = Vec::new();
    let mut rest = out;
    let mut seq_start = 0;
    for &len in lens {
        let mut r = 0;
        while r < len {
            let n = BLOCK_ROWS.min(len - r);
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut(n * e);
            rest = tail;
            let start = seq_start + r;
            items.push(Mutex::new(Item { rows: start..start + n, seq_start, seq_len: len, out: mine }));
            r += n;
        }
        seq_start += len;
    }
    let max_len = lens.iter().copied().max().unwrap_or(0);
    pool.for_each_chunk(items.len(), 1, &|range| {
        let mut p = vec![0f32; max_len];
        for i in range {
            let mut guard = items[i].lock().unwrap_or_else(|e| e.into_inner());
            let item = &mut *guard;
            let p = &mut p[..item.seq_len];
            let keys = item.seq_start..item.seq_start + item.seq_len;
            for (r, t) in item.rows.clone().enumerate() {
                for h in 0..n_head {
                    let col = h * hd..(h + 1) * hd;
                    let qh = &q[t * e..][col.clone()];
                    for (pj, j) in p.iter_mut().zip(keys.clone()) {
                        *pj = dot_f32(qh, &k[j * e..][col.clone()]) * scale;
                    }
                    softmax(p);
                    let oh = &mut item.out[r * e..][col.clone()];
                    oh.fill(0.0);
                    for (&pj, j) in p.iter().zip(keys.clone()) {
                        axpy_f32(oh, pj, &v[j * e..][col.clone()]);
                    }
                }
            }
        }
    });
}
