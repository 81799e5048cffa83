//! Request bodies of `/v1/chat/completions` and `/v1/completions`: parsed field by field from the
//! JSON object (so every error names its `param`), range-checked as OpenAI checks them, and turned
//! into [`GenParams`].
//!
//! Absent sampling fields take llama.cpp's server defaults (temperature 0.8, top_k 40, top_p 0.95,
//! min_p 0.05), as clients of llama.cpp's server expect; `temperature: 0` is greedy.

use allmende_engine::SamplingParams;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Most choices one request may ask for (`n` × number of prompts).
pub const MAX_CHOICES: usize = 16;
/// Most stop strings (OpenAI's limit).
pub const MAX_STOP: usize = 4;
/// Most `top_logprobs` for chat (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: i64 = 20;
/// Most `logprobs` for completions (OpenAI's limit).
pub const MAX_COMPLETION_LOGPROBS: i64 = 5;
/// Default `max_tokens` of `/v1/completions` (OpenAI's).
pub const COMPLETIONS_DEFAULT_MAX_TOKENS: usize = 16;

/// A JSON object with typed getters whose errors name the field. `null` counts as absent.
pub struct Obj<'a>(pub &'a Map<String, Value>);

impl<'a> Obj<'a> {
    /// Parses a request body: must be a JSON object.
    pub fn parse(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid(format!("We could not parse the JSON body of your request: {e}.")))?;
        match v {
            Value::Object(m) => Ok(m),
            _ => Err(ApiError::invalid("The request body must be a JSON object.")),
        }
    }

    /// The field, unless absent or null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// A number.
    pub fn f64(&self, key: &str) -> Result<Option<f64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| ApiError::invalid_param(key, format!("`{key}` must be a number, got {v}."))),
        }
    }

    /// An integer (a float with a fraction is refused).
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::invalid_param(key, format!("`{key}` must be an integer, got {v}."))),
        }
    }

    /// A boolean.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| ApiError::invalid_param(key, format!("`{key}` must be a boolean, got {v}."))),
        }
    }

    /// A string.
    pub fn str(&self, key: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| ApiError::invalid_param(key, format!("`{key}` must be a string, got {v}."))),
        }
    }

    /// The required `model` string.
    pub fn model(&self) -> Result<String, ApiError> {
        match self.str("model")? {
            Some(m) => Ok(m.to_string()),
            None => Err(ApiError::invalid_param("model", "You must provide a model parameter.")),
        }
    }
}

fn range(key: &str, v: f64, lo: f64, hi: f64) -> Result<f64, ApiError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(ApiError::invalid_param(key, format!("`{key}` must be between {lo} and {hi}, got {v}.")))
    }
}

/// Which endpoint a body came to (some fields differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/chat/completions`.
    Chat,
    /// `/v1/completions`.
    Completions,
}

/// The generation settings of a request, validated except for what needs the model
/// (`logit_bias` ids against the vocabulary, the context budget).
#[derive(Debug, Clone)]
pub struct GenParams {
    /// Requested model id.
    pub model: String,
    /// `max_tokens` / `max_completion_tokens`, if given.
    pub max_tokens: Option<usize>,
    /// Choices per prompt.
    pub n: usize,
    /// Stream over SSE.
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    /// Stop strings (empty ones dropped).
    pub stop: Vec<String>,
    /// Sampler settings; `logit_bias` filled from the request (ids checked later).
    pub sampling: SamplingParams,
    /// llama.cpp `ignore_eos`.
    pub ignore_eos: bool,
    /// Number of alternatives to report per token, when log-probabilities were asked for.
    pub logprobs: Option<usize>,
    /// Completions `echo`: the prompt is prepended to the text.
    pub echo: bool,
    /// `response_format` `json_object` / `json_schema`, compiled.
    pub json: Option<std::sync::Arc<allmende_engine::constrain::JsonGrammar>>,
}

/// Parses the fields shared by both endpoints plus the endpoint's own.
pub fn gen_params(o: &Obj<'_>, endpoint: Endpoint) -> Result<GenParams, ApiError> {
    let model = o.model()?;
    reject_unsupported(o, endpoint)?;

    let max_tokens = match endpoint {
        Endpoint::Chat => match o.int("max_completion_tokens")? {
            Some(v) => Some(("max_completion_tokens", v)),
            None => o.int("max_tokens")?.map(|v| ("max_tokens", v)),
        },
        Endpoint::Completions => o.int("max_tokens")?.map(|v| ("max_tokens", v)),
    };
    let max_tokens = match max_tokens {
        Some((key, v)) if v < 1 => {
            return Err(ApiError::invalid_param(key, format!("`{key}` must be at least 1, got {v}.")))
        }
        Some((_, v)) => Some(usize::try_from(v).unwrap_or(usize::MAX)),
        None => None,
    };

    let n = match o.int("n")? {
        None => 1,
        Some(v) if (1..=MAX_CHOICES as i64).contains(&v) => v as usize,
        Some(v) => {
            return Err(ApiError::invalid_param("n", format!("`n` must be between 1 and {MAX_CHOICES}, got {v}.")))
        }
    };
    if let Some(best_of) = o.int("best_of")? {
        if best_of != n as i64 {
            return Err(ApiError::unsupported("best_of", "`best_of` other than `n` is not supported."));
        }
    }

    let stream = o.bool("stream")?.unwrap_or(false);
    let include_usage = match o.get("stream_options") {
        None => false,
        Some(Value::Object(m)) => {
            if !stream {
                return Err(ApiError::invalid_param(
                    "stream_options",
                    "`stream_options` is only allowed when `stream` is true.",
                ));
            }
            Obj(m).bool("include_usage").map_err(|e| e.with_param("stream_options.include_usage"))?.unwrap_or(false)
        }
        Some(v) => {
            return Err(ApiError::invalid_param(
                "stream_options",
                format!("`stream_options` must be an object, got {v}."),
            ))
        }
    };

    let stop = stop_strings(o)?;
    let sampling = sampling(o)?;
    let ignore_eos = o.bool("ignore_eos")?.unwrap_or(false);
    let _user = o.str("user")?;

    let logprobs = match endpoint {
        Endpoint::Chat => {
            let on = match o.get("logprobs") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(v) => {
                    return Err(ApiError::invalid_param("logprobs", format!("`logprobs` must be a boolean, got {v}.")))
                }
            };
            match o.int("top_logprobs")? {
                Some(_) if !on => {
                    return Err(ApiError::invalid_param(
                        "top_logprobs",
                        "`top_logprobs` requires `logprobs` to be true.",
                    ))
                }
                Some(v) if !(0..=MAX_TOP_LOGPROBS).contains(&v) => {
                    return Err(ApiError::invalid_param(
                        "top_logprobs",
                        format!("`top_logprobs` must be between 0 and {MAX_TOP_LOGPROBS}, got {v}."),
                    ))
                }
                Some(v) => Some(v as usize),
                None => on.then_some(0),
            }
        }
        Endpoint::Completions => match o.int("logprobs")? {
            None => None,
            Some(v) if (0..=MAX_COMPLETION_LOGPROBS).contains(&v) => Some(v as usize),
            Some(v) => {
                return Err(ApiError::invalid_param(
                    "logprobs",
                    format!("`logprobs` must be between 0 and {MAX_COMPLETION_LOGPROBS}, got {v}."),
                ))
            }
        },
    };
    let echo = match endpoint {
        Endpoint::Chat => false,
        Endpoint::Completions => o.bool("echo")?.unwrap_or(false),
    };
    if echo && logprobs.is_some() {
        return Err(ApiError::unsupported("echo", "`echo` together with `logprobs` is not supported."));
    }
    let json = response_format(o)?;
    Ok(GenParams { model, max_tokens, n, stream, include_usage, stop, sampling, ignore_eos, logprobs, echo, json })
}

/// `response_format`: `text` (or absent), `json_object` (any JSON object), or `json_schema`
/// (`{"json_schema": {"name", "schema", "strict"}}`; the schema compiled to a grammar, an
/// unsupported or invalid schema is a 400 naming the keyword).
fn response_format(o: &Obj<'_>) -> Result<Option<std::sync::Arc<allmende_engine::constrain::JsonGrammar>>, ApiError> {
    use allmende_engine::constrain::JsonGrammar;
    let Some(rf) = o.get("response_format") else { return Ok(None) };
    let grammar = match rf.get("type").and_then(Value::as_str) {
        Some("text") => return Ok(None),
        Some("json_object") => JsonGrammar::any_object(),
        Some("json_schema") => {
            let Some(js) = rf.get("json_schema").filter(|v| v.is_object()) else {
                return Err(ApiError::invalid_param(
                    "response_format.json_schema",
                    "`response_format.json_schema` must be an object with a `schema`.",
                ));
            };
            let schema = js.get("schema").cloned().unwrap_or_else(|| serde_json::json!({}));
            JsonGrammar::from_schema(&schema).map_err(|e| {
                ApiError::invalid_param("response_format.json_schema.schema", format!("The JSON schema cannot be used: {e}."))
            })?
        }
        _ => {
            return Err(ApiError::invalid_param(
                "response_format",
                format!("`response_format.type` must be `text`, `json_object` or `json_schema`, got {rf}."),
            ))
        }
    };
    Ok(Some(std::sync::Arc::new(grammar)))
}

/// Fields that we recognise but do not implement yet: refused, never silently ignored.
fn reject_unsupported(o: &Obj<'_>, endpoint: Endpoint) -> Result<(), ApiError> {
    for key in ["tools", "functions"] {
        match o.get(key) {
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(_) => {
                return Err(ApiError::unsupported(key, format!("`{key}` (function calling) is not supported yet.")))
            }
            None => {}
        }
    }
    for key in ["tool_choice", "function_call"] {
        match o.get(key) {
            None => {}
            Some(Value::String(s)) if s == "none" || s == "auto" => {}
            Some(_) => {
                return Err(ApiError::unsupported(key, format!("`{key}` (function calling) is not supported yet.")))
            }
        }
    }
    if endpoint == Endpoint::Completions {
        if let Some(s) = o.str("suffix")? {
            if !s.is_empty() {
                return Err(ApiError::unsupported("suffix", "`suffix` (fill-in-the-middle) is not supported yet."));
            }
        }
    }
    if o.get("audio").is_some()
        || o.get("modalities").is_some_and(|m| m.as_array().is_some_and(|a| a.iter().any(|x| x != "text")))
    {
        return Err(ApiError::unsupported("modalities", "Only text output is supported."));
    }
    Ok(())
}

fn stop_strings(o: &Obj<'_>) -> Result<Vec<String>, ApiError> {
    let list: Vec<String> = match o.get("stop") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => {
            let mut out = Vec::with_capacity(a.len());
            for v in a {
                match v.as_str() {
                    Some(s) => out.push(s.to_string()),
                    None => {
                        return Err(ApiError::invalid_param(
                            "stop",
                            format!("`stop` entries must be strings, got {v}."),
                        ))
                    }
                }
            }
            out
        }
        Some(v) => {
            return Err(ApiError::invalid_param(
                "stop",
                format!("`stop` must be a string or an array of strings, got {v}."),
            ))
        }
    };
    if list.len() > MAX_STOP {
        return Err(ApiError::invalid_param(
            "stop",
            format!("`stop` may hold at most {MAX_STOP} strings, got {}.", list.len()),
        ));
    }
    Ok(list.into_iter().filter(|s| !s.is_empty()).collect())
}

fn sampling(o: &Obj<'_>) -> Result<SamplingParams, ApiError> {
    let mut p = SamplingParams::default();
    if let Some(t) = o.f64("temperature")? {
        p.temperature = range("temperature", t, 0.0, 2.0)? as f32;
    }
    if let Some(v) = o.f64("top_p")? {
        if !(v > 0.0 && v <= 1.0) {
            return Err(ApiError::invalid_param(
                "top_p",
                format!("`top_p` must be greater than 0 and at most 1, got {v}."),
            ));
        }
        p.top_p = v as f32;
    }
    if let Some(v) = o.f64("presence_penalty")? {
        p.presence_penalty = range("presence_penalty", v, -2.0, 2.0)? as f32;
    }
    if let Some(v) = o.f64("frequency_penalty")? {
        p.frequency_penalty = range("frequency_penalty", v, -2.0, 2.0)? as f32;
    }
    if let Some(v) = o.int("seed")? {
        // OpenAI seeds are int64; the bits are the seed.
        p.seed = Some(v as u64);
    }
    if let Some(v) = o.int("top_k")? {
        if v < 0 {
            return Err(ApiError::invalid_param("top_k", format!("`top_k` must be at least 0 (0 disables), got {v}.")));
        }
        p.top_k = usize::try_from(v).unwrap_or(usize::MAX);
    }
    if let Some(v) = o.f64("min_p")? {
        p.min_p = range("min_p", v, 0.0, 1.0)? as f32;
    }
    if let Some(v) = o.f64("repeat_penalty")? {
        if !(v.is_finite() && v > 0.0) {
            return Err(ApiError::invalid_param(
                "repeat_penalty",
                format!("`repeat_penalty` must be greater than 0 (1 disables), got {v}."),
            ));
        }
        p.repeat_penalty = v as f32;
    }
    if let Some(v) = o.int("repeat_last_n")? {
        if v < -1 || v > i64::from(i32::MAX) {
            return Err(ApiError::invalid_param(
                "repeat_last_n",
                format!("`repeat_last_n` must be -1 (all), 0 (off) or a positive count, got {v}."),
            ));
        }
        p.repeat_last_n = v as i32;
    }
    match o.get("logit_bias") {
        None => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let id: u32 = k.trim().parse().map_err(|_| {
                    ApiError::invalid_param("logit_bias", format!("`logit_bias` keys must be token ids, got {k:?}."))
                })?;
                let bias = v.as_f64().ok_or_else(|| {
                    ApiError::invalid_param("logit_bias", format!("`logit_bias` values must be numbers, got {v}."))
                })?;
                let bias = range("logit_bias", bias, -100.0, 100.0)?;
                p.logit_bias.insert(id, bias as f32);
            }
        }
        Some(v) => {
            return Err(ApiError::invalid_param("logit_bias", format!("`logit_bias` must be an object, got {v}.")))
        }
    }
    Ok(p)
}

/// Chat messages flattened for the template: content-part arrays joined to one string (text
/// parts only; a text model refuses images and audio), `developer` mapped to `system`.
pub fn chat_messages(o: &Obj<'_>) -> Result<Vec<Value>, ApiError> {
    let msgs = match o.get("messages") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => return Err(ApiError::invalid_param("messages", "`messages` must not be empty.")),
        Some(v) => return Err(ApiError::invalid_param("messages", format!("`messages` must be an array, got {v}."))),
        None => return Err(ApiError::invalid_param("messages", "You must provide `messages`.")),
    };
    let mut out = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        let param = format!("messages[{i}]");
        let Value::Object(m) = m else {
            return Err(ApiError::invalid_param(param, format!("Each message must be an object, got {m}.")));
        };
        let mo = Obj(m);
        let role = mo.str("role").map_err(|e| e.with_param(format!("{param}.role")))?;
        let role = match role {
            Some(r @ ("system" | "user" | "assistant" | "tool")) => r,
            Some("developer") => "system",
            Some(r) => {
                return Err(ApiError::invalid_param(
                    format!("{param}.role"),
                    format!("Unknown role {r:?}: expected one of system, developer, user, assistant, tool."),
                ))
            }
            None => return Err(ApiError::invalid_param(format!("{param}.role"), "Each message needs a `role`.")),
        };
        let content = match mo.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => join_parts(parts, &param)?,
            None if role == "assistant" => String::new(),
            None => return Err(ApiError::invalid_param(format!("{param}.content"), "The message needs `content`.")),
            Some(v) => {
                return Err(ApiError::invalid_param(
                    format!("{param}.content"),
                    format!("`content` must be a string or an array of content parts, got {v}."),
                ))
            }
        };
        let mut msg = Map::new();
        msg.insert("role".into(), Value::String(role.into()));
        msg.insert("content".into(), Value::String(content));
        for key in ["name", "tool_calls", "tool_call_id"] {
            if let Some(v) = mo.get(key) {
                msg.insert(key.into(), v.clone());
            }
        }
        out.push(Value::Object(msg));
    }
    Ok(out)
}

fn join_parts(parts: &[Value], param: &str) -> Result<String, ApiError> {
    let mut texts = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let at = format!("{param}.content[{j}]");
        let kind = p.get("type").and_then(Value::as_str);
        match kind {
            Some("text") => match p.get("text").and_then(Value::as_str) {
                Some(t) => texts.push(t),
                None => return Err(ApiError::invalid_param(at, "A text part needs a string `text`.")),
            },
            Some(k @ ("image_url" | "input_image" | "image" | "input_audio" | "audio" | "file")) => {
                return Err(ApiError::invalid_param(
                    format!("{at}.type"),
                    format!("Content parts of type `{k}` are not supported: this model reads text only."),
                ))
            }
            _ => {
                return Err(ApiError::invalid_param(
                    format!("{at}.type"),
                    format!("Unknown content part {p}: expected a part of type `text`."),
                ))
            }
        }
    }
    Ok(texts.join("\n"))
}

/// A completions prompt: text to tokenize, or token ids given directly.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptIn {
    /// Text.
    Text(String),
    /// Token ids.
    Tokens(Vec<u32>),
}

/// `prompt`: a string, an array of strings, an array of token ids, or an array of such arrays.
pub fn completion_prompts(o: &Obj<'_>) -> Result<Vec<PromptIn>, ApiError> {
    fn ids(a: &[Value]) -> Option<Vec<u32>> {
        a.iter().map(|v| v.as_u64().and_then(|x| u32::try_from(x).ok())).collect()
    }
    let bad = |v: &Value| {
        ApiError::invalid_param(
            "prompt",
            format!("`prompt` must be a string, an array of strings, an array of token ids or an array of such arrays, got {v}."),
        )
    };
    let prompts = match o.get("prompt") {
        None => return Err(ApiError::invalid_param("prompt", "You must provide a `prompt`.")),
        Some(Value::String(s)) => vec![PromptIn::Text(s.clone())],
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(ApiError::invalid_param("prompt", "`prompt` must not be empty."))
        }
        Some(v @ Value::Array(a)) => {
            if a.iter().all(Value::is_number) {
                vec![PromptIn::Tokens(ids(a).ok_or_else(|| bad(v))?)]
            } else {
                let mut out = Vec::with_capacity(a.len());
                for x in a {
                    match x {
                        Value::String(s) => out.push(PromptIn::Text(s.clone())),
                        Value::Array(t) if !t.is_empty() => out.push(PromptIn::Tokens(ids(t).ok_or_else(|| bad(v))?)),
                        _ => return Err(bad(v)),
                    }
                }
                out
            }
        }
        Some(v) => return Err(bad(v)),
    };
    Ok(prompts)
}
