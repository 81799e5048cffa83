//! The error type of the sentence encoder: loading (config, sentence-transformers files,
//! weights) and encoding (empty or over-long sequences, ids outside the vocabulary).

use std::path::PathBuf;

/// Errors from loading an [`super::Encoder`] or encoding with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncoderError {
    /// Reading `config.json`, a sentence-transformers config or the weights failed.
    #[error(transparent)]
    Format(#[from] allmende_formats::FormatError),

    /// A weight tensor is absent, misshapen or of an unusable type.
    #[error(transparent)]
    Model(#[from] crate::ModelError),

    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// A sentence-transformers file (`modules.json`, a module config) is malformed.
    #[error("{}: {message}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// The model or the sentence-transformers pipeline uses something not implemented.
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// A sequence with no tokens.
    #[error("input {index} has no tokens")]
    EmptySequence {
        /// Its index in the batch.
        index: usize,
    },

    /// A sequence longer than the model accepts.
    #[error("input {index} has {len} tokens, more than the model's maximum of {max}")]
    SequenceTooLong {
        /// Its index in the batch.
        index: usize,
        /// Its length in tokens.
        len: usize,
        /// The most tokens the model accepts (`max_seq_length`).
        max: usize,
    },

    /// A token id outside the vocabulary.
    #[error("input {index}: token id {id} at position {position} is outside the vocabulary of {n_vocab}")]
    TokenOutOfRange {
        /// Index of the sequence in the batch.
        index: usize,
        /// Position in the sequence.
        position: usize,
        /// The id.
        id: u32,
        /// Vocabulary size.
        n_vocab: usize,
    },
}

/// Result alias for the encoder.
pub type Result<T, E = EncoderError> = std::result::Result<T, E>;
