//! Every error status as an OpenAI error object (`{"error": {"message", "type", "param",
//! "code"}}`): 400 for bad bodies and bad values, 401, 404, 405, 408, 413, 429, 500, 503.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use allmende_server::{Keys, ServerConfig};
use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHAT: &str = "/v1/chat/completions";

fn chat(extra: Value) -> Value {
    let mut v = json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[tokio::test]
async fn bad_bodies_are_400() {
    let (srv, _) = fake_server().await;
    let r = request(srv.addr, "POST", CHAT, &[], Some(b"{not json")).await;
    let msg = r.assert_error(400, "invalid_request_error", None);
    assert!(msg.contains("parse the JSON"), "{msg}");
    request(srv.addr, "POST", CHAT, &[], Some(b"[1, 2]")).await.assert_error(400, "invalid_request_error", None);
    request(srv.addr, "POST", CHAT, &[], Some(b"")).await.assert_error(400, "invalid_request_error", None);
    post(srv.addr, CHAT, &json!({"messages": [{"role": "user", "content": "x"}]})).await.assert_error(
        400,
        "invalid_request_error",
        Some("model"),
    );
    post(srv.addr, CHAT, &json!({"model": "fake-chat"})).await.assert_error(
        400,
        "invalid_request_error",
        Some("messages"),
    );
    post(srv.addr, "/v1/completions", &json!({"model": "fake-base"})).await.assert_error(
        400,
        "invalid_request_error",
        Some("prompt"),
    );
}

#[tokio::test]
async fn bad_values_name_their_param() {
    let (srv, fake) = fake_server().await;
    let cases = [
        (json!({"temperature": 2.5}), "temperature"),
        (json!({"temperature": -0.1}), "temperature"),
        (json!({"temperature": "hot"}), "temperature"),
        (json!({"top_p": 0}), "top_p"),
        (json!({"top_p": 1.5}), "top_p"),
        (json!({"n": 0}), "n"),
        (json!({"n": 17}), "n"),
        (json!({"n": 1.5}), "n"),
        (json!({"max_tokens": 0}), "max_tokens"),
        (json!({"max_completion_tokens": -3}), "max_completion_tokens"),
        (json!({"presence_penalty": 2.5}), "presence_penalty"),
        (json!({"frequency_penalty": -3}), "frequency_penalty"),
        (json!({"stop": ["a", "b", "c", "d", "e"]}), "stop"),
        (json!({"stop": 5}), "stop"),
        (json!({"logit_bias": {"abc": 1}}), "logit_bias"),
        (json!({"logit_bias": {"5": 101}}), "logit_bias"),
        (json!({"logit_bias": {"5000": 1}}), "logit_bias"),
        (json!({"logprobs": 3}), "logprobs"),
        (json!({"top_logprobs": 2}), "top_logprobs"),
        (json!({"logprobs": true, "top_logprobs": 21}), "top_logprobs"),
        (json!({"top_k": -1}), "top_k"),
        (json!({"min_p": 1.5}), "min_p"),
        (json!({"repeat_penalty": 0}), "repeat_penalty"),
        (json!({"repeat_last_n": -2}), "repeat_last_n"),
        (json!({"stream": "yes"}), "stream"),
        (json!({"stream_options": {"include_usage": true}}), "stream_options"),
        (json!({"ignore_eos": 1}), "ignore_eos"),
        (json!({"seed": "x"}), "seed"),
        (json!({"user": 5}), "user"),
        (json!({"messages": [{"role": "wizard", "content": "x"}]}), "messages[0].role"),
        (json!({"messages": [{"content": "x"}]}), "messages[0].role"),
        (json!({"messages": [{"role": "user"}]}), "messages[0].content"),
        (json!({"messages": [{"role": "user", "content": 5}]}), "messages[0].content"),
        (json!({"messages": ["hi"]}), "messages[0]"),
        (json!({"messages": []}), "messages"),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "data:,"}}]}]}),
            "messages[0].content[1].type",
        ),
        (json!({"messages": [{"role": "user", "content": [{"type": "video"}]}]}), "messages[0].content[0].type"),
        (json!({"messages": [{"role": "user", "content": [{"type": "text"}]}]}), "messages[0].content[0]"),
    ];
    for (extra, param) in cases {
        let r = post(srv.addr, CHAT, &chat(extra.clone())).await;
        assert_eq!(r.status, 400, "{extra}: {}", r.text());
        let v = r.json();
        assert_eq!(v["error"]["type"], "invalid_request_error", "{extra}: {v}");
        assert_eq!(v["error"]["param"], param, "{extra}: {v}");
    }
    assert!(fake.jobs.lock().unwrap().is_empty(), "no invalid request reaches the backend");

    let r = post(srv.addr, "/v1/completions", &json!({"model": "fake-base", "prompt": "x", "logprobs": 6})).await;
    r.assert_error(400, "invalid_request_error", Some("logprobs"));
    let r = post(srv.addr, "/v1/completions", &json!({"model": "fake-base", "prompt": [1, 2000]})).await;
    r.assert_error(400, "invalid_request_error", Some("prompt"));
    let r = post(srv.addr, "/v1/completions", &json!({"model": "fake-base", "prompt": {"a": 1}})).await;
    r.assert_error(400, "invalid_request_error", Some("prompt"));
    let r =
        post(srv.addr, "/v1/completions", &json!({"model": "fake-base", "prompt": ["a", "b", "c", "d", "e"], "n": 4}))
            .await;
    r.assert_error(400, "invalid_request_error", Some("prompt"));
}

#[tokio::test]
async fn unsupported_features_are_refused_not_ignored() {
    let (srv, _) = fake_server().await;
    for (extra, param) in [
        (json!({"tools": [{"type": "function", "function": {"name": "f"}}]}), "tools"),
        (json!({"tool_choice": "required"}), "tool_choice"),
    ] {
        let r = post(srv.addr, CHAT, &chat(extra.clone())).await;
        let msg = r.assert_error(400, "invalid_request_error", Some(param));
        assert!(msg.contains("not supported"), "{extra}: {msg}");
        assert_eq!(r.json()["error"]["code"], "unsupported_parameter");
    }
    let r = post(srv.addr, CHAT, &chat(json!({"response_format": {"type": "yaml"}}))).await;
    r.assert_error(400, "invalid_request_error", Some("response_format"));
    // Schemas the constraint engine cannot honour are refused, naming the keyword.
    for (schema, needle) in [
        (json!({"type": "string", "pattern": "^a+$"}), "pattern"),
        (json!({"type": "object", "requried": ["a"]}), "requried"),
        (json!({"enum": []}), "no JSON document satisfies"),
    ] {
        let rf = json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}});
        let r = post(srv.addr, CHAT, &chat(rf)).await;
        let msg = r.assert_error(400, "invalid_request_error", Some("response_format.json_schema.schema"));
        assert!(msg.contains(needle), "{schema}: {msg}");
    }
    let r = post(srv.addr, CHAT, &chat(json!({"response_format": {"type": "json_schema"}}))).await;
    r.assert_error(400, "invalid_request_error", Some("response_format.json_schema"));
    let r = post(srv.addr, "/v1/completions", &json!({"model": "fake-base", "prompt": "x", "suffix": "y"})).await;
    r.assert_error(400, "invalid_request_error", Some("suffix"));
    let r = post(srv.addr, "/v1/completions", &json!({"model": "fake-base", "prompt": "x", "best_of": 3})).await;
    r.assert_error(400, "invalid_request_error", Some("best_of"));
    let r =
        post(srv.addr, "/v1/completions", &json!({"model": "fake-base", "prompt": "x", "echo": true, "logprobs": 1}))
            .await;
    r.assert_error(400, "invalid_request_error", Some("echo"));
}

#[tokio::test]
async fn context_overflow_is_400_never_truncated() {
    let (srv, fake) = fake_server().await;
    // Prompt: BOS + "user:" + 30 words = 32 tokens; 32 + 33 > 64.
    let long = vec!["w"; 30].join(" ");
    let body = json!({"model": "fake-chat", "messages": [{"role": "user", "content": long}], "max_tokens": 33});
    let r = post(srv.addr, CHAT, &body).await;
    let msg = r.assert_error(400, "invalid_request_error", Some("messages"));
    assert_eq!(r.json()["error"]["code"], "context_length_exceeded");
    assert!(
        msg.contains("maximum context length is 64 tokens")
            && msg.contains("65 tokens (32 in the messages, 33 in the completion)"),
        "{msg}"
    );
    // Exactly filling the context is fine.
    let body = json!({"model": "fake-chat", "messages": [{"role": "user", "content": long}], "max_tokens": 32});
    assert_eq!(post(srv.addr, CHAT, &body).await.status, 200);
    // A prompt that fills the context leaves no room even without max_tokens.
    let full = vec!["w"; 62].join(" ");
    let r = post(srv.addr, CHAT, &json!({"model": "fake-chat", "messages": [{"role": "user", "content": full}]})).await;
    r.assert_error(400, "invalid_request_error", Some("messages"));
    // Completions: the default of 16 tokens must fit too.
    let r = post(srv.addr, "/v1/completions", &json!({"model": "fake-base", "prompt": vec!["w"; 50].join(" ")})).await;
    let msg = r.assert_error(400, "invalid_request_error", Some("prompt"));
    assert!(msg.contains("51 in the prompt, 16 in the completion"), "{msg}");
    assert_eq!(fake.jobs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_model_404_and_wrong_kind_400() {
    let (srv, _) = fake_server().await;
    let r = post(srv.addr, CHAT, &chat(json!({"model": "gpt-4"}))).await;
    let msg = r.assert_error(404, "invalid_request_error", Some("model"));
    assert!(msg.contains("`gpt-4` does not exist"), "{msg}");
    assert_eq!(r.json()["error"]["code"], "model_not_found");
    post(srv.addr, "/v1/embeddings", &json!({"model": "nope", "input": "x"})).await.assert_error(
        404,
        "invalid_request_error",
        Some("model"),
    );
    post(srv.addr, "/v1/completions", &json!({"model": "nope", "prompt": "x"})).await.assert_error(
        404,
        "invalid_request_error",
        Some("model"),
    );
    // Chat needs a chat template; embeddings need an embedding model and vice versa.
    post(srv.addr, CHAT, &chat(json!({"model": "fake-base"}))).await.assert_error(
        400,
        "invalid_request_error",
        Some("model"),
    );
    post(srv.addr, CHAT, &chat(json!({"model": "fake-embed"}))).await.assert_error(
        400,
        "invalid_request_error",
        Some("model"),
    );
    post(srv.addr, "/v1/embeddings", &json!({"model": "fake-chat", "input": "x"})).await.assert_error(
        400,
        "invalid_request_error",
        Some("model"),
    );
}

#[tokio::test]
async fn embeddings_bad_inputs() {
    let (srv, _) = fake_server().await;
    for (input, param) in [
        (json!(""), "input"),
        (json!([]), "input"),
        (json!(["a", ""]), "input"),
        (json!(5), "input"),
        (json!([1, 2]), "input"),
    ] {
        let r = post(srv.addr, "/v1/embeddings", &json!({"model": "fake-embed", "input": input})).await;
        r.assert_error(400, "invalid_request_error", Some(param));
    }
    let r =
        post(srv.addr, "/v1/embeddings", &json!({"model": "fake-embed", "input": "a", "encoding_format": "hex"})).await;
    r.assert_error(400, "invalid_request_error", Some("encoding_format"));
    let r = post(srv.addr, "/v1/embeddings", &json!({"model": "fake-embed", "input": "a", "dimensions": 2})).await;
    r.assert_error(400, "invalid_request_error", Some("dimensions"));
    post(srv.addr, "/v1/embeddings", &json!({"model": "fake-embed"})).await.assert_error(
        400,
        "invalid_request_error",
        Some("input"),
    );
}

#[tokio::test]
async fn unknown_path_404_wrong_method_405() {
    let (srv, _) = fake_server().await;
    let r = get(srv.addr, "/v1/engines").await;
    let msg = r.assert_error(404, "invalid_request_error", None);
    assert_eq!(msg, "Unknown request URL: GET /v1/engines.");
    get(srv.addr, CHAT).await.assert_error(405, "invalid_request_error", None);
    request(srv.addr, "POST", "/v1/models", &[], Some(b"{}")).await.assert_error(405, "invalid_request_error", None);
}

#[tokio::test]
async fn api_keys_401() {
    let cfg = ServerConfig { keys: Keys::parse("sk-right\nsk-other\n", "keys").unwrap(), ..Default::default() };
    let (srv, _) = fake_server_with(cfg).await;
    let body = serde_json::to_vec(&chat(json!({}))).unwrap();
    let r = request(srv.addr, "POST", CHAT, &[], Some(&body)).await;
    r.assert_error(401, "invalid_request_error", None);
    assert_eq!(r.json()["error"]["code"], "missing_api_key");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = request(srv.addr, "POST", CHAT, &[("Authorization", "Bearer sk-wrong")], Some(&body)).await;
    r.assert_error(401, "invalid_request_error", None);
    assert_eq!(r.json()["error"]["code"], "invalid_api_key");
    let r = request(srv.addr, "POST", CHAT, &[("Authorization", "Bearer sk-righ")], Some(&body)).await;
    assert_eq!(r.status, 401, "a prefix of a key is not the key");
    let r = request(srv.addr, "POST", CHAT, &[("Authorization", "sk-right")], Some(&body)).await;
    assert_eq!(r.status, 401, "the Bearer scheme is required");
    assert_eq!(request(srv.addr, "POST", CHAT, &[("Authorization", "Bearer sk-other")], Some(&body)).await.status, 200);
    assert_eq!(request(srv.addr, "GET", "/v1/models", &[("Authorization", "Bearer sk-right")], None).await.status, 200);
    // Every API route needs the key; /health does not (for load balancers).
    assert_eq!(get(srv.addr, "/v1/models").await.status, 401);
    assert_eq!(get(srv.addr, "/metrics").await.status, 401);
    assert_eq!(get(srv.addr, "/health").await.status, 200);
}

#[tokio::test]
async fn quotas_429_and_per_key_metrics() {
    let keys = Keys::parse("sk-a name=alice requests=2/day\nsk-b name=bob tokens=5/day\n", "keys").unwrap();
    let (srv, _) = fake_server_with(ServerConfig { keys, ..Default::default() }).await;
    let body = chat(json!({}));
    assert_eq!(post_key(srv.addr, CHAT, "sk-a", &body).await.status, 200);
    assert_eq!(post_key(srv.addr, CHAT, "sk-a", &body).await.status, 200);
    let r = post_key(srv.addr, CHAT, "sk-a", &body).await;
    let msg = r.assert_error(429, "insufficient_quota", None);
    assert!(msg.contains("request quota of key `alice`"), "{msg}");
    // bob: 3 prompt + 2 generated = 5 tokens spend the quota; the next request is refused.
    assert_eq!(post_key(srv.addr, CHAT, "sk-b", &body).await.status, 200);
    let r = post_key(srv.addr, CHAT, "sk-b", &body).await;
    let msg = r.assert_error(429, "insufficient_quota", None);
    assert!(msg.contains("token quota of key `bob`"), "{msg}");

    let m = request(srv.addr, "GET", "/metrics", &[("Authorization", "Bearer sk-b")], None).await.text();
    for line in [
        "allmende_key_requests_total{key=\"alice\"} 3",
        "allmende_key_requests_total{key=\"bob\"} 3",
        "allmende_key_tokens_total{key=\"alice\"} 10",
        "allmende_key_tokens_total{key=\"bob\"} 5",
        "allmende_key_quota_rejections_total{key=\"alice\"} 1",
        "allmende_key_quota_rejections_total{key=\"bob\"} 1",
        "allmende_requests_total{endpoint=\"/v1/chat/completions\",status=\"429\"} 2",
    ] {
        assert!(m.lines().any(|l| l == line), "missing {line:?} in\n{m}");
    }
    assert!(!m.contains("sk-a") && !m.contains("sk-b"), "keys never appear in metrics");
}

#[tokio::test]
async fn body_over_the_limit_413() {
    let (srv, _) = fake_server_with(ServerConfig { max_body_bytes: 1000, ..Default::default() }).await;
    let big = chat(json!({"messages": [{"role": "user", "content": "x".repeat(2000)}]}));
    let r = post(srv.addr, CHAT, &big).await;
    let msg = r.assert_error(413, "invalid_request_error", None);
    assert!(msg.contains("1000 bytes"), "{msg}");

    // Without Content-Length (chunked), the limit holds while reading.
    let payload = serde_json::to_vec(&big).unwrap();
    let mut chunked = Vec::new();
    for part in payload.chunks(300) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let head = format!("POST {CHAT} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&chunked).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    parse_response(&raw).assert_error(413, "invalid_request_error", None);
}

#[tokio::test]
async fn queue_full_429() {
    let (srv, fake) = fake_server().await;
    fake.capacity.store(1, Ordering::SeqCst);
    fake.hold(0);
    let addr = srv.addr;
    let first = tokio::spawn(async move { post(addr, CHAT, &chat(json!({}))).await });
    wait_for("the first job to be accepted", || fake.active.load(Ordering::SeqCst) == 1).await;
    let r = post(srv.addr, CHAT, &chat(json!({}))).await;
    let msg = r.assert_error(429, "rate_limit_error", None);
    assert!(msg.contains("queue is full"), "{msg}");
    assert_eq!(r.json()["error"]["code"], "queue_full");
    assert_eq!(r.header("retry-after"), Some("1"));
    // n = 2 with room for one: refused as a whole (the accepted half is cancelled).
    fake.release();
    assert_eq!(first.await.unwrap().status, 200);
    wait_for("the first job to end", || fake.active.load(Ordering::SeqCst) == 0).await;
    fake.hold(0);
    let r = post(srv.addr, CHAT, &chat(json!({"n": 2}))).await;
    r.assert_error(429, "rate_limit_error", None);
    fake.release();
    wait_for("the accepted half to be cancelled", || fake.cancelled.load(Ordering::SeqCst) == 1).await;
}

#[tokio::test]
async fn shutting_down_503() {
    let (srv, fake) = fake_server().await;
    srv.state.begin_shutdown();
    assert!(fake.closed.load(Ordering::SeqCst), "the backend is told to stop taking jobs");
    let r = post(srv.addr, CHAT, &chat(json!({}))).await;
    let msg = r.assert_error(503, "server_error", None);
    assert!(msg.contains("shutting down"), "{msg}");
    get(srv.addr, "/health").await.assert_error(503, "server_error", None);
}

#[tokio::test]
async fn backend_failure_500_and_stream_error_event() {
    let (srv, fake) = fake_server().await;
    *fake.fail.lock().unwrap() = Some("the model broke".into());
    let r = post(srv.addr, CHAT, &chat(json!({}))).await;
    let msg = r.assert_error(500, "server_error", None);
    assert!(msg.contains("the model broke"), "{msg}");
    // Streaming: the status is already 200; the error arrives as an event, then [DONE].
    let r = post(srv.addr, CHAT, &chat(json!({"stream": true}))).await;
    assert_eq!(r.status, 200);
    let ev = r.sse();
    assert_eq!(ev.len(), 4, "{ev:?}"); // role, t0, error, [DONE]
    let e: Value = serde_json::from_str(&ev[2]).unwrap();
    assert_eq!(e["error"]["type"], "server_error");
    assert!(e["error"]["message"].as_str().unwrap().contains("the model broke"));
    assert_eq!(ev[3], "[DONE]");
}

#[tokio::test]
async fn slow_generation_408() {
    let (srv, fake) = fake_server_with(ServerConfig { timeout: Duration::from_secs(1), ..Default::default() }).await;
    fake.hold(1);
    let r = post(srv.addr, CHAT, &chat(json!({}))).await;
    let msg = r.assert_error(408, "timeout_error", None);
    assert!(msg.contains("limit of 1 s"), "{msg}");
    let r = post(srv.addr, CHAT, &chat(json!({"stream": true}))).await;
    let ev = r.sse();
    let e: Value = serde_json::from_str(&ev[ev.len() - 2]).unwrap();
    assert_eq!(e["error"]["type"], "timeout_error");
    assert_eq!(ev.last().unwrap(), "[DONE]");
    fake.release();
    wait_for("both jobs to notice their clients left", || fake.cancelled.load(Ordering::SeqCst) == 2).await;
}
