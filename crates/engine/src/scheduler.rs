//! Continuous batching: one worker thread owns a [`Model`] and runs many sequences through it,
//! one pass over the weights per step for all of them.
//!
//! Jobs wait in a bounded queue ([`Scheduler::submit`] refuses with [`SubmitError::QueueFull`]
//! beyond it) and take one of `n_parallel` slots, each with its own KV cache. Every step the
//! worker builds one batch: a decode token for every sequence that is generating, plus at most
//! `prefill_chunk` prompt tokens (chunked prefill, so a long prompt never stalls the running
//! streams for more than one chunk; several short prompts share a step), and calls
//! [`Model::forward_batch`]. Sequences
//! join the batch as soon as a slot is free and leave it the step they finish.
//!
//! **Batch invariance.** A sequence's result does not depend on what else runs: the model's
//! batched pass is bit-identical per sequence (see `Model::forward_batch`), prompts are cut into
//! chunks at the same places as `Model::forward` cuts them (multiples of `prefill_chunk`, which
//! must equal the `n_batch` of the single-sequence path, 512 by default) and marked as prompt
//! tokens exactly as `forward` marks them, and each sequence samples with its own [`Sampler`]
//! following [`crate::generate`]'s token loop step by step ([`SeqState`]). So greedy output
//! equals `allmende run --temp 0` on the same prompt, alone or among others. (Log-probabilities
//! are the model's own distribution here, as the OpenAI API defines them.)
//!
//! A job reports through its callback: every token with its text (held back while it may be
//! the start of a stop string, as `generate` does), then [`JobEvent::Done`]. A callback that
//! returns `ControlFlow::Break` (the client went away) cancels the job at the next step.
//! [`Scheduler::shutdown`] stops taking jobs and lets the worker finish every job it holds.
//!
//! ref: Yu et al., "Orca: A Distributed Serving System for Transformer-Based Generative
//! Models" (OSDI 2022): iteration-level scheduling; llama.cpp `tools/server` slots.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use allmende_models::{BatchSeq, KvCache, Logits, Model};

use crate::constrain::{pick_token, Choice, JsonGrammar, JsonState, TokenTable};
use crate::generate::{Detokenizer, FinishReason, GenerateOptions, StepLogprobs};
use crate::prefix_cache::PrefixCache;
use crate::sampler::Sampler;
use crate::stop::{StopEvent, StopMatcher};
use crate::EngineError;

/// Makes a fresh streaming detokenizer for each sequence.
pub trait DetokFactory: Send + Sync {
    /// A detokenizer for one sequence.
    fn detokenizer(&self) -> Box<dyn Detokenizer + '_>;

    /// The bytes token `id` adds to the text (`None` for control tokens, which add none): what
    /// JSON-constrained jobs check candidate tokens against. Default: no token has text, so a
    /// constrained job cannot run.
    fn token_bytes(&self, _id: u32) -> Option<Vec<u8>> {
        None
    }
}

impl DetokFactory for allmende_tokenizer::Tokenizer {
    fn detokenizer(&self) -> Box<dyn Detokenizer + '_> {
        Box::new(crate::loaded::StreamDetok { inner: self.stream_decoder(true) })
    }

    fn token_bytes(&self, id: u32) -> Option<Vec<u8>> {
        if self.is_control(id) {
            return None;
        }
        self.token_to_piece(id).ok()
    }
}

/// Settings of a [`Scheduler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Sequences generated at once (slots, each with a KV cache of `n_ctx`).
    pub n_parallel: usize,
    /// Context per sequence, prompt and output together.
    pub n_ctx: usize,
    /// Jobs that may wait for a slot; more are refused.
    pub queue: usize,
    /// Prompt tokens per prefill chunk; must be the `n_batch` single-sequence runs use for the
    /// results to be identical to them. The model's own `n_batch` must hold this plus
    /// `n_parallel` decode tokens.
    pub prefill_chunk: usize,
    /// Prompt tokens whose keys and values are kept for reuse by later requests with the same
    /// prefix, in any slot ([`crate::prefix_cache`]); 0 disables the shared cache (a free
    /// slot's own cache is still reused).
    pub prefix_cache_tokens: usize,
    /// Tokens per block of the shared prefix cache.
    pub prefix_block: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig { n_parallel: 4, n_ctx: 4096, queue: 64, prefill_chunk: 512, prefix_cache_tokens: 4096, prefix_block: 32 }
    }
}

/// A generation request.
pub struct Job {
    /// Prompt token ids (not empty).
    pub prompt: Vec<u32>,
    /// Limits, stops, sampling, logprobs.
    pub opts: GenerateOptions,
    /// Receives the job's events, on the worker thread; `Break` cancels the job.
    pub events: Box<dyn FnMut(JobEvent) -> ControlFlow<()> + Send>,
    /// Polled before the job starts and before every step: `true` cancels it (a client that
    /// went away while its job waited or was still reading its prompt).
    pub cancelled: Option<Box<dyn Fn() -> bool + Send>>,
    /// Constrain the output to a JSON document of this grammar (OpenAI `response_format`): the
    /// job ends with an end-of-generation token as soon as the document is complete.
    pub json: Option<Arc<JsonGrammar>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("prompt_tokens", &self.prompt.len()).field("opts", &self.opts).finish_non_exhaustive()
    }
}

/// What a job reports.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// A generated token and the text that became final with it (may be empty).
    Token {
        /// The token id.
        id: u32,
        /// Text safe to show now.
        text: String,
        /// Its log-probabilities, when the job asked for them.
        logprobs: Option<StepLogprobs>,
    },
    /// Text that became final without a new token (held text released at the end).
    Text(String),
    /// The job ended (the last event).
    Done(JobSummary),
    /// The job failed (the last event).
    Failed(String),
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSummary {
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Index of the stop string that matched.
    pub stop_index: Option<usize>,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens (an EOG token included).
    pub completion_tokens: usize,
    /// The seed the sampler used (`None` for greedy).
    pub seed: Option<u64>,
    /// Time from submission to the first generated token.
    pub time_to_first_token: Option<Duration>,
}

/// Why a job was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full.
    #[error("the queue is full ({0} jobs waiting)")]
    QueueFull(usize),
    /// The scheduler is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The prompt is empty.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// Prompt plus the requested tokens exceed the context.
    #[error("the prompt has {n_prompt} tokens and {max_tokens} more were requested, but the context holds {n_ctx}")]
    TooLong {
        /// Prompt tokens.
        n_prompt: usize,
        /// Requested completion tokens (0 when unbounded).
        max_tokens: usize,
        /// Context per sequence.
        n_ctx: usize,
    },
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Jobs waiting for a slot.
    pub queued: usize,
    /// Sequences in slots.
    pub active: usize,
    /// KV-cache positions in use, over all slots.
    pub kv_used: usize,
    /// KV-cache positions in all.
    pub kv_capacity: usize,
    /// Forward passes run.
    pub steps: u64,
    /// Prompt tokens whose KV came from an earlier job's cache instead of a forward pass.
    pub prefix_reused: u64,
    /// Of those, tokens copied from the shared prefix cache (the rest were in the slot).
    pub prefix_shared: u64,
    /// Tokens held by the shared prefix cache.
    pub prefix_cached: usize,
}

struct Shared {
    queue: VecDeque<(Job, Instant)>,
    closing: bool,
    stats: SchedulerStats,
}

struct Inner {
    state: Mutex<Shared>,
    wake: Condvar,
    cfg: SchedulerConfig,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A handle to the worker; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").field("cfg", &self.inner.cfg).finish_non_exhaustive()
    }
}

impl Scheduler {
    /// Starts the worker thread with `model` (whose `n_batch` must hold `prefill_chunk +
    /// n_parallel` tokens) and `detok`.
    pub fn start(model: Model, detok: Arc<dyn DetokFactory>, cfg: SchedulerConfig) -> Result<Scheduler, EngineError> {
        let cfg = SchedulerConfig { n_parallel: cfg.n_parallel.max(1), prefill_chunk: cfg.prefill_chunk.max(1), ..cfg };
        if model.n_batch() < cfg.prefill_chunk + cfg.n_parallel {
            return Err(EngineError::Config(format!(
                "the model's n_batch {} cannot hold a prefill chunk of {} and {} decode tokens",
                model.n_batch(),
                cfg.prefill_chunk,
                cfg.n_parallel
            )));
        }
        let inner = Arc::new(Inner {
            state: Mutex::new(Shared {
                queue: VecDeque::new(),
                closing: false,
                stats: SchedulerStats { kv_capacity: cfg.n_parallel * cfg.n_ctx, ..SchedulerStats::default() },
            }),
            wake: Condvar::new(),
            cfg,
            worker: Mutex::new(None),
        });
        let w = Arc::clone(&inner);
        let handle = std::thread::Builder::new()
            .name("allmende-scheduler".into())
            .spawn(move || Worker::new(model, &*detok, w).run())
            .map_err(|e| EngineError::Config(format!("cannot start the scheduler thread: {e}")))?;
        *inner.worker.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(Scheduler { inner })
    }

    /// The configuration in force.
    pub fn config(&self) -> SchedulerConfig {
        self.inner.cfg
    }

    /// Queues a job. Refused when the queue is full, while shutting down, or when the prompt
    /// plus `max_tokens` cannot fit the context (never truncated silently).
    pub fn submit(&self, job: Job) -> Result<(), SubmitError> {
        let n_ctx = self.inner.cfg.n_ctx;
        if job.prompt.is_empty() {
            return Err(SubmitError::EmptyPrompt);
        }
        let max_tokens = job.opts.max_tokens.unwrap_or(0);
        if job.prompt.len() + max_tokens.max(1) > n_ctx {
            return Err(SubmitError::TooLong { n_prompt: job.prompt.len(), max_tokens, n_ctx });
        }
        let mut s = self.inner.lock();
        if s.closing {
            return Err(SubmitError::ShuttingDown);
        }
        if s.queue.len() >= self.inner.cfg.queue {
            return Err(SubmitError::QueueFull(s.queue.len()));
        }
        s.queue.push_back((job, Instant::now()));
        s.stats.queued = s.queue.len();
        drop(s);
        self.inner.wake.notify_all();
        Ok(())
    }

    /// Current counters.
    pub fn stats(&self) -> SchedulerStats {
        self.inner.lock().stats
    }

    /// Stops taking jobs; the worker finishes every job it already has, then exits.
    pub fn shutdown(&self) {
        self.inner.lock().closing = true;
        self.inner.wake.notify_all();
    }

    /// [`Scheduler::shutdown`], then waits for the worker to finish.
    pub fn join(&self) {
        self.shutdown();
        let handle = self.inner.worker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

/// One sequence's generation state: [`crate::generate`]'s token loop, one token at a time.
pub struct SeqState<'d> {
    opts: GenerateOptions,
    sampler: Sampler,
    stop: StopMatcher,
    detok: Box<dyn Detokenizer + 'd>,
    top: Vec<crate::sampler::TokenLogprob>,
    n_prompt: usize,
    n_ctx: usize,
    generated: usize,
    json: Option<(Arc<JsonGrammar>, JsonState)>,
    scratch: Vec<f32>,
}

/// What [`SeqState::step`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum SeqStep {
    /// Feed `token` back and continue; `text` became final.
    Continue {
        /// The sampled token.
        token: u32,
        /// Text safe to emit.
        text: String,
        /// Log-probabilities, if asked for.
        logprobs: Option<StepLogprobs>,
    },
    /// Generation ended with this token (`text` is the last of the output).
    Finish {
        /// The sampled token (`None`: a JSON document completed with no end-of-generation
        /// token to emit).
        token: Option<u32>,
        /// The rest of the text.
        text: String,
        /// Log-probabilities, if asked for.
        logprobs: Option<StepLogprobs>,
        /// Why.
        reason: FinishReason,
        /// Matched stop string.
        stop_index: Option<usize>,
    },
}

impl<'d> SeqState<'d> {
    /// State for `prompt` (whose tokens enter the penalty history if the options say so).
    pub fn new(prompt: &[u32], opts: GenerateOptions, n_vocab: usize, n_ctx: usize, detok: Box<dyn Detokenizer + 'd>) -> Result<Self, EngineError> {
        let mut sampler = Sampler::new(opts.sampling.clone(), n_vocab)?;
        if opts.penalize_prompt {
            for &t in prompt {
                sampler.accept(t)?;
            }
        }
        let stop = StopMatcher::new(opts.stop.iter().cloned());
        Ok(SeqState {
            opts,
            sampler,
            stop,
            detok,
            top: Vec::new(),
            n_prompt: prompt.len(),
            n_ctx,
            generated: 0,
            json: None,
            scratch: Vec::new(),
        })
    }

    /// Constrains the output to a JSON document of `g`.
    pub fn with_json(mut self, g: Arc<JsonGrammar>) -> Self {
        let state = JsonState::new(&g);
        self.json = Some((g, state));
        self
    }

    /// The sampler's seed (`None` when greedy).
    pub fn seed(&self) -> Option<u64> {
        self.sampler.seed()
    }

    /// Samples from `logits` (the prediction after the last fed token) and decides what next.
    /// A JSON-constrained state needs `table`, the vocabulary's token bytes.
    pub fn step(&mut self, logits: &[f32], table: Option<&TokenTable>) -> Result<SeqStep, EngineError> {
        let token = match (&mut self.json, table) {
            (Some((g, state)), Some(table)) => {
                let sampler = &mut self.sampler;
                match pick_token(logits, |l| sampler.sample(l), table, g, state, &self.opts.eog_ids, &mut self.scratch)? {
                    Choice::Token { id, state: next } => {
                        *state = next;
                        id
                    }
                    Choice::End { id: Some(id) } => id, // an end-of-generation id: ends below
                    Choice::End { id: None } => {
                        let (text, _, stop_index) = self.finish_text(FinishReason::Eog);
                        return Ok(SeqStep::Finish { token: None, text, logprobs: None, reason: FinishReason::Eog, stop_index });
                    }
                    Choice::Stuck => {
                        return Err(EngineError::Config("no token of the vocabulary can continue the JSON document".into()))
                    }
                }
            }
            (Some(_), None) => return Err(EngineError::Config("JSON output needs the vocabulary's token texts".into())),
            (None, _) => self.sampler.sample(logits)?,
        };
        self.sampler.accept(token)?;
        self.generated += 1;
        // The model's own distribution, as the OpenAI API reports it (the generation loop of
        // `allmende run` reports the sampler's final distribution instead).
        let logprobs = self.opts.logprobs.map(|n| {
            let chosen = crate::sampler::model_logprobs(logits, token, n, &mut self.top);
            StepLogprobs { chosen, top: self.top.clone() }
        });
        if self.opts.eog_ids.contains(&token) {
            let (text, reason, stop_index) = self.finish_text(FinishReason::Eog);
            return Ok(SeqStep::Finish { token: Some(token), text, logprobs, reason, stop_index });
        }
        let piece = self.detok.push(token);
        let text = match self.stop.push(&piece) {
            StopEvent::Continue(text) => text,
            StopEvent::Stop { text, stop_index } => {
                return Ok(SeqStep::Finish {
                    token: Some(token),
                    text,
                    logprobs,
                    reason: FinishReason::Stop,
                    stop_index: Some(stop_index),
                });
            }
        };
        let pos = self.n_prompt + self.generated - 1; // position the token would take
        if self.opts.max_tokens.is_some_and(|m| self.generated >= m) || pos >= self.n_ctx {
            let (tail, reason, stop_index) = self.finish_text(FinishReason::Length);
            return Ok(SeqStep::Finish { token: Some(token), text: text + &tail, logprobs, reason, stop_index });
        }
        Ok(SeqStep::Continue { token, text, logprobs })
    }

    /// Releases held text at the end (as `generate` does for Length and Eog): it may still
    /// complete a stop string.
    fn finish_text(&mut self, reason: FinishReason) -> (String, FinishReason, Option<usize>) {
        let mut tail = String::new();
        let flushed = self.detok.flush();
        match self.stop.push(&flushed) {
            StopEvent::Continue(text) => {
                tail.push_str(&text);
                tail.push_str(&self.stop.flush());
                (tail, reason, None)
            }
            StopEvent::Stop { text, stop_index } => {
                tail.push_str(&text);
                (tail, FinishReason::Stop, Some(stop_index))
            }
        }
    }
}

/// A job in a slot.
struct Active<'d> {
    job: Job,
    submitted: Instant,
    first_token: Option<Duration>,
    state: SeqState<'d>,
    /// Prompt tokens already in the cache.
    prefilled: usize,
    /// The token to feed next once the prompt is in.
    next: Option<u32>,
    generated: usize,
    /// Blocks of the prompt offered to the shared prefix cache so far.
    published: usize,
}

struct Worker<'d> {
    model: Model,
    detok: &'d dyn DetokFactory,
    inner: Arc<Inner>,
    caches: Vec<KvCache>,
    /// The prompt whose KV each cache holds (valid up to the cache length).
    cached: Vec<Vec<u32>>,
    /// The vocabulary's token bytes, built for the first JSON-constrained job.
    table: Option<TokenTable>,
    /// The last step's logits, copied out of the model (reused between steps).
    logits: Vec<f32>,
    slots: Vec<Option<Active<'d>>>,
    /// Prompt blocks shared across slots and requests.
    prefix: PrefixCache,
}

impl<'d> Worker<'d> {
    fn new(model: Model, detok: &'d dyn DetokFactory, inner: Arc<Inner>) -> Self {
        let n = inner.cfg.n_parallel;
        let caches = (0..n).map(|_| model.new_cache(inner.cfg.n_ctx)).collect();
        let prefix = PrefixCache::new(inner.cfg.prefix_block, inner.cfg.prefix_cache_tokens);
        Worker {
            model,
            detok,
            inner,
            caches,
            cached: vec![Vec::new(); n],
            table: None,
            logits: Vec::new(),
            slots: (0..n).map(|_| None).collect(),
            prefix,
        }
    }

    fn run(mut self) {
        loop {
            // Admit waiting jobs into free slots; sleep when there is nothing to do.
            {
                let mut s = self.inner.lock();
                loop {
                    while self.slots.iter().any(Option::is_none) {
                        let Some((mut job, submitted)) = s.queue.pop_front() else { break };
                        if job.cancelled.as_ref().is_some_and(|c| c()) {
                            let summary = JobSummary {
                                finish_reason: FinishReason::Cancelled,
                                stop_index: None,
                                prompt_tokens: job.prompt.len(),
                                completion_tokens: 0,
                                seed: None,
                                time_to_first_token: None,
                            };
                            let _ = (job.events)(JobEvent::Done(summary));
                            continue;
                        }
                        let (i, mut reuse) = self.pick_slot(&job.prompt);
                        self.caches[i].truncate(reuse);
                        // The shared cache may hold more of the prompt than the slot (at least
                        // the last prompt token is left to run, for its logits).
                        if job.prompt.len() > 1 {
                            let keys = self.prefix.lookup(&job.prompt[..job.prompt.len() - 1]);
                            let shared = keys.len() * self.prefix.block();
                            if shared > reuse {
                                self.prefix.restore(&keys, reuse / self.prefix.block(), &mut self.caches[i]);
                                s.stats.prefix_shared += (shared - reuse) as u64;
                                reuse = shared;
                            }
                        }
                        // A one-token prompt runs as a decode step: its keys and values are not
                        // a prompt's, so they are never offered for reuse.
                        self.cached[i].clear();
                        if job.prompt.len() > 1 {
                            self.cached[i].extend_from_slice(&job.prompt);
                        }
                        s.stats.prefix_reused += reuse as u64;
                        let detok = self.detok.detokenizer();
                        if job.json.is_some() && self.table.is_none() {
                            let factory = self.detok;
                            self.table = Some(TokenTable::new(self.model.n_vocab(), |id| factory.token_bytes(id)));
                        }
                        let state = SeqState::new(&job.prompt, job.opts.clone(), self.model.n_vocab(), self.inner.cfg.n_ctx, detok)
                            .map(|st| match &job.json {
                                Some(g) => st.with_json(Arc::clone(g)),
                                None => st,
                            });
                        match state {
                            Ok(state) => {
                                self.slots[i] =
                                    Some(Active {
                                        job,
                                        submitted,
                                        first_token: None,
                                        state,
                                        prefilled: reuse,
                                        next: None,
                                        generated: 0,
                                        published: 0,
                                    });
                            }
                            Err(e) => {
                                let mut job = job;
                                let _ = (job.events)(JobEvent::Failed(e.to_string()));
                            }
                        }
                    }
                    s.stats.queued = s.queue.len();
                    s.stats.active = self.slots.iter().filter(|a| a.is_some()).count();
                    s.stats.kv_used = self.caches.iter().map(KvCache::len).sum();
                    if s.stats.active > 0 {
                        break;
                    }
                    if s.closing && s.queue.is_empty() {
                        return;
                    }
                    s = self.inner.wake.wait(s).unwrap_or_else(|e| e.into_inner());
                }
            }
            self.step();
            let mut s = self.inner.lock();
            s.stats.steps += 1;
            s.stats.active = self.slots.iter().filter(|a| a.is_some()).count();
            s.stats.kv_used = self.caches.iter().map(KvCache::len).sum();
            s.stats.prefix_cached = self.prefix.tokens();
        }
    }

    /// A free slot for `prompt` and how many of its tokens that slot's cache already holds:
    /// the free slot whose cached prompt shares the longest prefix with it (prompt tokens
    /// only, and at least the last token is left to run, for its logits). A prefix is reused
    /// bit-for-bit: a prompt token's keys and values do not depend on how the prompt was cut
    /// into chunks. One-token prompts take the decode path and reuse nothing.
    fn pick_slot(&self, prompt: &[u32]) -> (usize, usize) {
        let mut best = (usize::MAX, 0);
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.is_some() {
                continue;
            }
            let held = self.caches[i].len().min(self.cached[i].len());
            let common = self.cached[i][..held].iter().zip(prompt).take_while(|(a, b)| a == b).count();
            let reuse = if prompt.len() > 1 { common.min(prompt.len() - 1) } else { 0 };
            if best.0 == usize::MAX || reuse > best.1 {
                best = (i, reuse);
            }
        }
        best
    }

    /// One forward pass: every generating sequence's next token, plus one prompt chunk.
    fn step(&mut self) {
        for i in 0..self.slots.len() {
            let gone = self.slots[i].as_ref().is_some_and(|a| a.job.cancelled.as_ref().is_some_and(|c| c()));
            if gone {
                self.finish(i, FinishReason::Cancelled, None);
            }
        }
        let chunk = self.inner.cfg.prefill_chunk;
        // (slot, token range in its prompt or None for decode, wants logits)
        let mut plan: Vec<(usize, Option<std::ops::Range<usize>>)> = Vec::new();
        // Prompt tokens this step: up to one chunk's worth, from as many sequences as fit (short
        // prompts arriving together are prefilled together), each cut at its own chunk
        // boundaries.
        let mut budget = chunk;
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(a) = slot else { continue };
            if a.next.is_some() {
                plan.push((i, None));
            } else if budget > 0 {
                let end = ((a.prefilled / chunk + 1) * chunk).min(a.job.prompt.len());
                if end - a.prefilled <= budget {
                    budget -= end - a.prefilled;
                    plan.push((i, Some(a.prefilled..end)));
                } else {
                    budget = 0; // the oldest waiting prompt goes first next step
                }
            }
        }
        let decode_tokens: Vec<u32> = plan.iter().map(|&(i, ref r)| match (r, &self.slots[i]) {
            (None, Some(a)) => a.next.unwrap_or(0),
            _ => 0,
        }).collect();
        let mut wants = Vec::with_capacity(plan.len());
        let result = {
            let mut batch: Vec<BatchSeq<'_>> = Vec::with_capacity(plan.len());
            let mut caches: Vec<Option<&mut KvCache>> = self.caches.iter_mut().map(Some).collect();
            for (k, (i, range)) in plan.iter().enumerate() {
                let Some(a) = &self.slots[*i] else { continue };
                let Some(cache) = caches[*i].take() else { continue };
                let (tokens, logits, decode) = match range {
                    None => (std::slice::from_ref(&decode_tokens[k]), Logits::Last, true),
                    Some(r) => {
                        let last = r.end == a.job.prompt.len();
                        // As `Model::forward` marks a call: a one-token prompt is a decode step.
                        (&a.job.prompt[r.clone()], if last { Logits::Last } else { Logits::None }, a.job.prompt.len() == 1)
                    }
                };
                wants.push((*i, range.clone(), logits == Logits::Last));
                batch.push(BatchSeq { tokens, cache, logits, decode });
            }
            let buf = &mut self.logits;
            self.model.forward_batch(&mut batch).map(|l| {
                buf.clear();
                buf.extend_from_slice(l);
            })
        };
        // Taken out while the slots advance (which needs `&mut self`), put back after: the
        // buffer keeps its capacity, so steps do not allocate logits.
        let logits = match result {
            Ok(()) => std::mem::take(&mut self.logits),
            Err(e) => {
                for (i, _, _) in &wants {
                    self.fail(*i, &e.to_string());
                }
                return;
            }
        };
        let nv = self.model.n_vocab();
        let mut row = 0;
        for (i, range, has_logits) in wants {
            if let (Some(r), Some(a)) = (&range, self.slots[i].as_mut()) {
                a.prefilled = r.end;
                // Offer the prompt's completed blocks to later requests (one-token prompts
                // take the decode path and have no prompt blocks).
                if a.job.prompt.len() > 1 {
                    a.published = self.prefix.publish(&a.job.prompt, &self.caches[i], a.published);
                }
            }
            if !has_logits {
                continue;
            }
            let l = &logits[row * nv..(row + 1) * nv];
            row += 1;
            self.advance(i, l);
        }
        self.logits = logits;
    }

    /// Samples slot `i`'s next token from `logits` and reports it; frees the slot when done.
    fn advance(&mut self, i: usize, logits: &[f32]) {
        let Some(a) = self.slots[i].as_mut() else { return };
        let step = match a.state.step(logits, self.table.as_ref()) {
            Ok(s) => s,
            Err(e) => return self.fail(i, &e.to_string()),
        };
        a.generated += 1;
        if a.first_token.is_none() {
            a.first_token = Some(a.submitted.elapsed());
        }
        match step {
            SeqStep::Continue { token, text, logprobs } => {
                a.next = Some(token);
                if (a.job.events)(JobEvent::Token { id: token, text, logprobs }).is_break() {
                    self.finish(i, FinishReason::Cancelled, None);
                }
            }
            SeqStep::Finish { token, text, logprobs, reason, stop_index } => {
                match token {
                    Some(id) => {
                        let _ = (a.job.events)(JobEvent::Token { id, text, logprobs });
                    }
                    None => {
                        a.generated -= 1; // nothing was generated at this step
                        if !text.is_empty() {
                            let _ = (a.job.events)(JobEvent::Text(text));
                        }
                    }
                }
                self.finish(i, reason, stop_index);
            }
        }
    }

    fn finish(&mut self, i: usize, reason: FinishReason, stop_index: Option<usize>) {
        if let Some(mut a) = self.slots[i].take() {
            let summary = JobSummary {
                finish_reason: reason,
                stop_index,
                prompt_tokens: a.job.prompt.len(),
                completion_tokens: a.generated,
                seed: a.state.seed(),
                time_to_first_token: a.first_token,
            };
            let _ = (a.job.events)(JobEvent::Done(summary));
        }
    }

    fn fail(&mut self, i: usize, msg: &str) {
        if let Some(mut a) = self.slots[i].take() {
            let _ = (a.job.events)(JobEvent::Failed(msg.to_string()));
        }
    }
}
