//! The KV cache: keys and values of every layer for up to `n_ctx` positions, stored as f32 or
//! f16 ([`KvType`]), allocated once. Keys are `[n_head_kv][n_ctx][head_dim]` per layer (a key is
//! one contiguous row, dotted with a query); values are transposed, `[n_head_kv][head_dim][n_ctx]`
//! (each output element is one contiguous dot product of the softmax weights with a value
//! column), as llama.cpp's `v_trans` layout. So attention needs only dot products, which the
//! kernels crate provides for f32·f32 and f16·f32 rows.
//!
//! The storage is zero-initialised through the allocator's zeroed path (`vec![0; n]` of a
//! primitive), so the pages of positions never written stay untouched and do not count as
//! resident memory. F16 halves the cache, as llama.cpp's default `--cache-type-k/v f16`; values
//! are rounded to nearest-even when stored and widened exactly when read. F16 values are kept
//! as little-endian bytes, the form the kernels' `vec_dot(F16, ..)` reads.
//!
//! ref: llama.cpp `src/llama-kv-cache.cpp` (f16 K/V by default, transposed V without flash
//! attention).

use half::f16;
use half::slice::HalfFloatSliceExt;

use crate::spec::DecoderSpec;

/// The element type of the KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvType {
    /// 4 bytes per value: exact, for parity with transformers.
    F32,
    /// 2 bytes per value (IEEE half), as llama.cpp's default.
    F16,
}

impl KvType {
    /// Bytes per stored value.
    pub fn size(self) -> usize {
        match self {
            KvType::F32 => 4,
            KvType::F16 => 2,
        }
    }
}

impl std::fmt::Display for KvType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KvType::F32 => "f32",
            KvType::F16 => "f16",
        })
    }
}

/// The cache's storage.
#[derive(Clone, Debug)]
enum Store {
    F32 { k: Vec<f32>, v: Vec<f32> }, // k: [n_layer][n_head_kv][n_ctx][head_dim], v: [n_layer][n_head_kv][head_dim][n_ctx]
    F16 { k: Vec<u8>, v: Vec<u8> },   // the same, 2 little-endian bytes per value
}

/// One layer's keys (`[n_head_kv][n_ctx][head_dim]`) and transposed values
/// (`[n_head_kv][head_dim][n_ctx]`); F16 as little-endian bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum KvLayer<'a> {
    F32 { k: &'a [f32], v: &'a [f32] },
    F16 { k: &'a [u8], v: &'a [u8] },
}

/// Keys and values of the positions processed so far.
#[derive(Clone, Debug)]
pub struct KvCache {
    n_ctx: usize,
    len: usize,
    n_layer: usize,
    n_head_kv: usize,
    head_dim: usize,
    store: Store,
}

impl KvCache {
    /// An empty f32 cache for `n_ctx` positions of a model with this spec.
    pub fn new(spec: &DecoderSpec, n_ctx: usize) -> KvCache {
        KvCache::with_type(spec, n_ctx, KvType::F32)
    }

    /// An empty cache of `ty` for `n_ctx` positions of a model with this spec.
    pub fn with_type(spec: &DecoderSpec, n_ctx: usize, ty: KvType) -> KvCache {
        let size = spec.n_layer * spec.n_head_kv * n_ctx * spec.head_dim;
        let store = match ty {
            KvType::F32 => Store::F32 { k: vec![0.0; size], v: vec![0.0; size] },
            KvType::F16 => Store::F16 { k: vec![0; 2 * size], v: vec![0; 2 * size] },
        };
        KvCache { n_ctx, len: 0, n_layer: spec.n_layer, n_head_kv: spec.n_head_kv, head_dim: spec.head_dim, store }
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

    /// The element type.
    pub fn kv_type(&self) -> KvType {
        match self.store {
            Store::F32 { .. } => KvType::F32,
            Store::F16 { .. } => KvType::F16,
        }
    }

    /// Bytes the keys and values take at full capacity (resident only once written).
    pub fn size_bytes(&self) -> usize {
        2 * self.n_layer * self.n_head_kv * self.n_ctx * self.head_dim * self.kv_type().size()
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

    /// Bytes that [`KvCache::copy_out`] writes for `n` positions.
    pub fn span_bytes(&self, n: usize) -> usize {
        2 * self.n_layer * self.n_head_kv * self.head_dim * n * self.kv_type().size()
    }

    /// Appends the keys and values of positions `pos0..pos0 + n` (all layers and heads) to
    /// `out`, in an order private to this type that [`KvCache::copy_in`] reads back: a
    /// shared-prefix cache keeps such spans and copies them into another sequence's cache
    /// instead of recomputing them. Panics if the span is not filled.
    pub fn copy_out(&self, pos0: usize, n: usize, out: &mut Vec<u8>) {
        assert!(pos0 + n <= self.len, "copy_out of positions {pos0}..{} beyond the {} filled", pos0 + n, self.len);
        let (hd, n_ctx) = (self.head_dim, self.n_ctx);
        out.reserve(self.span_bytes(n));
        for layer in 0..self.n_layer {
            let base = layer * self.layer_size();
            for h in 0..self.n_head_kv {
                let krow = base + (h * n_ctx + pos0) * hd;
                let vcols = (0..hd).map(|d| base + (h * hd + d) * n_ctx + pos0);
                match &self.store {
                    Store::F32 { k, v } => {
                        out.extend(k[krow..krow + n * hd].iter().flat_map(|x| x.to_le_bytes()));
                        for c in vcols {
                            out.extend(v[c..c + n].iter().flat_map(|x| x.to_le_bytes()));
                        }
                    }
                    Store::F16 { k, v } => {
                        out.extend_from_slice(&k[2 * krow..2 * (krow + n * hd)]);
                        for c in vcols {
                            out.extend_from_slice(&v[2 * c..2 * (c + n)]);
                        }
                    }
                }
            }
        }
    }

    /// Writes a span produced by [`KvCache::copy_out`] of a cache of the same model and type
    /// at positions `pos0..pos0 + n`, and makes the cache `pos0 + n` long (positions from
    /// `pos0` on are replaced). Bit-identical to having computed those positions here.
    pub fn copy_in(&mut self, pos0: usize, n: usize, span: &[u8]) {
        assert!(pos0 <= self.len && pos0 + n <= self.n_ctx, "copy_in at {pos0}..{} into {} of {}", pos0 + n, self.len, self.n_ctx);
        assert_eq!(span.len(), self.span_bytes(n), "span size");
        let (hd, n_ctx, es, ls) = (self.head_dim, self.n_ctx, self.kv_type().size(), self.layer_size());
        let mut rest = span;
        let mut take = |len: usize| {
            let (a, b) = rest.split_at(len);
            rest = b;
            a
        };
        let f32s = |dst: &mut [f32], src: &[u8]| {
            for (d, b) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        };
        for layer in 0..self.n_layer {
            let base = layer * ls;
            for h in 0..self.n_head_kv {
                let krow = base + (h * n_ctx + pos0) * hd;
                let ks = take(es * n * hd);
                match &mut self.store {
                    Store::F32 { k, .. } => f32s(&mut k[krow..krow + n * hd], ks),
                    Store::F16 { k, .. } => k[2 * krow..2 * (krow + n * hd)].copy_from_slice(ks),
                }
                for d in 0..hd {
                    let c = base + (h * hd + d) * n_ctx + pos0;
                    let vs = take(es * n);
                    match &mut self.store {
                        Store::F32 { v, .. } => f32s(&mut v[c..c + n], vs),
                        Store::F16 { v, .. } => v[2 * c..2 * (c + n)].copy_from_slice(vs),
                    }
                }
            }
        }
        self.len = pos0 + n;
    }

    /// Values of one layer (per K or V).
    fn layer_size(&self) -> usize {
        self.n_head_kv * self.n_ctx * self.head_dim
    }

    /// Keys and values of `layer`.
    pub(crate) fn layer(&self, layer: usize) -> KvLayer<'_> {
        let size = self.layer_size();
        let r = layer * size..(layer + 1) * size;
        match &self.store {
            Store::F32 { k, v } => KvLayer::F32 { k: &k[r.clone()], v: &v[r] },
            Store::F16 { k, v } => KvLayer::F16 { k: &k[2 * r.start..2 * r.end], v: &v[2 * r.start..2 * r.end] },
        }
    }

    /// Writes `n` tokens' keys and values (`[n][n_head_kv * head_dim]`) of `layer` at positions
    /// `pos0..pos0 + n`.
    pub(crate) fn store(&mut self, layer: usize, pos0: usize, n: usize, k: &[f32], v: &[f32]) {
        let (hd, n_ctx, kv_dim) = (self.head_dim, self.n_ctx, self.n_head_kv * self.head_dim);
        let size = self.layer_size();
        let base = layer * size;
        let mut halves = [f16::ZERO; 64];
        for t in 0..n {
            let pos = pos0 + t;
            for h in 0..self.n_head_kv {
                let src = t * kv_dim + h * hd..t * kv_dim + (h + 1) * hd;
                let krow = base + (h * n_ctx + pos) * hd; // first element of the key row
                let vcol = base + h * hd * n_ctx + pos; // element 0 of the value column, stride n_ctx
                match &mut self.store {
                    Store::F32 { k: kc, v: vc } => {
                        kc[krow..krow + hd].copy_from_slice(&k[src.clone()]);
                        for (d, &x) in v[src].iter().enumerate() {
                            vc[vcol + d * n_ctx] = x;
                        }
                    }
                    Store::F16 { k: kc, v: vc } => {
                        for (c, (ks, vs)) in k[src.clone()].chunks(64).zip(v[src].chunks(64)).enumerate() {
                            let hs = &mut halves[..ks.len()];
                            hs.convert_from_f32_slice(ks);
                            let at = 2 * (krow + 64 * c);
                            for (dst, x) in kc[at..at + 2 * hs.len()].chunks_exact_mut(2).zip(hs.iter()) {
                                dst.copy_from_slice(&x.to_le_bytes());
                            }
                            hs.convert_from_f32_slice(vs);
                            for (i, x) in hs.iter().enumerate() {
                                let at = 2 * (vcol + (64 * c + i) * n_ctx);
                                vc[at..at + 2].copy_from_slice(&x.to_le_bytes());
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Activation, AttnSpec, BlockLayout, FfnKind, LayerSpec, NormKind};

    fn spec() -> DecoderSpec {
        DecoderSpec {
            arch: "test".into(),
            n_vocab: 4,
            n_embd: 8,
            n_layer: 2,
            n_head: 2,
            n_head_kv: 1,
            head_dim: 4,
            n_ff: 8,
            n_ctx_train: 8,
            norm: NormKind::Rms { eps: 1e-6, unit_offset: false },
            ffn: FfnKind::Gated { act: Activation::Silu },
            ffn_bias: false,
            attn: AttnSpec { qkv_bias: false, out_bias: false, scale: 0.5, softcap: None, qk_norm: false, alibi: None },
            block: BlockLayout::Sequential,
            post_norms: false,
            embed_scale: None,
            final_softcap: None,
            tied_output: true,
            layers: vec![LayerSpec { sliding_window: None, rope: None }; 2],
        }
    }

    #[test]
    fn stores_round_to_f16_and_keep_the_layout() {
        let s = spec();
        for ty in [KvType::F32, KvType::F16] {
            let mut c = KvCache::with_type(&s, 3, ty);
            assert_eq!(c.kv_type(), ty);
            assert_eq!(c.size_bytes(), 2 * 2 * 3 * 4 * ty.size());
            let k: Vec<f32> = (0..8).map(|i| 1.0 + i as f32 / 3.0).collect();
            let v: Vec<f32> = (0..8).map(|i| -(i as f32) / 7.0).collect();
            c.store(1, 1, 2, &k, &v);
            let half = |b: &[u8]| b.chunks_exact(2).map(|x| f16::from_le_bytes([x[0], x[1]]).to_f32()).collect();
            let (kk, vv): (Vec<f32>, Vec<f32>) = match c.layer(1) {
                KvLayer::F32 { k, v } => (k.to_vec(), v.to_vec()),
                KvLayer::F16 { k, v } => (half(k), half(v)),
            };
            assert_eq!(kk.len(), 3 * 4);
            // Keys: positions 1 and 2 hold tokens 0 and 1; position 0 is untouched.
            assert_eq!(&kk[..4], &[0.0; 4]);
            // Values are transposed: element d of position p at d * n_ctx + p.
            for d in 0..4 {
                assert_eq!(vv[d * 3], 0.0);
            }
            for i in 0..8 {
                let want_k = if ty == KvType::F16 { f16::from_f32(k[i]).to_f32() } else { k[i] };
                let want_v = if ty == KvType::F16 { f16::from_f32(v[i]).to_f32() } else { v[i] };
                let (t, d) = (i / 4, i % 4);
                assert_eq!(kk[4 + i], want_k);
                assert_eq!(vv[d * 3 + 1 + t], want_v);
            }
            if ty == KvType::F16 {
                assert_ne!(kk[5], k[1], "f16 storage rounds");
            }
        }
    }

    #[test]
    fn spans_copy_out_and_in_bit_for_bit() {
        let s = spec();
        for ty in [KvType::F32, KvType::F16] {
            let mut a = KvCache::with_type(&s, 6, ty);
            for layer in 0..2 {
                let k: Vec<f32> = (0..20).map(|i| (i * (layer + 3)) as f32 * 0.173 - 1.0).collect();
                let v: Vec<f32> = (0..20).map(|i| (i as f32 * 0.31 + layer as f32).sin()).collect();
                a.store(layer, 0, 5, &k, &v);
            }
            a.set_len(5);
            let mut span = Vec::new();
            a.copy_out(1, 3, &mut span);
            assert_eq!(span.len(), a.span_bytes(3));
            // Into an empty cache at the same positions: those positions equal a's.
            let mut b = KvCache::with_type(&s, 6, ty);
            let mut head = Vec::new();
            a.copy_out(0, 1, &mut head);
            b.copy_in(0, 1, &head);
            b.copy_in(1, 3, &span);
            assert_eq!(b.len(), 4);
            let mut again = Vec::new();
            b.copy_out(0, 4, &mut again);
            let mut want = Vec::new();
            a.copy_out(0, 4, &mut want);
            assert_eq!(again, want);
            // Position 4 was never written in b: a different cache shows it.
            let (mut x, mut y) = (Vec::new(), Vec::new());
            a.copy_out(4, 1, &mut x);
            b.set_len(5);
            b.copy_out(4, 1, &mut y);
            assert_ne!(x, y);
        }
    }
}
