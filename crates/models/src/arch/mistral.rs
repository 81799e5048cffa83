//! Mistral and Mixtral (HF `MistralForCausalLM`, `MixtralForCausalLM`): Llama plus a sliding
//! window on every layer and, for Mixtral, a sparse MoE FFN with a softmax top-k router whose
//! top-k weights are renormalised. The HF checkpoint layout is
//! `block_sparse_moe.experts.N.w1/w2/w3` (gate / down / up) and `block_sparse_moe.gate`.
//! GGUF files of these models use arch `llama` (see `llama.rs`).
//! ref: transformers `models/mistral/modeling_mistral.py`, `models/mixtral/modeling_mixtral.py`.

use super::{llama_like, NameMap};
use crate::config::Cfg;
use crate::spec::{Activation, DecoderSpec, FfnKind};
use crate::Result;

/// HF Mistral / Mixtral tensor names.
pub(crate) static NAMES: NameMap = NameMap {
    global: &[("model.embed_tokens", "token_embd"), ("model.norm", "output_norm"), ("lm_head", "output")],
    layer_prefix: "model.layers.",
    layer: &[
        ("input_layernorm", "attn_norm"),
        ("self_attn.q_proj", "attn_q"),
        ("self_attn.k_proj", "attn_k"),
        ("self_attn.v_proj", "attn_v"),
        ("self_attn.o_proj", "attn_output"),
        ("post_attention_layernorm", "ffn_norm"),
        ("mlp.gate_proj", "ffn_gate"),
        ("mlp.up_proj", "ffn_up"),
        ("mlp.down_proj", "ffn_down"),
        ("block_sparse_moe.gate", "ffn_gate_inp"),
        ("block_sparse_moe.experts.*.w1", "ffn_gate.*"),
        ("block_sparse_moe.experts.*.w2", "ffn_down.*"),
        ("block_sparse_moe.experts.*.w3", "ffn_up.*"),
    ],
};

/// `config.json` → spec.
pub(crate) fn hf_spec(cfg: &Cfg) -> Result<DecoderSpec> {
    let mut s = llama_like(cfg, "mistral", false)?;
    let window = cfg.opt_usize("sliding_window")?;
    for l in &mut s.layers {
        l.sliding_window = window;
    }
    if let Some(n_expert) = cfg.opt_usize("num_local_experts")? {
        let act = match s.ffn {
            FfnKind::Gated { act } => act,
            _ => Activation::Silu,
        };
        s.ffn = FfnKind::Moe { n_expert, n_expert_used: cfg.req_usize("num_experts_per_tok")?, act, norm_top_k: true };
    }
    Ok(s)
}
