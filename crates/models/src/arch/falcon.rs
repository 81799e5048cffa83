//! Falcon (HF `FalconForCausalLM`), all three layouts:
//! * Falcon-7B: old architecture, `multi_query` (1 kv head), parallel attention and MLP sharing
//!   one `input_layernorm`;
//! * Falcon-40B/180B: `new_decoder_architecture`, `num_kv_heads` grouped kv heads, parallel
//!   attention and MLP with two norms (`ln_attn`, `ln_mlp`) when `num_ln_in_parallel_attn` is 2.
//!   Canonical names follow llama.cpp's converter: `ln_attn` → `attn_norm_2`, `ln_mlp` →
//!   `attn_norm` (llama.cpp feeds the attention from `attn_norm_2` and the FFN from `attn_norm`);
//! * Falcon-RW: `alibi` instead of RoPE, sequential attention → MLP with
//!   `post_attention_layernorm`, biases everywhere, full multi-head attention.
//!
//! LayerNorm with bias, plain GELU (erf) MLP, tied output by default. The fused
//! `query_key_value` rows are grouped per kv head: for each of the `n_head_kv` groups,
//! `n_head / n_head_kv` query heads, then one key head, then one value head. That one rule
//! covers all three layouts (MQA: one group; MHA: a group per head, i.e. `[q, k, v]` per head),
//! and [`hf_fixup`] reorders the rows to `[q; k; v]` (the GGUF `attn_qkv` layout).
//!
//! ALiBi follows the original Falcon-RW formula `softmax((q·k + alibi) / sqrt(head_dim) + mask)`
//! (transformers' SDPA path; its eager path adds the bias twice).
//! GGUF (llama.cpp arch `falcon`, 7B and 40B layouts only): `attn_qkv` already `[q; k; v]`,
//! LayerNorm eps in `attention.layer_norm_epsilon`, `attn_norm_2` present for the two-norm layout,
//! NeoX RoPE, tied output when `output.weight` is absent, and llama.cpp's GELU (`ggml_gelu`: the
//! tanh approximation through an f16 table) instead of HF's exact erf GELU.
//! ref: transformers `models/falcon/modeling_falcon.py`; llama.cpp `convert_hf_to_gguf.py`
//! (FalconModel), `src/llama-model.cpp` (LLM_ARCH_FALCON).

use allmende_formats::GgufFile;

use super::{activation, gguf_base, NameMap};
use crate::config::Cfg;
use crate::spec::{
    Activation, AlibiSpec, AttnSpec, BlockLayout, DecoderSpec, FfnKind, LayerSpec, NormKind, RopePairing, RopeSpec,
};
use crate::tensors::TensorMap;
use crate::{ModelError, Result};

/// HF Falcon tensor names.
pub(crate) static NAMES: NameMap = NameMap {
    global: &[("transformer.word_embeddings", "token_embd"), ("transformer.ln_f", "output_norm"), ("lm_head", "output")],
    layer_prefix: "transformer.h.",
    layer: &[
        ("input_layernorm", "attn_norm"),
        ("ln_attn", "attn_norm_2"),
        ("ln_mlp", "attn_norm"),
        ("post_attention_layernorm", "ffn_norm"),
        ("self_attention.query_key_value", "attn_qkv"),
        ("self_attention.dense", "attn_output"),
        ("mlp.dense_h_to_4h", "ffn_up"),
        ("mlp.dense_4h_to_h", "ffn_down"),
    ],
};

/// `config.json` → spec.
pub(crate) fn hf_spec(cfg: &Cfg) -> Result<DecoderSpec> {
    let n_embd = cfg.req_usize("hidden_size")?;
    let n_head = cfg.req_usize("num_attention_heads")?;
    let n_layer = cfg.req_usize("num_hidden_layers")?;
    if n_head == 0 || n_embd % n_head != 0 {
        return Err(ModelError::BadConfig { key: "num_attention_heads".into(), message: format!("{n_head} heads for {n_embd}") });
    }
    let head_dim = n_embd / n_head;
    let new_arch = cfg.opt_bool("new_decoder_architecture")?.unwrap_or(false);
    let n_head_kv = if new_arch {
        cfg.opt_usize("num_kv_heads")?.unwrap_or(n_head)
    } else if cfg.opt_bool("multi_query")?.unwrap_or(true) {
        1
    } else {
        n_head
    };
    let parallel = cfg.opt_bool("parallel_attn")?.unwrap_or(true);
    let block = if new_arch {
        match cfg.opt_usize("num_ln_in_parallel_attn")?.unwrap_or(2) {
            2 => BlockLayout::ParallelTwoNorms,
            _ => BlockLayout::ParallelSharedNorm,
        }
    } else if parallel {
        BlockLayout::ParallelSharedNorm
    } else {
        BlockLayout::Sequential
    };
    let bias = cfg.opt_bool("bias")?.unwrap_or(false);
    let alibi = cfg.opt_bool("alibi")?.unwrap_or(false);
    let rope = if alibi {
        None
    } else {
        let (theta, scaling, _) = cfg.rope(None)?;
        Some(RopeSpec { pairing: RopePairing::Neox, n_rot: head_dim, theta, scaling })
    };
    let act = activation("activation", cfg.opt_str("activation")?.unwrap_or("gelu"))?;
    Ok(DecoderSpec {
        arch: "falcon".into(),
        n_vocab: cfg.req_usize("vocab_size")?,
        n_embd,
        n_layer,
        n_head,
        n_head_kv,
        head_dim,
        n_ff: cfg.opt_usize("ffn_hidden_size")?.unwrap_or(4 * n_embd),
        n_ctx_train: cfg.opt_usize("max_position_embeddings")?.unwrap_or(2048),
        norm: NormKind::Layer { eps: cfg.opt_f32("layer_norm_epsilon")?.unwrap_or(1e-5) },
        ffn: FfnKind::Plain { act },
        ffn_bias: bias,
        attn: AttnSpec {
            qkv_bias: bias,
            out_bias: bias,
            scale: 1.0 / (head_dim as f32).sqrt(),
            softcap: None,
            qk_norm: false,
            alibi: alibi.then_some(AlibiSpec { max_bias: 8.0, before_scale: true }),
        },
        block,
        post_norms: false,
        embed_scale: None,
        final_softcap: None,
        tied_output: cfg.opt_bool("tie_word_embeddings")?.unwrap_or(true),
        layers: (0..n_layer).map(|_| LayerSpec { sliding_window: None, rope: rope.clone() }).collect(),
    })
}

/// Reorders every layer's fused `attn_qkv` (weight and bias) from Falcon's per-kv-group layout
/// to `[q; k; v]`.
pub(crate) fn hf_fixup(spec: &DecoderSpec, tensors: &mut TensorMap) -> Result<()> {
    let hd = spec.head_dim;
    let per_group = spec.n_head / spec.n_head_kv;
    let group_rows = (per_group + 2) * hd;
    let mut q = Vec::with_capacity(spec.n_head_kv);
    let mut k = Vec::with_capacity(spec.n_head_kv);
    let mut v = Vec::with_capacity(spec.n_head_kv);
    for g in 0..spec.n_head_kv {
        let start = g * group_rows;
        q.push(start..start + per_group * hd);
        k.push(start + per_group * hd..start + (per_group + 1) * hd);
        v.push(start + (per_group + 1) * hd..start + group_rows);
    }
    let order: Vec<_> = q.into_iter().chain(k).chain(v).collect();
    for i in 0..spec.n_layer {
        for suffix in ["weight", "bias"] {
            let name = format!("blk.{i}.attn_qkv.{suffix}");
            if let Some(t) = tensors.get(&name) {
                if t.shape.first() != Some(&(spec.n_head_kv * group_rows)) {
                    let mut expected = t.shape.clone();
                    expected[0] = spec.n_head_kv * group_rows;
                    return Err(ModelError::ShapeMismatch { name, expected, got: t.shape.clone() });
                }
                let reordered = t.gather(&name, &order)?;
                tensors.insert(name, reordered);
            }
        }
    }
    Ok(())
}

/// GGUF metadata → spec.
pub(crate) fn gguf_spec(file: &GgufFile, tensors: &TensorMap) -> Result<DecoderSpec> {
    let mut s = gguf_base(file, tensors, RopePairing::Neox)?;
    if !matches!(s.norm, NormKind::Layer { .. }) {
        return Err(ModelError::BadConfig { key: "falcon.attention.layer_norm_epsilon".into(), message: "missing".into() });
    }
    s.ffn = FfnKind::Plain { act: Activation::GeluTanhF16 };
    s.block = if tensors.contains_key("blk.0.attn_norm_2.weight") {
        BlockLayout::ParallelTwoNorms
    } else {
        BlockLayout::ParallelSharedNorm
    };
    Ok(s)
}
