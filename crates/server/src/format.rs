//! The OpenAI wire format of responses: ids, `chat.completion` / `text_completion` objects, stream
//! chunks, `usage`, and the two log-probability layouts (chat's `content` list, completions'
//! parallel arrays).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use allmende_engine::FinishReason;
use serde_json::{json, Map, Value};

use crate::backend::{StepProbs, TokenProb};

/// `system_fingerprint` of every response: the server build.
pub const FINGERPRINT: &str = concat!("allmende-", env!("CARGO_PKG_VERSION"));

/// JSON has no infinity; OpenAI reports filtered-out tokens with this log-probability.
const NEG_INF_LOGPROB: f64 = -9999.0;

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A fresh id: `prefix` + 24 hex digits, unique within the process and unlikely to repeat
/// across restarts (clock and counter mixed by splitmix64).
pub fn new_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let a = mix(nanos ^ n.rotate_left(32));
    let b = mix(a ^ n);
    format!("{prefix}{:016x}{:08x}", a, (b >> 32) as u32)
}

/// The OpenAI `finish_reason` string.
pub fn finish_str(f: FinishReason) -> &'static str {
    f.openai_str()
}

fn lp(x: f32) -> f64 {
    if x.is_finite() {
        f64::from(x)
    } else {
        NEG_INF_LOGPROB
    }
}

fn chat_token(t: &TokenProb) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("token".into(), json!(t.text));
    m.insert("logprob".into(), json!(lp(t.logprob)));
    m.insert("bytes".into(), json!(t.bytes));
    m
}

/// Chat `logprobs`: `{"content": [{token, logprob, bytes, top_logprobs: [...]}], "refusal": null}`.
pub fn chat_logprobs(steps: &[StepProbs]) -> Value {
    let content: Vec<Value> = steps
        .iter()
        .map(|s| {
            let mut m = chat_token(&s.chosen);
            let top: Vec<Value> = s.top.iter().map(|t| Value::Object(chat_token(t))).collect();
            m.insert("top_logprobs".into(), Value::Array(top));
            Value::Object(m)
        })
        .collect();
    json!({ "content": content, "refusal": null })
}

/// Completions `logprobs`: parallel arrays `tokens`, `token_logprobs`, `top_logprobs` (one
/// object token → logprob per step) and `text_offset` (character offsets, starting at `offset`).
pub fn completion_logprobs(steps: &[StepProbs], offset: usize) -> Value {
    let mut tokens = Vec::with_capacity(steps.len());
    let mut token_logprobs = Vec::with_capacity(steps.len());
    let mut top_logprobs = Vec::with_capacity(steps.len());
    let mut text_offset = Vec::with_capacity(steps.len());
    let mut at = offset;
    for s in steps {
        tokens.push(json!(s.chosen.text));
        token_logprobs.push(json!(lp(s.chosen.logprob)));
        let mut top = Map::new();
        for t in &s.top {
            top.entry(t.text.clone()).or_insert(json!(lp(t.logprob)));
        }
        top_logprobs.push(Value::Object(top));
        text_offset.push(json!(at));
        at += s.chosen.text.chars().count();
    }
    json!({
        "tokens": tokens,
        "token_logprobs": token_logprobs,
        "top_logprobs": top_logprobs,
        "text_offset": text_offset,
    })
}

/// `usage`.
pub fn usage(prompt_tokens: usize, completion_tokens: usize) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}

/// Which response family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `chat.completion` / `chat.completion.chunk`.
    Chat,
    /// `text_completion`.
    Completion,
}

/// The fields every response and chunk of one request shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Response family.
    pub kind: Kind,
    /// `chatcmpl-...` or `cmpl-...`.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// Model id.
    pub model: String,
}

impl Meta {
    /// A new response of `kind` for `model`.
    pub fn new(kind: Kind, model: &str) -> Self {
        let prefix = match kind {
            Kind::Chat => "chatcmpl-",
            Kind::Completion => "cmpl-",
        };
        Meta { kind, id: new_id(prefix), created: unix_now(), model: model.to_string() }
    }

    fn object(&self, chunk: bool) -> &'static str {
        match (self.kind, chunk) {
            (Kind::Chat, false) => "chat.completion",
            (Kind::Chat, true) => "chat.completion.chunk",
            (Kind::Completion, _) => "text_completion",
        }
    }

    fn envelope(&self, chunk: bool, choices: Vec<Value>) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("object".into(), json!(self.object(chunk)));
        m.insert("created".into(), json!(self.created));
        m.insert("model".into(), json!(self.model));
        m.insert("system_fingerprint".into(), json!(FINGERPRINT));
        m.insert("choices".into(), Value::Array(choices));
        m
    }

    /// A complete (non-streamed) response.
    pub fn response(&self, choices: Vec<Value>, usage: Value) -> Value {
        let mut m = self.envelope(false, choices);
        m.insert("usage".into(), usage);
        Value::Object(m)
    }

    /// One stream chunk; with `include_usage` every chunk carries `"usage": null` except the
    /// last, which carries the totals (and no choices).
    pub fn chunk(&self, choices: Vec<Value>, include_usage: bool, usage: Option<Value>) -> Value {
        let mut m = self.envelope(true, choices);
        if include_usage {
            m.insert("usage".into(), usage.unwrap_or(Value::Null));
        }
        Value::Object(m)
    }

    /// A finished choice of a complete response.
    pub fn choice(
        &self,
        index: usize,
        text: &str,
        finish: FinishReason,
        logprobs: Option<&[StepProbs]>,
        offset: usize,
    ) -> Value {
        match self.kind {
            Kind::Chat => json!({
                "index": index,
                "message": { "role": "assistant", "content": text, "refusal": null },
                "logprobs": logprobs.map(chat_logprobs),
                "finish_reason": finish_str(finish),
            }),
            Kind::Completion => json!({
                "index": index,
                "text": text,
                "logprobs": logprobs.map(|s| completion_logprobs(s, offset)),
                "finish_reason": finish_str(finish),
            }),
        }
    }

    /// A streamed choice delta. Chat: `delta` holds `role` (first chunk) and/or `content`;
    /// completions: `text`.
    pub fn delta(
        &self,
        index: usize,
        role: bool,
        text: Option<&str>,
        logprobs: Option<&[StepProbs]>,
        offset: usize,
        finish: Option<FinishReason>,
    ) -> Value {
        let finish = finish.map(finish_str);
        match self.kind {
            Kind::Chat => {
                let mut d = Map::new();
                if role {
                    d.insert("role".into(), json!("assistant"));
                }
                if let Some(t) = text {
                    d.insert("content".into(), json!(t));
                }
                json!({
                    "index": index,
                    "delta": d,
                    "logprobs": logprobs.map(chat_logprobs),
                    "finish_reason": finish,
                })
            }
            Kind::Completion => json!({
                "index": index,
                "text": text.unwrap_or(""),
                "logprobs": logprobs.map(|s| completion_logprobs(s, offset)),
                "finish_reason": finish,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(id: u32, text: &str, logprob: f32) -> TokenProb {
        TokenProb { id, text: text.into(), bytes: text.as_bytes().to_vec(), logprob }
    }

    #[test]
    fn ids_have_the_prefix_and_differ() {
        let a = new_id("chatcmpl-");
        let b = new_id("chatcmpl-");
        assert!(a.starts_with("chatcmpl-") && a.len() == "chatcmpl-".len() + 24, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn chat_logprobs_layout() {
        let steps =
            vec![StepProbs { chosen: tp(5, "Hi", -0.5), top: vec![tp(5, "Hi", -0.5), tp(7, "Yo", f32::NEG_INFINITY)] }];
        let v = chat_logprobs(&steps);
        assert_eq!(
            v,
            json!({"content": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": [
                {"token": "Hi", "logprob": -0.5, "bytes": [72, 105]},
                {"token": "Yo", "logprob": -9999.0, "bytes": [89, 111]}
            ]}], "refusal": null})
        );
    }

    #[test]
    fn completion_logprobs_layout() {
        let steps = vec![
            StepProbs { chosen: tp(1, "é", -0.25), top: vec![tp(1, "é", -0.25)] },
            StepProbs { chosen: tp(2, "b", -1.0), top: vec![] },
        ];
        let v = completion_logprobs(&steps, 3);
        assert_eq!(
            v,
            json!({"tokens": ["é", "b"], "token_logprobs": [-0.25, -1.0], "top_logprobs": [{"é": -0.25}, {}], "text_offset": [3, 4]})
        );
    }

    #[test]
    fn chunk_envelope() {
        let m = Meta { kind: Kind::Chat, id: "chatcmpl-x".into(), created: 7, model: "m".into() };
        let c = m.chunk(vec![m.delta(0, true, Some(""), None, 0, None)], true, None);
        assert_eq!(
            c,
            json!({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 7, "model": "m",
                   "system_fingerprint": FINGERPRINT,
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}],
                   "usage": null})
        );
    }
}
