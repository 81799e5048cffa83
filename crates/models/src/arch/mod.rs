//! One small file per architecture, plus the helpers they share: the Llama-like base spec
//! from `config.json`, the common GGUF metadata keys, and HF → canonical tensor renaming.
//!
//! An arch file knows three things about its family: how `config.json` maps to a
//! [`DecoderSpec`], how its HF tensor names map to canonical GGUF names (and how fused tensors
//! come apart), and which GGUF metadata quirks its llama.cpp arch has. Nothing outside these
//! files and `registry.rs` knows family names.

pub(crate) mod falcon;
pub(crate) mod gemma2;
pub(crate) mod gemma3;
pub(crate) mod llama;
pub(crate) mod mistral;
pub(crate) mod phi3;
pub(crate) mod qwen2;

use allmende_formats::GgufFile;

use crate::config::Cfg;
use crate::spec::{
    Activation, AttnSpec, BlockLayout, DecoderSpec, FfnKind, LayerSpec, NormKind, RopePairing, RopeScaling, RopeSpec,
};
use crate::tensors::TensorMap;
use crate::{ModelError, Result};

/// HF → canonical renaming: whole-name entries for the model-level tensors and per-layer
/// suffix entries (after `{layer_prefix}{i}.`), both without the `.weight` / `.bias` suffix,
/// which is carried over. A `*` in a layer entry matches a number (an expert index) and is
/// substituted into the canonical name.
pub(crate) struct NameMap {
    pub global: &'static [(&'static str, &'static str)],
    pub layer_prefix: &'static str,
    pub layer: &'static [(&'static str, &'static str)],
}

impl NameMap {
    /// The canonical name of HF tensor `hf`, or `None` if the table does not know it.
    pub fn map(&self, hf: &str) -> Option<String> {
        let (base, suffix) = match hf.rsplit_once('.') {
            Some((b, s @ ("weight" | "bias"))) => (b, s),
            _ => return None,
        };
        if let Some((_, c)) = self.global.iter().find(|(h, _)| *h == base) {
            return Some(format!("{c}.{suffix}"));
        }
        let rest = base.strip_prefix(self.layer_prefix)?;
        let (idx, rest) = rest.split_once('.')?;
        let layer: usize = idx.parse().ok()?;
        for (pat, canon) in self.layer {
            if let Some(n) = match_star(pat, rest) {
                let canon = match n {
                    Some(n) => canon.replace('*', n),
                    None => canon.to_string(),
                };
                return Some(format!("blk.{layer}.{canon}.{suffix}"));
            }
        }
        None
    }
}

/// Matches `s` against `pat` with at most one `*` standing for a decimal number. Returns
/// `Some(None)` for an exact match, `Some(Some(number))` for a wildcard match.
fn match_star<'s>(pat: &str, s: &'s str) -> Option<Option<&'s str>> {
    match pat.split_once('*') {
        None => (pat == s).then_some(None),
        Some((pre, post)) => {
            let mid = s.strip_prefix(pre)?.strip_suffix(post)?;
            (!mid.is_empty() && mid.bytes().all(|b| b.is_ascii_digit())).then_some(Some(mid))
        }
    }
}

/// Tensors HF checkpoints may carry that no forward pass reads (buffers saved by old code).
pub(crate) fn ignorable_hf_tensor(name: &str) -> bool {
    name.ends_with("rotary_emb.inv_freq") || name.ends_with(".masked_bias")
}

/// The activation named by HF's `hidden_act` / `hidden_activation` / `activation`.
pub(crate) fn activation(key: &str, name: &str) -> Result<Activation> {
    match name {
        "silu" | "swish" => Ok(Activation::Silu),
        "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" => Ok(Activation::GeluTanh),
        "gelu" => Ok(Activation::Gelu),
        other => Err(ModelError::Unsupported(format!("`{key}` activation `{other}`"))),
    }
}

/// The Llama-like base that most `config.json` files share: RMSNorm, gated FFN with
/// `hidden_act`, rotate-half RoPE from `rope_parameters` / `rope_theta` + `rope_scaling`
/// (with `partial_rotary_factor`), GQA, optional `attention_bias` / `mlp_bias`, tied output
/// per `tie_word_embeddings` (default `tie_default`), full causal attention in every layer.
pub(crate) fn llama_like(cfg: &Cfg, arch: &str, tie_default: bool) -> Result<DecoderSpec> {
    let n_embd = cfg.req_usize("hidden_size")?;
    let n_head = cfg.req_usize("num_attention_heads")?;
    let n_layer = cfg.req_usize("num_hidden_layers")?;
    let n_head_kv = cfg.opt_usize("num_key_value_heads")?.unwrap_or(n_head);
    let head_dim = match cfg.opt_usize("head_dim")? {
        Some(d) => d,
        None if n_head > 0 => n_embd / n_head,
        None => return Err(ModelError::BadConfig { key: "num_attention_heads".into(), message: "0".into() }),
    };
    let act_name = cfg.opt_str("hidden_act")?.or(cfg.opt_str("hidden_activation")?).unwrap_or("silu");
    let act = activation("hidden_act", act_name)?;
    let (theta, scaling, partial) = cfg.rope(None)?;
    let n_rot = match partial {
        Some(f) => ((head_dim as f32 * f) as usize) & !1,
        None => head_dim,
    };
    let rope = RopeSpec { pairing: RopePairing::Neox, n_rot, theta, scaling };
    let attn_bias = cfg.opt_bool("attention_bias")?.unwrap_or(false);
    Ok(DecoderSpec {
        arch: arch.to_string(),
        n_vocab: cfg.req_usize("vocab_size")?,
        n_embd,
        n_layer,
        n_head,
        n_head_kv,
        head_dim,
        n_ff: cfg.req_usize("intermediate_size")?,
        n_ctx_train: cfg.opt_usize("max_position_embeddings")?.unwrap_or(2048),
        norm: NormKind::Rms { eps: cfg.opt_f32("rms_norm_eps")?.unwrap_or(1e-6), unit_offset: false },
        ffn: FfnKind::Gated { act },
        ffn_bias: cfg.opt_bool("mlp_bias")?.unwrap_or(false),
        attn: AttnSpec {
            qkv_bias: attn_bias,
            out_bias: attn_bias,
            scale: 1.0 / (head_dim as f32).sqrt(),
            softcap: None,
            qk_norm: false,
            alibi: None,
        },
        block: BlockLayout::Sequential,
        post_norms: false,
        embed_scale: None,
        final_softcap: None,
        tied_output: cfg.opt_bool("tie_word_embeddings")?.unwrap_or(tie_default),
        layers: (0..n_layer).map(|_| LayerSpec { sliding_window: None, rope: Some(rope.clone()) }).collect(),
    })
}

/// Reads the GGUF metadata keys every llama.cpp decoder arch shares (`{arch}.block_count`,
/// `embedding_length`, `attention.head_count(_kv)`, `rope.freq_base`, ...) into a Llama-like
/// spec with RoPE pairing `pairing`. Tied output is decided by the presence of `output.weight`,
/// the vocabulary size by `token_embd.weight`.
pub(crate) fn gguf_base(file: &GgufFile, tensors: &TensorMap, pairing: RopePairing) -> Result<DecoderSpec> {
    let arch = file.architecture()?.to_string();
    let key = |k: &str| format!("{arch}.{k}");
    let n_embd = file.get_usize(&key("embedding_length"))?;
    let n_layer = file.get_usize(&key("block_count"))?;
    let n_head = file.get_usize(&key("attention.head_count"))?;
    let n_head_kv = file.get_opt::<usize>(&key("attention.head_count_kv"))?.unwrap_or(n_head);
    let head_dim = match file.get_opt::<usize>(&key("attention.key_length"))? {
        Some(d) => d,
        None if n_head > 0 => n_embd / n_head,
        None => return Err(ModelError::BadConfig { key: key("attention.head_count"), message: "0".into() }),
    };
    if let Some(v) = file.get_opt::<usize>(&key("attention.value_length"))? {
        if v != head_dim {
            return Err(ModelError::Unsupported(format!("value_length {v} != key_length {head_dim}")));
        }
    }
    let embd = tensors.get("token_embd.weight").ok_or(ModelError::MissingTensor { name: "token_embd.weight".into() })?;
    let n_vocab = embd.shape.first().copied().unwrap_or(0);
    let n_rot = file.get_opt::<usize>(&key("rope.dimension_count"))?.unwrap_or(head_dim);
    let theta = file.get_opt::<f32>(&key("rope.freq_base"))?.unwrap_or(10000.0);
    let scaling = gguf_rope_scaling(file, tensors, &arch)?;
    let rope = RopeSpec { pairing, n_rot, theta, scaling };
    let norm = match file.get_opt::<f32>(&key("attention.layer_norm_rms_epsilon"))? {
        Some(eps) => NormKind::Rms { eps, unit_offset: false },
        None => match file.get_opt::<f32>(&key("attention.layer_norm_epsilon"))? {
            Some(eps) => NormKind::Layer { eps },
            None => return Err(ModelError::MissingKey { key: key("attention.layer_norm_rms_epsilon") }),
        },
    };
    let n_expert = file.get_opt::<usize>(&key("expert_count"))?.unwrap_or(0);
    let ffn = if n_expert > 0 {
        FfnKind::Moe {
            n_expert,
            n_expert_used: file.get_usize(&key("expert_used_count"))?,
            act: Activation::Silu,
            norm_top_k: true,
        }
    } else {
        FfnKind::Gated { act: Activation::Silu }
    };
    let has = |n: &str| tensors.contains_key(n);
    let n_ff = file.get_usize(&key("feed_forward_length"))?;
    let n_ctx_train = file.get_opt::<usize>(&key("context_length"))?.unwrap_or(2048);
    Ok(DecoderSpec {
        arch,
        n_vocab,
        n_embd,
        n_layer,
        n_head,
        n_head_kv,
        head_dim,
        n_ff,
        n_ctx_train,
        norm,
        ffn,
        ffn_bias: has("blk.0.ffn_up.bias") || has("blk.0.ffn_down.bias"),
        attn: AttnSpec {
            qkv_bias: has("blk.0.attn_q.bias") || has("blk.0.attn_qkv.bias"),
            out_bias: has("blk.0.attn_output.bias"),
            scale: 1.0 / (head_dim as f32).sqrt(),
            softcap: None,
            qk_norm: has("blk.0.attn_q_norm.weight"),
            alibi: None,
        },
        block: BlockLayout::Sequential,
        post_norms: false,
        embed_scale: None,
        final_softcap: None,
        tied_output: !has("output.weight"),
        layers: (0..n_layer).map(|_| LayerSpec { sliding_window: None, rope: Some(rope.clone()) }).collect(),
    })
}

/// RoPE scaling from GGUF: `rope_freqs.weight` (llama3-style per-frequency factors) or
/// `{arch}.rope.scaling.type` = `linear` with `rope.scaling.factor`.
fn gguf_rope_scaling(file: &GgufFile, tensors: &TensorMap, arch: &str) -> Result<RopeScaling> {
    if let Some(t) = tensors.get("rope_freqs.weight") {
        return Ok(RopeScaling::FreqFactors(t.to_f32("rope_freqs.weight")?));
    }
    let kind = file.get_opt::<&str>(&format!("{arch}.rope.scaling.type"))?;
    match kind {
        None | Some("none") => Ok(RopeScaling::None),
        Some("linear") => {
            let factor = file.get_f32(&format!("{arch}.rope.scaling.factor"))?;
            Ok(if factor == 1.0 { RopeScaling::None } else { RopeScaling::Linear { factor } })
        }
        Some(other) => Err(ModelError::Unsupported(format!("GGUF rope scaling `{other}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static MAP: NameMap = NameMap {
        global: &[("model.embed_tokens", "token_embd")],
        layer_prefix: "model.layers.",
        layer: &[("self_attn.q_proj", "attn_q"), ("moe.experts.*.w1", "ffn_gate.*")],
    };

    #[test]
    fn renames_global_layer_and_expert_tensors() {
        assert_eq!(MAP.map("model.embed_tokens.weight").as_deref(), Some("token_embd.weight"));
        assert_eq!(MAP.map("model.layers.12.self_attn.q_proj.bias").as_deref(), Some("blk.12.attn_q.bias"));
        assert_eq!(MAP.map("model.layers.0.moe.experts.7.w1.weight").as_deref(), Some("blk.0.ffn_gate.7.weight"));
        assert_eq!(MAP.map("model.layers.0.moe.experts.x.w1.weight"), None);
        assert_eq!(MAP.map("model.layers.0.self_attn.q_proj.scales"), None);
        assert_eq!(MAP.map("lm_head.weight"), None);
    }
}
