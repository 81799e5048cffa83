//! The router and the gate every request passes: CORS preflight, the shutdown check (503), the API
//! key (401) and its quota (429), request metrics, CORS response headers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, ORIGIN, VARY,
};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::auth::Keys;
use crate::backend::{Backend, ModelInfo, ModelKind};
use crate::error::ApiError;
use crate::handlers;
use crate::metrics::Metrics;

/// Limits and policies of the HTTP layer.
#[derive(Debug)]
pub struct ServerConfig {
    /// Accepted API keys (none: no authentication).
    pub keys: Keys,
    /// Largest request body in bytes (413 above).
    pub max_body_bytes: usize,
    /// Longest time to read a request body, and to produce a whole response (streams included).
    pub timeout: Duration,
    /// Origin allowed to call from a browser (`*` for any); `None`: no CORS headers at all.
    pub cors_origin: Option<String>,
    /// Longest time a client may take to send a request's headers; the connection is closed
    /// after it (against slow-loris connections held open forever).
    pub header_timeout: Duration,
    /// The AI-BOM (CycloneDX JSON) of the loaded models, served at `GET /v1/bom` (built on
    /// the first request); `None`: 404.
    pub bom: Option<Arc<crate::LazyBom>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            keys: Keys::none(),
            max_body_bytes: 8 << 20,
            timeout: Duration::from_secs(600),
            cors_origin: None,
            header_timeout: Duration::from_secs(30),
            bom: None,
        }
    }
}

/// Everything the handlers share.
pub struct Shared {
    /// What runs the models.
    pub backend: Arc<dyn Backend>,
    /// Limits and keys.
    pub config: ServerConfig,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    shutting_down: AtomicBool,
}

/// Cheap-to-clone handle on [`Shared`].
#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State over `backend` with `config`.
    pub fn new(backend: Arc<dyn Backend>, config: ServerConfig) -> Self {
        AppState(Arc::new(Shared {
            backend,
            config,
            metrics: Metrics::default(),
            shutting_down: AtomicBool::new(false),
        }))
    }

    /// From now on new requests get 503 and the backend takes no new jobs; running ones finish.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.backend.shutdown();
    }

    /// Whether [`Self::begin_shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// The model `id` of `kind`: 404 when unknown, 400 when it is of the other kind.
    pub fn model(&self, id: &str, kind: ModelKind) -> Result<ModelInfo, ApiError> {
        let info = self.backend.models().into_iter().find(|m| m.id == id).ok_or_else(|| ApiError::unknown_model(id))?;
        if info.kind != kind {
            let msg = match kind {
                ModelKind::Generate => format!("The model `{id}` is an embedding model; use POST /v1/embeddings."),
                ModelKind::Embed => format!("The model `{id}` generates text; it cannot make embeddings."),
            };
            return Err(ApiError::invalid_param("model", msg));
        }
        Ok(info)
    }
}

/// Per-request facts the gate found, for the handlers.
#[derive(Debug, Clone, Copy)]
pub struct ReqCtx {
    /// Index of the API key used, if keys are on.
    pub key: Option<usize>,
    /// When the request arrived.
    pub start: Instant,
}

/// The full router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(handlers::chat))
        .route("/v1/completions", post(handlers::completions))
        .route("/v1/embeddings", post(handlers::embeddings))
        .route("/v1/models", get(handlers::models))
        .route("/v1/models/{id}", get(handlers::model))
        .route("/v1/bom", get(handlers::bom))
        .route("/health", get(handlers::health))
        .route("/metrics", get(handlers::metrics))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

async fn fallback(req: Request) -> Response {
    ApiError::no_route(req.method().as_str(), req.uri().path()).into_response()
}

async fn method_not_allowed(req: Request) -> Response {
    ApiError::method_not_allowed(req.method().as_str(), req.uri().path()).into_response()
}

/// The `endpoint` label: known paths as they are, everything else `other` (bounded cardinality).
fn endpoint_label(path: &str) -> &'static str {
    match path {
        "/v1/chat/completions" => "/v1/chat/completions",
        "/v1/completions" => "/v1/completions",
        "/v1/embeddings" => "/v1/embeddings",
        "/v1/models" => "/v1/models",
        p if p.starts_with("/v1/models/") => "/v1/models/{id}",
        "/health" => "/health",
        "/metrics" => "/metrics",
        _ => "other",
    }
}

async fn gate(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let endpoint = endpoint_label(req.uri().path());
    let origin = req.headers().get(ORIGIN).cloned();
    let cors = st.config.cors_origin.as_deref().and_then(|allowed| cors_allow(allowed, origin.as_ref()));
    if req.method() == Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
        && st.config.cors_origin.is_some()
    {
        return preflight(cors);
    }
    st.metrics.request_started();
    let mut resp = admit(&st, req, next, start, endpoint).await;
    st.metrics.request_finished(endpoint, resp.status().as_u16(), start.elapsed().as_secs_f64());
    if let Some(v) = cors {
        resp.headers_mut().insert(ACCESS_CONTROL_ALLOW_ORIGIN, v);
        resp.headers_mut().append(VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

async fn admit(st: &AppState, mut req: Request, next: Next, start: Instant, endpoint: &str) -> Response {
    if st.is_shutting_down() {
        return ApiError::shutting_down().into_response();
    }
    let mut key = None;
    if endpoint != "/health" {
        let keys = &st.config.keys;
        match keys.authenticate(req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes)) {
            Ok(Some(i)) => {
                st.metrics.key_request(keys.name(i));
                if req.method() == Method::POST {
                    if let Err(e) = keys.admit(i) {
                        st.metrics.key_quota_rejected(keys.name(i));
                        return e.into_response();
                    }
                }
                key = Some(i);
            }
            Ok(None) => {}
            Err(e) => return e.into_response(),
        }
    }
    req.extensions_mut().insert(ReqCtx { key, start });
    next.run(req).await
}

/// The `Access-Control-Allow-Origin` value for this request, if its origin is allowed.
fn cors_allow(allowed: &str, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
    if allowed == "*" {
        return Some(HeaderValue::from_static("*"));
    }
    let origin = origin?;
    if origin.as_bytes() == allowed.as_bytes() {
        Some(origin.clone())
    } else {
        None
    }
}

fn preflight(cors: Option<HeaderValue>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Some(v) = cors {
        let h = resp.headers_mut();
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
        h.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        h.insert(VARY, HeaderValue::from_static("Origin"));
    }
    resp
}
