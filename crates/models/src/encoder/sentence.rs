//! The sentence-transformers side of a model folder: which modules run (`modules.json`), where
//! the transformer lives, how its token states are pooled (`1_Pooling/config.json`), whether
//! the result is L2-normalised (a `Normalize` module), and the longest input
//! (`sentence_bert_config.json`, `max_seq_length`).
//!
//! Supported pipelines are `Transformer -> Pooling [-> Normalize]`; other modules (`Dense`,
//! `LayerNorm`, `WordEmbeddings`, ...) are refused by name rather than skipped. A folder without
//! `modules.json` is a plain transformers model, which sentence-transformers runs with mean
//! pooling and no normalisation; so does this.
//!
//! ref: sentence-transformers `SentenceTransformer._load_sbert_model`, `models/Transformer.py`
//! (`sentence_bert_config.json`), `models/Normalize.py`.

use std::path::{Path, PathBuf};

use allmende_formats::HfConfig;
use serde_json::Value;

use super::error::{EncoderError, Result};
use super::pooling::Pooling;

/// How a folder turns token states into a sentence embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct SentenceConfig {
    /// Folder of the transformer module (`config.json`, weights, tokenizer files).
    pub transformer_dir: PathBuf,
    /// Pooling modes.
    pub pooling: Pooling,
    /// Whether the pooled vector is L2-normalised.
    pub normalize: bool,
    /// The longest input in tokens, if the folder says (`max_seq_length`).
    pub max_seq_length: Option<usize>,
    /// Whether the text is lowercased before tokenizing (`do_lower_case`).
    pub do_lower_case: bool,
}

/// What one `modules.json` entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Transformer,
    Pooling,
    Normalize,
}

impl SentenceConfig {
    /// Mean pooling, no normalisation: how sentence-transformers runs a plain model folder.
    pub fn plain(dir: impl Into<PathBuf>) -> SentenceConfig {
        SentenceConfig {
            transformer_dir: dir.into(),
            pooling: Pooling::MEAN,
            normalize: false,
            max_seq_length: None,
            do_lower_case: false,
        }
    }

    /// Reads the sentence-transformers files of `dir` (see the module doc).
    pub fn read(dir: impl AsRef<Path>) -> Result<SentenceConfig> {
        let dir = dir.as_ref();
        let modules_path = dir.join("modules.json");
        let mut sc = if modules_path.is_file() {
            from_modules(dir, &modules_path)?
        } else {
            SentenceConfig::plain(dir)
        };
        let sb = sc.transformer_dir.join("sentence_bert_config.json");
        if sb.is_file() {
            let cfg = HfConfig::open(&sb)?;
            let in_file = |e| allmende_formats::FormatError::InFile { path: sb.clone(), inner: Box::new(e) };
            sc.max_seq_length = cfg.opt_usize("max_seq_length").map_err(in_file)?;
            sc.do_lower_case = cfg.opt_bool("do_lower_case").map_err(in_file)?.unwrap_or(false);
        }
        Ok(sc)
    }
}

fn from_modules(dir: &Path, path: &Path) -> Result<SentenceConfig> {
    let bytes = std::fs::read(path).map_err(|source| EncoderError::Io { path: path.to_path_buf(), source })?;
    let bad = |message: String| EncoderError::BadFile { path: path.to_path_buf(), message };
    let list: Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let entries = list.as_array().ok_or_else(|| bad("expected a JSON array of modules".into()))?;
    let mut kinds = Vec::new();
    let mut sc = SentenceConfig::plain(dir);
    for (i, m) in entries.iter().enumerate() {
        let ty = m.get("type").and_then(Value::as_str).ok_or_else(|| bad(format!("module {i} has no `type`")))?;
        let sub = m.get("path").and_then(Value::as_str).unwrap_or("");
        // `sentence_transformers.models.Pooling` and later module paths alike.
        let kind = match ty.rsplit('.').next().unwrap_or(ty) {
            "Transformer" => Kind::Transformer,
            "Pooling" => Kind::Pooling,
            "Normalize" => Kind::Normalize,
            _ => return Err(EncoderError::Unsupported(format!("sentence-transformers module `{ty}` in {}", path.display()))),
        };
        let module_dir = if sub.is_empty() { dir.to_path_buf() } else { dir.join(sub) };
        match kind {
            Kind::Transformer => sc.transformer_dir = module_dir,
            Kind::Pooling => sc.pooling = Pooling::from_config(&HfConfig::open(module_dir.join("config.json"))?)?,
            Kind::Normalize => sc.normalize = true,
        }
        kinds.push(kind);
    }
    match kinds.as_slice() {
        [Kind::Transformer, Kind::Pooling] | [Kind::Transformer, Kind::Pooling, Kind::Normalize] => Ok(sc),
        other => Err(EncoderError::Unsupported(format!(
            "sentence-transformers pipeline {other:?} in {} (expected Transformer, Pooling[, Normalize])",
            path.display()
        ))),
    }
}
