//! `generation_config.json`: special token ids and sampling defaults.
//!
//! Reference: transformers `generation/configuration_utils.py` (`GenerationConfig`);
//! `eos_token_id` may be one id or a list (Llama 3 instruct lists several).

use serde_json::Value;

use super::config::token_ids;
use crate::FormatError;

/// The fields of `generation_config.json` the engine uses, plus the raw JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationConfig {
    /// The whole file.
    pub raw: Value,
    /// `bos_token_id`.
    pub bos_token_id: Option<u32>,
    /// `eos_token_id`, as a list (empty when absent).
    pub eos_token_ids: Vec<u32>,
    /// `pad_token_id`.
    pub pad_token_id: Option<u32>,
    /// `do_sample`.
    pub do_sample: Option<bool>,
    /// `temperature`.
    pub temperature: Option<f64>,
    /// `top_p`.
    pub top_p: Option<f64>,
    /// `top_k`.
    pub top_k: Option<u32>,
    /// `min_p`.
    pub min_p: Option<f64>,
    /// `repetition_penalty`.
    pub repetition_penalty: Option<f64>,
    /// `max_new_tokens`.
    pub max_new_tokens: Option<u64>,
    /// `max_length`.
    pub max_length: Option<u64>,
}

impl GenerationConfig {
    /// Interpret a parsed `generation_config.json`.
    pub fn from_value(raw: Value) -> Result<GenerationConfig, FormatError> {
        let Value::Object(m) = &raw else {
            return Err(invalid("", "generation_config is not a JSON object"));
        };
        let get = |k: &str| m.get(k).filter(|v| !v.is_null());
        let float = |k: &str| match get(k) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| invalid(k, format!("expected a number, found {v}"))),
        };
        let uint = |k: &str| match get(k) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| invalid(k, format!("expected a non-negative integer, found {v}"))),
        };
        let id = |k: &str| -> Result<Option<u32>, FormatError> {
            match uint(k)? {
                None => Ok(None),
                Some(x) => u32::try_from(x)
                    .map(Some)
                    .map_err(|_| invalid(k, format!("token id {x} is too large"))),
            }
        };
        let do_sample = match get("do_sample") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(v) => return Err(invalid("do_sample", format!("expected a bool, found {v}"))),
        };
        let top_k = match uint("top_k")? {
            None => None,
            Some(x) => {
                Some(u32::try_from(x).map_err(|_| invalid("top_k", format!("{x} is too large")))?)
            }
        };
        Ok(GenerationConfig {
            bos_token_id: id("bos_token_id")?,
            eos_token_ids: token_ids(get("eos_token_id"), "eos_token_id")?,
            pad_token_id: id("pad_token_id")?,
            do_sample,
            temperature: float("temperature")?,
            top_p: float("top_p")?,
            top_k,
            min_p: float("min_p")?,
            repetition_penalty: float("repetition_penalty")?,
            max_new_tokens: uint("max_new_tokens")?,
            max_length: uint("max_length")?,
            raw,
        })
    }
}

fn invalid(key: &str, message: impl Into<String>) -> FormatError {
    FormatError::InvalidConfig {
        key: key.to_string(),
        message: message.into(),
    }
}
