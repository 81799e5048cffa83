//! Hugging Face model folders (the layout `save_pretrained` writes and the Hub serves).
//!
//! [`HfFolder::open`] reads `config.json`, opens the weights (`model.safetensors` or the shards
//! of `model.safetensors.index.json`, memory-mapped), and the optional tokenizer files,
//! `generation_config.json` and chat template. Chat-template precedence follows transformers 5:
//! `chat_template.jinja`, then `chat_template.json`, then `tokenizer_config.json`.
//! PyTorch weights (`pytorch_model.bin`, sharded or not) are read, when no safetensors weights
//! are there, by the restricted unpickler of [`crate::pickle`]: nothing in them is executed.
//! Reference: transformers `modeling_utils.py` (weight file names), `tokenization_utils_base.py`
//! and `processing_utils.py` (chat template files).

mod config;
mod generation;
mod rope;
mod tokenizer_config;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use config::HfConfig;
pub use generation::GenerationConfig;
pub use rope::{RopeConfig, RopeParams, DEFAULT_ROPE_THETA};
pub use tokenizer_config::TokenizerConfig;

use crate::safetensors::SafetensorsSet;
use crate::FormatError;

/// Largest JSON side file read (configs, tokenizer configs, templates, indexes).
const MAX_JSON_BYTES: u64 = 64 << 20;

/// A Hugging Face model folder with its weights opened.
#[derive(Debug)]
pub struct HfFolder {
    dir: PathBuf,
    config: HfConfig,
    weights: SafetensorsSet,
    tokenizer_json: Option<PathBuf>,
    tokenizer_config: Option<TokenizerConfig>,
    generation_config: Option<GenerationConfig>,
    chat_template: Option<String>,
}

impl HfFolder {
    /// Open the model folder `dir`. `config.json` and safetensors weights are required.
    pub fn open(dir: impl AsRef<Path>) -> Result<HfFolder, FormatError> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(FormatError::Io {
                path: dir,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            });
        }
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            return Err(FormatError::MissingFile {
                dir,
                what: "config.json".into(),
            });
        }
        let config = HfConfig::open(&config_path)?;
        let weights = open_weights(&dir)?;

        let tokenizer_json = Some(dir.join("tokenizer.json")).filter(|p| p.is_file());
        let tokenizer_config = optional_json(
            &dir.join("tokenizer_config.json"),
            TokenizerConfig::from_value,
        )?;
        let generation_config = optional_json(
            &dir.join("generation_config.json"),
            GenerationConfig::from_value,
        )?;
        let chat_template = chat_template(&dir, tokenizer_config.as_ref())?;
        Ok(HfFolder {
            dir,
            config,
            weights,
            tokenizer_json,
            tokenizer_config,
            generation_config,
            chat_template,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `config.json`.
    pub fn config(&self) -> &HfConfig {
        &self.config
    }

    /// The weights (one file or all shards).
    pub fn weights(&self) -> &SafetensorsSet {
        &self.weights
    }

    /// Path of `tokenizer.json`, if the folder has one.
    pub fn tokenizer_json(&self) -> Option<&Path> {
        self.tokenizer_json.as_deref()
    }

    /// `tokenizer_config.json`, if present.
    pub fn tokenizer_config(&self) -> Option<&TokenizerConfig> {
        self.tokenizer_config.as_ref()
    }

    /// `generation_config.json`, if present.
    pub fn generation_config(&self) -> Option<&GenerationConfig> {
        self.generation_config.as_ref()
    }

    /// The chat template (`chat_template.jinja` > `chat_template.json` > tokenizer config).
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// End-of-sequence ids: `generation_config.json`'s when given, else `config.json`'s.
    pub fn eos_token_ids(&self) -> Result<Vec<u32>, FormatError> {
        match &self.generation_config {
            Some(g) if !g.eos_token_ids.is_empty() => Ok(g.eos_token_ids.clone()),
            _ => self.config.token_ids("eos_token_id"),
        }
    }

    /// RoPE parameters from `config.json`.
    pub fn rope(&self) -> Result<RopeConfig, FormatError> {
        self.config
            .rope()
            .map_err(|e| e.in_file(&self.dir.join("config.json")))
    }
}

/// `model.safetensors.index.json`, else `model.safetensors`; else the PyTorch checkpoint
/// (`pytorch_model.bin` or the shards of `pytorch_model.bin.index.json`), read through the
/// restricted unpickler into memory (see [`crate::pickle`]).
fn open_weights(dir: &Path) -> Result<SafetensorsSet, FormatError> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        return SafetensorsSet::open_index(&index);
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return SafetensorsSet::open(&single);
    }
    for name in ["pytorch_model.bin", "pytorch_model.bin.index.json"] {
        let p = dir.join(name);
        if p.is_file() {
            return crate::pickle::open_checkpoint(&p);
        }
    }
    Err(FormatError::MissingFile {
        dir: dir.to_path_buf(),
        what: "weights (model.safetensors, model.safetensors.index.json, pytorch_model.bin \
               or pytorch_model.bin.index.json)"
            .into(),
    })
}

/// Read a file of at most [`MAX_JSON_BYTES`].
fn read_capped(path: &Path) -> Result<Vec<u8>, FormatError> {
    let len = std::fs::metadata(path)
        .map_err(|e| FormatError::io(path, e))?
        .len();
    if len > MAX_JSON_BYTES {
        return Err(FormatError::InFile {
            path: path.to_path_buf(),
            inner: Box::new(FormatError::InvalidHeader {
                what: "file".into(),
                message: format!(
                    "{len} bytes, larger than the {MAX_JSON_BYTES}-byte limit for JSON side files"
                ),
            }),
        });
    }
    std::fs::read(path).map_err(|e| FormatError::io(path, e))
}

/// Parse the JSON file at `path`.
pub(crate) fn read_json(path: &Path) -> Result<Value, FormatError> {
    let bytes = read_capped(path)?;
    crate::json::value(&bytes, &path.display().to_string())
}

/// Parse `path` with `f` if the file exists; errors name the path.
fn optional_json<T>(
    path: &Path,
    f: impl FnOnce(Value) -> Result<T, FormatError>,
) -> Result<Option<T>, FormatError> {
    if !path.is_file() {
        return Ok(None);
    }
    let v = read_json(path)?;
    f(v).map(Some).map_err(|e| e.in_file(path))
}

fn chat_template(dir: &Path, tok: Option<&TokenizerConfig>) -> Result<Option<String>, FormatError> {
    let jinja = dir.join("chat_template.jinja");
    if jinja.is_file() {
        let bytes = read_capped(&jinja)?;
        let text = String::from_utf8(bytes).map_err(|_| FormatError::InFile {
            path: jinja.clone(),
            inner: Box::new(FormatError::InvalidUtf8 {
                what: "chat template".into(),
                offset: 0,
            }),
        })?;
        return Ok(Some(text));
    }
    let json = dir.join("chat_template.json");
    if json.is_file() {
        let v = read_json(&json)?;
        let t = match v.get("chat_template") {
            Some(t) => tokenizer_config::chat_templates(t).map_err(|e| e.in_file(&json))?,
            None => Vec::new(),
        };
        if let Some(t) = tokenizer_config::pick_template(&t) {
            return Ok(Some(t));
        }
    }
    Ok(tok.and_then(|t| t.chat_template.clone()))
}
