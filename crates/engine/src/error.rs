//! The engine crate's one error type, [`EngineError`].
//!
//! Every fallible public function of `allmende-engine` returns `Result<_, EngineError>`. Variants carry the
//! offending value so that the server can turn them into a clear 400 (bad sampling parameters) or 500 (model
//! failure) without guessing.

use std::error::Error as StdError;

/// Errors of the sampler, the stop-string matcher and the generation loop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A sampling parameter is outside its allowed range.
    #[error("sampling parameter `{name}` = {value}: {reason}")]
    InvalidParam {
        /// Parameter name as in [`crate::SamplingParams`] (`top_p`, `temperature`, ...).
        name: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// What the allowed range is.
        reason: &'static str,
    },
    /// The vocabulary size given to the sampler is zero.
    #[error("the vocabulary is empty (n_vocab = 0)")]
    EmptyVocab,
    /// A token id is not below `n_vocab` (in `logit_bias`, `accept`, or the prompt).
    #[error("token id {token} is out of range for a vocabulary of {n_vocab} tokens")]
    TokenOutOfRange {
        /// The offending id.
        token: u32,
        /// The vocabulary size.
        n_vocab: usize,
    },
    /// The logits slice passed to the sampler does not have `n_vocab` entries.
    #[error("logits have {got} entries, the sampler was built for n_vocab = {expected}")]
    LogitsLength {
        /// `n_vocab` of the sampler.
        expected: usize,
        /// Length of the slice that was passed.
        got: usize,
    },
    /// Every candidate was masked out (all logits `-inf` or NaN, e.g. every token banned by `logit_bias`).
    #[error("no token can be sampled: every candidate has logit -inf or NaN")]
    AllMasked,
    /// A custom sampler chain finished without a stage that selects a token.
    #[error(
        "the sampler chain has no stage that selects a token (add a greedy or dist stage last)"
    )]
    NoSelection,
    /// `logprobs` was asked for before any token was sampled.
    #[error("no token has been sampled yet, so there is no distribution to report")]
    NothingSampled,
    /// Generation was asked for with an empty prompt (the model needs at least one token to predict from).
    #[error("the prompt is empty; at least one token (e.g. BOS) is needed")]
    EmptyPrompt,
    /// The prompt does not fit in the model's context window (we never truncate silently).
    #[error("the prompt has {n_prompt} tokens but the context window holds {n_ctx}")]
    PromptTooLong {
        /// Number of prompt tokens.
        n_prompt: usize,
        /// The model's context size.
        n_ctx: usize,
    },
    /// The model's forward pass failed.
    #[error("model forward pass failed at position {pos}")]
    Model {
        /// Position of the first token of the failing batch.
        pos: usize,
        /// The model's own error.
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },
    /// A component was set up with settings that cannot work together.
    #[error("configuration: {0}")]
    Config(String),
}

/// Shorthand for `Result<T, EngineError>`.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
