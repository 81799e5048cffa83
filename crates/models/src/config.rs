//! The view of a Hugging Face `config.json` that the arch files read: getters in the types a
//! spec needs (f32, usize, string lists) over `allmende_formats::HfConfig`, and RoPE settings
//! from its normaliser (`RopeConfig`: old `rope_theta` + `rope_scaling`, transformers 5
//! `rope_parameters`, per layer type for Gemma 3) mapped to [`RopeScaling`].
//!
//! ref: transformers `modeling_rope_utils.py` (`rope_type` names and their parameters).

use allmende_formats::hf::{RopeConfig, RopeParams};
use allmende_formats::HfConfig;

use crate::spec::RopeScaling;
use crate::{ModelError, Result};

/// A `config.json` with its RoPE settings normalised.
pub(crate) struct Cfg<'a> {
    inner: &'a HfConfig,
    rope: RopeConfig,
}

impl<'a> Cfg<'a> {
    pub fn new(inner: &'a HfConfig) -> Result<Cfg<'a>> {
        Ok(Cfg { inner, rope: inner.rope()? })
    }

    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        Ok(self.inner.opt_usize(key)?)
    }

    pub fn req_usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?.ok_or_else(|| ModelError::MissingKey { key: key.to_string() })
    }

    pub fn opt_f32(&self, key: &str) -> Result<Option<f32>> {
        Ok(self.inner.opt_f64(key)?.map(|x| x as f32))
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        Ok(self.inner.opt_bool(key)?)
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>> {
        Ok(self.inner.opt_str(key)?)
    }

    pub fn opt_str_list(&self, key: &str) -> Result<Option<Vec<String>>> {
        Ok(self.inner.opt::<Vec<String>>(key)?)
    }

    /// True when the config gives RoPE per layer type (Gemma 3).
    pub fn rope_per_layer_type(&self) -> bool {
        !self.rope.by_layer_type.is_empty()
    }

    /// RoPE base, scaling and partial rotary factor for layers of `layer_type` (or the model's
    /// one RoPE when `None` or not per layer type).
    pub fn rope(&self, layer_type: Option<&str>) -> Result<(f32, RopeScaling, Option<f32>)> {
        let p = match layer_type {
            Some(t) => self.rope.for_layer_type(t),
            None => &self.rope.params,
        };
        Ok((p.theta as f32, scaling(p)?, p.partial_rotary_factor.map(|f| f as f32)))
    }
}

/// Maps one normalised RoPE parameter set to a [`RopeScaling`].
fn scaling(p: &RopeParams) -> Result<RopeScaling> {
    let need = |name: &str, v: Option<f64>| {
        v.map(|x| x as f32).ok_or_else(|| ModelError::MissingKey { key: format!("rope {}: {name}", p.rope_type) })
    };
    match p.rope_type.as_str() {
        "default" => Ok(RopeScaling::None),
        "linear" => Ok(RopeScaling::Linear { factor: need("factor", p.factor)? }),
        "llama3" => Ok(RopeScaling::Llama3 {
            factor: need("factor", p.factor)?,
            low_freq_factor: need("low_freq_factor", p.low_freq_factor)?,
            high_freq_factor: need("high_freq_factor", p.high_freq_factor)?,
            original_ctx: p
                .original_max_position_embeddings
                .ok_or_else(|| ModelError::MissingKey { key: "rope llama3: original_max_position_embeddings".into() })?,
        }),
        other => Err(ModelError::Unsupported(format!("RoPE type `{other}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> HfConfig {
        HfConfig::from_json(text).unwrap()
    }

    #[test]
    fn rope_in_both_spellings() {
        let new = cfg(r#"{"rope_parameters": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6}}"#);
        let old = cfg(r#"{"rope_theta": 1e6, "rope_scaling": {"type": "linear", "factor": 8.0}}"#);
        for c in [&new, &old] {
            let (theta, s, _) = Cfg::new(c).unwrap().rope(None).unwrap();
            assert_eq!(theta, 1e6);
            assert_eq!(s, RopeScaling::Linear { factor: 8.0 });
        }
        let none = cfg(r#"{"rope_scaling": null}"#);
        assert_eq!(Cfg::new(&none).unwrap().rope(None).unwrap(), (1e4, RopeScaling::None, None));
        let yarn = cfg(r#"{"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}"#);
        assert!(matches!(Cfg::new(&yarn).unwrap().rope(None), Err(ModelError::Unsupported(_))));
    }

    #[test]
    fn rope_keyed_by_layer_type() {
        let c = cfg(
            r#"{"rope_parameters": {
                "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
                "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}}"#,
        );
        let c = Cfg::new(&c).unwrap();
        assert!(c.rope_per_layer_type());
        assert_eq!(c.rope(Some("sliding_attention")).unwrap(), (1e4, RopeScaling::None, None));
        assert_eq!(c.rope(Some("full_attention")).unwrap(), (1e6, RopeScaling::Linear { factor: 8.0 }, None));
    }

    #[test]
    fn llama3_parameters() {
        let c = cfg(
            r#"{"rope_theta": 5e5, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
                "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}"#,
        );
        let (_, s, _) = Cfg::new(&c).unwrap().rope(None).unwrap();
        assert_eq!(
            s,
            RopeScaling::Llama3 { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_ctx: 8192 }
        );
    }
}
