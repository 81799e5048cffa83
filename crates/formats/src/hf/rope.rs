//! RoPE parameters from `config.json`, normalised from the three forms found in the wild:
//!
//! 1. transformers ≤ 4.x: top-level `rope_theta` plus optional `rope_scaling` whose kind is in
//!    `type` (older) or `rope_type` (newer); Gemma 3 adds `rope_local_base_freq` for its
//!    sliding-window layers (the scaling applies to the full-attention layers only).
//! 2. transformers 5: `rope_parameters` = `{rope_type, rope_theta, factor, ...}`.
//! 3. transformers 5 with per-layer-type RoPE (Gemma 3): `rope_parameters` keyed by layer type,
//!    `{"full_attention": {...}, "sliding_attention": {...}}`.
//!
//! Reference: transformers `modeling_rope_utils.py` (`ROPE_INIT_FUNCTIONS`, the fields each
//! rope type reads, `standardize_rope_params`) and `models/gemma3/configuration_gemma3.py`.

use serde_json::{Map, Value};

use super::config::HfConfig;
use crate::FormatError;

/// Default base frequency when a config gives none (transformers' default for llama).
pub const DEFAULT_ROPE_THETA: f64 = 10_000.0;

/// The parameters of one RoPE variant.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeParams {
    /// `default`, `linear`, `dynamic`, `yarn`, `longrope`, `llama3` (`su` from old Phi-3
    /// configs is reported as `longrope`).
    pub rope_type: String,
    /// Base frequency (`rope_theta`).
    pub theta: f64,
    /// Scaling factor (`linear`, `dynamic`, `yarn`, `llama3`, `longrope`).
    pub factor: Option<f64>,
    /// `llama3`: wavelengths above `original_max / low_freq_factor` are scaled fully.
    pub low_freq_factor: Option<f64>,
    /// `llama3`: wavelengths below `original_max / high_freq_factor` are not scaled.
    pub high_freq_factor: Option<f64>,
    /// Context length the model was pre-trained with (`llama3`, `yarn`, `longrope`); from the
    /// RoPE parameters or else the top level of the config.
    pub original_max_position_embeddings: Option<usize>,
    /// `yarn` / `longrope` attention scaling (`attention_factor`).
    pub attention_factor: Option<f64>,
    /// `yarn` ramp bound (`beta_fast`).
    pub beta_fast: Option<f64>,
    /// `yarn` ramp bound (`beta_slow`).
    pub beta_slow: Option<f64>,
    /// `longrope` per-dimension factors for short contexts.
    pub short_factor: Option<Vec<f64>>,
    /// `longrope` per-dimension factors for long contexts.
    pub long_factor: Option<Vec<f64>>,
    /// Fraction of each head's dimensions that is rotated; from the RoPE parameters or else
    /// the top level of the config.
    pub partial_rotary_factor: Option<f64>,
    /// Every other key of the RoPE parameters (e.g. `mrope_section`, `truncate`).
    pub extra: Map<String, Value>,
}

impl RopeParams {
    /// Plain RoPE with base `theta`.
    pub fn default_with_theta(theta: f64) -> RopeParams {
        RopeParams {
            rope_type: "default".to_string(),
            theta,
            factor: None,
            low_freq_factor: None,
            high_freq_factor: None,
            original_max_position_embeddings: None,
            attention_factor: None,
            beta_fast: None,
            beta_slow: None,
            short_factor: None,
            long_factor: None,
            partial_rotary_factor: None,
            extra: Map::new(),
        }
    }
}

/// RoPE for a whole model: one set of parameters, or one per layer type.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeConfig {
    /// Parameters for every layer, or for models with per-layer-type RoPE those of
    /// `full_attention` (else the first layer type).
    pub params: RopeParams,
    /// Per layer type (`full_attention`, `sliding_attention`, as in the config's
    /// `layer_types`), in config order; empty when all layers share `params`.
    pub by_layer_type: Vec<(String, RopeParams)>,
}

impl RopeConfig {
    /// The parameters for layers of type `layer_type` (`params` when not per layer type or
    /// the type is not listed).
    pub fn for_layer_type(&self, layer_type: &str) -> &RopeParams {
        self.by_layer_type
            .iter()
            .find(|(t, _)| t == layer_type)
            .map_or(&self.params, |(_, p)| p)
    }

    /// Normalise the RoPE keys of `cfg`.
    pub fn from_config(cfg: &HfConfig) -> Result<RopeConfig, FormatError> {
        let top_theta = cfg.opt_f64("rope_theta")?;
        let top = Top {
            original_max: cfg.opt_usize("original_max_position_embeddings")?,
            partial_rotary_factor: cfg.opt_f64("partial_rotary_factor")?,
        };
        if let Some(rp) = cfg.get("rope_parameters") {
            let Value::Object(m) = rp else {
                return Err(invalid(
                    "rope_parameters",
                    format!("expected an object, found {rp}"),
                ));
            };
            let nested = !m.is_empty() && m.values().all(Value::is_object);
            if !nested {
                let params = params("rope_parameters", m, top_theta, &top)?;
                return Ok(RopeConfig {
                    params,
                    by_layer_type: Vec::new(),
                });
            }
            let mut by_layer_type = Vec::with_capacity(m.len());
            for (layer_type, v) in m {
                let key = format!("rope_parameters.{layer_type}");
                let Value::Object(pm) = v else {
                    return Err(invalid(&key, "expected an object"));
                };
                by_layer_type.push((layer_type.clone(), params(&key, pm, top_theta, &top)?));
            }
            return Ok(RopeConfig::per_layer_type(by_layer_type));
        }

        // Old form: rope_theta + rope_scaling.
        let theta = top_theta.unwrap_or(DEFAULT_ROPE_THETA);
        let scaled = match cfg.get("rope_scaling") {
            None => {
                let mut p = RopeParams::default_with_theta(theta);
                p.original_max_position_embeddings = top.original_max;
                p.partial_rotary_factor = top.partial_rotary_factor;
                p
            }
            Some(Value::Object(m)) => params("rope_scaling", m, Some(theta), &top)?,
            Some(v) => {
                return Err(invalid(
                    "rope_scaling",
                    format!("expected an object or null, found {v}"),
                ))
            }
        };
        check_theta("rope_theta", theta)?;
        if let Some(local) = cfg.opt_f64("rope_local_base_freq")? {
            // Gemma 3 (transformers 4.x): sliding layers use plain RoPE with the local base.
            check_theta("rope_local_base_freq", local)?;
            let mut sliding = RopeParams::default_with_theta(local);
            sliding.partial_rotary_factor = top.partial_rotary_factor;
            return Ok(RopeConfig::per_layer_type(vec![
                ("full_attention".to_string(), scaled),
                ("sliding_attention".to_string(), sliding),
            ]));
        }
        Ok(RopeConfig {
            params: scaled,
            by_layer_type: Vec::new(),
        })
    }

    fn per_layer_type(by_layer_type: Vec<(String, RopeParams)>) -> RopeConfig {
        let params = by_layer_type
            .iter()
            .find(|(t, _)| t == "full_attention")
            .or(by_layer_type.first())
            .map_or_else(
                || RopeParams::default_with_theta(DEFAULT_ROPE_THETA),
                |(_, p)| p.clone(),
            );
        RopeConfig {
            params,
            by_layer_type,
        }
    }
}

/// Top-level keys that RoPE parameter sets fall back to.
struct Top {
    original_max: Option<usize>,
    partial_rotary_factor: Option<f64>,
}

fn invalid(key: &str, message: impl Into<String>) -> FormatError {
    FormatError::InvalidConfig {
        key: key.to_string(),
        message: message.into(),
    }
}

fn check_theta(key: &str, theta: f64) -> Result<(), FormatError> {
    if theta.is_finite() && theta > 0.0 {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("RoPE base must be a positive number, found {theta}"),
        ))
    }
}

/// One parameter set from a `rope_scaling` or `rope_parameters` object.
fn params(
    key: &str,
    m: &Map<String, Value>,
    theta: Option<f64>,
    top: &Top,
) -> Result<RopeParams, FormatError> {
    let mut extra = m.clone();
    let mut take = |name: &str| extra.remove(name).filter(|v| !v.is_null());
    let num = |name: &str, v: Option<Value>| -> Result<Option<f64>, FormatError> {
        match v {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| {
                invalid(
                    &format!("{key}.{name}"),
                    format!("expected a number, found {v}"),
                )
            }),
        }
    };
    let list = |name: &str, v: Option<Value>| -> Result<Option<Vec<f64>>, FormatError> {
        match v {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(Value::as_f64)
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| invalid(&format!("{key}.{name}"), "expected a list of numbers")),
            Some(v) => Err(invalid(
                &format!("{key}.{name}"),
                format!("expected a list of numbers, found {v}"),
            )),
        }
    };

    // `rope_type` (newer) or `type` (older); both may be present and then agree.
    let rope_type = match (take("rope_type"), take("type")) {
        (Some(Value::String(t)), _) | (None, Some(Value::String(t))) => t,
        (None, None) => "default".to_string(),
        (Some(v), _) | (_, Some(v)) => {
            return Err(invalid(
                &format!("{key}.rope_type"),
                format!("expected a string, found {v}"),
            ))
        }
    };
    let rope_type = if rope_type == "su" {
        "longrope".to_string()
    } else {
        rope_type
    };
    if rope_type.is_empty() {
        return Err(invalid(&format!("{key}.rope_type"), "empty"));
    }
    let theta = num("rope_theta", take("rope_theta"))?
        .or(theta)
        .unwrap_or(DEFAULT_ROPE_THETA);
    check_theta(&format!("{key}.rope_theta"), theta)?;
    let factor = num("factor", take("factor"))?;
    if let Some(f) = factor {
        if !(f.is_finite() && f > 0.0) {
            return Err(invalid(
                &format!("{key}.factor"),
                format!("must be a positive number, found {f}"),
            ));
        }
    }
    let original_max = match take("original_max_position_embeddings") {
        None => top.original_max,
        Some(v) => Some(
            v.as_u64()
                .and_then(|x| usize::try_from(x).ok())
                .ok_or_else(|| {
                    invalid(
                        &format!("{key}.original_max_position_embeddings"),
                        format!("expected an integer, found {v}"),
                    )
                })?,
        ),
    };
    Ok(RopeParams {
        rope_type,
        theta,
        factor,
        low_freq_factor: num("low_freq_factor", take("low_freq_factor"))?,
        high_freq_factor: num("high_freq_factor", take("high_freq_factor"))?,
        original_max_position_embeddings: original_max,
        attention_factor: num("attention_factor", take("attention_factor"))?,
        beta_fast: num("beta_fast", take("beta_fast"))?,
        beta_slow: num("beta_slow", take("beta_slow"))?,
        short_factor: list("short_factor", take("short_factor"))?,
        long_factor: list("long_factor", take("long_factor"))?,
        partial_rotary_factor: num("partial_rotary_factor", take("partial_rotary_factor"))?
            .or(top.partial_rotary_factor),
        extra,
    })
}
