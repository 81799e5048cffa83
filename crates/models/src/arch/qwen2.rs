//! Qwen2 / Qwen2.5 (HF `Qwen2ForCausalLM`; GGUF arch `qwen2`): Llama with biases on the q, k
//! and v projections (not on the output projection). llama.cpp rotates Qwen2 with NeoX
//! pairing, and its converter does not permute q/k, so HF and GGUF both use rotate-half.
//! ref: transformers `models/qwen2/modeling_qwen2.py`; llama.cpp `src/llama-model.cpp` (LLM_ARCH_QWEN2).

use allmende_formats::GgufFile;

use super::{gguf_base, llama_like};
use crate::config::Cfg;
use crate::spec::{DecoderSpec, RopePairing};
use crate::tensors::TensorMap;
use crate::{ModelError, Result};

/// `config.json` → spec.
pub(crate) fn hf_spec(cfg: &Cfg) -> Result<DecoderSpec> {
    let mut s = llama_like(cfg, "qwen2", false)?;
    if cfg.opt_bool("use_sliding_window")?.unwrap_or(false) {
        return Err(ModelError::Unsupported("Qwen2 use_sliding_window (max_window_layers)".into()));
    }
    s.attn.qkv_bias = true;
    s.attn.out_bias = false;
    Ok(s)
}

/// GGUF metadata → spec.
pub(crate) fn gguf_spec(file: &GgufFile, tensors: &TensorMap) -> Result<DecoderSpec> {
    gguf_base(file, tensors, RopePairing::Neox)
}
