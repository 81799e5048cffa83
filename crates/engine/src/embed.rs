//! Sentence embeddings for `POST /v1/embeddings`: an [`Embedder`] is a sentence-transformers
//! model folder's tokenizer plus its [`Encoder`] (BERT, pooling, `Normalize`; see
//! `allmende_models::encoder`).
//!
//! Text is tokenized with the folder's `tokenizer.json`, whose post-processor adds `[CLS]` and
//! `[SEP]`; special-token text in the input (`[SEP]`) is matched as the special token, as
//! sentence-transformers' tokenizer call does. The padding and truncation that file may carry (all-MiniLM-L6-v2's pads every input
//! to 128 and cuts it there) are switched off before loading: sequences run unpadded, and an
//! input longer than the model's `max_seq_length` (256 for all-MiniLM-L6-v2, counted with the
//! special tokens) is refused with [`EmbedError::InputTooLong`], as the OpenAI API answers such
//! a request with 400 instead of truncating. If `sentence_bert_config.json` says
//! `do_lower_case`, text is lowercased first, as sentence-transformers does.
//!
//! [`Embedder::embed_counted`] also returns each input's token count (OpenAI
//! `usage.prompt_tokens` is their sum). An `Embedder` is `Send + Sync`; concurrent calls share
//! the encoder's thread pool one job at a time.
//!
//! ```no_run
//! use allmende_engine::embed::Embedder;
//! let e = Embedder::load("all-MiniLM-L6-v2")?;
//! let out = e.embed_counted(&["A man is eating food.", "A man is eating a piece of bread."])?;
//! let cos: f32 = out.vectors[0].iter().zip(&out.vectors[1]).map(|(a, b)| a * b).sum();
//! println!("cosine {cos}, {} prompt tokens", out.prompt_tokens());
//! # Ok::<(), allmende_engine::embed::EmbedError>(())
//! ```

use std::path::{Path, PathBuf};

use allmende_models::encoder::{Encoder, EncoderError, SentenceConfig};
use allmende_models::ModelOptions;
use allmende_tokenizer::{Tokenizer, TokenizerError};
use serde_json::Value;

/// Errors of loading an embedding model or embedding text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The encoder could not be loaded or refused the ids.
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    /// The tokenizer could not be loaded or failed on the text.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// A tokenizer file could not be read or is not JSON.
    #[error("{}: {message}", path.display())]
    TokenizerFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An input has more tokens than the model accepts.
    #[error("input {index} is {tokens} tokens long, but this model's maximum input length is {max} tokens")]
    InputTooLong {
        /// Index of the input in the request.
        index: usize,
        /// Its length in tokens, `[CLS]` and `[SEP]` included.
        tokens: usize,
        /// The model's `max_seq_length`.
        max: usize,
    },
}

/// Vectors and the token count of each input.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    /// One vector of [`Embedder::dim`] values per input, in input order.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens of each input, special tokens included.
    pub token_counts: Vec<usize>,
}

impl Embeddings {
    /// All inputs' tokens (OpenAI `usage.prompt_tokens` and `usage.total_tokens`).
    pub fn prompt_tokens(&self) -> usize {
        self.token_counts.iter().sum()
    }
}

/// A tokenizer and a sentence encoder from one model folder.
#[derive(Debug)]
pub struct Embedder {
    tokenizer: Tokenizer,
    encoder: Encoder,
    lowercase: bool,
}

impl Embedder {
    /// Loads a sentence-transformers folder with default options (one thread per CPU).
    pub fn load(dir: impl AsRef<Path>) -> Result<Embedder, EmbedError> {
        Embedder::load_with(dir, &ModelOptions::default())
    }

    /// Loads a sentence-transformers folder; `opts.n_threads` sizes the encoder's pool.
    pub fn load_with(dir: impl AsRef<Path>, opts: &ModelOptions) -> Result<Embedder, EmbedError> {
        let sc = SentenceConfig::read(dir)?;
        let encoder = Encoder::load_with(&sc, opts)?;
        let tokenizer = load_tokenizer(&sc.transformer_dir)?;
        Ok(Embedder { tokenizer, encoder, lowercase: sc.do_lower_case })
    }

    /// The tokenizer (padding and truncation off).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Length of every vector.
    pub fn dim(&self) -> usize {
        self.encoder.dim()
    }

    /// The most tokens one input may have, special tokens included.
    pub fn max_tokens(&self) -> usize {
        self.encoder.max_seq_len()
    }

    /// The ids the encoder sees for `text`: `[CLS] ... [SEP]` for BERT, not truncated.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let ids = if self.lowercase {
            self.tokenizer.encode(&text.to_lowercase(), true, true)?
        } else {
            self.tokenizer.encode(text, true, true)?
        };
        Ok(ids)
    }

    /// One vector per text (see [`Embedder::embed_counted`]).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(self.embed_counted(texts)?.vectors)
    }

    /// One vector per text and each text's token count. Every text is tokenized and checked
    /// against [`Embedder::max_tokens`] before any is encoded; the first one too long is the
    /// error. An empty list gives empty results.
    pub fn embed_counted(&self, texts: &[&str]) -> Result<Embeddings, EmbedError> {
        let max = self.max_tokens();
        let ids = texts
            .iter()
            .enumerate()
            .map(|(index, t)| {
                let ids = self.tokenize(t)?;
                if ids.len() > max {
                    return Err(EmbedError::InputTooLong { index, tokens: ids.len(), max });
                }
                Ok(ids)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let vectors = self.encoder.encode(&ids)?;
        Ok(Embeddings { vectors, token_counts: ids.iter().map(Vec::len).collect() })
    }
}

/// `tokenizer.json` with padding and truncation removed, then `tokenizer_config.json` if any.
fn load_tokenizer(dir: &Path) -> Result<Tokenizer, EmbedError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| EmbedError::TokenizerFile { path: path.to_path_buf(), message: e.to_string() })
    };
    let path = dir.join("tokenizer.json");
    let mut doc: Value = serde_json::from_slice(&read(&path)?)
        .map_err(|e| EmbedError::TokenizerFile { path: path.clone(), message: e.to_string() })?;
    if let Some(obj) = doc.as_object_mut() {
        // `null` is how `tokenizers` saves "no padding" / "no truncation".
        obj.insert("padding".into(), Value::Null);
        obj.insert("truncation".into(), Value::Null);
    }
    let mut tokenizer = Tokenizer::from_tokenizer_json(doc.to_string().as_bytes())?;
    let cfg = dir.join("tokenizer_config.json");
    if cfg.is_file() {
        tokenizer = tokenizer.with_tokenizer_config(&read(&cfg)?)?;
    }
    Ok(tokenizer)
}
