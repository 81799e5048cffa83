//! [`LocalBackend`]: the [`Backend`] over [`LoadedModel`]s and embedders in this process.
//! Each generation model runs on its own continuous-batching [`Scheduler`] (`--parallel`
//! sequences per forward pass, a bounded queue: 429 when full).
//!
//! Each loaded model is split in two: the weights go to the scheduler's worker thread (the
//! forward pass needs `&mut`), while the tokenizer, chat template and special tokens stay shared
//! so requests are tokenized on the HTTP side without waiting for running jobs. The scheduler
//! follows the engine's own generation loop token for token and batches bit-identically, so a
//! request gives exactly what `allmende run` gives with the same settings, whatever else runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use allmende_engine::embed::{EmbedError, Embedder};
use allmende_engine::{
    GenerateOptions, JobEvent, LoadedModel, Scheduler, SchedulerConfig, StepLogprobs, SubmitError,
    TokenLogprob,
};
use allmende_templates::{ChatTemplate, RenderInput};
use allmende_tokenizer::Tokenizer;

use crate::backend::{
    Backend, BackendError, Embeddings, Event, EventSink, Job, ModelInfo, ModelKind, Prompt, Stats, StepProbs, TokenProb,
};
use crate::format::unix_now;

/// An embedding model as the local backend drives it.
pub trait EmbedModel: Send + Sync {
    /// Embeds `inputs`; returns one vector per input and the number of tokens read. An input
    /// the model cannot take (too long) is [`BackendError::Invalid`].
    fn embed(&self, inputs: &[&str]) -> Result<(Vec<Vec<f32>>, usize), BackendError>;
    /// Longest input in tokens.
    fn n_ctx(&self) -> usize;
    /// Vocabulary size.
    fn n_vocab(&self) -> usize;
}

impl EmbedModel for Embedder {
    fn embed(&self, inputs: &[&str]) -> Result<(Vec<Vec<f32>>, usize), BackendError> {
        match self.embed_counted(inputs) {
            Ok(e) => {
                let n = e.prompt_tokens();
                Ok((e.vectors, n))
            }
            // Never truncated: the client shortens the input.
            Err(e @ EmbedError::InputTooLong { .. }) => {
                Err(BackendError::Invalid { message: format!("{e}."), param: Some("input".into()) })
            }
            Err(e) => Err(BackendError::Internal(format!("embedding failed: {e}"))),
        }
    }

    fn n_ctx(&self) -> usize {
        self.max_tokens()
    }

    fn n_vocab(&self) -> usize {
        self.tokenizer().vocab_size()
    }
}

/// The shared, read-only half of a generation model.
struct Front {
    info: ModelInfo,
    tokenizer: Arc<Tokenizer>,
    template: Option<ChatTemplate>,
    bos_token: Option<String>,
    eos_token: Option<String>,
    eog_ids: Vec<u32>,
}

impl Front {
    fn token(&self, t: TokenLogprob) -> TokenProb {
        let bytes = self.tokenizer.token_to_piece(t.id).unwrap_or_default();
        TokenProb { id: t.id, text: String::from_utf8_lossy(&bytes).into_owned(), bytes, logprob: t.logprob }
    }

    fn step(&self, s: &StepLogprobs) -> StepProbs {
        StepProbs { chosen: self.token(s.chosen), top: s.top.iter().map(|&t| self.token(t)).collect() }
    }
}

/// Generation models on their schedulers, and embedders.
pub struct LocalBackend {
    fronts: Arc<Vec<Front>>,
    schedulers: Vec<Scheduler>,
    embedders: Vec<(ModelInfo, Box<dyn EmbedModel>)>,
    closed: AtomicBool,
}

/// Settings of [`LocalBackend::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalOptions {
    /// Context size per model; `None`: the model's default (trained length capped at 4096).
    pub n_ctx: Option<usize>,
    /// Jobs that may wait for a slot, per model; more get 429.
    pub queue: usize,
    /// Sequences generated at once per model (one forward pass for all of them).
    pub parallel: usize,
    /// Prompt tokens per model kept in the shared prefix cache; `None`: one context's worth.
    pub prefix_cache: Option<usize>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions { n_ctx: None, queue: 64, parallel: 4, prefix_cache: None }
    }
}

/// Prompt tokens per prefill chunk: the `n_batch` that single-sequence runs (`allmende run`)
/// use, so that the scheduler cuts prompts where they do and results are identical.
pub const PREFILL_CHUNK: usize = 512;

/// The `n_batch` to load a generation model with for `parallel` sequences: a prefill chunk
/// plus one decode token per sequence fit in one pass.
pub fn serve_n_batch(parallel: usize) -> usize {
    PREFILL_CHUNK + parallel.max(1)
}

/// Why a local backend could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// Two models share an id.
    #[error("two models have the id `{0}`")]
    DuplicateId(String),
    /// A scheduler could not start (thread, or a model loaded with too small an `n_batch`:
    /// see [`serve_n_batch`]).
    #[error("could not start the scheduler of `{id}`: {source}")]
    Scheduler {
        /// The model id.
        id: String,
        /// Why.
        source: allmende_engine::EngineError,
    },
}

impl LocalBackend {
    /// Serves `models` (id, loaded model) and `embedders` (id, embedding model).
    pub fn new(
        models: Vec<(String, LoadedModel)>,
        embedders: Vec<(String, Box<dyn EmbedModel>)>,
        opts: LocalOptions,
    ) -> Result<LocalBackend, LocalError> {
        let created = unix_now();
        let mut ids: Vec<String> = Vec::new();
        let mut fronts = Vec::with_capacity(models.len());
        let mut schedulers = Vec::with_capacity(models.len());
        for (id, lm) in models {
            if ids.contains(&id) {
                return Err(LocalError::DuplicateId(id));
            }
            ids.push(id.clone());
            let n_ctx = opts.n_ctx.unwrap_or_else(|| lm.default_n_ctx());
            let LoadedModel { model, tokenizer, template, bos_token, eos_token, eog_ids, .. } = lm;
            let info = ModelInfo {
                id: id.clone(),
                kind: ModelKind::Generate,
                n_ctx,
                n_vocab: model.n_vocab(),
                chat: template.is_some(),
                created,
            };
            let tokenizer = Arc::new(tokenizer);
            let cfg = SchedulerConfig {
                n_parallel: opts.parallel.max(1),
                n_ctx,
                queue: opts.queue.max(1),
                prefill_chunk: PREFILL_CHUNK.min(model.n_batch().saturating_sub(opts.parallel.max(1)).max(1)),
                prefix_cache_tokens: opts.prefix_cache.unwrap_or(n_ctx),
                ..SchedulerConfig::default()
            };
            let sched = Scheduler::start(model, tokenizer.clone(), cfg).map_err(|source| LocalError::Scheduler { id, source })?;
            schedulers.push(sched);
            fronts.push(Front { info, tokenizer, template, bos_token, eos_token, eog_ids });
        }
        let mut embeds = Vec::with_capacity(embedders.len());
        for (id, e) in embedders {
            if ids.contains(&id) {
                return Err(LocalError::DuplicateId(id));
            }
            ids.push(id.clone());
            let info =
                ModelInfo { id, kind: ModelKind::Embed, n_ctx: e.n_ctx(), n_vocab: e.n_vocab(), chat: false, created };
            embeds.push((info, e));
        }
        Ok(LocalBackend { fronts: Arc::new(fronts), schedulers, embedders: embeds, closed: AtomicBool::new(false) })
    }

    fn front(&self, model: &str) -> Result<(usize, &Front), BackendError> {
        self.fronts
            .iter()
            .enumerate()
            .find(|(_, f)| f.info.id == model)
            .ok_or_else(|| BackendError::UnknownModel(model.to_string()))
    }
}

impl Drop for LocalBackend {
    fn drop(&mut self) {
        // Each scheduler finishes what it accepted, then its worker exits.
        for s in &self.schedulers {
            s.join();
        }
    }
}

/// The engine job for a request's job; `ignore_eos` bans the end-of-generation tokens (as
/// llama.cpp does) instead of ending on them.
fn engine_options(front: &Front, job: &Job) -> GenerateOptions {
    let mut sampling = job.sampling.clone();
    let mut eog_ids = front.eog_ids.clone();
    if job.ignore_eos {
        for &id in &eog_ids {
            sampling.logit_bias.insert(id, f32::NEG_INFINITY);
        }
        eog_ids.clear();
    }
    GenerateOptions {
        max_tokens: Some(job.max_tokens),
        stop: job.stop.clone(),
        eog_ids,
        sampling,
        penalize_prompt: true,
        logprobs: job.logprobs,
    }
}

impl Backend for LocalBackend {
    fn models(&self) -> Vec<ModelInfo> {
        self.fronts.iter().map(|f| f.info.clone()).chain(self.embedders.iter().map(|(i, _)| i.clone())).collect()
    }

    fn tokenize(&self, model: &str, prompt: &Prompt) -> Result<Vec<u32>, BackendError> {
        let (_, f) = self.front(model)?;
        let internal = |e: allmende_tokenizer::TokenizerError| BackendError::Internal(format!("tokenizer: {e}"));
        match prompt {
            Prompt::Text(text) => f.tokenizer.encode(text, true, true).map_err(internal),
            Prompt::Chat(messages) => {
                let template = f.template.as_ref().ok_or_else(|| BackendError::Invalid {
                    message: format!("The model `{model}` has no chat template; use POST /v1/completions."),
                    param: Some("model".into()),
                })?;
                let mut input = RenderInput::new(messages.clone());
                input.add_generation_prompt = true;
                input.bos_token = f.bos_token.clone();
                input.eos_token = f.eos_token.clone();
                // A template that refuses the conversation (roles out of order, ...) is the
                // client's to fix.
                let rendered = template.render(&input).map_err(|e| BackendError::Invalid {
                    message: format!("The chat template rejected the messages: {e}"),
                    param: Some("messages".into()),
                })?;
                // The template wrote every special token it wants: add none.
                f.tokenizer.encode(&rendered, false, true).map_err(internal)
            }
        }
    }

    fn submit(&self, job: Job, sink: EventSink) -> Result<(), BackendError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(BackendError::ShuttingDown);
        }
        let (model, _) = self.front(&job.model)?;
        let fronts = Arc::clone(&self.fronts);
        let opts = self.fronts.get(model).map(|f| engine_options(f, &job)).unwrap_or_default();
        let eog_ids = opts.eog_ids.clone();
        let events_sink = sink.clone();
        let events = move |e: JobEvent| {
            let Some(front) = fronts.get(model) else { return events_sink.send(Event::Error("unknown model".into())) };
            match e {
                JobEvent::Token { id, text, logprobs } => {
                    // The end-of-generation token is not part of the text: no logprob entry.
                    let logprobs = match logprobs {
                        Some(lp) if !eog_ids.contains(&id) => vec![front.step(&lp)],
                        _ => Vec::new(),
                    };
                    events_sink.send(Event::Delta { text, tokens: 1, logprobs })
                }
                JobEvent::Text(text) => events_sink.send(Event::Delta { text, tokens: 0, logprobs: Vec::new() }),
                JobEvent::Done(s) => {
                    events_sink.send(Event::Done { finish_reason: s.finish_reason, completion_tokens: s.completion_tokens })
                }
                JobEvent::Failed(m) => events_sink.send(Event::Error(m)),
            }
        };
        let cancel_sink = sink;
        let engine_job = allmende_engine::Job {
            prompt: job.prompt,
            opts,
            events: Box::new(events),
            cancelled: Some(Box::new(move || cancel_sink.is_cancelled())),
            json: job.json,
        };
        let Some(sched) = self.schedulers.get(model) else { return Err(BackendError::UnknownModel(job.model)) };
        sched.submit(engine_job).map_err(|e| match e {
            SubmitError::QueueFull(_) => BackendError::QueueFull,
            SubmitError::ShuttingDown => BackendError::ShuttingDown,
            e @ (SubmitError::EmptyPrompt | SubmitError::TooLong { .. }) => {
                BackendError::Invalid { message: format!("{e}."), param: Some("messages".into()) }
            }
        })
    }

    fn embed(&self, model: &str, inputs: &[String]) -> Result<Embeddings, BackendError> {
        let Some((_, e)) = self.embedders.iter().find(|(i, _)| i.id == model) else {
            return Err(BackendError::UnknownModel(model.to_string()));
        };
        if self.closed.load(Ordering::SeqCst) {
            return Err(BackendError::ShuttingDown);
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let (vectors, prompt_tokens) = e.embed(&refs)?;
        Ok(Embeddings { vectors, prompt_tokens })
    }

    fn stats(&self) -> Stats {
        let mut out = Stats::default();
        for s in &self.schedulers {
            let st = s.stats();
            out.queued += st.queued;
            out.active += st.active;
            out.kv_used += st.kv_used;
            out.kv_capacity += st.kv_capacity;
            out.prefix_cached += st.prefix_cached;
            out.prefix_reused += st.prefix_reused;
        }
        out
    }

    fn shutdown(&self) {
        // Refuse new jobs; every scheduler still runs what it accepted.
        self.closed.store(true, Ordering::SeqCst);
        for s in &self.schedulers {
            s.shutdown();
        }
    }
}
