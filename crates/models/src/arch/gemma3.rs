//! Gemma 3 text (HF `Gemma3ForCausalLM`; GGUF arch `gemma3`): the Gemma 2 block plus per-head
//! q/k RMSNorm (also `1 + w`), no soft-capping by default, and two RoPEs: sliding layers use the
//! local base (`rope_parameters.sliding_attention`, or `rope_local_base_freq`, default 1e4,
//! unscaled), full layers the global one (`rope_parameters.full_attention`, or `rope_theta` +
//! `rope_scaling`). Which layers slide comes from `layer_types`, else every
//! `sliding_window_pattern`-th layer is full.
//!
//! GGUF (llama.cpp): norms stored as `1 + w`; sliding window from `gemma3.attention.sliding_window`
//! with llama.cpp's fixed pattern (every 6th layer full); local RoPE base 1e4 unscaled; global
//! RoPE from `rope.freq_base` and `rope.scaling.*`.
//! ref: transformers `models/gemma3/modeling_gemma3.py`, `configuration_gemma3.py`; llama.cpp
//! `src/llama-model.cpp` (LLM_ARCH_GEMMA3), `convert_hf_to_gguf.py` (Gemma3Model).

use allmende_formats::{GgufArray, GgufFile, GgufValue};

use super::gemma2::{gemma_attn_scale, gemma_gguf_base, gemma_hf_base, sliding_layers};
use crate::config::Cfg;
use crate::spec::{DecoderSpec, RopeScaling, RopeSpec};
use crate::tensors::TensorMap;
use crate::{ModelError, Result};

/// `config.json` → spec.
pub(crate) fn hf_spec(cfg: &Cfg) -> Result<DecoderSpec> {
    let mut s = gemma_hf_base(cfg, "gemma3")?;
    s.attn.qk_norm = true;
    let window = cfg.opt_usize("sliding_window")?.unwrap_or(4096);
    let pattern = cfg.opt_usize("sliding_window_pattern")?.or(cfg.opt_usize("_sliding_window_pattern")?).unwrap_or(6);
    let sliding = sliding_layers(cfg, s.n_layer, |i| pattern == 0 || (i + 1) % pattern != 0)?;
    let base = s.layers.first().and_then(|l| l.rope.clone()).ok_or(ModelError::BadConfig {
        key: "num_hidden_layers".into(),
        message: "no layers".into(),
    })?;
    let global = cfg.rope(Some("full_attention"))?;
    let local = if cfg.rope_per_layer_type() {
        cfg.rope(Some("sliding_attention"))?
    } else {
        // transformers' Gemma3TextConfig default `rope_local_base_freq`.
        (1e4, RopeScaling::None, None)
    };
    for (l, slides) in s.layers.iter_mut().zip(sliding) {
        let (theta, scaling, _) = if slides { local.clone() } else { global.clone() };
        l.sliding_window = slides.then_some(window);
        l.rope = Some(RopeSpec { theta, scaling, ..base.clone() });
    }
    Ok(s)
}

/// GGUF metadata → spec.
pub(crate) fn gguf_spec(file: &GgufFile, tensors: &TensorMap) -> Result<DecoderSpec> {
    let mut s = gemma_gguf_base(file, tensors)?;
    s.attn.scale = gemma_attn_scale(&s, 62);
    s.attn.qk_norm = true;
    let window = file.get_opt::<usize>("gemma3.attention.sliding_window")?.filter(|w| *w > 0);
    if let Some(window) = window {
        let sliding = sliding_pattern(file, "gemma3.attention.sliding_window_pattern", s.n_layer, 6)?;
        let local_theta = file.get_opt::<f32>("gemma3.rope.freq_base_swa")?.unwrap_or(10000.0);
        for (l, slides) in s.layers.iter_mut().zip(sliding) {
            l.sliding_window = slides.then_some(window);
            if slides {
                if let Some(r) = &mut l.rope {
                    r.theta = local_theta;
                    r.scaling = RopeScaling::None;
                }
            }
        }
    }
    Ok(s)
}

/// Which layers slide, as llama.cpp's `get_key_or_arr` + `set_swa_pattern` read it: a scalar
/// period `p` (layer `i` slides unless `i % p == p - 1`; 0 = all), a per-layer array (nonzero =
/// sliding), or `default_period` when the key is absent.
pub(crate) fn sliding_pattern(file: &GgufFile, key: &str, n_layer: usize, default_period: usize) -> Result<Vec<bool>> {
    let by_period = |p: usize| (0..n_layer).map(|i| p == 0 || i % p < p - 1).collect();
    match file.value(key) {
        None => Ok(by_period(default_period)),
        Some(GgufValue::Array(GgufArray::Bool(v))) if v.len() == n_layer => Ok(v.clone()),
        Some(GgufValue::Array(a)) => match a.integers() {
            Some(v) if v.len() == n_layer => Ok(v.iter().map(|x| *x != 0).collect()),
            _ => Err(ModelError::BadConfig { key: key.into(), message: format!("expected {n_layer} per-layer flags, found {}", a.type_description()) }),
        },
        Some(_) => Ok(by_period(file.get_usize(key)?)),
    }
}
