//! The seam between the HTTP layer and whatever runs the models: the [`Backend`] trait and the
//! plain data that crosses it.
//!
//! The HTTP layer parses and validates a request, asks the backend to tokenize the prompt, checks
//! the context budget, and submits one [`Job`] per choice (`n`). The backend streams [`Event`]s
//! back through an [`EventSink`]; when the client goes away the sink's receiver is dropped, so
//! [`EventSink::send`] returns `ControlFlow::Break` and [`EventSink::is_cancelled`] turns true —
//! the backend must then stop the job (before starting it, if it is still queued).
//!
//! Everything here is synchronous and thread-friendly: a backend runs its models on its own
//! threads; the HTTP layer calls [`Backend::tokenize`] and [`Backend::embed`] from blocking
//! tasks.

use std::ops::ControlFlow;

use allmende_engine::{FinishReason, SamplingParams};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A decoder that generates text (chat and completions).
    Generate,
    /// An encoder that returns embeddings.
    Embed,
}

/// One served model, as `/v1/models` lists it and as the HTTP layer checks requests against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The id clients send: the name the user gave (catalogue name or file name).
    pub id: String,
    /// What the model does.
    pub kind: ModelKind,
    /// Context window in tokens: prompt + generated tokens must fit (for embedders: the longest
    /// input).
    pub n_ctx: usize,
    /// Vocabulary size (token ids in prompts and `logit_bias` must be below it).
    pub n_vocab: usize,
    /// Whether the model has a chat template (needed by `/v1/chat/completions`).
    pub chat: bool,
    /// Unix time (seconds) when the model was loaded; OpenAI's `created`.
    pub created: u64,
}

/// A prompt to tokenize.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Chat messages (`{"role", "content", ...}` objects, content already flattened to a
    /// string) to render with the model's chat template, generation prompt added.
    Chat(Vec<Value>),
    /// Raw text for a completion (BOS added where the model adds one).
    Text(String),
}

/// One generation: one choice of one request.
#[derive(Debug, Clone)]
pub struct Job {
    /// Model id (one of [`Backend::models`]).
    pub model: String,
    /// Prompt token ids (non-empty; the HTTP layer checked they are below `n_vocab`).
    pub prompt: Vec<u32>,
    /// Most tokens to generate; the HTTP layer guarantees `prompt.len() + max_tokens <= n_ctx`.
    pub max_tokens: usize,
    /// Stop strings (at most 4, none empty); the matched one is not part of the text.
    pub stop: Vec<String>,
    /// Sampler settings (validated against the model's vocabulary by the HTTP layer).
    pub sampling: SamplingParams,
    /// Keep generating past end-of-generation tokens (llama.cpp `ignore_eos`): the backend bans
    /// them, so generation ends at `max_tokens` or a stop string.
    pub ignore_eos: bool,
    /// `Some(n)`: report each generated token's log-probability and the `n` most likely
    /// alternatives (`Some(0)`: the chosen token only).
    pub logprobs: Option<usize>,
    /// `response_format` `json_object` / `json_schema`: the output is constrained to a JSON
    /// document of this grammar.
    pub json: Option<std::sync::Arc<allmende_engine::constrain::JsonGrammar>>,
}

/// A token with its log-probability, as the logprobs fields show it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenProb {
    /// Token id.
    pub id: u32,
    /// The token's text (invalid UTF-8 replaced).
    pub text: String,
    /// The token's raw bytes.
    pub bytes: Vec<u8>,
    /// Natural-log probability; `-inf` for a token the sampler had filtered out.
    pub logprob: f32,
}

/// Log-probabilities of one generated token.
#[derive(Debug, Clone, PartialEq)]
pub struct StepProbs {
    /// The chosen token.
    pub chosen: TokenProb,
    /// The most likely alternatives, best first.
    pub top: Vec<TokenProb>,
}

/// What happened in a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Generated text that became final, with the number of tokens generated since the previous
    /// delta and the log-probabilities of tokens not yet reported (when the job asked for them;
    /// they may lag the text and arrive in a later delta, e.g. one with empty text).
    Delta {
        /// Text to append (may be empty).
        text: String,
        /// Tokens generated since the previous delta.
        tokens: usize,
        /// Log-probabilities of tokens not yet reported, in order.
        logprobs: Vec<StepProbs>,
    },
    /// The job finished; nothing follows.
    Done {
        /// Why it ended.
        finish_reason: FinishReason,
        /// Tokens generated in total (the end-of-generation token included).
        completion_tokens: usize,
    },
    /// The job failed after it was accepted; nothing follows.
    Error(String),
}

/// Where a job's events go: one request's channel, tagged with the choice index.
#[derive(Debug, Clone)]
pub struct EventSink {
    index: usize,
    tx: UnboundedSender<(usize, Event)>,
}

impl EventSink {
    /// A sink that tags every event with `index`.
    pub fn new(index: usize, tx: UnboundedSender<(usize, Event)>) -> Self {
        EventSink { index, tx }
    }

    /// Sends an event; `Break` when the client has gone (the job should stop).
    pub fn send(&self, event: Event) -> ControlFlow<()> {
        match self.tx.send((self.index, event)) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }

    /// Whether the client has gone (check before starting a queued job).
    pub fn is_cancelled(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Embeddings of a batch of inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// One vector per input, in order.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens in all inputs together.
    pub prompt_tokens: usize,
}

/// Load and capacity figures for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Jobs waiting to start.
    pub queued: usize,
    /// Jobs running now.
    pub active: usize,
    /// KV-cache positions in use.
    pub kv_used: usize,
    /// KV-cache positions available in total.
    pub kv_capacity: usize,
    /// Prompt tokens held by the shared prefix cache.
    pub prefix_cached: usize,
    /// Prompt tokens taken from a cache (a slot's own or the shared one) instead of computed.
    pub prefix_reused: u64,
}

/// Why the backend refused or failed a call; the HTTP layer maps each to a status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// No model of that id (404).
    #[error("The model `{0}` does not exist")]
    UnknownModel(String),
    /// The request is invalid for this model (400), e.g. a chat template that rejects the
    /// conversation.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// The request field at fault, if one is.
        param: Option<String>,
    },
    /// The queue is full (429).
    #[error("the server is busy: the request queue is full; retry later")]
    QueueFull,
    /// The backend is shutting down (503).
    #[error("the server is shutting down")]
    ShuttingDown,
    /// Anything else (500).
    #[error("{0}")]
    Internal(String),
}

/// What runs the models.
pub trait Backend: Send + Sync + 'static {
    /// The served models.
    fn models(&self) -> Vec<ModelInfo>;

    /// Renders (chat) and tokenizes a prompt for `model`. May be slow (templates, long texts):
    /// the HTTP layer calls it from a blocking task.
    fn tokenize(&self, model: &str, prompt: &Prompt) -> Result<Vec<u32>, BackendError>;

    /// Queues a job. Returns at once: `QueueFull` when there is no room, `ShuttingDown` after
    /// [`Backend::shutdown`]. Events then flow through `sink` until `Done` or `Error`.
    fn submit(&self, job: Job, sink: EventSink) -> Result<(), BackendError>;

    /// Embeds `inputs` with an embedding model (blocking; called from a blocking task).
    fn embed(&self, model: &str, inputs: &[String]) -> Result<Embeddings, BackendError>;

    /// Current load figures.
    fn stats(&self) -> Stats;

    /// Stops accepting jobs; jobs already accepted run to the end.
    fn shutdown(&self);
}
