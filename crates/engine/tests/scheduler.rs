//! The continuous-batching scheduler against `generate` run alone: identical tokens and text
//! for greedy and seeded sampling whatever runs beside a job (8 jobs on 3 or 8 slots, prompts
//! longer than a prefill chunk), plus the queue, context and cancellation rules. Runs on the
//! tiny GGUF fixtures of the models crate with a detokenizer that spells ids out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use allmende_engine::{
    generate, DetokFactory, Detokenizer, FinishReason, GenerateOptions, Job, JobEvent, LogitsModel, SamplingParams, Scheduler,
    SchedulerConfig, SubmitError,
};
use allmende_models::{KvCache, Logits, Model, ModelError, ModelOptions};

const CHUNK: usize = 8;
const N_CTX: usize = 96;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/gguf").join(name)
}

fn load(file: &str, n_batch: usize) -> Model {
    Model::load(fixture(file), &ModelOptions { n_threads: 2, n_batch, kv_type: None }).unwrap()
}

/// "<id>" per token: every token shows in the text, so texts compare the whole sequence.
struct Spell;
impl Detokenizer for Spell {
    fn push(&mut self, id: u32) -> String {
        format!("<{id}>")
    }
}
struct SpellFactory;
impl DetokFactory for SpellFactory {
    fn detokenizer(&self) -> Box<dyn Detokenizer + '_> {
        Box::new(Spell)
    }
}

struct Alone<'a> {
    model: &'a mut Model,
    cache: KvCache,
}
impl LogitsModel for Alone<'_> {
    type Error = ModelError;
    fn n_vocab(&self) -> usize {
        self.model.n_vocab()
    }
    fn n_ctx(&self) -> Option<usize> {
        Some(self.cache.n_ctx())
    }
    fn forward(&mut self, tokens: &[u32], _pos: usize) -> Result<&[f32], ModelError> {
        self.model.forward(tokens, &mut self.cache, Logits::Last)
    }
}

fn prompt(seed: u32, n: usize, n_vocab: usize) -> Vec<u32> {
    (0..n as u32).map(|i| (seed * 7919 + i * 104_729 + 13) % n_vocab as u32).collect()
}

fn opts(i: u32, sampled: bool) -> GenerateOptions {
    let mut o = GenerateOptions { max_tokens: Some(6 + i as usize % 5), ..GenerateOptions::default() };
    o.sampling = SamplingParams { temperature: if sampled { 0.9 } else { 0.0 }, seed: Some(1000 + u64::from(i)), ..SamplingParams::default() };
    o
}

/// (ids, text, finish) of one job through the scheduler's events.
type Outcome = (Vec<u32>, String, FinishReason);

fn job(prompt: Vec<u32>, opts: GenerateOptions, tx: mpsc::Sender<(usize, JobEvent)>, k: usize) -> Job {
    Job {
        prompt,
        opts,
        events: Box::new(move |e| {
            let _ = tx.send((k, e));
            ControlFlow::Continue(())
        }),
        cancelled: None,
        json: None,
    }
}

fn collect(rx: &mpsc::Receiver<(usize, JobEvent)>, n: usize) -> Vec<Outcome> {
    let mut out: Vec<Outcome> = vec![(Vec::new(), String::new(), FinishReason::Cancelled); n];
    let mut done = 0;
    while done < n {
        let (k, e) = rx.recv_timeout(Duration::from_secs(60)).expect("scheduler stalled");
        match e {
            JobEvent::Token { id, text, .. } => {
                out[k].0.push(id);
                out[k].1.push_str(&text);
            }
            JobEvent::Text(text) => out[k].1.push_str(&text),
            JobEvent::Done(s) => {
                assert_eq!(s.completion_tokens, out[k].0.len(), "job {k}: completion_tokens");
                out[k].2 = s.finish_reason;
                done += 1;
            }
            JobEvent::Failed(m) => panic!("job {k} failed: {m}"),
        }
    }
    out
}

#[test]
fn jobs_among_others_match_generate_alone() {
    for file in ["tiny-llama-gqa-q8_0.gguf", "tiny-gemma3-f32.gguf"] {
        for sampled in [false, true] {
            let mut alone_model = load(file, CHUNK);
            let nv = alone_model.n_vocab();
            let prompts: Vec<Vec<u32>> = (0..8u32).map(|i| prompt(i, [1, 3, 8, 9, 17, 5, 24, 2][i as usize], nv)).collect();
            let want: Vec<Outcome> = (0..8u32)
                .map(|i| {
                    let cache = alone_model.new_cache(N_CTX);
                    let mut m = Alone { model: &mut alone_model, cache };
                    let r = generate(&mut m, &mut Spell, &prompts[i as usize], &opts(i, sampled), |_| ControlFlow::Continue(())).unwrap();
                    (r.ids, r.text, r.finish_reason)
                })
                .collect();
            for n_parallel in [3, 8] {
                let model = load(file, CHUNK + n_parallel);
                let cfg = SchedulerConfig { n_parallel, n_ctx: N_CTX, queue: 16, prefill_chunk: CHUNK, ..SchedulerConfig::default() };
                let sched = Scheduler::start(model, Arc::new(SpellFactory), cfg).unwrap();
                let (tx, rx) = mpsc::channel();
                for i in 0..8u32 {
                    sched.submit(job(prompts[i as usize].clone(), opts(i, sampled), tx.clone(), i as usize)).unwrap();
                }
                let got = collect(&rx, 8);
                for k in 0..8 {
                    assert_eq!(got[k], want[k], "{file} sampled={sampled} n_parallel={n_parallel}: job {k}");
                }
                sched.join();
                let stats = sched.stats();
                assert!(stats.steps > 0 && stats.active == 0 && stats.queued == 0, "{stats:?}");
            }
        }
    }
}

#[test]
fn refuses_what_cannot_fit_and_cancels_on_request() {
    let model = load("tiny-llama-gqa-q8_0.gguf", CHUNK + 1);
    let nv = model.n_vocab();
    let cfg = SchedulerConfig { n_parallel: 1, n_ctx: 32, queue: 1, prefill_chunk: CHUNK, ..SchedulerConfig::default() };
    let sched = Scheduler::start(model, Arc::new(SpellFactory), cfg).unwrap();
    let long = GenerateOptions { max_tokens: Some(30), ..GenerateOptions::default() };
    assert_eq!(
        sched.submit(Job { prompt: prompt(1, 5, nv), opts: long, events: Box::new(|_| ControlFlow::Continue(())), cancelled: None, json: None }),
        Err(SubmitError::TooLong { n_prompt: 5, max_tokens: 30, n_ctx: 32 })
    );
    assert_eq!(sched.submit(Job { prompt: vec![], opts: GenerateOptions::default(), events: Box::new(|_| ControlFlow::Continue(())), cancelled: None, json: None }), Err(SubmitError::EmptyPrompt));

    // A job that cancels after its second token ends there, with Cancelled.
    let (tx, rx) = mpsc::channel();
    let mut seen = 0;
    let cancel = Job {
        prompt: prompt(2, 4, nv),
        opts: GenerateOptions { max_tokens: Some(20), ..GenerateOptions::default() },
        events: Box::new(move |e| {
            let token = matches!(e, JobEvent::Token { .. });
            let _ = tx.send(e);
            seen += usize::from(token);
            if seen >= 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }),
        cancelled: None,
        json: None,
    };
    sched.submit(cancel).unwrap();
    let mut tokens = 0;
    loop {
        match rx.recv_timeout(Duration::from_secs(30)).unwrap() {
            JobEvent::Token { .. } => tokens += 1,
            JobEvent::Text(_) => {}
            JobEvent::Done(s) => {
                assert_eq!((s.finish_reason, s.completion_tokens, tokens), (FinishReason::Cancelled, 2, 2));
                break;
            }
            JobEvent::Failed(m) => panic!("{m}"),
        }
    }

    // Shut down: queued work still finishes, new work is refused.
    let (tx, rx) = mpsc::channel();
    sched.submit(job(prompt(3, 3, nv), GenerateOptions { max_tokens: Some(3), ..GenerateOptions::default() }, tx.clone(), 0)).unwrap();
    sched.shutdown();
    assert_eq!(
        sched.submit(job(prompt(3, 3, nv), GenerateOptions::default(), tx, 1)).map_err(|e| e.to_string()),
        Err("the server is shutting down".to_string())
    );
    let got = collect(&rx, 1);
    assert_eq!((got[0].0.len(), got[0].2), (3, FinishReason::Length));
    sched.join();
}

#[test]
fn the_queue_is_bounded() {
    let model = load("tiny-llama-gqa-q8_0.gguf", CHUNK + 1);
    let nv = model.n_vocab();
    let cfg = SchedulerConfig { n_parallel: 1, n_ctx: 64, queue: 2, prefill_chunk: CHUNK, ..SchedulerConfig::default() };
    let sched = Scheduler::start(model, Arc::new(SpellFactory), cfg).unwrap();
    // Hold the worker inside the first job's callback until the queue has been probed.
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let (tx, rx) = mpsc::channel();
    let first = Job {
        prompt: prompt(1, 3, nv),
        opts: GenerateOptions { max_tokens: Some(2), ..GenerateOptions::default() },
        events: Box::new(move |e| {
            if matches!(e, JobEvent::Token { .. }) {
                let _ = gate_rx.recv_timeout(Duration::from_secs(30));
            }
            let _ = tx.send((0, e));
            ControlFlow::Continue(())
        }),
        cancelled: None,
        json: None,
    };
    sched.submit(first).unwrap();
    // Wait until the worker has taken the first job into its slot.
    while sched.stats().active == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let noop = || Job { prompt: prompt(2, 2, nv), opts: GenerateOptions { max_tokens: Some(1), ..GenerateOptions::default() }, events: Box::new(|_| ControlFlow::Continue(())), cancelled: None, json: None };
    sched.submit(noop()).unwrap();
    sched.submit(noop()).unwrap();
    assert_eq!(sched.submit(noop()), Err(SubmitError::QueueFull(2)));
    assert_eq!(sched.stats().queued, 2);
    drop(gate_tx);
    let got = collect(&rx, 1);
    assert_eq!(got[0].0.len(), 2);
    sched.join();
}

#[test]
fn a_shared_prefix_is_reused_and_changes_nothing() {
    let mut alone_model = load("tiny-llama-gqa-q8_0.gguf", CHUNK);
    let nv = alone_model.n_vocab();
    let system = prompt(42, 19, nv);
    let prompts: Vec<Vec<u32>> = (0..4u32).map(|i| [system.clone(), prompt(i, 3 + i as usize, nv)].concat()).collect();
    let want: Vec<Outcome> = (0..4u32)
        .map(|i| {
            let cache = alone_model.new_cache(N_CTX);
            let mut m = Alone { model: &mut alone_model, cache };
            let r = generate(&mut m, &mut Spell, &prompts[i as usize], &opts(i, false), |_| ControlFlow::Continue(())).unwrap();
            (r.ids, r.text, r.finish_reason)
        })
        .collect();
    let model = load("tiny-llama-gqa-q8_0.gguf", CHUNK + 2);
    let cfg = SchedulerConfig { n_parallel: 2, n_ctx: N_CTX, queue: 8, prefill_chunk: CHUNK, ..SchedulerConfig::default() };
    let sched = Scheduler::start(model, Arc::new(SpellFactory), cfg).unwrap();
    let (tx, rx) = mpsc::channel();
    // One after the other, so that every job after the first finds the system prompt cached.
    for (k, p) in prompts.iter().enumerate() {
        sched.submit(job(p.clone(), opts(k as u32, false), tx.clone(), 0)).unwrap();
        let got = collect(&rx, 1);
        assert_eq!(got[0], want[k], "job {k}");
    }
    sched.join();
    let stats = sched.stats();
    // Every job after the first is put in the slot that holds the 19 shared tokens.
    assert_eq!(stats.prefix_reused, 3 * 19, "{stats:?}");
}

#[test]
fn a_job_whose_client_left_never_starts() {
    let model = load("tiny-llama-gqa-q8_0.gguf", CHUNK + 1);
    let nv = model.n_vocab();
    let cfg = SchedulerConfig { n_parallel: 1, n_ctx: 64, queue: 4, prefill_chunk: CHUNK, ..SchedulerConfig::default() };
    let sched = Scheduler::start(model, Arc::new(SpellFactory), cfg).unwrap();
    let (tx, rx) = mpsc::channel();
    let mut j = job(prompt(1, 5, nv), GenerateOptions { max_tokens: Some(4), ..GenerateOptions::default() }, tx, 0);
    j.cancelled = Some(Box::new(|| true));
    sched.submit(j).unwrap();
    match rx.recv_timeout(Duration::from_secs(30)).unwrap() {
        (0, JobEvent::Done(s)) => assert_eq!((s.finish_reason, s.completion_tokens), (FinishReason::Cancelled, 0)),
        other => panic!("{other:?}"),
    }
    sched.join();
    assert_eq!(sched.stats().steps, 0, "no forward pass ran");
}

#[test]
fn the_shared_prefix_cache_serves_other_slots_bit_for_bit() {
    let mut alone_model = load("tiny-llama-gqa-q8_0.gguf", CHUNK);
    let nv = alone_model.n_vocab();
    let system = prompt(42, 19, nv);
    let a = [system.clone(), prompt(1, 3, nv)].concat();
    let b = [system.clone(), prompt(2, 4, nv)].concat();
    let d = prompt(99, 9, nv);
    let mut alone = |p: &[u32], i: u32| -> Outcome {
        let cache = alone_model.new_cache(N_CTX);
        let mut m = Alone { model: &mut alone_model, cache };
        let r = generate(&mut m, &mut Spell, p, &opts(i, false), |_| ControlFlow::Continue(())).unwrap();
        (r.ids, r.text, r.finish_reason)
    };
    let want = [alone(&a, 0), alone(&d, 1), alone(&b, 2)];
    let model = load("tiny-llama-gqa-q8_0.gguf", CHUNK + 2);
    let cfg = SchedulerConfig {
        n_parallel: 2,
        n_ctx: N_CTX,
        queue: 8,
        prefill_chunk: CHUNK,
        prefix_cache_tokens: 64,
        prefix_block: 4,
    };
    let sched = Scheduler::start(model, Arc::new(SpellFactory), cfg).unwrap();
    let (tx, rx) = mpsc::channel();
    // A computes the system prompt and offers its blocks.
    sched.submit(job(a, opts(0, false), tx.clone(), 0)).unwrap();
    assert_eq!(collect(&rx, 1)[0], want[0]);
    assert_eq!(sched.stats().prefix_cached, 20, "A's 22 prompt tokens make 5 whole blocks");
    // D takes the slot that holds A's prompt (or finishes first and keeps it), so B's prefix
    // can only come from the shared cache: 4 whole blocks of the system prompt (16 of its 19
    // tokens; the 5th block differs).
    sched.submit(job(d, opts(1, false), tx.clone(), 0)).unwrap();
    sched.submit(job(b, opts(2, false), tx.clone(), 1)).unwrap();
    let got = collect(&rx, 2);
    assert_eq!(got[0], want[1], "D");
    assert_eq!(got[1], want[2], "B, with its prefix copied from the shared cache");
    sched.join();
    let stats = sched.stats();
    assert_eq!((stats.prefix_shared, stats.prefix_reused), (16, 16), "{stats:?}");
}

#[test]
fn the_shared_prefix_cache_keeps_prompt_heads_within_its_budget() {
    let model = load("tiny-llama-gqa-q8_0.gguf", CHUNK + 2);
    let nv = model.n_vocab();
    // Room for 2 blocks of 4 tokens.
    let cfg = SchedulerConfig { n_parallel: 1, n_ctx: N_CTX, queue: 8, prefill_chunk: CHUNK, prefix_cache_tokens: 8, prefix_block: 4 };
    let sched = Scheduler::start(model, Arc::new(SpellFactory), cfg).unwrap();
    let (tx, rx) = mpsc::channel();
    let one = GenerateOptions { max_tokens: Some(1), ..GenerateOptions::default() };
    let run = |p: Vec<u32>| {
        sched.submit(job(p, one.clone(), tx.clone(), 0)).unwrap();
        collect(&rx, 1);
        sched.stats()
    };
    let system = prompt(42, 19, nv);
    // A 22-token prompt has 5 blocks; the budget keeps its first 2.
    let s = run([system.clone(), prompt(1, 3, nv)].concat());
    assert_eq!((s.prefix_cached, s.prefix_shared), (8, 0));
    // A one-block prompt on the one slot evicts the least recently used block, the deepest of
    // A's; the slot's own cache no longer holds the system prompt, the shared cache gives its
    // first block.
    let s = run(prompt(7, 5, nv));
    assert_eq!(s.prefix_cached, 8);
    let s = run([system.clone(), prompt(2, 3, nv)].concat());
    assert_eq!(s.prefix_shared, 4, "{s:?}");
    // Other prompts push the system prompt's blocks out; it is then computed again.
    run(prompt(8, 12, nv));
    run(prompt(9, 5, nv));
    let s2 = run([system, prompt(3, 3, nv)].concat());
    assert_eq!(s2.prefix_shared, 4, "evicted, so nothing more was copied: {s2:?}");
    sched.join();
}
