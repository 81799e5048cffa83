//! Integration tests of the generation loop through the public API, with a fake model (deterministic logits:
//! the next token after `t` is `t + 1` mod n_vocab, unless the model is built with fixed logits) and a fake
//! detokenizer (a lookup table of text pieces).

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

use std::ops::ControlFlow;

use allmende_engine::{
    generate, Detokenizer, EngineError, FinishReason, GenerateOptions, LogitsModel, SamplingParams,
};

#[derive(Debug, thiserror::Error)]
#[error("fake model failure")]
struct FakeError;

struct FakeModel {
    n_vocab: usize,
    n_ctx: Option<usize>,
    /// If set, always return these logits.
    fixed: Option<Vec<f32>>,
    /// Fail when asked to process this position.
    fail_at: Option<usize>,
    /// Every forward call: (tokens, pos).
    calls: Vec<(Vec<u32>, usize)>,
    logits: Vec<f32>,
}

impl FakeModel {
    fn new(n_vocab: usize) -> Self {
        Self {
            n_vocab,
            n_ctx: None,
            fixed: None,
            fail_at: None,
            calls: Vec::new(),
            logits: vec![0.0; n_vocab],
        }
    }
}

impl LogitsModel for FakeModel {
    type Error = FakeError;

    fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    fn n_ctx(&self) -> Option<usize> {
        self.n_ctx
    }

    fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<&[f32], FakeError> {
        self.calls.push((tokens.to_vec(), pos));
        if self
            .fail_at
            .is_some_and(|f| (pos..pos + tokens.len()).contains(&f))
        {
            return Err(FakeError);
        }
        if let Some(ctx) = self.n_ctx {
            assert!(
                pos + tokens.len() <= ctx,
                "forward beyond the context window"
            );
        }
        match &self.fixed {
            Some(f) => self.logits.copy_from_slice(f),
            None => {
                let last = *tokens.last().unwrap() as usize;
                self.logits.iter_mut().for_each(|l| *l = 0.0);
                self.logits[(last + 1) % self.n_vocab] = 5.0;
            }
        }
        Ok(&self.logits)
    }
}

/// Table detokenizer; `lag` holds each piece back until the next id (like a detokenizer waiting for more
/// bytes), so `flush` has work to do.
struct FakeDetok {
    table: Vec<&'static str>,
    lag: bool,
    held: String,
}

impl FakeDetok {
    fn new(table: &[&'static str]) -> Self {
        Self {
            table: table.to_vec(),
            lag: false,
            held: String::new(),
        }
    }
}

impl Detokenizer for FakeDetok {
    fn push(&mut self, id: u32) -> String {
        let piece = self.table[id as usize].to_string();
        if self.lag {
            std::mem::replace(&mut self.held, piece)
        } else {
            piece
        }
    }

    fn flush(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

const ALPHA: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];

fn greedy(max_tokens: Option<usize>) -> GenerateOptions {
    GenerateOptions {
        max_tokens,
        sampling: SamplingParams::greedy(),
        ..GenerateOptions::default()
    }
}

fn collect(
    model: &mut FakeModel,
    detok: &mut FakeDetok,
    prompt: &[u32],
    opts: &GenerateOptions,
) -> (allmende_engine::GenerateOutput, Vec<String>) {
    let mut pieces = Vec::new();
    let out = generate(model, detok, prompt, opts, |t| {
        pieces.push(t.to_string());
        ControlFlow::Continue(())
    })
    .unwrap();
    (out, pieces)
}

#[test]
fn greedy_until_max_tokens() {
    let mut m = FakeModel::new(8);
    let mut d = FakeDetok::new(&ALPHA);
    let (out, pieces) = collect(&mut m, &mut d, &[6, 0], &greedy(Some(5)));
    assert_eq!(out.ids, vec![1, 2, 3, 4, 5]);
    assert_eq!(out.text, "bcdef");
    assert_eq!(pieces, vec!["b", "c", "d", "e", "f"]);
    assert_eq!(out.finish_reason, FinishReason::Length);
    assert_eq!(out.finish_reason.openai_str(), "length");
    assert_eq!((out.timings.prompt_tokens, out.timings.gen_tokens), (2, 5));
    assert_eq!(out.seed, None);
    // Prompt once at pos 0, then one token per step; the last token needs no forward pass.
    assert_eq!(
        m.calls,
        vec![
            (vec![6, 0], 0),
            (vec![1], 2),
            (vec![2], 3),
            (vec![3], 4),
            (vec![4], 5)
        ]
    );
}

#[test]
fn eog_token_ends_and_is_not_detokenized() {
    let mut m = FakeModel::new(8);
    let mut d = FakeDetok::new(&ALPHA);
    let opts = GenerateOptions {
        eog_ids: vec![4],
        ..greedy(Some(100))
    };
    let (out, _) = collect(&mut m, &mut d, &[0], &opts);
    assert_eq!(out.ids, vec![1, 2, 3, 4]);
    assert_eq!(out.text, "bcd");
    assert_eq!(out.finish_reason, FinishReason::Eog);
    assert_eq!(out.finish_reason.openai_str(), "stop");
}

#[test]
fn stop_string_across_tokens_is_held_back_and_not_emitted() {
    // Tokens 1..=6 spell "x</s>y" in pieces "x", "<", "/", "s", ">", "y".
    let table = ["?", "x", "<", "/", "s", ">", "y", "z"];
    let mut m = FakeModel::new(8);
    let mut d = FakeDetok::new(&table);
    let opts = GenerateOptions {
        stop: vec!["nope".into(), "</s>".into()],
        ..greedy(Some(100))
    };
    let (out, pieces) = collect(&mut m, &mut d, &[0], &opts);
    assert_eq!(out.ids, vec![1, 2, 3, 4, 5]);
    assert_eq!(out.text, "x");
    assert_eq!(pieces, vec!["x"]);
    assert_eq!(out.finish_reason, FinishReason::Stop);
    assert_eq!(out.stop_index, Some(1));
}

#[test]
fn held_back_prefix_is_released_at_the_end() {
    let table = ["?", "x", "<", "/", "s", ">", "y", "z"];
    let mut m = FakeModel::new(8);
    let mut d = FakeDetok::new(&table);
    let opts = GenerateOptions {
        stop: vec!["</q>".into()],
        ..greedy(Some(3))
    };
    let (out, pieces) = collect(&mut m, &mut d, &[0], &opts);
    assert_eq!(out.ids, vec![1, 2, 3]);
    assert_eq!(pieces, vec!["x", "</"]);
    assert_eq!(out.text, "x</");
    assert_eq!(out.finish_reason, FinishReason::Length);
}

#[test]
fn detokenizer_flush_is_emitted_and_can_complete_a_stop() {
    let mut m = FakeModel::new(8);
    let mut d = FakeDetok {
        lag: true,
        ..FakeDetok::new(&ALPHA)
    };
    let (out, pieces) = collect(&mut m, &mut d, &[0], &greedy(Some(3)));
    assert_eq!(out.text, "bcd");
    assert_eq!(pieces, vec!["b", "c", "d"]);

    let mut m = FakeModel::new(8);
    let mut d = FakeDetok {
        lag: true,
        ..FakeDetok::new(&ALPHA)
    };
    let opts = GenerateOptions {
        stop: vec!["cd".into()],
        ..greedy(Some(3))
    };
    let (out, _) = collect(&mut m, &mut d, &[0], &opts);
    assert_eq!(out.text, "b");
    assert_eq!(
        (out.finish_reason, out.stop_index),
        (FinishReason::Stop, Some(0))
    );
}

#[test]
fn callback_can_cancel() {
    let mut m = FakeModel::new(8);
    let mut d = FakeDetok::new(&ALPHA);
    let mut n = 0;
    let out = generate(&mut m, &mut d, &[0], &greedy(None), |_| {
        n += 1;
        if n == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(out.ids, vec![1, 2]);
    assert_eq!(out.text, "bc");
    assert_eq!(out.finish_reason, FinishReason::Cancelled);
}

#[test]
fn context_window_limits_generation_and_long_prompts_are_refused() {
    // n_ctx 4, prompt 2: tokens sampled for positions 2, 3 and 4; only 2 and 3 are fed back.
    let mut m = FakeModel {
        n_ctx: Some(4),
        ..FakeModel::new(8)
    };
    let mut d = FakeDetok::new(&ALPHA);
    let (out, _) = collect(&mut m, &mut d, &[0, 0], &greedy(None));
    assert_eq!(out.ids, vec![1, 2, 3]);
    assert_eq!(out.finish_reason, FinishReason::Length);
    assert_eq!(m.calls.last(), Some(&(vec![2], 3)));

    let mut m = FakeModel {
        n_ctx: Some(4),
        ..FakeModel::new(8)
    };
    let err = generate(&mut m, &mut d, &[0; 5], &greedy(None), |_| {
        ControlFlow::Continue(())
    })
    .unwrap_err();
    assert!(matches!(
        err,
        EngineError::PromptTooLong {
            n_prompt: 5,
            n_ctx: 4
        }
    ));
    assert!(m.calls.is_empty());
}

#[test]
fn bad_input_and_model_errors() {
    let mut d = FakeDetok::new(&ALPHA);
    let mut m = FakeModel::new(8);
    let go = |m: &mut FakeModel, d: &mut FakeDetok, p: &[u32], o: &GenerateOptions| {
        generate(m, d, p, o, |_| ControlFlow::Continue(()))
    };
    assert!(matches!(
        go(&mut m, &mut d, &[], &greedy(None)),
        Err(EngineError::EmptyPrompt)
    ));
    assert!(matches!(
        go(&mut m, &mut d, &[8], &greedy(None)),
        Err(EngineError::TokenOutOfRange {
            token: 8,
            n_vocab: 8
        })
    ));
    let bad = GenerateOptions {
        sampling: SamplingParams {
            top_p: 2.0,
            ..SamplingParams::default()
        },
        ..greedy(None)
    };
    assert!(matches!(
        go(&mut m, &mut d, &[0], &bad),
        Err(EngineError::InvalidParam { name: "top_p", .. })
    ));

    let mut m = FakeModel {
        fail_at: Some(3),
        ..FakeModel::new(8)
    };
    let err = go(&mut m, &mut d, &[0], &greedy(None)).unwrap_err();
    assert!(matches!(err, EngineError::Model { pos: 3, .. }), "{err}");
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "fake model failure"
    );
}

#[test]
fn max_tokens_zero_does_not_run_the_model() {
    let mut m = FakeModel::new(8);
    let mut d = FakeDetok::new(&ALPHA);
    let (out, _) = collect(&mut m, &mut d, &[0], &greedy(Some(0)));
    assert!(out.ids.is_empty() && out.text.is_empty() && m.calls.is_empty());
    assert_eq!(out.finish_reason, FinishReason::Length);
}

#[test]
fn prompt_tokens_are_penalised_only_when_asked() {
    let fixed = vec![2.0, 1.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let sampling = SamplingParams {
        repeat_penalty: 2.0,
        ..SamplingParams::greedy()
    };
    let run = |penalize_prompt: bool| {
        let mut m = FakeModel {
            fixed: Some(fixed.clone()),
            ..FakeModel::new(8)
        };
        let mut d = FakeDetok::new(&ALPHA);
        let opts = GenerateOptions {
            max_tokens: Some(3),
            sampling: sampling.clone(),
            penalize_prompt,
            ..Default::default()
        };
        collect(&mut m, &mut d, &[0], &opts).0.ids
    };
    // With the prompt token 0 in the history, 2.0/2 = 1.0 < 1.9: token 1 first, then 0 and 1 are both
    // penalised (1.0 vs 0.95) -> 0, then 0 again.
    assert_eq!(run(true), vec![1, 0, 0]);
    assert_eq!(run(false), vec![0, 1, 0]);
}

#[test]
fn seeded_generation_is_reproducible_and_reports_the_seed() {
    let fixed: Vec<f32> = (0..8).map(|i| (i % 3) as f32 * 0.4).collect();
    let run = |seed: Option<u64>| {
        let mut m = FakeModel {
            fixed: Some(fixed.clone()),
            ..FakeModel::new(8)
        };
        let mut d = FakeDetok::new(&ALPHA);
        let sampling = SamplingParams {
            seed,
            top_k: 0,
            min_p: 0.0,
            ..SamplingParams::default()
        };
        let opts = GenerateOptions {
            max_tokens: Some(64),
            sampling,
            ..Default::default()
        };
        collect(&mut m, &mut d, &[0], &opts).0
    };
    let a = run(Some(99));
    assert_eq!(a.seed, Some(99));
    assert_eq!(a.ids, run(Some(99)).ids);
    assert_ne!(a.ids, run(Some(100)).ids);
    // An unseeded run reports the drawn seed, which reproduces it.
    let r = run(None);
    let seed = r.seed.unwrap();
    assert_eq!(r.ids, run(Some(seed)).ids);
    assert_eq!(a.text.len(), 64);
}

#[test]
fn logprobs_are_recorded_per_token() {
    let mut m = FakeModel::new(8);
    let mut d = FakeDetok::new(&ALPHA);
    let opts = GenerateOptions {
        logprobs: Some(2),
        ..greedy(Some(3))
    };
    let (out, _) = collect(&mut m, &mut d, &[0], &opts);
    assert_eq!(out.logprobs.len(), 3);
    // Logits: 5 for the next token, 0 for 7 others: p = e^5 / (e^5 + 7).
    let want = (5.0f64.exp() / (5.0f64.exp() + 7.0)).ln() as f32;
    for (step, lp) in out.logprobs.iter().enumerate() {
        assert_eq!(lp.chosen.id, out.ids[step]);
        assert!((lp.chosen.logprob - want).abs() < 1e-5);
        assert_eq!(lp.top.len(), 2);
        assert_eq!(lp.top[0], lp.chosen);
        // Runner-up: the lowest id among the zeros.
        let runner_up = if out.ids[step] == 0 { 1 } else { 0 };
        assert_eq!(lp.top[1].id, runner_up);
        assert!((lp.top[1].logprob - (want - 5.0)).abs() < 1e-5);
    }
}
