//! A bounded load test on loopback: the real [`LocalBackend`] over the tiny llama-gqa GGUF fixture,
//! many clients at once. Phase one: 24 requests from 8 concurrent clients (chat and completions,
//! streamed and not) on 4 parallel slots all succeed, each with exactly the engine's own greedy
//! generation for its prompt (continuous batching must not change a single token), and
//! `/metrics` counts them. Phase two: a burst of 10 simultaneous requests against one slot and a
//! queue of 2: the refused ones get 429 with the OpenAI error body, the others 200 with the right
//! text, and none hangs. Every phase runs under a generous timeout; nothing asserts on speed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use allmende_engine::{GenerateOptions, LoadedModel, SamplingParams};
use allmende_models::ModelOptions;
use allmende_server::{LocalBackend, LocalOptions, ServerConfig};
use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

const N_CTX: usize = 96;
/// Far beyond what either phase needs even in a debug build on a busy machine: it only turns a
/// hang into a failure.
const BOUND: Duration = Duration::from_secs(120);

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/gguf/tiny-llama-gqa-f32.gguf")
}

fn load(parallel: usize) -> LoadedModel {
    let opts = ModelOptions { n_threads: 1, n_batch: allmende_server::serve_n_batch(parallel), ..Default::default() };
    LoadedModel::load(fixture(), &opts).unwrap()
}

async fn server(parallel: usize, queue: usize) -> TestServer {
    let opts = LocalOptions { n_ctx: Some(N_CTX), queue, parallel, prefix_cache: None };
    let backend = LocalBackend::new(vec![("tiny".into(), load(parallel))], Vec::new(), opts).unwrap();
    TestServer::start(Arc::new(backend), ServerConfig::default()).await
}

/// The engine's greedy generation for `prompt`: (tokens generated, text), as `allmende run
/// --temp 0` gives it.
fn reference(lm: &mut LoadedModel, prompt: &[u32], max_tokens: usize, ignore_eos: bool) -> (usize, String) {
    let mut sampling = SamplingParams::greedy();
    let mut eog_ids = lm.eog_ids.clone();
    if ignore_eos {
        for &id in &eog_ids {
            sampling.logit_bias.insert(id, f32::NEG_INFINITY);
        }
        eog_ids.clear();
    }
    let opts = GenerateOptions { max_tokens: Some(max_tokens), eog_ids, sampling, ..Default::default() };
    let out = lm.generate(prompt, N_CTX, &opts, |_| ControlFlow::Continue(())).unwrap();
    (out.ids.len(), out.text)
}

/// One request of the load: where it goes, its body, and what must come back.
struct Case {
    path: &'static str,
    body: Value,
    stream: bool,
    text: String,
    tokens: usize,
}

/// Request `i`: cycles through chat / completions × streamed / not, alternates `ignore_eos`, and
/// varies prompt and length so the batch holds sequences of different sizes at different stages.
fn case(lm: &mut LoadedModel, i: usize) -> Case {
    let chat = i % 4 < 2;
    let stream = i % 2 == 1;
    let ignore_eos = !i.is_multiple_of(3);
    let max_tokens = 6 + (i * 7) % 20;
    let (path, mut body, prompt) = if chat {
        let messages = vec![json!({"role": "user", "content": format!("Request number {i}: name a colour and a light.")})];
        let prompt = lm.tokenize_chat(&lm.render_chat(&messages, true).unwrap()).unwrap();
        ("/v1/chat/completions", json!({"messages": messages}), prompt)
    } else {
        let text = format!("The light of night number {i} is");
        let prompt = lm.tokenize_raw(&text).unwrap();
        ("/v1/completions", json!({"prompt": text}), prompt)
    };
    let (tokens, text) = reference(lm, &prompt, max_tokens, ignore_eos);
    let extra = json!({"model": "tiny", "temperature": 0, "max_tokens": max_tokens, "ignore_eos": ignore_eos, "stream": stream});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    Case { path, body, stream, text, tokens }
}

/// The generated text and completion tokens of a 200 response, streamed or not.
fn output(path: &str, stream: bool, r: &Resp) -> (String, usize) {
    assert_eq!(r.status, 200, "{}", r.text());
    let field = if path == "/v1/chat/completions" { "/delta/content" } else { "/text" };
    if !stream {
        let v = r.json();
        let field = if path == "/v1/chat/completions" { "/message/content" } else { "/text" };
        let text = v["choices"][0].pointer(field).and_then(Value::as_str).unwrap().to_string();
        return (text, v["usage"]["completion_tokens"].as_u64().unwrap() as usize);
    }
    let events = r.sse();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    assert!(chunks.iter().all(|c| c.get("error").is_none()), "{events:?}");
    let text = chunks.iter().filter_map(|c| c["choices"][0].pointer(field).and_then(Value::as_str)).collect();
    let usage = &chunks.last().unwrap()["usage"];
    (text, usage["completion_tokens"].as_u64().unwrap() as usize)
}

/// Waits (bounded) until the scheduler reports nothing queued or running: a slot is counted free
/// only after the step that finished it, a moment after its client has seen the end.
async fn settle(addr: SocketAddr) {
    for _ in 0..1000 {
        let h = get(addr, "/health").await.json();
        if h["queued"] == 0 && h["active"] == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the scheduler did not become idle");
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_clients_get_the_engines_own_outputs() {
    const CLIENTS: usize = 8;
    const PER_CLIENT: usize = 3;
    let mut lm = load(1);
    let cases: Arc<Vec<Case>> = Arc::new((0..CLIENTS * PER_CLIENT).map(|i| case(&mut lm, i)).collect());
    let srv = server(4, 32).await;
    let addr = srv.addr;

    let run = async {
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let cases = cases.clone();
            // Client c sends requests c, c + 8, c + 16 one after the other.
            clients.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for k in 0..PER_CLIENT {
                    let i = c + k * CLIENTS;
                    let r = post(addr, cases[i].path, &cases[i].body).await;
                    got.push((i, output(cases[i].path, cases[i].stream, &r)));
                }
                got
            }));
        }
        let mut all = Vec::new();
        for c in clients {
            all.extend(c.await.unwrap());
        }
        all
    };
    // Watches how many sequences run at once: reported, not asserted (it depends on timing).
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                most = most.max(get(addr, "/health").await.json()["active"].as_u64().unwrap());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            most
        })
    };
    let all = tokio::time::timeout(BOUND, run).await.expect("the load did not finish within the bound");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    eprintln!("at most {} sequences ran at once", watch.await.unwrap());

    assert_eq!(all.len(), CLIENTS * PER_CLIENT);
    for (i, (text, tokens)) in &all {
        let want = &cases[*i];
        assert_eq!(text, &want.text, "request {i}: {}", want.body);
        assert_eq!(*tokens, want.tokens, "request {i}: {}", want.body);
    }

    settle(addr).await;
    let m = get(addr, "/metrics").await.text();
    let half = (CLIENTS * PER_CLIENT / 2) as f64;
    for ep in ["/v1/chat/completions", "/v1/completions"] {
        let name = format!("allmende_requests_total{{endpoint=\"{ep}\",status=\"200\"}}");
        assert_eq!(metric(&m, &name), Some(half), "{m}");
    }
    let generated: usize = cases.iter().map(|c| c.tokens).sum();
    assert_eq!(metric(&m, "allmende_generated_tokens_total{model=\"tiny\"}"), Some(generated as f64), "{m}");
    assert_eq!(metric(&m, "allmende_time_to_first_token_seconds_count"), Some((CLIENTS * PER_CLIENT) as f64), "{m}");
    assert_eq!(metric(&m, "allmende_queue_depth"), Some(0.0), "{m}");
    assert_eq!(metric(&m, "allmende_active_sequences"), Some(0.0), "{m}");
}

/// Sends `body` on a new connection, all but its last byte at once and the last byte when every
/// client of the burst has reached `barrier`: the server sees the burst's requests complete within
/// a moment of each other, not spread over the time it takes to connect.
async fn post_together(addr: SocketAddr, path: &str, body: &Value, barrier: Arc<Barrier>) -> Resp {
    let body = serde_json::to_vec(body).unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (most, last) = body.split_at(body.len() - 1);
    s.write_all(most).await.unwrap();
    barrier.wait().await;
    s.write_all(last).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    parse_response(&raw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_refuses_with_429_and_nothing_hangs() {
    const BURST: usize = 10;
    const MAX_TOKENS: usize = 64;
    let mut lm = load(1);
    let prompts: Vec<String> = (0..BURST).map(|i| format!("Burst request {i} about the light")).collect();
    let want: Vec<(usize, String)> = prompts
        .iter()
        .map(|p| {
            let ids = lm.tokenize_raw(p).unwrap();
            reference(&mut lm, &ids, MAX_TOKENS, true)
        })
        .collect();
    let srv = server(1, 2).await;
    let addr = srv.addr;

    // One slot, two places in the queue: of ten requests arriving together at most three (the
    // running one and two waiting) fit while each needs 64 decode steps, so some are refused. A
    // burst that happened to be served whole (a very slow accept loop) would prove nothing, so it
    // is repeated, a few times at most, until one has seen a refusal.
    let mut bursts = 0;
    let mut refused_total = 0;
    while refused_total == 0 && bursts < 5 {
        bursts += 1;
        let barrier = Arc::new(Barrier::new(BURST));
        let mut tasks = Vec::new();
        for (i, p) in prompts.iter().enumerate() {
            let stream = i % 2 == 1;
            let mut body = json!({"model": "tiny", "prompt": p, "temperature": 0, "max_tokens": MAX_TOKENS, "ignore_eos": true, "stream": stream});
            if stream {
                body["stream_options"] = json!({"include_usage": true});
            }
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move { (i, stream, post_together(addr, "/v1/completions", &body, barrier).await) }));
        }
        let run = async {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        };
        let results = tokio::time::timeout(BOUND, run).await.expect("a request of the burst hung");

        let (mut ok, mut refused) = (0, 0);
        for (i, stream, r) in &results {
            if r.status == 429 {
                let msg = r.assert_error(429, "rate_limit_error", None);
                assert!(msg.contains("queue is full"), "{msg}");
                assert_eq!(r.json()["error"]["code"], "queue_full");
                assert_eq!(r.header("retry-after"), Some("1"));
                refused += 1;
            } else {
                let (text, tokens) = output("/v1/completions", *stream, r);
                assert_eq!((tokens, &text), (want[*i].0, &want[*i].1), "request {i}");
                ok += 1;
            }
        }
        eprintln!("burst {bursts}: {ok} served, {refused} refused");
        assert_eq!(ok + refused, BURST);
        // The first two to arrive always find room in the queue.
        assert!(ok >= 2, "{ok} accepted");
        refused_total += refused;

        // Between bursts the server becomes idle again: nothing left queued or running.
        settle(addr).await;
    }
    assert!(refused_total > 0, "no burst of {bursts} saw a refusal");

    let m = get(addr, "/metrics").await.text();
    let count = |status: &str| {
        metric(&m, &format!("allmende_requests_total{{endpoint=\"/v1/completions\",status=\"{status}\"}}")).unwrap_or(0.0)
    };
    assert_eq!(count("429"), refused_total as f64, "{m}");
    assert_eq!(count("200") + count("429"), (bursts * BURST) as f64, "{m}");
}
