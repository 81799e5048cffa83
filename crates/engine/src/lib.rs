//! allmende-engine: generation on top of a loaded model — the sampler chain, stop strings and a generic
//! generation loop.
//!
//! - [`sampler`]: llama.cpp-style sampler chain (logit bias → penalties → top-k → top-p → min-p →
//!   temperature → dist, or greedy), a seeded deterministic RNG, [`SamplingParams`] with validation.
//! - [`stop`]: streaming stop-string matcher ([`StopMatcher`]).
//! - [`generate`](mod@generate): the decode loop over the [`LogitsModel`] and [`Detokenizer`] traits.
//!
//! - [`loaded`]: [`LoadedModel`], a model with its tokenizer and chat template, loaded from a GGUF
//!   file or an HF folder, and the glue that runs the generation loop on it.
//! - [`perplexity`](mod@perplexity): perplexity as llama.cpp's tool computes it.
//!
//! The sampler and the loop know nothing about architectures or vocabularies; they plug in through
//! the traits. No HTTP, no batching yet.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod constrain;
pub mod embed;
pub mod error;
pub mod generate;
pub mod loaded;
pub mod perplexity;
pub mod prefix_cache;
pub mod sampler;
pub mod scheduler;
pub mod stop;

pub use error::{EngineError, Result};
pub use generate::{
    generate, Detokenizer, FinishReason, GenerateOptions, GenerateOutput, LogitsModel,
    StepLogprobs, Timings,
};
pub use loaded::{vocab_from_gguf, LoadError, LoadedModel, PerplexityRunError};
pub use perplexity::{perplexity, Perplexity, PerplexityError};
pub use sampler::{Sampler, SamplerStage, SamplingParams, TokenLogprob};
pub use scheduler::{DetokFactory, Job, JobEvent, JobSummary, Scheduler, SchedulerConfig, SchedulerStats, SeqState, SeqStep, SubmitError};
pub use stop::{StopEvent, StopMatcher};
