//! From validated parameters and tokenized prompts to a response: the context budget (400, never
//! truncation), one job per choice, then either collecting every choice into one JSON response or
//! streaming chunks over SSE. [`Tracker`] turns the events into metrics and quota usage.

use std::time::Instant;

use allmende_engine::FinishReason;
use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use crate::app::{AppState, ReqCtx};
use crate::backend::{Event, EventSink, Job, ModelInfo, StepProbs};
use crate::error::ApiError;
use crate::format::{self, Kind, Meta};
use crate::request::{Endpoint, GenParams, COMPLETIONS_DEFAULT_MAX_TOKENS};
use crate::sse::SseBody;

/// A tokenized prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptTokens {
    /// Token ids.
    pub ids: Vec<u32>,
    /// The prompt text, for completions' `echo`.
    pub text: String,
}

/// A request ready to run.
pub struct Plan {
    st: AppState,
    ctx: ReqCtx,
    info: ModelInfo,
    params: GenParams,
    prompts: Vec<PromptTokens>,
    max_tokens: Vec<usize>,
    meta: Meta,
}

fn context_error(endpoint: Endpoint, n_ctx: usize, n_prompt: usize, max_tokens: Option<usize>) -> ApiError {
    let (what, param) = match endpoint {
        Endpoint::Chat => ("messages", "messages"),
        Endpoint::Completions => ("prompt", "prompt"),
    };
    let msg = match max_tokens {
        Some(m) => format!(
            "This model's maximum context length is {n_ctx} tokens. However, you requested {} tokens ({n_prompt} in the {what}, {m} in the completion). Please reduce the length of the {what} or completion.",
            n_prompt.saturating_add(m)
        ),
        None => format!(
            "This model's maximum context length is {n_ctx} tokens. However, your {what} resulted in {n_prompt} tokens, which leaves no room for a completion. Please reduce the length of the {what}."
        ),
    };
    let mut e = ApiError::invalid_param(param, msg);
    e.code = Some("context_length_exceeded");
    e
}

impl Plan {
    /// Checks the prompts, `logit_bias` and the sampling settings against the model, and works
    /// out each prompt's `max_tokens` within the context window.
    pub fn new(
        st: AppState,
        ctx: ReqCtx,
        info: ModelInfo,
        mut params: GenParams,
        prompts: Vec<PromptTokens>,
        endpoint: Endpoint,
    ) -> Result<Plan, ApiError> {
        let n_vocab = info.n_vocab;
        for p in &prompts {
            if p.ids.is_empty() {
                let param = if endpoint == Endpoint::Chat { "messages" } else { "prompt" };
                return Err(ApiError::invalid_param(param, "The prompt is empty after tokenization."));
            }
            if let Some(&t) = p.ids.iter().find(|&&t| t as usize >= n_vocab) {
                return Err(ApiError::invalid_param(
                    "prompt",
                    format!("Token id {t} is out of range: the vocabulary has {n_vocab} tokens."),
                ));
            }
        }
        if let Some(&t) = params.sampling.logit_bias.keys().find(|&&t| t as usize >= n_vocab) {
            return Err(ApiError::invalid_param(
                "logit_bias",
                format!("Token id {t} in `logit_bias` is out of range: the vocabulary has {n_vocab} tokens."),
            ));
        }
        if params.sampling.logit_bias.values().any(|&b| b <= -100.0) {
            // OpenAI: -100 bans the token.
            for b in params.sampling.logit_bias.values_mut().filter(|b| **b <= -100.0) {
                *b = f32::NEG_INFINITY;
            }
        }
        params.sampling.validate(n_vocab).map_err(|e| ApiError::invalid(e.to_string()))?;

        let mut max_tokens = Vec::with_capacity(prompts.len());
        for p in &prompts {
            let n_prompt = p.ids.len();
            let room = info.n_ctx.saturating_sub(n_prompt);
            let want = match (params.max_tokens, endpoint) {
                (Some(m), _) => m,
                (None, Endpoint::Completions) => COMPLETIONS_DEFAULT_MAX_TOKENS,
                (None, Endpoint::Chat) if room > 0 => room,
                (None, Endpoint::Chat) => return Err(context_error(endpoint, info.n_ctx, n_prompt, None)),
            };
            if want > room {
                return Err(context_error(endpoint, info.n_ctx, n_prompt, Some(want)));
            }
            max_tokens.push(want);
        }
        let kind = if endpoint == Endpoint::Chat { Kind::Chat } else { Kind::Completion };
        let meta = Meta::new(kind, &info.id);
        Ok(Plan { st, ctx, info, params, prompts, max_tokens, meta })
    }

    /// Submits one job per choice and answers: a JSON response, or an SSE stream.
    pub async fn run(self) -> Result<Response, ApiError> {
        let Plan { st, ctx, info, params, prompts, max_tokens, meta } = self;
        let n = params.n;
        let (tx, rx) = unbounded_channel();
        let mut evaluated = 0u64;
        for (pi, p) in prompts.iter().enumerate() {
            for j in 0..n {
                let mut sampling = params.sampling.clone();
                // Choices of one seeded request must differ from each other yet be reproducible.
                sampling.seed = sampling.seed.map(|s| s.wrapping_add(j as u64));
                let job = Job {
                    model: info.id.clone(),
                    prompt: p.ids.clone(),
                    max_tokens: max_tokens[pi],
                    stop: params.stop.clone(),
                    sampling,
                    ignore_eos: params.ignore_eos,
                    logprobs: params.logprobs,
                    json: params.json.clone(),
                };
                // On failure `rx` is dropped on return, which cancels the jobs already queued.
                st.backend.submit(job, EventSink::new(pi * n + j, tx.clone()))?;
                evaluated += p.ids.len() as u64;
            }
        }
        drop(tx);
        st.metrics.prompt_tokens(&info.id, evaluated);
        let prompt_usage: usize = prompts.iter().map(|p| p.ids.len()).sum();
        let n_choices = prompts.len() * n;
        let tracker = Tracker::new(st.clone(), &info.id, ctx, prompt_usage, n_choices);
        let deadline = tokio::time::Instant::from_std(ctx.start) + st.config.timeout;
        let echo: Vec<String> =
            (0..n_choices).map(|i| if params.echo { prompts[i / n].text.clone() } else { String::new() }).collect();

        if params.stream {
            let state = StreamState::new(meta, params.include_usage, params.logprobs.is_some(), echo, tracker);
            let body = SseBody::new(state, rx, deadline, st.config.timeout.as_secs());
            let mut resp = Response::new(Body::new(body));
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert("x-accel-buffering", HeaderValue::from_static("no"));
            return Ok(resp);
        }

        let choices = match tokio::time::timeout_at(deadline, collect(rx, n_choices, tracker)).await {
            Ok(r) => r?,
            Err(_) => return Err(ApiError::timeout(st.config.timeout.as_secs())),
        };
        let completion: usize = choices.iter().map(|c| c.tokens).sum();
        let out: Vec<Value> = choices
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let text = if params.echo { format!("{}{}", echo[i], c.text) } else { c.text.clone() };
                let lp = params.logprobs.is_some().then_some(c.logprobs.as_slice());
                meta.choice(i, &text, c.finish.unwrap_or(FinishReason::Stop), lp, 0)
            })
            .collect();
        let body = meta.response(out, format::usage(prompt_usage, completion));
        Ok((StatusCode::OK, axum::Json(body)).into_response())
    }
}

/// One choice gathered for a complete response.
#[derive(Debug, Default)]
struct Choice {
    text: String,
    logprobs: Vec<StepProbs>,
    finish: Option<FinishReason>,
    tokens: usize,
}

async fn collect(
    mut rx: UnboundedReceiver<(usize, Event)>,
    n: usize,
    mut tracker: Tracker,
) -> Result<Vec<Choice>, ApiError> {
    let mut choices: Vec<Choice> = (0..n).map(|_| Choice::default()).collect();
    let mut left = n;
    while left > 0 {
        let Some((i, ev)) = rx.recv().await else {
            return Err(ApiError::internal("The backend ended a generation without finishing it."));
        };
        let Some(c) = choices.get_mut(i) else { continue };
        match ev {
            Event::Delta { text, tokens, logprobs } => {
                tracker.delta(i, tokens);
                c.text.push_str(&text);
                c.logprobs.extend(logprobs);
            }
            Event::Done { finish_reason, completion_tokens } => {
                tracker.done(i, completion_tokens);
                c.finish = Some(finish_reason);
                c.tokens = completion_tokens;
                left -= 1;
            }
            Event::Error(m) => return Err(ApiError::internal(format!("Generation failed: {m}"))),
        }
    }
    Ok(choices)
}

#[derive(Debug, Default, Clone, Copy)]
struct ChoiceTrack {
    last: Option<Instant>,
    streamed: usize,
    done: Option<usize>,
}

/// Records time to first token, inter-token latency and, when the request ends (drop), the
/// generated tokens and the key's token usage.
pub struct Tracker {
    st: AppState,
    model: String,
    ctx: ReqCtx,
    prompt_usage: usize,
    choices: Vec<ChoiceTrack>,
}

impl Tracker {
    /// A tracker for `n` choices.
    pub fn new(st: AppState, model: &str, ctx: ReqCtx, prompt_usage: usize, n: usize) -> Self {
        Tracker { st, model: model.to_string(), ctx, prompt_usage, choices: vec![ChoiceTrack::default(); n] }
    }

    /// Choice `i` produced `tokens` tokens.
    pub fn delta(&mut self, i: usize, tokens: usize) {
        let Some(c) = self.choices.get_mut(i) else { return };
        if tokens == 0 {
            return;
        }
        let now = Instant::now();
        match c.last {
            None => self.st.metrics.ttft((now - self.ctx.start).as_secs_f64()),
            Some(t) => self.st.metrics.inter_token((now - t).as_secs_f64() / tokens as f64, tokens as u64),
        }
        c.last = Some(now);
        c.streamed += tokens;
    }

    /// Choice `i` finished after `tokens` tokens.
    pub fn done(&mut self, i: usize, tokens: usize) {
        if let Some(c) = self.choices.get_mut(i) {
            c.done = Some(tokens);
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let generated: usize = self.choices.iter().map(|c| c.done.unwrap_or(c.streamed)).sum();
        self.st.metrics.generated_tokens(&self.model, generated as u64);
        if let Some(k) = self.ctx.key {
            let total = (self.prompt_usage + generated) as u64;
            let keys = &self.st.config.keys;
            keys.add_tokens(k, total);
            self.st.metrics.key_tokens(keys.name(k), total);
        }
    }
}

/// Turns a request's events into SSE `data:` payloads.
pub struct StreamState {
    meta: Meta,
    include_usage: bool,
    logprobs: bool,
    echo: Vec<String>,
    /// Characters emitted per choice (completions' `text_offset`).
    offsets: Vec<usize>,
    finished: Vec<bool>,
    completion_tokens: usize,
    tracker: Tracker,
    complete: bool,
}

fn data(v: &Value) -> String {
    format!("data: {v}\n\n")
}

impl StreamState {
    /// State for the choices of one request (`echo[i]` is prepended to choice `i`).
    pub fn new(meta: Meta, include_usage: bool, logprobs: bool, echo: Vec<String>, tracker: Tracker) -> Self {
        let n = echo.len();
        StreamState {
            meta,
            include_usage,
            logprobs,
            offsets: vec![0; n],
            finished: vec![false; n],
            echo,
            completion_tokens: 0,
            tracker,
            complete: false,
        }
    }

    /// Whether every choice has finished (or the stream was ended by an error).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The first chunks: chat sends each choice's role; completions with `echo` send the prompt.
    pub fn opening(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for i in 0..self.echo.len() {
            match self.meta.kind {
                Kind::Chat => {
                    let d = self.meta.delta(i, true, Some(""), None, 0, None);
                    out.push(data(&self.meta.chunk(vec![d], self.include_usage, None)));
                }
                Kind::Completion if !self.echo[i].is_empty() => {
                    let d = self.meta.delta(i, false, Some(&self.echo[i]), None, 0, None);
                    self.offsets[i] = self.echo[i].chars().count();
                    out.push(data(&self.meta.chunk(vec![d], self.include_usage, None)));
                }
                Kind::Completion => {}
            }
        }
        out
    }

    /// Chunks for one event of choice `i`.
    pub fn event(&mut self, i: usize, ev: Event) -> Vec<String> {
        if i >= self.finished.len() || self.finished[i] || self.complete {
            return Vec::new();
        }
        match ev {
            Event::Delta { text, tokens, logprobs } => {
                self.tracker.delta(i, tokens);
                if text.is_empty() && logprobs.is_empty() {
                    return Vec::new();
                }
                let lp = self.logprobs.then_some(logprobs.as_slice());
                let d = self.meta.delta(i, false, Some(&text), lp, self.offsets[i], None);
                self.offsets[i] += text.chars().count();
                vec![data(&self.meta.chunk(vec![d], self.include_usage, None))]
            }
            Event::Done { finish_reason, completion_tokens } => {
                self.tracker.done(i, completion_tokens);
                self.finished[i] = true;
                self.completion_tokens += completion_tokens;
                let text = match self.meta.kind {
                    Kind::Chat => None,
                    Kind::Completion => Some(""),
                };
                let d = self.meta.delta(i, false, text, None, 0, Some(finish_reason));
                let mut out = vec![data(&self.meta.chunk(vec![d], self.include_usage, None))];
                if self.finished.iter().all(|&f| f) {
                    if self.include_usage {
                        let usage = format::usage(self.tracker.prompt_usage, self.completion_tokens);
                        out.push(data(&self.meta.chunk(Vec::new(), true, Some(usage))));
                    }
                    out.push("data: [DONE]\n\n".to_string());
                    self.complete = true;
                }
                out
            }
            Event::Error(m) => self.fail(&ApiError::internal(format!("Generation failed: {m}"))),
        }
    }

    /// Ends the stream with an error event and `[DONE]` (the status line is already sent).
    pub fn fail(&mut self, e: &ApiError) -> Vec<String> {
        self.complete = true;
        vec![data(&e.body()), "data: [DONE]\n\n".to_string()]
    }
}
