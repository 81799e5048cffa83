//! allmende-server: an OpenAI-compatible HTTP server (`allmende serve`).
//!
//! - [`backend`]: the [`Backend`] trait — the narrow seam to whatever runs the models — and the
//!   data that crosses it (jobs, events, embeddings, stats).
//! - [`local`]: [`LocalBackend`], one sequence at a time over [`allmende_engine::LoadedModel`]s.
//! - [`app`]: the router and the gate (CORS, shutdown 503, API keys 401, quotas 429, metrics).
//! - [`handlers`], [`request`], [`generation`], [`format`], [`sse`]: the endpoints, request
//!   validation, the job fan-out, the OpenAI wire format, the SSE body.
//! - [`auth`], [`metrics`], [`error`]: keys and quotas, Prometheus text, OpenAI error objects.
//!
//! [`run`] serves on a listener until a shutdown future resolves, then drains: new requests get
//! 503 while requests in flight (streams included) run to the end.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
pub mod auth;
pub mod backend;
pub mod bom;
pub mod error;
pub mod format;
pub mod generation;
pub mod handlers;
pub mod local;
pub mod metrics;
pub mod request;
pub mod sse;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use app::{router, AppState, ServerConfig};
pub use auth::{KeySpec, Keys, KeysError, Quota};
pub use bom::{BomBuilder, LazyBom};
pub use backend::{Backend, BackendError, Embeddings, Event, EventSink, Job, ModelInfo, ModelKind, Prompt, Stats};
pub use error::ApiError;
pub use local::{serve_n_batch, EmbedModel, LocalBackend, LocalError, LocalOptions, PREFILL_CHUNK};

/// Serves `state` on `listener` until `shutdown` resolves, then stops accepting connections,
/// answers 503 to new requests on open ones, and returns once every request in flight is done.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone());
    let header_timeout = state.config.header_timeout;
    let (close_tx, close_rx) = tokio::sync::watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        // Reap finished connection tasks so the set does not grow without bound.
        while conns.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut close = close_rx.clone();
        conns.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header_timeout);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = close.changed() => {
                    // Finish the response in flight (streams included), then close.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    state.begin_shutdown();
    drop(listener);
    let _ = close_tx.send(true);
    while conns.join_next().await.is_some() {}
    Ok(())
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Blocking entry point of `allmende serve`: binds `addr`, calls `on_listening` with the bound
/// address, serves until SIGINT/SIGTERM and drains. A second signal while draining exits at once
/// (status 130).
pub fn serve_blocking(
    addr: SocketAddr,
    backend: Arc<dyn Backend>,
    config: ServerConfig,
    on_listening: impl FnOnce(SocketAddr),
    on_draining: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    // The models compute on their own thread pools; the async side only moves bytes.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        on_listening(listener.local_addr()?);
        let state = AppState::new(backend, config);
        let shutdown = async move {
            shutdown_signal().await;
            on_draining();
            tokio::spawn(async {
                shutdown_signal().await;
                std::process::exit(130);
            });
        };
        run(listener, state, shutdown).await
    })
}
