//! Gemma 2 (HF `Gemma2ForCausalLM`; GGUF arch `gemma2`): RMSNorm applied as `1 + w`, sandwich
//! norms (`post_attention_norm`, `post_ffw_norm`), embeddings scaled by `sqrt(n_embd)`,
//! GELU-tanh gated FFN, attention scale `query_pre_attn_scalar^-0.5`, attention and final logit
//! soft-capping, sliding window on alternate layers (even layers slide unless `layer_types`
//! says otherwise), tied output.
//!
//! GGUF: llama.cpp's converter adds 1 to every `*norm.weight`, so GGUF norms are used as
//! stored. GGUF has no `query_pre_attn_scalar`; llama.cpp derives the scale from the model
//! size (27B: `n_embd / n_head`, else `head_dim`), and so does [`gemma_attn_scale`].
//! ref: transformers `models/gemma2/modeling_gemma2.py`; llama.cpp `convert_hf_to_gguf.py`
//! (Gemma2Model.modify_tensors), `src/llama-model.cpp` (LLM_ARCH_GEMMA2).

use allmende_formats::GgufFile;

use super::{gguf_base, llama_like, NameMap};
use crate::config::Cfg;
use crate::spec::{Activation, DecoderSpec, FfnKind, NormKind, RopePairing};
use crate::tensors::TensorMap;
use crate::{ModelError, Result};

/// HF Gemma 2 / Gemma 3 tensor names.
pub(crate) static NAMES: NameMap = NameMap {
    global: &[("model.embed_tokens", "token_embd"), ("model.norm", "output_norm"), ("lm_head", "output")],
    layer_prefix: "model.layers.",
    layer: &[
        ("input_layernorm", "attn_norm"),
        ("self_attn.q_proj", "attn_q"),
        ("self_attn.k_proj", "attn_k"),
        ("self_attn.v_proj", "attn_v"),
        ("self_attn.o_proj", "attn_output"),
        ("self_attn.q_norm", "attn_q_norm"),
        ("self_attn.k_norm", "attn_k_norm"),
        ("post_attention_layernorm", "post_attention_norm"),
        ("pre_feedforward_layernorm", "ffn_norm"),
        ("post_feedforward_layernorm", "post_ffw_norm"),
        ("mlp.gate_proj", "ffn_gate"),
        ("mlp.up_proj", "ffn_up"),
        ("mlp.down_proj", "ffn_down"),
    ],
};

/// The Gemma base shared by Gemma 2 and 3 HF configs: `1 + w` RMSNorm, post norms, embedding
/// scale, query_pre_attn_scalar, soft-caps, tied output by default.
pub(crate) fn gemma_hf_base(cfg: &Cfg, arch: &str) -> Result<DecoderSpec> {
    let mut s = llama_like(cfg, arch, true)?;
    if let NormKind::Rms { eps, .. } = s.norm {
        s.norm = NormKind::Rms { eps, unit_offset: true };
    }
    if let Some(name) = cfg.opt_str("hidden_activation")? {
        s.ffn = FfnKind::Gated { act: super::activation("hidden_activation", name)? };
    }
    s.post_norms = true;
    s.embed_scale = Some((s.n_embd as f64).sqrt() as f32);
    let q_scalar = cfg.opt_f32("query_pre_attn_scalar")?.unwrap_or(s.head_dim as f32);
    s.attn.scale = (q_scalar as f64).powf(-0.5) as f32;
    s.attn.softcap = cfg.opt_f32("attn_logit_softcapping")?;
    s.final_softcap = cfg.opt_f32("final_logit_softcapping")?;
    Ok(s)
}

/// Which layers slide: `layer_types` if given, else `sliding(i)`.
pub(crate) fn sliding_layers(cfg: &Cfg, n_layer: usize, sliding: impl Fn(usize) -> bool) -> Result<Vec<bool>> {
    match cfg.opt_str_list("layer_types")? {
        Some(types) if types.len() == n_layer => types
            .iter()
            .map(|t| match t.as_str() {
                "sliding_attention" => Ok(true),
                "full_attention" => Ok(false),
                other => Err(ModelError::Unsupported(format!("layer type `{other}`"))),
            })
            .collect(),
        Some(types) => Err(ModelError::BadConfig {
            key: "layer_types".into(),
            message: format!("{} entries for {n_layer} layers", types.len()),
        }),
        None => Ok((0..n_layer).map(sliding).collect()),
    }
}

/// `config.json` → spec.
pub(crate) fn hf_spec(cfg: &Cfg) -> Result<DecoderSpec> {
    let mut s = gemma_hf_base(cfg, "gemma2")?;
    let window = cfg.opt_usize("sliding_window")?.unwrap_or(4096);
    let sliding = sliding_layers(cfg, s.n_layer, |i| i % 2 == 0)?;
    for (l, slides) in s.layers.iter_mut().zip(sliding) {
        l.sliding_window = slides.then_some(window);
    }
    Ok(s)
}

/// llama.cpp's attention scale for Gemma GGUF files (no `query_pre_attn_scalar` key): the
/// 27B models (46 layers for Gemma 2, 62 for Gemma 3) use `n_embd / n_head`.
pub(crate) fn gemma_attn_scale(s: &DecoderSpec, n_layer_27b: usize) -> f32 {
    let d = if s.n_layer == n_layer_27b { s.n_embd.checked_div(s.n_head).unwrap_or(s.head_dim) } else { s.head_dim };
    1.0 / (d as f32).sqrt()
}

/// The Gemma GGUF base: NeoX RoPE, GELU-tanh through llama.cpp's f16 table, post norms,
/// embedding scale, optional final soft-cap. Norm weights are stored with the 1 already added.
pub(crate) fn gemma_gguf_base(file: &GgufFile, tensors: &TensorMap) -> Result<DecoderSpec> {
    let mut s = gguf_base(file, tensors, RopePairing::Neox)?;
    let arch = s.arch.clone();
    s.ffn = FfnKind::Gated { act: Activation::GeluTanhF16 };
    s.post_norms = true;
    s.embed_scale = Some((s.n_embd as f64).sqrt() as f32);
    s.final_softcap = file.get_opt::<f32>(&format!("{arch}.final_logit_softcapping"))?.filter(|c| *c > 0.0);
    Ok(s)
}

/// GGUF metadata → spec.
pub(crate) fn gguf_spec(file: &GgufFile, tensors: &TensorMap) -> Result<DecoderSpec> {
    let mut s = gemma_gguf_base(file, tensors)?;
    s.attn.scale = gemma_attn_scale(&s, 46);
    s.attn.softcap = file.get_opt::<f32>("gemma2.attn_logit_softcapping")?.filter(|c| *c > 0.0);
    let window = file.get_opt::<usize>("gemma2.attention.sliding_window")?.unwrap_or(4096);
    for (i, l) in s.layers.iter_mut().enumerate() {
        l.sliding_window = (i % 2 == 0).then_some(window);
    }
    Ok(s)
}
