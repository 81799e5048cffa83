//! A generic, single-sequence generation loop: prompt → forward → sample → detokenize → stop strings →
//! stream, until a stop string, an end-of-generation token, `max_tokens`, the context limit, or the caller
//! cancels.
//!
//! The model and the tokenizer plug in through two small traits, [`LogitsModel`] and [`Detokenizer`], so
//! this file knows nothing about architectures or vocabularies. No batching or KV-cache management here:
//! that is the scheduler's job. Reference: llama.cpp `examples/simple/simple.cpp` (the minimal decode loop)
//! and `tools/server` (stop strings, finish reasons, timings), OpenAI `finish_reason` semantics.

use std::ops::ControlFlow;
use std::time::Instant;

use crate::error::{EngineError, Result};
use crate::sampler::{Sampler, SamplingParams, TokenLogprob};
use crate::stop::{StopEvent, StopMatcher};

/// A model that returns next-token logits.
pub trait LogitsModel {
    /// The model's error type; wrapped in [`EngineError::Model`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// Vocabulary size (length of the logits).
    fn n_vocab(&self) -> usize;

    /// Context window in tokens, if bounded. The loop refuses longer prompts and stops with
    /// [`FinishReason::Length`] when no position is left. Default: unbounded.
    fn n_ctx(&self) -> Option<usize> {
        None
    }

    /// Appends `tokens` at positions `pos..pos + tokens.len()` (the model keeps its own KV cache) and returns
    /// the logits (`n_vocab` entries) predicting the token after the last one.
    fn forward(&mut self, tokens: &[u32], pos: usize) -> std::result::Result<&[f32], Self::Error>;
}

/// Streaming detokenizer: turns ids into text pieces, one id at a time.
pub trait Detokenizer {
    /// Text for `id`. May be empty while an incomplete UTF-8 sequence or a merge is pending; the held text
    /// comes out with a later id or from [`Detokenizer::flush`].
    fn push(&mut self, id: u32) -> String;

    /// Whatever is still held at the end of generation. Default: nothing.
    fn flush(&mut self) -> String {
        String::new()
    }
}

/// Settings of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Most tokens to generate (the end-of-generation token counts); `None` = until a stop, an EOG token or
    /// the context limit. `Some(0)` returns at once without running the model.
    pub max_tokens: Option<usize>,
    /// Stop strings (OpenAI `stop`); the matched one is not part of the text.
    pub stop: Vec<String>,
    /// End-of-generation token ids (EOS, `<|im_end|>`, ...); such a token ends generation and is not
    /// detokenized.
    pub eog_ids: Vec<u32>,
    /// Sampler settings.
    pub sampling: SamplingParams,
    /// Whether prompt tokens enter the penalty history (llama.cpp does this; default true).
    pub penalize_prompt: bool,
    /// If `Some(n)`, record for every generated token its log-probability and the `n` most likely tokens of
    /// the final distribution (see [`Sampler::logprobs`]).
    pub logprobs: Option<usize>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_tokens: None,
            stop: Vec::new(),
            eog_ids: Vec::new(),
            sampling: SamplingParams::default(),
            penalize_prompt: true,
            logprobs: None,
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FinishReason {
    /// A stop string matched.
    Stop,
    /// `max_tokens` or the context window was reached.
    Length,
    /// An end-of-generation token was sampled.
    Eog,
    /// The text callback asked to stop (e.g. the client went away).
    Cancelled,
}

impl FinishReason {
    /// The OpenAI `finish_reason` string: `"length"` for [`Self::Length`], `"stop"` otherwise.
    pub fn openai_str(self) -> &'static str {
        match self {
            Self::Length => "length",
            Self::Stop | Self::Eog | Self::Cancelled => "stop",
        }
    }
}

/// Token counts and wall-clock times of one generation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Prompt tokens evaluated.
    pub prompt_tokens: usize,
    /// Time of the prompt forward pass, in milliseconds.
    pub prompt_ms: f64,
    /// Tokens generated (length of [`GenerateOutput::ids`]).
    pub gen_tokens: usize,
    /// Time from the end of the prompt pass to the end of generation (sampling, forward passes,
    /// detokenization, callbacks), in milliseconds.
    pub gen_ms: f64,
}

impl Timings {
    /// Prompt tokens per second (0 when nothing was timed).
    pub fn prompt_tokens_per_s(&self) -> f64 {
        if self.prompt_ms > 0.0 {
            self.prompt_tokens as f64 * 1000.0 / self.prompt_ms
        } else {
            0.0
        }
    }

    /// Generated tokens per second (0 when nothing was timed).
    pub fn gen_tokens_per_s(&self) -> f64 {
        if self.gen_ms > 0.0 {
            self.gen_tokens as f64 * 1000.0 / self.gen_ms
        } else {
            0.0
        }
    }
}

/// Log-probabilities recorded for one generated token.
#[derive(Debug, Clone, PartialEq)]
pub struct StepLogprobs {
    /// The generated token and its log-probability.
    pub chosen: TokenLogprob,
    /// The most likely alternatives, best first.
    pub top: Vec<TokenLogprob>,
}

/// Result of [`generate`].
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOutput {
    /// Every generated id, including an EOG token and the tokens that formed a stop string.
    pub ids: Vec<u32>,
    /// The emitted text: exactly the concatenation of the callback's pieces (plus any final flush), without
    /// the stop string.
    pub text: String,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// Index into [`GenerateOptions::stop`] of the matched stop string.
    pub stop_index: Option<usize>,
    /// The RNG seed used (see [`Sampler::seed`]), to reproduce the run; `None` for greedy decoding.
    pub seed: Option<u64>,
    /// Per-token log-probabilities, when [`GenerateOptions::logprobs`] is set.
    pub logprobs: Vec<StepLogprobs>,
    /// Counts and times.
    pub timings: Timings,
}

/// Runs one generation. `on_text` receives every non-empty piece of text as soon as it is safe to emit
/// (stop-string prefixes are held back); returning `ControlFlow::Break(())` cancels.
pub fn generate<M, D, F>(
    model: &mut M,
    detok: &mut D,
    prompt: &[u32],
    opts: &GenerateOptions,
    mut on_text: F,
) -> Result<GenerateOutput>
where
    M: LogitsModel + ?Sized,
    D: Detokenizer + ?Sized,
    F: FnMut(&str) -> ControlFlow<()>,
{
    let n_vocab = model.n_vocab();
    if prompt.is_empty() {
        return Err(EngineError::EmptyPrompt);
    }
    if let Some(&token) = prompt.iter().find(|&&t| t as usize >= n_vocab) {
        return Err(EngineError::TokenOutOfRange { token, n_vocab });
    }
    let n_ctx = model.n_ctx();
    if let Some(n_ctx) = n_ctx {
        if prompt.len() > n_ctx {
            return Err(EngineError::PromptTooLong {
                n_prompt: prompt.len(),
                n_ctx,
            });
        }
    }
    let mut sampler = Sampler::new(opts.sampling.clone(), n_vocab)?;
    if opts.penalize_prompt {
        for &t in prompt {
            sampler.accept(t)?;
        }
    }
    let mut stop = StopMatcher::new(opts.stop.iter().cloned());
    let mut out = GenerateOutput {
        ids: Vec::new(),
        text: String::new(),
        finish_reason: FinishReason::Length,
        stop_index: None,
        seed: sampler.seed(),
        logprobs: Vec::new(),
        timings: Timings {
            prompt_tokens: prompt.len(),
            ..Timings::default()
        },
    };
    if opts.max_tokens == Some(0) {
        out.timings.prompt_tokens = 0;
        return Ok(out);
    }

    let t_prompt = Instant::now();
    let logits = model.forward(prompt, 0).map_err(|e| EngineError::Model {
        pos: 0,
        source: Box::new(e),
    })?;
    out.timings.prompt_ms = t_prompt.elapsed().as_secs_f64() * 1000.0;
    let t_gen = Instant::now();
    let mut next = sampler.sample(logits)?;
    let mut pos = prompt.len();
    let mut top = Vec::new();

    let finish = loop {
        let token = next;
        sampler.accept(token)?;
        out.ids.push(token);
        if let Some(n) = opts.logprobs {
            let chosen = sampler.logprobs(n, &mut top)?;
            out.logprobs.push(StepLogprobs {
                chosen,
                top: top.clone(),
            });
        }
        if opts.eog_ids.contains(&token) {
            break FinishReason::Eog;
        }
        let piece = detok.push(token);
        match stop.push(&piece) {
            StopEvent::Continue(text) => {
                if !text.is_empty() {
                    out.text.push_str(&text);
                    if on_text(&text).is_break() {
                        break FinishReason::Cancelled;
                    }
                }
            }
            StopEvent::Stop { text, stop_index } => {
                if !text.is_empty() {
                    out.text.push_str(&text);
                    let _ = on_text(&text);
                }
                out.stop_index = Some(stop_index);
                break FinishReason::Stop;
            }
        }
        if opts.max_tokens.is_some_and(|m| out.ids.len() >= m) || n_ctx.is_some_and(|c| pos >= c) {
            break FinishReason::Length;
        }
        let logits = model
            .forward(&[token], pos)
            .map_err(|e| EngineError::Model {
                pos,
                source: Box::new(e),
            })?;
        pos += 1;
        next = sampler.sample(logits)?;
    };
    out.finish_reason = finish;

    if matches!(finish, FinishReason::Length | FinishReason::Eog) {
        // Release text still held by the detokenizer and the stop matcher; it may still complete a stop.
        let mut tail = String::new();
        match stop.push(&detok.flush()) {
            StopEvent::Continue(text) => {
                tail.push_str(&text);
                tail.push_str(&stop.flush());
            }
            StopEvent::Stop { text, stop_index } => {
                tail.push_str(&text);
                out.stop_index = Some(stop_index);
                out.finish_reason = FinishReason::Stop;
            }
        }
        if !tail.is_empty() {
            out.text.push_str(&tail);
            let _ = on_text(&tail);
        }
    }
    out.timings.gen_tokens = out.ids.len();
    out.timings.gen_ms = t_gen.elapsed().as_secs_f64() * 1000.0;
    Ok(out)
}
