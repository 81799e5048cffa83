//! [`ApiError`]: every error the server returns, rendered as an OpenAI error object
//! `{"error": {"message", "type", "param", "code"}}` with the matching HTTP status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::backend::BackendError;

/// An error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable message.
    pub message: String,
    /// OpenAI error `type`.
    pub kind: &'static str,
    /// The request field at fault.
    pub param: Option<String>,
    /// OpenAI error `code`.
    pub code: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), kind, param: None, code: None }
    }

    /// 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 400 about one request field.
    pub fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(message).with_param(param)
    }

    /// 400 for a feature that is recognised but not implemented (never silently ignored).
    pub fn unsupported(param: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::invalid_param(param, message);
        e.code = Some("unsupported_parameter");
        e
    }

    /// 401 without a key.
    pub fn missing_key() -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "You didn't provide an API key. Send it in the Authorization header: `Authorization: Bearer KEY`.",
        );
        e.code = Some("missing_api_key");
        e
    }

    /// 401 with a wrong key.
    pub fn wrong_key() -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_request_error", "Incorrect API key provided.");
        e.code = Some("invalid_api_key");
        e
    }

    /// 404 for an unknown model.
    pub fn unknown_model(model: &str) -> Self {
        let mut e = Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("The model `{model}` does not exist (see GET /v1/models)."),
        );
        e.param = Some("model".into());
        e.code = Some("model_not_found");
        e
    }

    /// 404 for an unknown path.
    pub fn no_route(method: &str, path: &str) -> Self {
        let mut e =
            Self::new(StatusCode::NOT_FOUND, "invalid_request_error", format!("Unknown request URL: {method} {path}."));
        e.code = Some("unknown_url");
        e
    }

    /// 405 for a known path with the wrong method.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("Method {method} is not allowed for {path}."),
        )
    }

    /// 413 for a body over the limit.
    pub fn too_large(limit: usize) -> Self {
        let mut e = Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("The request body is larger than the limit of {limit} bytes."),
        );
        e.code = Some("request_too_large");
        e
    }

    /// 408 when a request (reading its body, or generating) takes longer than the limit.
    pub fn timeout(secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout_error",
            format!("The request took longer than the server's limit of {secs} s."),
        );
        e.code = Some("timeout");
        e
    }

    /// 429 when the queue is full.
    pub fn queue_full() -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "The server is busy: the request queue is full. Retry later.",
        );
        e.code = Some("queue_full");
        e
    }

    /// 429 when a key's quota is spent.
    pub fn quota(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "insufficient_quota", message);
        e.code = Some("insufficient_quota");
        e
    }

    /// 503 while shutting down.
    pub fn shutting_down() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "The server is shutting down and accepts no new requests.",
        );
        e.code = Some("shutting_down");
        e
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// Sets `param`.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::UnknownModel(m) => ApiError::unknown_model(&m),
            BackendError::Invalid { message, param } => {
                let e = ApiError::invalid(message);
                match param {
                    Some(p) => e.with_param(p),
                    None => e,
                }
            }
            BackendError::QueueFull => ApiError::queue_full(),
            BackendError::ShuttingDown => ApiError::shutting_down(),
            BackendError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(self.code, Some("queue_full" | "shutting_down")) {
            // Clients (the openai package among them) wait this long before retrying.
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}
