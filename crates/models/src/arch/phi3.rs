//! Phi-3 (HF `Phi3ForCausalLM`): Llama with a fused `qkv_proj` (rows `[q; k; v]`) and a fused
//! `gate_up_proj` (rows `[gate; up]`). Both are renamed to the fused canonical names llama.cpp
//! uses (`attn_qkv`, and `ffn_up` with `2 * n_ff` rows); the generic weight builder splits them
//! (zero-copy row views). Optional sliding window on every layer; `longrope` scaling is not
//! supported.
//! ref: transformers `models/phi3/modeling_phi3.py`.

use super::{llama_like, NameMap};
use crate::config::Cfg;
use crate::spec::DecoderSpec;
use crate::Result;

/// HF Phi-3 tensor names.
pub(crate) static NAMES: NameMap = NameMap {
    global: &[("model.embed_tokens", "token_embd"), ("model.norm", "output_norm"), ("lm_head", "output")],
    layer_prefix: "model.layers.",
    layer: &[
        ("input_layernorm", "attn_norm"),
        ("self_attn.qkv_proj", "attn_qkv"),
        ("self_attn.o_proj", "attn_output"),
        ("post_attention_layernorm", "ffn_norm"),
        ("mlp.gate_up_proj", "ffn_up"),
        ("mlp.down_proj", "ffn_down"),
    ],
};

/// `config.json` → spec.
pub(crate) fn hf_spec(cfg: &Cfg) -> Result<DecoderSpec> {
    let mut s = llama_like(cfg, "phi3", false)?;
    let window = cfg.opt_usize("sliding_window")?;
    for l in &mut s.layers {
        l.sliding_window = window;
    }
    Ok(s)
}

/// GGUF metadata → spec (llama.cpp arch `phi3`): NeoX RoPE, fused `attn_qkv` and fused
/// `ffn_up` (split by the weight builder). llama.cpp currently disables Phi-3's sliding window
/// (llama.cpp PR 13676), so the GGUF spec has none either.
pub(crate) fn gguf_spec(file: &allmende_formats::GgufFile, tensors: &crate::tensors::TensorMap) -> Result<DecoderSpec> {
    if tensors.contains_key("rope_factors_long.weight") {
        return Err(crate::ModelError::Unsupported("Phi-3 LongRoPE (rope_factors_long / rope_factors_short)".into()));
    }
    super::gguf_base(file, tensors, crate::spec::RopePairing::Neox)
}
