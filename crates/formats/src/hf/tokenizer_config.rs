//! `tokenizer_config.json`: chat template(s), special tokens and the add-BOS/EOS flags.
//!
//! Forms handled (reference: transformers `tokenization_utils_base.py`,
//! `PreTrainedTokenizerBase.get_chat_template` and `AddedToken`):
//! - `chat_template` is a string, or a list of `{"name", "template"}` of which `default` is
//!   used (or the only one when there is exactly one);
//! - special tokens are strings or `{"content": ..., "lstrip": ...}` objects (AddedToken);
//! - `add_bos_token` / `add_eos_token` may be absent (the tokenizer's own post-processor decides).

use serde_json::Value;

use crate::FormatError;

/// The fields of `tokenizer_config.json` the engine needs, plus the raw JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenizerConfig {
    /// The whole file.
    pub raw: Value,
    /// The chat template to use (`default` of the named list form).
    pub chat_template: Option<String>,
    /// Every named template, in file order (`[("default", t)]` for the string form).
    pub chat_templates: Vec<(String, String)>,
    /// `bos_token` content.
    pub bos_token: Option<String>,
    /// `eos_token` content.
    pub eos_token: Option<String>,
    /// `unk_token` content.
    pub unk_token: Option<String>,
    /// `pad_token` content.
    pub pad_token: Option<String>,
    /// `add_bos_token`, when given.
    pub add_bos_token: Option<bool>,
    /// `add_eos_token`, when given.
    pub add_eos_token: Option<bool>,
}

impl TokenizerConfig {
    /// Interpret a parsed `tokenizer_config.json`.
    pub fn from_value(raw: Value) -> Result<TokenizerConfig, FormatError> {
        let Value::Object(m) = &raw else {
            return Err(invalid("", "tokenizer_config is not a JSON object"));
        };
        let chat_templates = match m.get("chat_template") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => chat_templates(v)?,
        };
        let chat_template = pick_template(&chat_templates);
        let token = |key: &str| token_content(m.get(key), key);
        let flag = |key: &str| match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(invalid(key, format!("expected a bool, found {v}"))),
        };
        Ok(TokenizerConfig {
            chat_template,
            chat_templates,
            bos_token: token("bos_token")?,
            eos_token: token("eos_token")?,
            unk_token: token("unk_token")?,
            pad_token: token("pad_token")?,
            add_bos_token: flag("add_bos_token")?,
            add_eos_token: flag("add_eos_token")?,
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

/// The string form, or the list of named templates.
pub(crate) fn chat_templates(v: &Value) -> Result<Vec<(String, String)>, FormatError> {
    match v {
        Value::String(s) => Ok(vec![("default".to_string(), s.clone())]),
        Value::Array(list) => list
            .iter()
            .map(|item| {
                let name = item.get("name").and_then(Value::as_str);
                let template = item.get("template").and_then(Value::as_str);
                match (name, template) {
                    (Some(n), Some(t)) => Ok((n.to_string(), t.to_string())),
                    _ => Err(invalid(
                        "chat_template",
                        format!("list entry is not {{\"name\", \"template\"}}: {item}"),
                    )),
                }
            })
            .collect(),
        v => Err(invalid(
            "chat_template",
            format!("expected a string or a list of named templates, found {v}"),
        )),
    }
}

/// `default`, else the only template.
pub(crate) fn pick_template(templates: &[(String, String)]) -> Option<String> {
    templates
        .iter()
        .find(|(n, _)| n == "default")
        .or(if templates.len() == 1 {
            templates.first()
        } else {
            None
        })
        .map(|(_, t)| t.clone())
}

/// A special token given as a string or an AddedToken object.
fn token_content(v: Option<&Value>, key: &str) -> Result<Option<String>, FormatError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Object(o)) => match o.get("content") {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            _ => Err(invalid(key, "token object has no string `content`")),
        },
        Some(v) => Err(invalid(
            key,
            format!("expected a string or {{\"content\": ...}}, found {v}"),
        )),
    }
}
