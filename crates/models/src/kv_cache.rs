//! The KV cache: keys and values of every layer for up to `n_ctx` positions, f32, allocated
//! once. Layout per layer is `[n_head_kv][n_ctx][head_dim]`, so the attention loop of one head
//! reads its keys and values contiguously.

use crate::spec::DecoderSpec;

/// Keys and values of the positions processed so far.
#[derive(Clone, Debug)]
pub struct KvCache {
    n_ctx: usize,
    len: usize,
    n_layer: usize,
    n_head_kv: usize,
    head_dim: usize,
    k: Vec<f32>, // [n_layer][n_head_kv][n_ctx][head_dim]
    v: Vec<f32>, // [n_layer][n_head_kv][n_ctx][head_dim]
}

impl KvCache {
    /// An empty cache for `n_ctx` positions of a model with this spec.
    pub fn new(spec: &DecoderSpec, n_ctx: usize) -> KvCache {
        let size = spec.n_layer * spec.n_head_kv * n_ctx * spec.head_dim;
        KvCache {
            n_ctx,
            len: 0,
            n_layer: spec.n_layer,
            n_head_kv: spec.n_head_kv,
            head_dim: spec.head_dim,
            k: vec![0.0; size],
            v: vec![0.0; size],
        }
    }

    /// Positions filled (the position the next token gets).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no position is filled.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Capacity in positions.
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Forgets every position.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Keeps the first `len` positions (no-op if `len >= self.len()`), e.g. to reuse a shared
    /// prompt prefix or roll back rejected tokens.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// True if the cache was made for a model with these dimensions.
    pub(crate) fn fits(&self, spec: &DecoderSpec) -> bool {
        self.n_layer == spec.n_layer && self.n_head_kv == spec.n_head_kv && self.head_dim == spec.head_dim
    }

    pub(crate) fn set_len(&mut self, len: usize) {
        self.len = len;
    }

    fn layer_range(&self, layer: usize) -> std::ops::Range<usize> {
        let size = self.n_head_kv * self.n_ctx * self.head_dim;
        layer * size..(layer + 1) * size
    }

    /// Keys and values of `layer`, `[n_head_kv][n_ctx][head_dim]` each.
    pub(crate) fn layer(&self, layer: usize) -> (&[f32], &[f32]) {
        let r = self.layer_range(layer);
        (&self.k[r.clone()], &self.v[r])
    }

    /// Writes `n` tokens' keys and values (`[n][n_head_kv * head_dim]`) of `layer` at positions
    /// `pos0..pos0 + n`.
    pub(crate) fn store(&mut self, layer: usize, pos0: usize, n: usize, k: &[f32], v: &[f32]) {
        let (hd, n_ctx, kv_dim) = (self.head_dim, self.n_ctx, self.n_head_kv * self.head_dim);
        let r = self.layer_range(layer);
        let (kc, vc) = (&mut self.k[r.clone()], &mut self.v[r]);
        for t in 0..n {
            for h in 0..self.n_head_kv {
                let dst = (h * n_ctx + pos0 + t) * hd;
                let src = t * kv_dim + h * hd;
                kc[dst..dst + hd].copy_from_slice(&k[src..src + hd]);
                vc[dst..dst + hd].copy_from_slice(&v[src..src + hd]);
            }
        }
    }
}
