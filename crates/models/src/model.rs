//! `Model`: a [`DecoderSpec`], its weights, a thread pool and preallocated scratch, and the
//! one generic forward pass every decoder architecture runs through. It branches on spec
//! features only (norm kind, block layout, FFN kind, RoPE per layer, ...), never on the arch.
//!
//! `forward` processes new tokens at positions `cache.len()..` (a prompt, possibly in chunks of
//! `n_batch`, or one decode token), appends their keys and values to the [`KvCache`], and
//! returns the logits of the last token or of every token. Scratch buffers are sized at
//! creation; steady-state calls do not allocate (the logits buffer grows only when a call asks
//! for more rows than any call before; `tests/no_alloc.rs` checks decoding with a counting
//! allocator).
//!
//! Per block, the element-wise work is fused into as few passes over the activations as the
//! data flow allows: each residual update adds a sub-block's output (post-normed if the arch
//! says so) to the stream and computes the next norm in the same row-by-row pass, so the input
//! norm of block `l + 1` comes out of block `l`'s last update; RoPE rotates q and k in place;
//! the gated activation `act(gate) * up` is one pass. The KV cache type (f32 or f16) is an
//! option ([`ModelOptions::kv_type`]).
//!
//! ref: transformers `modeling_llama.py` / `modeling_gemma2.py` / `modeling_falcon.py` decoder
//! layers; llama.cpp `src/llama-model.cpp` graph builders.

use allmende_tensor::{QMatrix, ThreadPool};

use crate::kv_cache::{KvCache, KvType};
use crate::nn::attention::{attention, AttnParams, AttnScratch};
use crate::nn::ops::{act_inplace, add_bias, add_into, gated_act, layer_norm, rms_norm, rms_norm_inplace, softcap, softmax};
use crate::nn::rope::Rope;
use crate::spec::{alibi_slopes, BlockLayout, DecoderSpec, FfnKind, NormKind};
use crate::tensors::TensorMap;
use crate::weights::{FfnW, Linear, NormW, Weights};
use crate::{ModelError, Result};

/// Options for building a [`Model`].
#[derive(Clone, Copy, Debug)]
pub struct ModelOptions {
    /// Threads of the model's pool, the caller included; 0 = one per available CPU.
    pub n_threads: usize,
    /// Most tokens processed in one pass; longer inputs are processed in chunks. Sizes the
    /// scratch buffers.
    pub n_batch: usize,
    /// Element type of the caches [`Model::new_cache`] makes; `None` picks by source: F16 for
    /// GGUF files (llama.cpp's default), F32 for Hugging Face folders and hand-built tensors
    /// (parity with transformers).
    pub kv_type: Option<KvType>,
}

impl Default for ModelOptions {
    fn default() -> ModelOptions {
        ModelOptions { n_threads: 0, n_batch: 512, kv_type: None }
    }
}

/// Which logits `forward` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logits {
    /// Only the last token's: `[n_vocab]`.
    Last,
    /// Every token's: `[n_tokens][n_vocab]`.
    All,
    /// None (the output head is skipped): for a prompt chunk whose last token is not the
    /// prompt's last.
    None,
}

/// A point in the forward pass whose hidden states (`[n_tokens_in_chunk][n_embd]`) a tap sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tap {
    /// The embedding output, scale included (HF `hidden_states[0]`).
    Embedding,
    /// The output of block `i` (HF `hidden_states[i + 1]`, except the last block, whose HF
    /// entry is replaced by the final norm's output).
    Layer(usize),
    /// After the final norm (HF `hidden_states[n_layer]`).
    OutputNorm,
}

impl Tap {
    /// The index of this tap in HF's `output_hidden_states` list for a model of `n_layer`
    /// blocks, or `None` if HF does not expose it (the last block's raw output).
    pub fn hf_index(self, n_layer: usize) -> Option<usize> {
        match self {
            Tap::Embedding => Some(0),
            Tap::Layer(i) if i + 1 < n_layer => Some(i + 1),
            Tap::Layer(_) => None,
            Tap::OutputNorm => Some(n_layer),
        }
    }
}

/// A callback that sees the hidden states at each [`Tap`].
pub type TapFn<'a> = &'a mut dyn FnMut(Tap, &[f32]);

/// One sequence's share of a batched pass ([`Model::forward_batch`]).
#[derive(Debug)]
pub struct BatchSeq<'a> {
    /// New tokens, at positions `cache.len()..`.
    pub tokens: &'a [u32],
    /// The sequence's own cache.
    pub cache: &'a mut KvCache,
    /// Which logits of this sequence to return.
    pub logits: Logits,
    /// Whether these are generated tokens (one at a time) rather than prompt tokens. Decode
    /// and prompt tokens take differently rounded attention paths; [`Model::forward`] calls
    /// with one token are decode steps, longer calls are prompts. Give the same here as
    /// `forward` would have been given, and the results are bit-identical to it.
    pub decode: bool,
}

/// One sequence inside a pass: its rows of the batch, cache, first position, attention path.
struct Seg<'c> {
    rows: std::ops::Range<usize>,
    cache: &'c mut KvCache,
    pos0: usize,
    decode: bool,
}

/// Scratch buffers, sized for `n_batch` tokens.
struct Scratch {
    x: Vec<f32>,     // [n_batch, n_embd] residual stream
    h: Vec<f32>,     // [n_batch, n_embd] normed input of attention (and of a shared-norm FFN)
    o: Vec<f32>,     // [n_batch, n_embd] attention output projection, then FFN output
    tmp: Vec<f32>,   // [n_embd] one post-normed row
    q: Vec<f32>,     // [n_batch, q_dim]
    att: Vec<f32>,   // [n_batch, q_dim]
    k: Vec<f32>,     // [n_batch, kv_dim]
    v: Vec<f32>,     // [n_batch, kv_dim]
    gate: Vec<f32>,  // [n_batch, n_ff]
    up: Vec<f32>,    // [n_batch, n_ff]
    cos: Vec<Vec<f32>>, // per RoPE variant [n_batch, n_rot/2]
    sin: Vec<Vec<f32>>, // per RoPE variant [n_batch, n_rot/2]
    router: Vec<f32>,   // [n_batch, n_expert]
    chosen: Vec<(usize, f32)>, // [n_batch, n_expert_used] (expert, weight)
    rows: Vec<(usize, f32)>,   // [n_batch] (token, weight) routed to the current expert
    xe: Vec<f32>,       // [n_batch, n_embd] gathered expert input
    ye: Vec<f32>,       // [n_batch, n_embd] expert output
    attn: AttnScratch,  // attention tiles and partial results (grows with n_ctx)
    logits: Vec<f32>,   // [n_out, n_vocab] (grows with the largest `All` request)
    act: Vec<u8>,       // converted activations for QMatrix::matmul
    out_rows: Vec<usize>, // [n_batch] batch rows whose logits a pass computes
    tokens: Vec<u32>,     // [n_batch] the tokens of a batched pass
}

/// A decoder model ready to run.
pub struct Model {
    spec: DecoderSpec,
    weights: Weights,
    pool: ThreadPool,
    ropes: Vec<Rope>,
    layer_rope: Vec<Option<usize>>,
    alibi: Option<Vec<f32>>,
    n_batch: usize,
    kv_type: KvType,
    s: Scratch,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("spec", &self.spec)
            .field("pool", &self.pool)
            .field("n_batch", &self.n_batch)
            .field("kv_type", &self.kv_type)
            .finish()
    }
}

impl Model {
    /// Builds a model from a spec and canonical tensors (GGUF names; see `tensors.rs`); its
    /// caches are F32 unless `opts.kv_type` says otherwise.
    pub fn from_tensors(spec: DecoderSpec, tensors: &TensorMap, opts: &ModelOptions) -> Result<Model> {
        Model::from_tensors_kv(spec, tensors, opts, KvType::F32)
    }

    /// [`Model::from_tensors`] with the cache type used when `opts.kv_type` is `None`.
    pub(crate) fn from_tensors_kv(
        spec: DecoderSpec,
        tensors: &TensorMap,
        opts: &ModelOptions,
        default_kv: KvType,
    ) -> Result<Model> {
        let weights = Weights::build(&spec, tensors)?;
        Ok(Model::with_weights(spec, weights, opts, opts.kv_type.unwrap_or(default_kv)))
    }

    fn with_weights(spec: DecoderSpec, weights: Weights, opts: &ModelOptions, kv_type: KvType) -> Model {
        let pool = ThreadPool::new(opts.n_threads);
        // At load, not on the first prompt: the file pages are then released matrix by matrix.
        weights.repack(&pool);
        let n_batch = opts.n_batch.max(1);
        let mut ropes: Vec<Rope> = Vec::new();
        let mut layer_rope = Vec::with_capacity(spec.n_layer);
        for l in &spec.layers {
            layer_rope.push(l.rope.as_ref().map(|r| match ropes.iter().position(|x| &x.spec == r) {
                Some(i) => i,
                None => {
                    ropes.push(Rope::new(r));
                    ropes.len() - 1
                }
            }));
        }
        let alibi = spec.attn.alibi.map(|a| alibi_slopes(spec.n_head, a.max_bias));
        let (n_expert, n_used) = match spec.ffn {
            FfnKind::Moe { n_expert, n_expert_used, .. } => (n_expert, n_expert_used),
            _ => (0, 0),
        };
        let e = n_batch * spec.n_embd;
        let s = Scratch {
            x: vec![0.0; e],
            h: vec![0.0; e],
            o: vec![0.0; e],
            tmp: vec![0.0; spec.n_embd],
            q: vec![0.0; n_batch * spec.q_dim()],
            att: vec![0.0; n_batch * spec.q_dim()],
            k: vec![0.0; n_batch * spec.kv_dim()],
            v: vec![0.0; n_batch * spec.kv_dim()],
            gate: vec![0.0; n_batch * spec.n_ff],
            up: vec![0.0; n_batch * spec.n_ff],
            cos: ropes.iter().map(|r| vec![0.0; n_batch * r.spec.n_rot / 2]).collect(),
            sin: ropes.iter().map(|r| vec![0.0; n_batch * r.spec.n_rot / 2]).collect(),
            router: vec![0.0; n_batch * n_expert],
            chosen: vec![(0, 0.0); n_batch * n_used],
            rows: Vec::with_capacity(n_batch),
            xe: if n_expert > 0 { vec![0.0; e] } else { Vec::new() },
            ye: if n_expert > 0 { vec![0.0; e] } else { Vec::new() },
            attn: AttnScratch::new(spec.n_head, spec.n_head_kv, spec.head_dim, pool.n_threads()),
            logits: vec![0.0; spec.n_vocab],
            act: Vec::new(),
            out_rows: Vec::with_capacity(n_batch),
            tokens: Vec::with_capacity(n_batch),
        };
        Model { spec, weights, pool, ropes, layer_rope, alibi, n_batch, kv_type, s }
    }

    /// The architecture.
    pub fn spec(&self) -> &DecoderSpec {
        &self.spec
    }

    /// Vocabulary size (length of one logits row).
    pub fn n_vocab(&self) -> usize {
        self.spec.n_vocab
    }

    /// Threads in the model's pool.
    pub fn n_threads(&self) -> usize {
        self.pool.n_threads()
    }

    /// The model's thread pool (for callers that want to run their own parallel work on it).
    pub fn pool(&self) -> &ThreadPool {
        &self.pool
    }

    /// An empty KV cache for `n_ctx` positions, of the model's [`KvType`].
    pub fn new_cache(&self, n_ctx: usize) -> KvCache {
        KvCache::with_type(&self.spec, n_ctx, self.kv_type)
    }

    /// Most tokens one pass takes (the scratch size; [`Model::forward_batch`]'s limit).
    pub fn n_batch(&self) -> usize {
        self.n_batch
    }

    /// The element type of the caches [`Model::new_cache`] makes.
    pub fn kv_type(&self) -> KvType {
        self.kv_type
    }

    /// Runs `tokens` at positions `cache.len()..` and returns the requested logits
    /// (`[n_vocab]` for [`Logits::Last`], `[tokens.len()][n_vocab]` for [`Logits::All`]).
    pub fn forward(&mut self, tokens: &[u32], cache: &mut KvCache, want: Logits) -> Result<&[f32]> {
        self.forward_tapped(tokens, cache, want, None)
    }

    /// [`Model::forward`] that also shows the hidden states at every [`Tap`] to `tap`
    /// (called once per tap and chunk of at most `n_batch` tokens).
    pub fn forward_tapped(
        &mut self,
        tokens: &[u32],
        cache: &mut KvCache,
        want: Logits,
        mut tap: Option<TapFn<'_>>,
    ) -> Result<&[f32]> {
        let n_vocab = self.spec.n_vocab;
        self.check(tokens, cache)?;
        let n_out = match want {
            Logits::Last => 1,
            Logits::All => tokens.len(),
            Logits::None => 0,
        };
        if self.s.logits.len() < n_out * n_vocab {
            self.s.logits.resize(n_out * n_vocab, 0.0);
        }
        let n_chunks = tokens.len().div_ceil(self.n_batch);
        // A one-token call is a decode step; longer calls are prompts (see `BatchSeq::decode`).
        let decode = tokens.len() == 1;
        for (c, chunk) in tokens.chunks(self.n_batch).enumerate() {
            let pos0 = cache.len();
            let n = chunk.len();
            let (rows, row0) = match want {
                Logits::All => (0..n, c * self.n_batch),
                Logits::Last if c + 1 == n_chunks => (n - 1..n, 0),
                Logits::Last | Logits::None => (0..0, 0),
            };
            self.s.out_rows.clear();
            self.s.out_rows.extend(rows);
            let mut segs = [Seg { rows: 0..n, cache: &mut *cache, pos0, decode }];
            self.pass(chunk, &mut segs, row0, &mut tap);
            cache.set_len(pos0 + n);
        }
        Ok(&self.s.logits[..n_out * n_vocab])
    }

    /// Runs several sequences in one pass over the weights: each [`BatchSeq`]'s tokens at
    /// positions `cache.len()..` of its own cache. Returns the logits the sequences asked for,
    /// in order (one row for [`Logits::Last`], one per token for [`Logits::All`], none for
    /// [`Logits::None`]). At most
    /// `n_batch` tokens in all (the scratch size); a sequence's results are bit-identical to
    /// what [`Model::forward`] gives for the same tokens (with `decode` set as `forward` would
    /// treat them), whatever else is in the batch.
    pub fn forward_batch(&mut self, seqs: &mut [BatchSeq<'_>]) -> Result<&[f32]> {
        let n_vocab = self.spec.n_vocab;
        let total: usize = seqs.iter().map(|q| q.tokens.len()).sum();
        if total > self.n_batch {
            return Err(ModelError::BatchTooLarge { n_tokens: total, n_batch: self.n_batch });
        }
        for q in seqs.iter() {
            self.check(q.tokens, q.cache)?;
        }
        self.s.tokens.clear();
        self.s.out_rows.clear();
        let mut segs = Vec::with_capacity(seqs.len());
        for q in seqs.iter_mut() {
            let start = self.s.tokens.len();
            self.s.tokens.extend_from_slice(q.tokens);
            let end = self.s.tokens.len();
            match q.logits {
                Logits::All => self.s.out_rows.extend(start..end),
                Logits::Last => self.s.out_rows.push(end - 1),
                Logits::None => {}
            }
            let pos0 = q.cache.len();
            segs.push(Seg { rows: start..end, cache: &mut *q.cache, pos0, decode: q.decode });
        }
        let n_out = self.s.out_rows.len();
        if self.s.logits.len() < n_out * n_vocab {
            self.s.logits.resize(n_out * n_vocab, 0.0);
        }
        let tokens = std::mem::take(&mut self.s.tokens);
        self.pass(&tokens, &mut segs, 0, &mut None);
        self.s.tokens = tokens;
        for seg in segs {
            let n = seg.rows.len();
            seg.cache.set_len(seg.pos0 + n);
        }
        Ok(&self.s.logits[..n_out * n_vocab])
    }

    /// The checks every pass makes of one sequence's new tokens and cache.
    fn check(&self, tokens: &[u32], cache: &KvCache) -> Result<()> {
        let n_vocab = self.spec.n_vocab;
        if tokens.is_empty() {
            return Err(ModelError::EmptyInput);
        }
        if let Some((index, &id)) = tokens.iter().enumerate().find(|(_, &id)| id as usize >= n_vocab) {
            return Err(ModelError::TokenOutOfRange { id, index, n_vocab });
        }
        if !cache.fits(&self.spec) {
            return Err(ModelError::CacheMismatch(format!(
                "model has {} layers x {} kv heads x {} head_dim",
                self.spec.n_layer, self.spec.n_head_kv, self.spec.head_dim
            )));
        }
        if cache.len() + tokens.len() > cache.n_ctx() {
            return Err(ModelError::ContextFull { len: cache.len(), n_new: tokens.len(), n_ctx: cache.n_ctx() });
        }
        Ok(())
    }

    /// One pass of at most `n_batch` tokens: `segs` say which rows of `tokens` belong to which
    /// sequence (cache, first position, attention path). Writes the logits of the batch rows
    /// in `s.out_rows` (ascending) to logits rows `row0..`.
    fn pass(&mut self, tokens: &[u32], segs: &mut [Seg<'_>], row0: usize, tap: &mut Option<TapFn<'_>>) {
        let Model { spec, weights, pool, ropes, layer_rope, alibi, s, .. } = self;
        let n = tokens.len();
        let (n_embd, q_dim, kv_dim, hd) = (spec.n_embd, spec.q_dim(), spec.kv_dim(), spec.head_dim);
        let e = n * n_embd;

        // Embedding.
        for (t, &id) in tokens.iter().enumerate() {
            weights.token_embd.dequantize_row(id as usize, &mut s.x[t * n_embd..(t + 1) * n_embd]);
        }
        if let Some(scale) = spec.embed_scale {
            s.x[..e].iter_mut().for_each(|v| *v *= scale);
        }
        if let Some(f) = tap.as_mut() {
            f(Tap::Embedding, &s.x[..e]);
        }
        for (r, rope) in ropes.iter().enumerate() {
            let half = rope.spec.n_rot / 2;
            for seg in segs.iter() {
                let (a, b) = (seg.rows.start * half, seg.rows.end * half);
                rope.fill(seg.pos0, seg.rows.len(), &mut s.cos[r][a..b], &mut s.sin[r][a..b]);
            }
        }

        // Every block's input norm is computed by the residual update that ends the block
        // before it (one pass over the rows); the first block's here.
        norm(spec.norm, &weights.layers[0].attn_norm, &s.x[..e], &mut s.h[..e]);
        let n_layer = weights.layers.len();
        for (l, lw) in weights.layers.iter().enumerate() {
            // Attention.
            let qkv = [&mut s.q[..n * q_dim], &mut s.k[..n * kv_dim], &mut s.v[..n * kv_dim]];
            linear_many(pool, [&lw.q, &lw.k, &lw.v], &s.h[..e], n, qkv, &mut s.act);
            if let (Some(qn), Some(kn)) = (&lw.q_norm, &lw.k_norm) {
                let eps = match spec.norm {
                    NormKind::Rms { eps, .. } | NormKind::Layer { eps } => eps,
                };
                rms_norm_inplace(&mut s.q[..n * q_dim], qn, eps);
                rms_norm_inplace(&mut s.k[..n * kv_dim], kn, eps);
            }
            if let Some(r) = layer_rope[l] {
                let half = ropes[r].spec.n_rot / 2;
                let (c, si) = (&s.cos[r][..n * half], &s.sin[r][..n * half]);
                ropes[r].apply(&mut s.q[..n * q_dim], n, hd, c, si);
                ropes[r].apply(&mut s.k[..n * kv_dim], n, hd, c, si);
            }
            for seg in segs.iter_mut() {
                let (a, b) = (seg.rows.start, seg.rows.end);
                seg.cache.store(l, seg.pos0, b - a, &s.k[a * kv_dim..b * kv_dim], &s.v[a * kv_dim..b * kv_dim]);
                let params = AttnParams {
                    n_head: spec.n_head,
                    n_head_kv: spec.n_head_kv,
                    head_dim: hd,
                    n_ctx: seg.cache.n_ctx(),
                    scale: spec.attn.scale,
                    softcap: spec.attn.softcap,
                    window: spec.layers[l].sliding_window,
                    alibi: match (alibi.as_deref(), spec.attn.alibi) {
                        (Some(slopes), Some(a)) => Some((slopes, a.before_scale)),
                        _ => None,
                    },
                };
                let (q, att) = (&s.q[a * q_dim..b * q_dim], &mut s.att[a * q_dim..b * q_dim]);
                attention(pool, &params, q, seg.cache.layer(l), seg.pos0, b - a, att, &mut s.attn, seg.decode);
            }
            linear(pool, &lw.o, &s.att[..n * q_dim], n, &mut s.o[..e], &mut s.act);

            // Feed-forward and residual. The attention output joins the stream first (for a
            // parallel block after the FFN's input norm has read the block input), so that its
            // buffer can take the FFN output; `h` (the QKV input, now consumed) takes the
            // FFN's input norm.
            let post_attn = lw.post_attn_norm.as_ref();
            match (spec.block, &lw.ffn_norm) {
                // Sequential: the FFN sees the residual stream after the attention.
                (BlockLayout::Sequential, Some(fnorm)) => {
                    let next = Some((fnorm, &mut s.h[..e]));
                    residual(spec.norm, n_embd, &mut s.x[..e], &s.o[..e], post_attn, next, &mut s.tmp);
                }
                // Parallel with two norms: the FFN's own norm of the block input.
                (_, Some(fnorm)) => {
                    norm(spec.norm, fnorm, &s.x[..e], &mut s.h[..e]);
                    residual(spec.norm, n_embd, &mut s.x[..e], &s.o[..e], post_attn, None, &mut s.tmp);
                }
                // Parallel with one shared norm: `h` already holds it.
                (_, None) => residual(spec.norm, n_embd, &mut s.x[..e], &s.o[..e], post_attn, None, &mut s.tmp),
            }
            let fs = FfnScratch {
                gate: &mut s.gate,
                up: &mut s.up,
                router: &mut s.router,
                chosen: &mut s.chosen,
                rows: &mut s.rows,
                xe: &mut s.xe,
                ye: &mut s.ye,
                act: &mut s.act,
            };
            ffn(pool, spec, &lw.ffn, &s.h[..e], n, &mut s.o[..e], fs);
            // The FFN's output joins the stream, and the next block's input norm follows.
            let next = weights.layers.get(l + 1).map(|nl| (&nl.attn_norm, &mut s.h[..e]));
            residual(spec.norm, n_embd, &mut s.x[..e], &s.o[..e], lw.post_ffn_norm.as_ref(), next, &mut s.tmp);
            if let Some(f) = tap.as_mut() {
                f(Tap::Layer(l), &s.x[..e]);
            }
        }
        debug_assert_eq!(n_layer, spec.n_layer);

        // Final norm and output projection of the rows asked for: normed into the front rows
        // of `h` (all rows first when a tap wants to see them), then one matmul.
        let m = s.out_rows.len();
        if tap.is_some() {
            norm(spec.norm, &weights.output_norm, &s.x[..e], &mut s.h[..e]);
            if let Some(f) = tap.as_mut() {
                f(Tap::OutputNorm, &s.h[..e]);
            }
            for (i, &r) in s.out_rows.iter().enumerate() {
                s.h.copy_within(r * n_embd..(r + 1) * n_embd, i * n_embd); // i <= r: rows ascend
            }
        } else {
            for (i, &r) in s.out_rows.iter().enumerate() {
                let row = &s.x[r * n_embd..(r + 1) * n_embd];
                norm(spec.norm, &weights.output_norm, row, &mut s.h[i * n_embd..(i + 1) * n_embd]);
            }
        }
        if m > 0 {
            let nv = spec.n_vocab;
            let out = &mut s.logits[row0 * nv..(row0 + m) * nv];
            weights.output.matmul(pool, &s.h[..m * n_embd], m, out, &mut s.act);
            if let Some(cap) = spec.final_softcap {
                softcap(out, cap);
            }
        }
    }
}

/// Applies the model's norm kind to every row of `x`.
fn norm(kind: NormKind, w: &NormW, x: &[f32], out: &mut [f32]) {
    match kind {
        NormKind::Rms { eps, .. } => rms_norm(x, &w.w, eps, out),
        NormKind::Layer { eps } => layer_norm(x, &w.w, w.b.as_deref(), eps, out),
    }
}

/// The residual update of one sub-block, row by row so that each row is read once from
/// memory: `x += post(delta)` (`post` the sub-block's post-norm, if any), then, if `next` is
/// given, `next.1 = next_norm(x)`. `tmp` holds at least one row.
fn residual(
    kind: NormKind,
    n_embd: usize,
    x: &mut [f32],
    delta: &[f32],
    post: Option<&NormW>,
    mut next: Option<(&NormW, &mut [f32])>,
    tmp: &mut [f32],
) {
    let row = &mut tmp[..n_embd];
    for (t, (xr, dr)) in x.chunks_exact_mut(n_embd).zip(delta.chunks_exact(n_embd)).enumerate() {
        match post {
            Some(p) => {
                norm(kind, p, dr, row);
                add_into(xr, row);
            }
            None => add_into(xr, dr),
        }
        if let Some((nw, out)) = next.as_mut() {
            norm(kind, nw, xr, &mut out[t * n_embd..(t + 1) * n_embd]);
        }
    }
}

/// `outs[i] = W_i x (+ b_i)` for `n` tokens, the matrices multiplied in one pool operation
/// where their formats allow (`QMatrix::matmul_many`; bit-identical to one `linear` each).
fn linear_many<const N: usize>(
    pool: &ThreadPool,
    ls: [&Linear; N],
    x: &[f32],
    n: usize,
    mut outs: [&mut [f32]; N],
    act: &mut Vec<u8>,
) {
    let mats = ls.map(|l| &l.w);
    QMatrix::matmul_many(pool, &mats, x, n, &mut outs, act);
    for (l, out) in ls.iter().zip(outs.iter_mut()) {
        if let Some(b) = &l.b {
            add_bias(out, b);
        }
    }
}

/// `out = W x (+ b)` for `n` tokens.
fn linear(pool: &ThreadPool, l: &Linear, x: &[f32], n: usize, out: &mut [f32], act: &mut Vec<u8>) {
    l.w.matmul(pool, x, n, out, act);
    if let Some(b) = &l.b {
        add_bias(out, b);
    }
}

/// The scratch a (possibly MoE) FFN needs, borrowed out of [`Scratch`].
struct FfnScratch<'a> {
    gate: &'a mut [f32],
    up: &'a mut [f32],
    router: &'a mut [f32],
    chosen: &'a mut [(usize, f32)],
    rows: &'a mut Vec<(usize, f32)>,
    xe: &'a mut [f32],
    ye: &'a mut [f32],
    act: &'a mut Vec<u8>,
}

/// Dense FFN of `n` tokens: `down(act(gate(x)) * up(x))` or `down(act(up(x)))`.
#[allow(clippy::too_many_arguments)]
fn dense_ffn(
    pool: &ThreadPool,
    act_fn: crate::spec::Activation,
    gate: Option<&Linear>,
    up: &Linear,
    down: &Linear,
    x: &[f32],
    n: usize,
    out: &mut [f32],
    g: &mut [f32],
    u: &mut [f32],
    act: &mut Vec<u8>,
) {
    let n_ff = up.w.rows();
    let (g, u) = (&mut g[..n * n_ff], &mut u[..n * n_ff]);
    match gate {
        Some(gl) => {
            linear_many(pool, [up, gl], x, n, [&mut *u, &mut *g], act);
            gated_act(act_fn, g, u);
            linear(pool, down, g, n, out, act);
        }
        None => {
            linear(pool, up, x, n, u, act);
            act_inplace(act_fn, u);
            linear(pool, down, u, n, out, act);
        }
    }
}

/// FFN of `n` tokens (dense or MoE) into `out`.
fn ffn(pool: &ThreadPool, spec: &DecoderSpec, w: &FfnW, x: &[f32], n: usize, out: &mut [f32], s: FfnScratch) {
    match (w, spec.ffn) {
        (FfnW::Dense { gate, up, down }, FfnKind::Gated { act } | FfnKind::Plain { act }) => {
            dense_ffn(pool, act, gate.as_ref(), up, down, x, n, out, s.gate, s.up, s.act);
        }
        (FfnW::Moe { router, experts }, FfnKind::Moe { n_expert, n_expert_used: k, act, norm_top_k }) => {
            let n_embd = spec.n_embd;
            let logits = &mut s.router[..n * n_expert];
            router.matmul(pool, x, n, logits, s.act);
            for t in 0..n {
                let p = &mut logits[t * n_expert..(t + 1) * n_expert];
                softmax(p);
                let chosen = &mut s.chosen[t * k..(t + 1) * k];
                for slot in chosen.iter_mut() {
                    // Largest remaining probability; ties go to the lower expert index.
                    let mut best = (usize::MAX, f32::NEG_INFINITY);
                    for (eid, &pv) in p.iter().enumerate() {
                        if pv > best.1 {
                            best = (eid, pv);
                        }
                    }
                    *slot = best;
                    if let Some(pv) = p.get_mut(best.0) {
                        *pv = f32::NEG_INFINITY;
                    }
                }
                if norm_top_k {
                    let sum: f32 = chosen.iter().map(|c| c.1).sum();
                    chosen.iter_mut().for_each(|c| c.1 /= sum);
                }
            }
            out[..n * n_embd].fill(0.0);
            for (eid, ex) in experts.iter().enumerate() {
                s.rows.clear();
                for t in 0..n {
                    if let Some(c) = s.chosen[t * k..(t + 1) * k].iter().find(|c| c.0 == eid) {
                        s.rows.push((t, c.1));
                    }
                }
                let m = s.rows.len();
                if m == 0 {
                    continue;
                }
                for (r, &(t, _)) in s.rows.iter().enumerate() {
                    s.xe[r * n_embd..(r + 1) * n_embd].copy_from_slice(&x[t * n_embd..(t + 1) * n_embd]);
                }
                let n_ff = ex.up.rows();
                let (g, u) = (&mut s.gate[..m * n_ff], &mut s.up[..m * n_ff]);
                ex.gate.matmul(pool, &s.xe[..m * n_embd], m, g, s.act);
                ex.up.matmul(pool, &s.xe[..m * n_embd], m, u, s.act);
                gated_act(act, g, u);
                ex.down.matmul(pool, g, m, &mut s.ye[..m * n_embd], s.act);
                for (r, &(t, wgt)) in s.rows.iter().enumerate() {
                    let y = &s.ye[r * n_embd..(r + 1) * n_embd];
                    for (o, v) in out[t * n_embd..(t + 1) * n_embd].iter_mut().zip(y) {
                        *o += wgt * v;
                    }
                }
            }
        }
        // Weights are built from the same spec, so the kinds always agree.
        _ => out[..n * spec.n_embd].fill(0.0),
    }
}
