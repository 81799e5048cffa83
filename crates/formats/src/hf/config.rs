//! `config.json` of a Hugging Face model, kept as JSON with typed accessors.
//!
//! The values stay a `serde_json::Value`: architecture code (models crate) maps HF names to
//! its own vocabulary once. These helpers only make reading typed, with errors naming the key.
//! `null` values count as absent, as transformers treats them.
//! Reference: transformers `configuration_utils.py` (`PretrainedConfig`).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::read_json;
use super::rope::RopeConfig;
use crate::FormatError;

/// A model configuration (`config.json`, or a nested `text_config` / `vision_config`).
#[derive(Clone, Debug, PartialEq)]
pub struct HfConfig {
    value: Value,
}

impl HfConfig {
    /// Read and parse `config.json` at `path`. Errors name the path.
    pub fn open(path: impl AsRef<Path>) -> Result<HfConfig, FormatError> {
        let path = path.as_ref();
        HfConfig::from_value(read_json(path)?).map_err(|e| e.in_file(path))
    }

    /// Parse JSON text.
    pub fn from_json(text: &str) -> Result<HfConfig, FormatError> {
        HfConfig::from_value(crate::json::value(text.as_bytes(), "config.json")?)
    }

    /// Wrap an already-parsed value; it must be a JSON object.
    pub fn from_value(value: Value) -> Result<HfConfig, FormatError> {
        if !value.is_object() {
            return Err(FormatError::InvalidConfig {
                key: String::new(),
                message: "config is not a JSON object".into(),
            });
        }
        Ok(HfConfig { value })
    }

    /// The whole JSON object.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The value of `key`, `None` when absent or `null`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.value.get(key).filter(|v| !v.is_null())
    }

    /// `key` deserialized as `T`, `Ok(None)` when absent or `null`.
    pub fn opt<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, FormatError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => T::deserialize(v)
                .map(Some)
                .map_err(|e| FormatError::InvalidConfig {
                    key: key.to_string(),
                    message: format!("{e} (value {v})"),
                }),
        }
    }

    /// `key` deserialized as `T`; an error when absent.
    pub fn req<T: DeserializeOwned>(&self, key: &str) -> Result<T, FormatError> {
        self.opt(key)?.ok_or_else(|| FormatError::InvalidConfig {
            key: key.to_string(),
            message: "missing".into(),
        })
    }

    /// A required non-negative integer.
    pub fn usize(&self, key: &str) -> Result<usize, FormatError> {
        self.req(key)
    }

    /// An optional non-negative integer.
    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>, FormatError> {
        self.opt(key)
    }

    /// A required number (integers accepted).
    pub fn f64(&self, key: &str) -> Result<f64, FormatError> {
        self.req(key)
    }

    /// An optional number (integers accepted).
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, FormatError> {
        self.opt(key)
    }

    /// An optional bool.
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, FormatError> {
        self.opt(key)
    }

    /// A required string.
    pub fn str(&self, key: &str) -> Result<&str, FormatError> {
        self.opt_str(key)?
            .ok_or_else(|| FormatError::InvalidConfig {
                key: key.to_string(),
                message: "missing".into(),
            })
    }

    /// An optional string.
    pub fn opt_str(&self, key: &str) -> Result<Option<&str>, FormatError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(FormatError::InvalidConfig {
                key: key.to_string(),
                message: format!("expected a string, found {v}"),
            }),
        }
    }

    /// `model_type` (`llama`, `gemma3_text`, ...), if present.
    pub fn model_type(&self) -> Option<&str> {
        self.get("model_type").and_then(Value::as_str)
    }

    /// `architectures` (`["LlamaForCausalLM"]`); empty when absent.
    pub fn architectures(&self) -> Vec<&str> {
        self.get("architectures")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// A nested configuration object (`text_config`, `vision_config`), if present.
    pub fn sub(&self, key: &str) -> Result<Option<HfConfig>, FormatError> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(HfConfig { value: v.clone() })),
            Some(v) => Err(FormatError::InvalidConfig {
                key: key.to_string(),
                message: format!("expected an object, found {v}"),
            }),
        }
    }

    /// Token ids of a key that may hold one id or a list (`eos_token_id`); empty when absent.
    pub fn token_ids(&self, key: &str) -> Result<Vec<u32>, FormatError> {
        token_ids(self.get(key), key)
    }

    /// RoPE parameters normalised from either the old keys or `rope_parameters`.
    pub fn rope(&self) -> Result<RopeConfig, FormatError> {
        RopeConfig::from_config(self)
    }
}

/// One id or a list of ids (`null` and absent give an empty list).
pub(crate) fn token_ids(v: Option<&Value>, key: &str) -> Result<Vec<u32>, FormatError> {
    let bad = |v: &Value| FormatError::InvalidConfig {
        key: key.to_string(),
        message: format!("expected a token id or a list of ids, found {v}"),
    };
    let one = |v: &Value| {
        v.as_u64()
            .and_then(|x| u32::try_from(x).ok())
            .ok_or_else(|| bad(v))
    };
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(one).collect(),
        Some(v) => Ok(vec![one(v)?]),
    }
}
