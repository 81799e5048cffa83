//! [`LocalBackend`]: the first real [`Backend`], over [`LoadedModel`]s — one sequence at a time
//! on one worker thread, fed by a bounded queue (429 when full). The continuous-batching
//! scheduler replaces it behind the same trait.
//!
//! Each loaded model is split in two: the weights and a KV cache go to the worker thread (the
//! forward pass needs `&mut`), while the tokenizer, chat template and special tokens stay shared
//! so requests are tokenized on the HTTP side without waiting for the running job. Generation is
//! the engine's own loop ([`allmende_engine::generate`]), so a request gives exactly what
//! `allmende run` gives with the same settings.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use allmende_engine::embed::{EmbedError, Embedder};
use allmende_engine::{
    generate, Detokenizer, FinishReason, GenerateOptions, LoadedModel, LogitsModel, StepLogprobs, TokenLogprob,
};
use allmende_models::{KvCache, Logits, Model, ModelError};
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
    tokenizer: Tokenizer,
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

/// The worker's half: weights and one KV cache sized to the context.
struct Engine {
    model: Model,
    cache: KvCache,
}

struct Work {
    model: usize,
    job: Job,
    sink: EventSink,
}

#[derive(Default)]
struct Counters {
    queued: AtomicUsize,
    active: AtomicUsize,
    kv_used: AtomicUsize,
}

/// One sequence at a time, in arrival order.
pub struct LocalBackend {
    fronts: Arc<Vec<Front>>,
    embedders: Vec<(ModelInfo, Box<dyn EmbedModel>)>,
    tx: Mutex<Option<SyncSender<Work>>>,
    closed: AtomicBool,
    counters: Arc<Counters>,
    kv_capacity: usize,
    worker: Mutex<Option<JoinHandle<()>>>,
}

/// Settings of [`LocalBackend::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalOptions {
    /// Context size per model; `None`: the model's default (trained length capped at 4096).
    pub n_ctx: Option<usize>,
    /// Jobs that may wait for the worker; more get 429.
    pub queue: usize,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions { n_ctx: None, queue: 64 }
    }
}

/// Why a local backend could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// Two models share an id.
    #[error("two models have the id `{0}`")]
    DuplicateId(String),
    /// The worker thread could not start.
    #[error("could not start the worker thread: {0}")]
    Thread(#[from] std::io::Error),
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
        let mut engines = Vec::with_capacity(models.len());
        let mut kv_capacity = 0;
        for (id, lm) in models {
            if ids.contains(&id) {
                return Err(LocalError::DuplicateId(id));
            }
            ids.push(id.clone());
            let n_ctx = opts.n_ctx.unwrap_or_else(|| lm.default_n_ctx());
            let LoadedModel { model, tokenizer, template, bos_token, eos_token, eog_ids, .. } = lm;
            let info = ModelInfo {
                id,
                kind: ModelKind::Generate,
                n_ctx,
                n_vocab: model.n_vocab(),
                chat: template.is_some(),
                created,
            };
            let cache = model.new_cache(n_ctx);
            kv_capacity += n_ctx;
            fronts.push(Front { info, tokenizer, template, bos_token, eos_token, eog_ids });
            engines.push(Engine { model, cache });
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
        let fronts = Arc::new(fronts);
        let counters = Arc::new(Counters::default());
        let (tx, rx) = sync_channel(opts.queue.max(1));
        let worker = {
            let fronts = fronts.clone();
            let counters = counters.clone();
            std::thread::Builder::new()
                .name("allmende-gen".into())
                .spawn(move || worker(rx, engines, &fronts, &counters))?
        };
        Ok(LocalBackend {
            fronts,
            embedders: embeds,
            tx: Mutex::new(Some(tx)),
            closed: AtomicBool::new(false),
            counters,
            kv_capacity,
            worker: Mutex::new(Some(worker)),
        })
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
        // Closing the queue ends the worker once it has run what was accepted.
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(h) = self.worker.lock().ok().and_then(|mut w| w.take()) {
            let _ = h.join();
        }
    }
}

fn worker(rx: Receiver<Work>, mut engines: Vec<Engine>, fronts: &[Front], counters: &Counters) {
    while let Ok(work) = rx.recv() {
        counters.queued.fetch_sub(1, Ordering::SeqCst);
        if work.sink.is_cancelled() {
            continue;
        }
        let (Some(engine), Some(front)) = (engines.get_mut(work.model), fronts.get(work.model)) else {
            let _ = work.sink.send(Event::Error("unknown model index".into()));
            continue;
        };
        counters.active.fetch_add(1, Ordering::SeqCst);
        run_job(engine, front, &work.job, &work.sink, &counters.kv_used);
        counters.kv_used.store(0, Ordering::SeqCst);
        counters.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn run_job(engine: &mut Engine, front: &Front, job: &Job, sink: &EventSink, kv_used: &AtomicUsize) {
    engine.cache.clear();
    let mut sampling = job.sampling.clone();
    let mut eog_ids = front.eog_ids.clone();
    if job.ignore_eos {
        // As llama.cpp does: end-of-generation tokens cannot be sampled at all.
        for &id in &eog_ids {
            sampling.logit_bias.insert(id, f32::NEG_INFINITY);
        }
        eog_ids.clear();
    }
    let opts = GenerateOptions {
        max_tokens: Some(job.max_tokens),
        stop: job.stop.clone(),
        eog_ids,
        sampling,
        penalize_prompt: true,
        logprobs: job.logprobs,
    };
    let pending = Cell::new(0usize);
    let mut detok = CountingDetok { inner: front.tokenizer.stream_decoder(true), pushed: &pending };
    let mut runner = Runner { model: &mut engine.model, cache: &mut engine.cache, kv_used };
    let result = generate(&mut runner, &mut detok, &job.prompt, &opts, |text| {
        sink.send(Event::Delta { text: text.to_string(), tokens: pending.replace(0), logprobs: Vec::new() })
    });
    match result {
        Ok(out) => {
            // The loop hands out log-probabilities only at the end; they follow the text. The
            // end-of-generation token is not part of the text, so it gets no entry either.
            let mut steps = out.logprobs.as_slice();
            if out.finish_reason == FinishReason::Eog && steps.len() == out.ids.len() {
                steps = &steps[..steps.len().saturating_sub(1)];
            }
            let logprobs: Vec<StepProbs> = steps.iter().map(|s| front.step(s)).collect();
            let rest = pending.replace(0);
            if rest > 0 || !logprobs.is_empty() {
                let _ = sink.send(Event::Delta { text: String::new(), tokens: rest, logprobs });
            }
            let _ = sink.send(Event::Done { finish_reason: out.finish_reason, completion_tokens: out.ids.len() });
        }
        Err(e) => {
            let _ = sink.send(Event::Error(e.to_string()));
        }
    }
}

/// The model and its cache as the generation loop sees them.
struct Runner<'a> {
    model: &'a mut Model,
    cache: &'a mut KvCache,
    kv_used: &'a AtomicUsize,
}

impl LogitsModel for Runner<'_> {
    type Error = ModelError;

    fn n_vocab(&self) -> usize {
        self.model.n_vocab()
    }

    fn n_ctx(&self) -> Option<usize> {
        Some(self.cache.n_ctx())
    }

    fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<&[f32], ModelError> {
        // The loop appends in order; another position means it restarted, so drop the rest.
        if pos != self.cache.len() {
            self.cache.truncate(pos);
        }
        self.kv_used.store(pos + tokens.len(), Ordering::SeqCst);
        self.model.forward(tokens, self.cache, Logits::Last)
    }
}

/// The tokenizer's streaming decoder, counting the tokens it has seen since the last text.
struct CountingDetok<'a> {
    inner: allmende_tokenizer::StreamDecoder<'a>,
    pushed: &'a Cell<usize>,
}

impl Detokenizer for CountingDetok<'_> {
    fn push(&mut self, id: u32) -> String {
        self.pushed.set(self.pushed.get() + 1);
        // The sampler only yields ids below n_vocab; an unknown one contributes no text rather
        // than failing the stream.
        self.inner.push(id).unwrap_or_default()
    }

    fn flush(&mut self) -> String {
        self.inner.finish()
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
        let guard = self.tx.lock().map_err(|_| BackendError::Internal("queue lock poisoned".into()))?;
        let Some(tx) = guard.as_ref() else { return Err(BackendError::ShuttingDown) };
        self.counters.queued.fetch_add(1, Ordering::SeqCst);
        match tx.try_send(Work { model, job, sink }) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.counters.queued.fetch_sub(1, Ordering::SeqCst);
                match e {
                    TrySendError::Full(_) => Err(BackendError::QueueFull),
                    TrySendError::Disconnected(_) => {
                        Err(BackendError::Internal("the generation worker has stopped".into()))
                    }
                }
            }
        }
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
        Stats {
            queued: self.counters.queued.load(Ordering::SeqCst),
            active: self.counters.active.load(Ordering::SeqCst),
            kv_used: self.counters.kv_used.load(Ordering::SeqCst),
            kv_capacity: self.kv_capacity,
        }
    }

    fn shutdown(&self) {
        // Refuse new jobs; the queue stays open so accepted jobs still run.
        self.closed.store(true, Ordering::SeqCst);
    }
}
