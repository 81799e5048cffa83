//! The one error type of `allmende-models`: what went wrong while mapping a configuration to a
//! [`crate::DecoderSpec`], loading weights, or running the forward pass, with the key, tensor
//! name or shape involved.

use std::path::PathBuf;

/// Errors from configuration mapping, weight loading and the forward pass.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// Reading the model file or folder failed (GGUF, safetensors, config.json).
    #[error(transparent)]
    Format(#[from] allmende_formats::FormatError),

    /// A weight matrix could not be built from the bytes given.
    #[error("tensor `{name}`: {source}")]
    Tensor {
        /// Canonical (GGUF-style) tensor name.
        name: String,
        /// Why.
        source: allmende_tensor::TensorError,
    },

    /// The architecture is not in the registry.
    #[error("architecture `{name}` is not supported; supported: {supported}")]
    UnknownArch {
        /// The HF class name or GGUF arch string.
        name: String,
        /// Comma-separated list of what is supported.
        supported: String,
    },

    /// A configuration key (config.json or GGUF metadata) is missing.
    #[error("config: required key `{key}` is missing")]
    MissingKey {
        /// The key.
        key: String,
    },

    /// A configuration value is present but unusable.
    #[error("config: `{key}`: {message}")]
    BadConfig {
        /// The key (or a description of the combination).
        key: String,
        /// What is wrong.
        message: String,
    },

    /// A feature this crate does not implement (yet).
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// A batched pass was given more tokens than the scratch holds.
    #[error("a batch of {n_tokens} tokens is larger than n_batch = {n_batch}")]
    BatchTooLarge {
        /// Tokens in the batch.
        n_tokens: usize,
        /// The model's `n_batch`.
        n_batch: usize,
    },

    /// A tensor the spec needs is absent.
    #[error("tensor `{name}` is missing")]
    MissingTensor {
        /// Canonical (GGUF-style) tensor name.
        name: String,
    },

    /// A tensor has the wrong shape for the spec.
    #[error("tensor `{name}`: expected shape {expected:?}, file has {got:?}")]
    ShapeMismatch {
        /// Canonical (GGUF-style) tensor name.
        name: String,
        /// Shape the spec implies (row-major, outermost first).
        expected: Vec<usize>,
        /// Shape in the file (row-major, outermost first).
        got: Vec<usize>,
    },

    /// A tensor has a type that cannot be used where it is needed.
    #[error("tensor `{name}`: type {ty} cannot be used here ({why})")]
    BadTensorType {
        /// Canonical (GGUF-style) tensor name.
        name: String,
        /// Its GGML type.
        ty: allmende_kernels::GgmlType,
        /// Why not.
        why: String,
    },

    /// The path is neither a GGUF file nor a Hugging Face model folder.
    #[error("{}: not a GGUF file or a Hugging Face model folder ({why})", path.display())]
    NotAModel {
        /// The path given.
        path: PathBuf,
        /// What was looked for.
        why: String,
    },

    /// `forward` was called with no tokens.
    #[error("forward: no tokens given")]
    EmptyInput,

    /// A token id outside the vocabulary.
    #[error("token id {id} at batch index {index} is outside the vocabulary of {n_vocab}")]
    TokenOutOfRange {
        /// The id.
        id: u32,
        /// Its index in the batch.
        index: usize,
        /// Vocabulary size.
        n_vocab: usize,
    },

    /// The KV cache cannot hold the new tokens.
    #[error("KV cache full: {len} positions used + {n_new} new > n_ctx {n_ctx}")]
    ContextFull {
        /// Positions already in the cache.
        len: usize,
        /// Tokens in this call.
        n_new: usize,
        /// Cache capacity.
        n_ctx: usize,
    },

    /// The KV cache was made for a model with other dimensions.
    #[error("KV cache shape does not match the model: {0}")]
    CacheMismatch(String),
}

/// Result alias for this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
