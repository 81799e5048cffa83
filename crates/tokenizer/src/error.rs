//! The crate's error type: every fallible operation returns [`TokenizerError`].

use std::path::PathBuf;

/// Errors from loading a tokenizer, encoding text or decoding ids.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizerError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The Hugging Face `tokenizers` crate rejected a `tokenizer.json`.
    #[error("tokenizer.json could not be loaded: {0}")]
    HfLoad(String),
    /// The Hugging Face `tokenizers` crate failed to encode text.
    #[error("tokenizer.json encode failed: {0}")]
    HfEncode(String),
    /// The Hugging Face `tokenizers` crate failed to decode ids.
    #[error("tokenizer.json decode failed: {0}")]
    HfDecode(String),
    /// A JSON document (tokenizer.json, tokenizer_config.json) is malformed.
    #[error("{what}: {message}")]
    Json {
        /// Which document.
        what: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// `tokenizer.ggml.model` names a tokenizer family this crate does not implement.
    #[error("tokenizer model `{0}` is not supported; supported: llama (SentencePiece BPE), gpt2 (byte-level BPE), bert (WordPiece)")]
    UnsupportedModel(String),
    /// `tokenizer.ggml.pre` names a pre-tokenizer this crate does not know.
    #[error("pre-tokenizer `{0}` is not supported")]
    UnknownPreTokenizer(String),
    /// A byte-level BPE vocabulary has no `tokenizer.ggml.merges`.
    #[error("BPE vocabulary without tokenizer.ggml.merges")]
    MissingMerges,
    /// A per-token array does not have one entry per token.
    #[error("{key} has {got} entries, but the vocabulary has {expected} tokens")]
    LengthMismatch {
        /// The GGUF key of the array.
        key: &'static str,
        /// The number of tokens.
        expected: usize,
        /// The number of entries in the array.
        got: usize,
    },
    /// The same token text appears twice in the vocabulary (llama.cpp refuses such files too).
    #[error("duplicate token in vocabulary: {token:?} has ids {first} and {second}")]
    DuplicateToken {
        /// The token text.
        token: String,
        /// The first id holding it.
        first: u32,
        /// The second id holding it.
        second: u32,
    },
    /// The vocabulary asks for a special token to be added but does not define its id.
    #[error("{flag} is true, but {key} is not set")]
    MissingSpecialToken {
        /// The `add_*` flag that is set.
        flag: &'static str,
        /// The GGUF key of the missing id.
        key: &'static str,
    },
    /// A token id is not in the vocabulary.
    #[error("token id {id} is out of range (vocabulary size {vocab_size})")]
    TokenOutOfRange {
        /// The offending id.
        id: u32,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// A SentencePiece vocabulary lacks the byte-fallback token for a byte of the input.
    #[error("vocabulary has no byte token for 0x{0:02X}")]
    MissingByteToken(u8),
    /// A pre-tokenizer regex failed to compile or to run.
    #[error("pre-tokenizer regex {pattern:?}: {message}")]
    Regex {
        /// The regex (after llama.cpp's category collapsing).
        pattern: String,
        /// The regex engine's message.
        message: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, TokenizerError>;
