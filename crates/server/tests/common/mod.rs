//! Shared helpers of the server's integration tests: a scripted fake backend, an in-process server
//! on a loopback port, and a minimal HTTP/1.1 client over a raw socket (so the tests see the exact
//! bytes on the wire: status line, headers, chunked SSE frames).

#![allow(dead_code)] // Each test file uses a different subset.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers (clippy.toml only covers #[test] fns).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use allmende_engine::FinishReason;
use allmende_server::backend::{StepProbs, TokenProb};
use allmende_server::{
    AppState, Backend, BackendError, Embeddings, Event, EventSink, Job, ModelInfo, ModelKind, Prompt, ServerConfig,
    Stats,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the fake does with a job.
#[derive(Default)]
pub struct FakeState {
    /// Every job submitted, in order.
    pub jobs: Mutex<Vec<Job>>,
    /// Jobs that stopped because the client went away.
    pub cancelled: AtomicUsize,
    /// Jobs that finished normally.
    pub finished: AtomicUsize,
    /// Jobs running or waiting at the gate.
    pub active: AtomicUsize,
    /// While true, jobs wait before their first token (and after `hold_after` tokens).
    pub hold: Mutex<bool>,
    pub hold_cv: Condvar,
    /// Jobs emit this many tokens before waiting at the gate (0: wait before the first).
    pub hold_after: AtomicUsize,
    /// Set by `shutdown`.
    pub closed: AtomicBool,
    /// Most jobs accepted at once; more get QueueFull.
    pub capacity: AtomicUsize,
    /// Fail every job with this message after its first token.
    pub fail: Mutex<Option<String>>,
}

impl FakeState {
    /// Lets held jobs run.
    pub fn release(&self) {
        *self.hold.lock().unwrap() = false;
        self.hold_cv.notify_all();
    }

    /// Makes jobs wait at the gate.
    pub fn hold(&self, after_tokens: usize) {
        self.hold_after.store(after_tokens, Ordering::SeqCst);
        *self.hold.lock().unwrap() = true;
    }

    fn wait_gate(&self) {
        let mut g = self.hold.lock().unwrap();
        while *g {
            g = self.hold_cv.wait(g).unwrap();
        }
    }
}

/// A scripted backend. Models:
/// - `fake-chat`: chat template, n_ctx 64, vocabulary 1000;
/// - `fake-base`: no chat template;
/// - `fake-embed`: 3-dimensional embeddings.
///
/// Tokenization: one token per whitespace-separated word (id = the word's length) plus a BOS (id 1);
/// a chat prompt is rendered as `<role>: <content>` per message. Generation: token k has the text
/// `" t{k}"`; a stop string inside the text ends it with `stop`; `max_tokens` ends it with `length`.
pub struct FakeBackend {
    pub state: Arc<FakeState>,
}

impl FakeBackend {
    pub fn new() -> Self {
        let state = FakeState::default();
        state.capacity.store(usize::MAX, Ordering::SeqCst);
        FakeBackend { state: Arc::new(state) }
    }
}

pub fn words_to_ids(text: &str) -> Vec<u32> {
    std::iter::once(1).chain(text.split_whitespace().map(|w| (w.len() as u32 % 900) + 2)).collect()
}

pub fn render_fake_chat(messages: &[Value]) -> String {
    messages
        .iter()
        .map(|m| format!("{}: {}", m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn tp(id: u32, logprob: f32) -> TokenProb {
    let text = format!(" t{id}");
    TokenProb { id, bytes: text.clone().into_bytes(), text, logprob }
}

fn run_fake(st: &FakeState, job: &Job, sink: &EventSink) {
    let hold_after = st.hold_after.load(Ordering::SeqCst);
    let mut text = String::new();
    let mut n = 0;
    let finish = loop {
        if n == hold_after {
            st.wait_gate();
        }
        if n >= job.max_tokens {
            break FinishReason::Length;
        }
        if sink.is_cancelled() {
            st.cancelled.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if n == 1 {
            if let Some(m) = st.fail.lock().unwrap().clone() {
                let _ = sink.send(Event::Error(m));
                return;
            }
        }
        let piece = format!(" t{n}");
        n += 1;
        text.push_str(&piece);
        let logprobs = match job.logprobs {
            Some(k) => vec![StepProbs {
                chosen: tp(n as u32 - 1, -0.5),
                top: (0..k).map(|i| tp(n as u32 - 1 + i as u32, -0.5 - i as f32)).collect(),
            }],
            None => Vec::new(),
        };
        if let Some(stop) = job.stop.iter().find(|s| text.contains(s.as_str())) {
            let cut = text.find(stop.as_str()).unwrap();
            let emitted = text.len() - piece.len();
            let rest = if cut > emitted { text[emitted..cut].to_string() } else { String::new() };
            let _ = sink.send(Event::Delta { text: rest, tokens: 1, logprobs });
            break FinishReason::Stop;
        }
        if sink.send(Event::Delta { text: piece, tokens: 1, logprobs }) == ControlFlow::Break(()) {
            st.cancelled.fetch_add(1, Ordering::SeqCst);
            return;
        }
        // Give cancellation a chance to be seen between tokens.
        std::thread::sleep(Duration::from_millis(2));
    };
    st.finished.fetch_add(1, Ordering::SeqCst);
    let _ = sink.send(Event::Done { finish_reason: finish, completion_tokens: n });
}

impl Backend for FakeBackend {
    fn models(&self) -> Vec<ModelInfo> {
        vec![
            ModelInfo {
                id: "fake-chat".into(),
                kind: ModelKind::Generate,
                n_ctx: 64,
                n_vocab: 1000,
                chat: true,
                created: 1_700_000_000,
            },
            ModelInfo {
                id: "fake-base".into(),
                kind: ModelKind::Generate,
                n_ctx: 64,
                n_vocab: 1000,
                chat: false,
                created: 1_700_000_001,
            },
            ModelInfo {
                id: "fake-embed".into(),
                kind: ModelKind::Embed,
                n_ctx: 16,
                n_vocab: 1000,
                chat: false,
                created: 1_700_000_002,
            },
        ]
    }

    fn tokenize(&self, model: &str, prompt: &Prompt) -> Result<Vec<u32>, BackendError> {
        if !model.starts_with("fake-") {
            return Err(BackendError::UnknownModel(model.into()));
        }
        Ok(match prompt {
            Prompt::Text(t) => words_to_ids(t),
            Prompt::Chat(m) => words_to_ids(&render_fake_chat(m)),
        })
    }

    fn submit(&self, job: Job, sink: EventSink) -> Result<(), BackendError> {
        let st = self.state.clone();
        if st.closed.load(Ordering::SeqCst) {
            return Err(BackendError::ShuttingDown);
        }
        if st.active.load(Ordering::SeqCst) >= st.capacity.load(Ordering::SeqCst) {
            return Err(BackendError::QueueFull);
        }
        st.active.fetch_add(1, Ordering::SeqCst);
        st.jobs.lock().unwrap().push(job.clone());
        std::thread::spawn(move || {
            run_fake(&st, &job, &sink);
            st.active.fetch_sub(1, Ordering::SeqCst);
        });
        Ok(())
    }

    fn embed(&self, model: &str, inputs: &[String]) -> Result<Embeddings, BackendError> {
        if model != "fake-embed" {
            return Err(BackendError::UnknownModel(model.into()));
        }
        let vectors = inputs.iter().map(|s| vec![s.len() as f32, 1.0, -0.5]).collect();
        let prompt_tokens = inputs.iter().map(|s| s.split_whitespace().count()).sum();
        Ok(Embeddings { vectors, prompt_tokens })
    }

    fn stats(&self) -> Stats {
        Stats { queued: 0, active: self.state.active.load(Ordering::SeqCst), kv_used: 10, kv_capacity: 64, ..Stats::default() }
    }

    fn shutdown(&self) {
        self.state.closed.store(true, Ordering::SeqCst);
    }
}

/// A server on 127.0.0.1 with a random port, shut down (gracefully) by [`TestServer::stop`].
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(backend: Arc<dyn Backend>, config: ServerConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState::new(backend, config);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(allmende_server::run(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        TestServer { addr, state, stop: Some(tx), task: Some(task) }
    }

    /// Starts graceful shutdown and returns the server task to await.
    pub fn stop(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.take().unwrap()
    }
}

/// A fake-backed server with default settings.
pub async fn fake_server() -> (TestServer, Arc<FakeState>) {
    fake_server_with(ServerConfig::default()).await
}

pub async fn fake_server_with(config: ServerConfig) -> (TestServer, Arc<FakeState>) {
    let fake = FakeBackend::new();
    let st = fake.state.clone();
    (TestServer::start(Arc::new(fake), config).await, st)
}

/// A response as read off the socket.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// The `data:` payloads of an SSE body, in order; asserts the framing (`data: X\n\n`).
    pub fn sse(&self) -> Vec<String> {
        sse_payloads(&self.text())
    }

    /// Asserts an OpenAI error object with this status, type and param; returns the message.
    pub fn assert_error(&self, status: u16, kind: &str, param: Option<&str>) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        let v = self.json();
        let e = &v["error"];
        assert_eq!(e["type"], kind, "{v}");
        assert_eq!(e["param"].as_str(), param, "{v}");
        assert!(e.get("code").is_some(), "{v}");
        let msg = e["message"].as_str().unwrap().to_string();
        assert!(!msg.is_empty());
        msg
    }
}

pub fn sse_payloads(text: &str) -> Vec<String> {
    assert!(text.ends_with("\n\n"), "SSE body must end with a blank line: {text:?}");
    let events: Vec<&str> = text.trim_end_matches('\n').split("\n\n").collect();
    events
        .iter()
        .map(|e| {
            assert!(!e.contains('\n'), "one line per event: {e:?}");
            e.strip_prefix("data: ").unwrap_or_else(|| panic!("not a data line: {e:?}")).to_string()
        })
        .collect()
}

/// Sends one HTTP/1.1 request (`Connection: close`) and reads the whole response.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    if let Some(b) = body {
        s.write_all(b).await.unwrap();
    }
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> Resp {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("no header end");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = HashMap::new();
    for l in lines {
        let (k, v) = l.split_once(':').unwrap();
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let rest = &raw[split + 4..];
    let body =
        if headers.get("transfer-encoding").is_some_and(|v| v == "chunked") { dechunk(rest) } else { rest.to_vec() };
    Resp { status, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        b = &b[nl + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// POST JSON.
pub async fn post(addr: SocketAddr, path: &str, body: &Value) -> Resp {
    let bytes = serde_json::to_vec(body).unwrap();
    request(addr, "POST", path, &[("Content-Type", "application/json")], Some(&bytes)).await
}

/// POST JSON with a bearer key.
pub async fn post_key(addr: SocketAddr, path: &str, key: &str, body: &Value) -> Resp {
    let bytes = serde_json::to_vec(body).unwrap();
    let auth = format!("Bearer {key}");
    request(addr, "POST", path, &[("Content-Type", "application/json"), ("Authorization", &auth)], Some(&bytes)).await
}

pub async fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[], None).await
}

/// Waits (bounded: 10 s) until `cond` holds; panics with `what` otherwise.
pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}
