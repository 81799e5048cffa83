//! Every endpoint over a scripted fake backend: the exact OpenAI wire format of responses and
//! stream chunks, the SSE framing, and how request fields reach the backend's jobs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};

fn assert_chat_envelope(v: &Value, object: &str) {
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"), "{v}");
    assert_eq!(v["object"], object, "{v}");
    assert!(v["created"].as_u64().unwrap() > 1_600_000_000, "{v}");
    assert_eq!(v["model"], "fake-chat");
    assert!(v["system_fingerprint"].as_str().unwrap().starts_with("allmende-"));
}

#[tokio::test]
async fn models_list_and_retrieve() {
    let (srv, _) = fake_server().await;
    let r = get(srv.addr, "/v1/models").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("application/json"));
    assert_eq!(
        r.json(),
        json!({"object": "list", "data": [
            {"id": "fake-chat", "object": "model", "created": 1_700_000_000u64, "owned_by": "allmende"},
            {"id": "fake-base", "object": "model", "created": 1_700_000_001u64, "owned_by": "allmende"},
            {"id": "fake-embed", "object": "model", "created": 1_700_000_002u64, "owned_by": "allmende"},
        ]})
    );
    let r = get(srv.addr, "/v1/models/fake-base").await;
    assert_eq!(
        r.json(),
        json!({"id": "fake-base", "object": "model", "created": 1_700_000_001u64, "owned_by": "allmende"})
    );
    get(srv.addr, "/v1/models/nope").await.assert_error(404, "invalid_request_error", Some("model"));
}

#[tokio::test]
async fn health_and_metrics() {
    let (srv, _) = fake_server().await;
    let r = get(srv.addr, "/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"status": "ok", "queued": 0, "active": 0}));

    let r = post(
        srv.addr,
        "/v1/chat/completions",
        &json!({"model": "fake-chat", "messages": [{"role": "user", "content": "a bb ccc"}], "max_tokens": 3}),
    )
    .await;
    assert_eq!(r.status, 200);
    post(srv.addr, "/v1/chat/completions", &json!({"model": "fake-chat", "messages": [], "max_tokens": 3})).await;

    let m = get(srv.addr, "/metrics").await;
    assert_eq!(m.status, 200);
    assert_eq!(m.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let t = m.text();
    for line in [
        "allmende_requests_total{endpoint=\"/health\",status=\"200\"} 1",
        "allmende_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 1",
        "allmende_requests_total{endpoint=\"/v1/chat/completions\",status=\"400\"} 1",
        // Prompt "user: a bb ccc" = BOS + 4 words; 3 tokens generated.
        "allmende_prompt_tokens_total{model=\"fake-chat\"} 5",
        "allmende_generated_tokens_total{model=\"fake-chat\"} 3",
        "allmende_time_to_first_token_seconds_count 1",
        "allmende_inter_token_latency_seconds_count 2",
        "allmende_kv_cache_used_tokens 10",
        "allmende_kv_cache_capacity_tokens 64",
        "allmende_queue_depth 0",
        "allmende_shutting_down 0",
        "# TYPE allmende_time_to_first_token_seconds histogram",
        "# TYPE allmende_requests_total counter",
    ] {
        assert!(t.lines().any(|l| l == line), "missing {line:?} in\n{t}");
    }
}

#[tokio::test]
async fn chat_completion_wire_format() {
    let (srv, fake) = fake_server().await;
    let r = post(
        srv.addr,
        "/v1/chat/completions",
        &json!({"model": "fake-chat", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two three"}]},
        ], "max_tokens": 4}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_chat_envelope(&v, "chat.completion");
    assert_eq!(
        v["choices"],
        json!([{"index": 0, "message": {"role": "assistant", "content": " t0 t1 t2 t3", "refusal": null}, "logprobs": null, "finish_reason": "length"}])
    );
    // "system: be brief\nuser: one\ntwo three": BOS + 7 words.
    assert_eq!(v["usage"], json!({"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12}));
    let jobs = fake.jobs.lock().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].prompt, words_to_ids("system: be brief\nuser: one\ntwo three"));
    assert_eq!(jobs[0].max_tokens, 4);
    assert_eq!(jobs[0].logprobs, None);
}

#[tokio::test]
async fn chat_without_max_tokens_gets_the_rest_of_the_context() {
    let (srv, fake) = fake_server().await;
    let r = post(
        srv.addr,
        "/v1/chat/completions",
        &json!({"model": "fake-chat", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(r.status, 200);
    // n_ctx 64 - prompt (BOS, "user:", "x") 3.
    assert_eq!(fake.jobs.lock().unwrap()[0].max_tokens, 61);
    assert_eq!(r.json()["usage"]["completion_tokens"], 61);
    assert_eq!(r.json()["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn request_fields_reach_the_job() {
    let (srv, fake) = fake_server().await;
    let r = post(
        srv.addr,
        "/v1/chat/completions",
        &json!({
            "model": "fake-chat",
            "messages": [{"role": "developer", "content": "d"}, {"role": "user", "content": "u", "name": "ann"}],
            "max_completion_tokens": 5, "max_tokens": 9,
            "temperature": 0.3, "top_p": 0.5, "seed": 42, "presence_penalty": 0.5, "frequency_penalty": -1.5,
            "logit_bias": {"7": 2.5, "9": -100}, "top_k": 7, "min_p": 0.1, "repeat_penalty": 1.3,
            "repeat_last_n": -1, "ignore_eos": true, "stop": ["t3", "zz"], "user": "someone",
            "response_format": {"type": "text"}, "tool_choice": "none"
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let job = fake.jobs.lock().unwrap()[0].clone();
    // developer -> system.
    assert_eq!(job.prompt, words_to_ids("system: d\nuser: u"));
    assert_eq!(job.max_tokens, 5, "max_completion_tokens wins over max_tokens");
    let s = &job.sampling;
    assert_eq!((s.temperature, s.top_p, s.top_k, s.min_p, s.repeat_penalty), (0.3, 0.5, 7, 0.1, 1.3));
    assert_eq!((s.presence_penalty, s.frequency_penalty, s.repeat_last_n), (0.5, -1.5, -1));
    assert_eq!(s.seed, Some(42));
    assert_eq!(s.logit_bias.get(&7), Some(&2.5));
    assert_eq!(s.logit_bias.get(&9), Some(&f32::NEG_INFINITY), "-100 bans the token");
    assert!(job.ignore_eos);
    assert_eq!(job.stop, vec!["t3".to_string(), "zz".to_string()]);
    // The fake stops at " t3": text before it, finish_reason stop.
    let v = r.json();
    assert_eq!(v["choices"][0]["message"]["content"], " t0 t1 t2 ");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn defaults_are_llama_cpp_sampling() {
    let (srv, fake) = fake_server().await;
    post(srv.addr, "/v1/completions", &json!({"model": "fake-base", "prompt": "hello"})).await;
    let job = fake.jobs.lock().unwrap()[0].clone();
    assert_eq!(job.sampling, allmende_engine::SamplingParams::default());
    assert_eq!(job.max_tokens, 16, "OpenAI's completions default");
    assert!(!job.ignore_eos);
    assert!(job.stop.is_empty());
}

#[tokio::test]
async fn chat_stream_framing() {
    let (srv, _) = fake_server().await;
    let r = post(srv.addr, "/v1/chat/completions", &json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": true})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let events = r.sse();
    assert_eq!(events.len(), 6, "{events:?}"); // role, 3 contents, finish, [DONE]
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..5].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    let id = chunks[0]["id"].as_str().unwrap();
    for c in &chunks {
        assert_chat_envelope(c, "chat.completion.chunk");
        assert_eq!(c["id"], id, "one id per stream");
        assert!(c.get("usage").is_none(), "no usage field without include_usage: {c}");
    }
    assert_eq!(
        chunks[0]["choices"],
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}])
    );
    for (i, c) in chunks[1..4].iter().enumerate() {
        assert_eq!(
            c["choices"],
            json!([{"index": 0, "delta": {"content": format!(" t{i}")}, "logprobs": null, "finish_reason": null}])
        );
    }
    assert_eq!(chunks[4]["choices"], json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "length"}]));
}

#[tokio::test]
async fn chat_stream_include_usage() {
    let (srv, _) = fake_server().await;
    let r = post(
        srv.addr,
        "/v1/chat/completions",
        &json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": true, "stream_options": {"include_usage": true}}),
    )
    .await;
    let events = r.sse();
    assert_eq!(events.len(), 6, "{events:?}"); // role, 2 contents, finish, usage, [DONE]
    let chunks: Vec<Value> = events[..5].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    for c in &chunks[..4] {
        assert_eq!(c["usage"], Value::Null, "{c}");
        assert!(c.get("usage").is_some());
    }
    assert_eq!(chunks[4]["choices"], json!([]));
    assert_eq!(chunks[4]["usage"], json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}));
    assert_eq!(events[5], "[DONE]");
}

#[tokio::test]
async fn n_choices_stream_and_not() {
    let (srv, fake) = fake_server().await;
    let r = post(srv.addr, "/v1/chat/completions", &json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "n": 3, "seed": 10})).await;
    let v = r.json();
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    for (i, c) in choices.iter().enumerate() {
        assert_eq!(c["index"], i);
        assert_eq!(c["message"]["content"], " t0 t1");
    }
    // The prompt counts once; the completions add up.
    assert_eq!(v["usage"], json!({"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}));
    let seeds: Vec<Option<u64>> = fake.jobs.lock().unwrap().iter().map(|j| j.sampling.seed).collect();
    assert_eq!(seeds, vec![Some(10), Some(11), Some(12)], "choices of a seeded request differ but reproduce");

    let r = post(srv.addr, "/v1/chat/completions", &json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "n": 2, "stream": true})).await;
    let events = r.sse();
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    // Per index: a role chunk first, then contents, then exactly one finish.
    for idx in 0..2 {
        let mine: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]).filter(|c| c["index"] == idx).collect();
        assert_eq!(mine.len(), 4, "{mine:?}");
        assert_eq!(mine[0]["delta"]["role"], "assistant");
        let text: String = mine[1..3].iter().map(|c| c["delta"]["content"].as_str().unwrap()).collect();
        assert_eq!(text, " t0 t1");
        assert_eq!(mine[3]["finish_reason"], "length");
    }
}

#[tokio::test]
async fn chat_logprobs() {
    let (srv, fake) = fake_server().await;
    let r = post(
        srv.addr,
        "/v1/chat/completions",
        &json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "logprobs": true, "top_logprobs": 2}),
    )
    .await;
    assert_eq!(fake.jobs.lock().unwrap()[0].logprobs, Some(2));
    let lp = &r.json()["choices"][0]["logprobs"];
    assert_eq!(lp["refusal"], Value::Null);
    let content = lp["content"].as_array().unwrap();
    assert_eq!(content.len(), 2);
    assert_eq!(
        content[1],
        json!({"token": " t1", "logprob": -0.5, "bytes": [32, 116, 49], "top_logprobs": [
            {"token": " t1", "logprob": -0.5, "bytes": [32, 116, 49]},
            {"token": " t2", "logprob": -1.5, "bytes": [32, 116, 50]},
        ]})
    );
    // logprobs without top_logprobs: the chosen token only.
    post(srv.addr, "/v1/chat/completions", &json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1, "logprobs": true})).await;
    assert_eq!(fake.jobs.lock().unwrap()[1].logprobs, Some(0));

    // Streamed: each content chunk carries its tokens' logprobs.
    let r = post(
        srv.addr,
        "/v1/chat/completions",
        &json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "logprobs": true, "stream": true}),
    )
    .await;
    let events = r.sse();
    let c: Value = serde_json::from_str(&events[2]).unwrap();
    assert_eq!(c["choices"][0]["logprobs"]["content"][0]["token"], " t1");
    assert_eq!(c["choices"][0]["logprobs"]["content"][0]["top_logprobs"], json!([]));
}

#[tokio::test]
async fn completions_wire_format() {
    let (srv, fake) = fake_server().await;
    let r =
        post(srv.addr, "/v1/completions", &json!({"model": "fake-base", "prompt": "the cat", "max_tokens": 2})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert!(v["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["model"], "fake-base");
    assert_eq!(v["choices"], json!([{"index": 0, "text": " t0 t1", "logprobs": null, "finish_reason": "length"}]));
    assert_eq!(v["usage"], json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}));
    assert_eq!(fake.jobs.lock().unwrap()[0].prompt, vec![1, 5, 5]);
}

#[tokio::test]
async fn completions_prompt_forms_and_echo() {
    let (srv, fake) = fake_server().await;
    // Array of strings: one choice per prompt (× n), prompts counted once each.
    let r = post(
        srv.addr,
        "/v1/completions",
        &json!({"model": "fake-base", "prompt": ["a", "b c"], "max_tokens": 1, "n": 2}),
    )
    .await;
    let v = r.json();
    assert_eq!(v["choices"].as_array().unwrap().len(), 4);
    assert_eq!(v["usage"]["prompt_tokens"], 2 + 3);
    let prompts: Vec<Vec<u32>> = fake.jobs.lock().unwrap().iter().map(|j| j.prompt.clone()).collect();
    assert_eq!(prompts, vec![vec![1, 3], vec![1, 3], vec![1, 3, 3], vec![1, 3, 3]]);

    // Token ids, flat and nested, go to the job as given.
    post(srv.addr, "/v1/completions", &json!({"model": "fake-base", "prompt": [5, 6, 7], "max_tokens": 1})).await;
    post(srv.addr, "/v1/completions", &json!({"model": "fake-base", "prompt": [[8], [9, 10]], "max_tokens": 1})).await;
    let prompts: Vec<Vec<u32>> = fake.jobs.lock().unwrap()[4..].iter().map(|j| j.prompt.clone()).collect();
    assert_eq!(prompts, vec![vec![5, 6, 7], vec![8], vec![9, 10]]);

    // echo prepends the prompt text.
    let r = post(
        srv.addr,
        "/v1/completions",
        &json!({"model": "fake-base", "prompt": "say", "max_tokens": 1, "echo": true}),
    )
    .await;
    assert_eq!(r.json()["choices"][0]["text"], "say t0");
    let r = post(
        srv.addr,
        "/v1/completions",
        &json!({"model": "fake-base", "prompt": "say", "max_tokens": 1, "echo": true, "stream": true}),
    )
    .await;
    let events = r.sse();
    let texts: Vec<String> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap()["choices"][0]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, vec!["say", " t0", ""]);
}

#[tokio::test]
async fn completions_stream_and_logprobs() {
    let (srv, _) = fake_server().await;
    let r = post(
        srv.addr,
        "/v1/completions",
        &json!({"model": "fake-base", "prompt": "x", "max_tokens": 2, "stream": true, "logprobs": 1, "stream_options": {"include_usage": true}}),
    )
    .await;
    let events = r.sse();
    assert_eq!(events.len(), 5, "{events:?}"); // 2 texts, finish, usage, [DONE]
    let c: Vec<Value> = events[..4].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    assert_eq!(c[0]["object"], "text_completion");
    assert_eq!(
        c[1]["choices"][0],
        json!({"index": 0, "text": " t1", "logprobs": {"tokens": [" t1"], "token_logprobs": [-0.5], "top_logprobs": [{" t1": -0.5}], "text_offset": [3]}, "finish_reason": null})
    );
    assert_eq!(c[2]["choices"][0], json!({"index": 0, "text": "", "logprobs": null, "finish_reason": "length"}));
    assert_eq!(c[3]["usage"], json!({"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}));

    let r = post(
        srv.addr,
        "/v1/completions",
        &json!({"model": "fake-base", "prompt": "x", "max_tokens": 2, "logprobs": 0}),
    )
    .await;
    assert_eq!(
        r.json()["choices"][0]["logprobs"],
        json!({"tokens": [" t0", " t1"], "token_logprobs": [-0.5, -0.5], "top_logprobs": [{}, {}], "text_offset": [0, 3]})
    );
}

#[tokio::test]
async fn embeddings_float_and_base64() {
    let (srv, _) = fake_server().await;
    let r = post(srv.addr, "/v1/embeddings", &json!({"model": "fake-embed", "input": ["ab", "c d e"]})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"object": "list", "model": "fake-embed",
               "data": [{"object": "embedding", "index": 0, "embedding": [2.0, 1.0, -0.5]},
                        {"object": "embedding", "index": 1, "embedding": [5.0, 1.0, -0.5]}],
               "usage": {"prompt_tokens": 4, "total_tokens": 4}})
    );
    let r = post(
        srv.addr,
        "/v1/embeddings",
        &json!({"model": "fake-embed", "input": "ab", "encoding_format": "base64", "dimensions": 3}),
    )
    .await;
    // 2.0, 1.0, -0.5 as little-endian f32: base64.b64encode(struct.pack('<3f', 2, 1, -0.5)).
    assert_eq!(r.json()["data"][0]["embedding"], "AAAAQAAAgD8AAAC/");
    // Embedded tokens count as prompt tokens of the model.
    let m = get(srv.addr, "/metrics").await.text();
    assert!(m.lines().any(|l| l == "allmende_prompt_tokens_total{model=\"fake-embed\"} 5"), "{m}");
}

#[tokio::test]
async fn cors_headers_only_when_configured() {
    let (srv, _) = fake_server().await;
    let r = request(srv.addr, "GET", "/v1/models", &[("Origin", "https://app.example")], None).await;
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = request(
        srv.addr,
        "OPTIONS",
        "/v1/chat/completions",
        &[("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST")],
        None,
    )
    .await;
    assert_eq!(r.header("access-control-allow-origin"), None);

    let cfg = allmende_server::ServerConfig {
        cors_origin: Some("https://app.example".into()),
        keys: allmende_server::Keys::single("k"),
        ..Default::default()
    };
    let (srv, _) = fake_server_with(cfg).await;
    // The preflight needs no key (browsers send none).
    let r = request(
        srv.addr,
        "OPTIONS",
        "/v1/chat/completions",
        &[("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST")],
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST, OPTIONS"));
    assert_eq!(r.header("access-control-allow-headers"), Some("authorization, content-type"));
    let r = request(
        srv.addr,
        "GET",
        "/v1/models",
        &[("Origin", "https://app.example"), ("Authorization", "Bearer k")],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
    let r = request(
        srv.addr,
        "GET",
        "/v1/models",
        &[("Origin", "https://evil.example"), ("Authorization", "Bearer k")],
        None,
    )
    .await;
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn bom_is_served_when_configured_and_behind_the_key() {
    let (srv, _) = fake_server().await;
    let r = request(srv.addr, "GET", "/v1/bom", &[], None).await;
    assert_eq!(r.status, 404);

    let doc = serde_json::json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": "m"}]});
    // Built on the first request, once.
    let builds = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (counter, built) = (builds.clone(), doc.clone());
    let lazy = allmende_server::LazyBom::new(Box::new(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(built.clone())
    }));
    let cfg = allmende_server::ServerConfig {
        bom: Some(std::sync::Arc::new(lazy)),
        keys: allmende_server::Keys::single("k"),
        ..Default::default()
    };
    let (srv, _) = fake_server_with(cfg).await;
    let r = request(srv.addr, "GET", "/v1/bom", &[], None).await;
    assert_eq!(r.status, 401);
    let r = request(srv.addr, "GET", "/v1/bom", &[("Authorization", "Bearer k")], None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/vnd.cyclonedx+json; version=1.6"));
    assert_eq!(r.json(), doc);
    let r = request(srv.addr, "GET", "/v1/bom", &[("Authorization", "Bearer k")], None).await;
    assert_eq!(r.json(), doc);
    assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 1);
}
