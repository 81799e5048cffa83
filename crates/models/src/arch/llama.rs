//! Llama (HF `LlamaForCausalLM`; GGUF arch `llama`, which also carries Mistral, Mixtral and
//! SmolLM files). RMSNorm, gated SiLU FFN, RoPE (with `linear` / `llama3` scaling), GQA.
//!
//! GGUF `llama` files store q/k rows permuted (llama.cpp `convert_hf_to_gguf.py`
//! `LlamaModel.permute`) so that RoPE rotates adjacent pairs: the GGUF spec uses
//! [`RopePairing::Normal`], the HF spec rotate-half ([`RopePairing::Neox`]).
//! ref: transformers `models/llama/modeling_llama.py`; llama.cpp `src/llama-model.cpp` (LLM_ARCH_LLAMA).

use allmende_formats::GgufFile;

use super::{gguf_base, llama_like, NameMap};
use crate::config::Cfg;
use crate::spec::{DecoderSpec, RopePairing};
use crate::tensors::TensorMap;
use crate::Result;

/// HF Llama tensor names (shared by Mistral, Qwen2 and Phi-3 for the tensors they have).
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
    ],
};

/// `config.json` → spec.
pub(crate) fn hf_spec(cfg: &Cfg) -> Result<DecoderSpec> {
    llama_like(cfg, "llama", false)
}

/// GGUF metadata → spec: interleaved RoPE pairs (permuted q/k), MoE when `expert_count` is set.
pub(crate) fn gguf_spec(file: &GgufFile, tensors: &TensorMap) -> Result<DecoderSpec> {
    gguf_base(file, tensors, RopePairing::Normal)
}
