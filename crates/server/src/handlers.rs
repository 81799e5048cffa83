//! The endpoint handlers: read and parse the body, check the model, tokenize (on a blocking
//! thread), then hand over to [`crate::generation::Plan`] or answer directly.

use std::pin::Pin;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use http_body::Body as _;
use serde_json::{json, Value};

use crate::app::{AppState, ReqCtx};
use crate::backend::{Backend, BackendError, ModelInfo, ModelKind, Prompt};
use crate::error::ApiError;
use crate::generation::{Plan, PromptTokens};
use crate::request::{chat_messages, completion_prompts, gen_params, Endpoint, Obj, PromptIn};

/// Most inputs in one embeddings request (OpenAI's limit).
pub const MAX_EMBED_INPUTS: usize = 2048;

fn respond(r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

/// Reads the whole body within the size limit (413) and the time limit (408).
async fn read_body(st: &AppState, headers: &HeaderMap, mut body: Body) -> Result<Bytes, ApiError> {
    let limit = st.config.max_body_bytes;
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    let read = async {
        let mut buf: Vec<u8> = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let frame = frame.map_err(|e| ApiError::invalid(format!("Could not read the request body: {e}.")))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(ApiError::too_large(limit));
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(Bytes::from(buf))
    };
    match tokio::time::timeout(st.config.timeout, read).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::timeout(st.config.timeout.as_secs())),
    }
}

/// Runs blocking backend work off the async threads.
async fn blocking<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce(&dyn Backend) -> Result<T, BackendError> + Send + 'static,
) -> Result<T, ApiError> {
    let backend: Arc<dyn Backend> = st.backend.clone();
    match tokio::task::spawn_blocking(move || f(backend.as_ref())).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::internal(format!("A backend task failed: {e}"))),
    }
}

/// `POST /v1/chat/completions`.
pub async fn chat(
    State(st): State<AppState>,
    Extension(ctx): Extension<ReqCtx>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(chat_inner(st, ctx, headers, body).await)
}

async fn chat_inner(st: AppState, ctx: ReqCtx, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(&st, &headers, body).await?;
    let map = Obj::parse(&bytes)?;
    let o = Obj(&map);
    let params = gen_params(&o, Endpoint::Chat)?;
    let info = st.model(&params.model, ModelKind::Generate)?;
    let messages = chat_messages(&o)?;
    if !info.chat {
        return Err(ApiError::invalid_param(
            "model",
            format!("The model `{}` has no chat template (it is a base model); use POST /v1/completions.", info.id),
        ));
    }
    let id = info.id.clone();
    let ids = blocking(&st, move |b| b.tokenize(&id, &Prompt::Chat(messages))).await?;
    let plan = Plan::new(st, ctx, info, params, vec![PromptTokens { ids, text: String::new() }], Endpoint::Chat)?;
    plan.run().await
}

/// `POST /v1/completions`.
pub async fn completions(
    State(st): State<AppState>,
    Extension(ctx): Extension<ReqCtx>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(completions_inner(st, ctx, headers, body).await)
}

async fn completions_inner(st: AppState, ctx: ReqCtx, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(&st, &headers, body).await?;
    let map = Obj::parse(&bytes)?;
    let o = Obj(&map);
    let params = gen_params(&o, Endpoint::Completions)?;
    let info = st.model(&params.model, ModelKind::Generate)?;
    let prompts = completion_prompts(&o)?;
    if prompts.len() * params.n > crate::request::MAX_CHOICES {
        return Err(ApiError::invalid_param(
            "prompt",
            format!("At most {} choices (prompts × n) per request.", crate::request::MAX_CHOICES),
        ));
    }
    let id = info.id.clone();
    let tokenized = blocking(&st, move |b| {
        prompts
            .into_iter()
            .map(|p| match p {
                PromptIn::Text(text) => {
                    b.tokenize(&id, &Prompt::Text(text.clone())).map(|ids| PromptTokens { ids, text })
                }
                PromptIn::Tokens(ids) => Ok(PromptTokens { ids, text: String::new() }),
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let plan = Plan::new(st, ctx, info, params, tokenized, Endpoint::Completions)?;
    plan.run().await
}

/// `POST /v1/embeddings`.
pub async fn embeddings(
    State(st): State<AppState>,
    Extension(ctx): Extension<ReqCtx>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(embeddings_inner(st, ctx, headers, body).await)
}

async fn embeddings_inner(st: AppState, ctx: ReqCtx, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(&st, &headers, body).await?;
    let map = Obj::parse(&bytes)?;
    let o = Obj(&map);
    let model = o.model()?;
    let info = st.model(&model, ModelKind::Embed)?;
    let bad = || {
        ApiError::invalid_param(
            "input",
            "`input` must be a non-empty string or a non-empty array of non-empty strings.",
        )
    };
    let inputs: Vec<String> = match o.get("input") {
        None => return Err(ApiError::invalid_param("input", "You must provide an `input`.")),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(|v| v.as_str().is_some_and(|s| !s.is_empty())) => {
            a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
        }
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(|v| v.is_number() || v.is_array()) => {
            return Err(ApiError::unsupported("input", "Token-id inputs are not supported for embeddings; send text."))
        }
        Some(_) => return Err(bad()),
    };
    if inputs.len() > MAX_EMBED_INPUTS {
        return Err(ApiError::invalid_param(
            "input",
            format!("At most {MAX_EMBED_INPUTS} inputs per request, got {}.", inputs.len()),
        ));
    }
    let base64 = match o.str("encoding_format")? {
        None | Some("float") => false,
        Some("base64") => true,
        Some(f) => {
            return Err(ApiError::invalid_param(
                "encoding_format",
                format!("`encoding_format` must be `float` or `base64`, got {f:?}."),
            ))
        }
    };
    let dimensions = o.int("dimensions")?;
    let _user = o.str("user")?;
    let id = info.id.clone();
    let work = blocking(&st, move |b| b.embed(&id, &inputs));
    let emb = match tokio::time::timeout(st.config.timeout, work).await {
        Ok(r) => r?,
        Err(_) => return Err(ApiError::timeout(st.config.timeout.as_secs())),
    };
    if let (Some(d), Some(v)) = (dimensions, emb.vectors.first()) {
        if d != v.len() as i64 {
            return Err(ApiError::unsupported(
                "dimensions",
                format!("This model makes {}-dimensional embeddings; `dimensions` cannot change that.", v.len()),
            ));
        }
    }
    let tokens = emb.prompt_tokens as u64;
    st.metrics.prompt_tokens(&info.id, tokens);
    if let Some(k) = ctx.key {
        st.config.keys.add_tokens(k, tokens);
        st.metrics.key_tokens(st.config.keys.name(k), tokens);
    }
    let data: Vec<Value> = emb
        .vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 { json!(base64_f32(v)) } else { json!(v) };
            json!({ "object": "embedding", "index": i, "embedding": embedding })
        })
        .collect();
    let body = json!({
        "object": "list",
        "data": data,
        "model": info.id,
        "usage": { "prompt_tokens": emb.prompt_tokens, "total_tokens": emb.prompt_tokens },
    });
    Ok(axum::Json(body).into_response())
}

/// The little-endian f32 bytes of `v`, base64-encoded (OpenAI's `encoding_format: base64`).
pub fn base64_f32(v: &[f32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn model_json(m: &ModelInfo) -> Value {
    json!({ "id": m.id, "object": "model", "created": m.created, "owned_by": "allmende" })
}

/// `GET /v1/models`.
pub async fn models(State(st): State<AppState>) -> Response {
    let data: Vec<Value> = st.backend.models().iter().map(model_json).collect();
    axum::Json(json!({ "object": "list", "data": data })).into_response()
}

/// `GET /v1/models/{id}`.
pub async fn model(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    match st.backend.models().iter().find(|m| m.id == id) {
        Some(m) => axum::Json(model_json(m)).into_response(),
        None => ApiError::unknown_model(&id).into_response(),
    }
}

/// `GET /health`: 200 while serving (the gate answers 503 while shutting down).
pub async fn health(State(st): State<AppState>) -> Response {
    let s = st.backend.stats();
    axum::Json(json!({ "status": "ok", "queued": s.queued, "active": s.active })).into_response()
}

/// `GET /v1/bom`: the CycloneDX AI-BOM of the loaded models, as `allmende bom` writes it. The
/// first request builds it (hashing files) on a blocking thread.
pub async fn bom(State(st): State<AppState>) -> Response {
    let Some(lazy) = st.config.bom.clone() else {
        return ApiError::no_route("GET", "/v1/bom").into_response();
    };
    let doc = match lazy.built() {
        Some(doc) => doc.clone(),
        None => match tokio::task::spawn_blocking(move || lazy.get().clone()).await {
            Ok(doc) => doc,
            Err(e) => Err(format!("building the AI-BOM: {e}")),
        },
    };
    match doc {
        Ok(doc) => {
            let mut resp = axum::Json(doc).into_response();
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/vnd.cyclonedx+json; version=1.6"));
            resp
        }
        Err(msg) => ApiError::internal(msg).into_response(),
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(st): State<AppState>) -> Response {
    let text = st.metrics.render(st.backend.stats(), st.is_shutting_down());
    let mut resp = text.into_response();
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    resp
}

#[cfg(test)]
mod tests {
    use super::base64_f32;

    #[test]
    fn base64_of_floats() {
        // 1.0f32 = 00 00 80 3F; 2.0f32 = 00 00 00 40 (little-endian), checked with Python's
        // base64.b64encode(struct.pack('<ff', 1.0, 2.0)).
        assert_eq!(base64_f32(&[1.0, 2.0]), "AACAPwAAAEA=");
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
        assert_eq!(base64_f32(&[]), "");
    }
}
