//! `allmende serve`: loads the models (catalogue names are pulled as `run` pulls them), builds the
//! backend and serves the OpenAI-compatible API until Ctrl-C / SIGTERM (docs/SERVER.md).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use allmende_engine::embed::Embedder;
use allmende_engine::LoadedModel;
use allmende_server::{EmbedModel, Keys, LocalBackend, LocalOptions, ServerConfig};
use anyhow::{bail, Context, Result};

use crate::args::ServeArgs;

/// The id clients use for MODEL: the catalogue name as given, or a path's file or folder name.
fn model_id(arg: &str) -> String {
    let path = Path::new(arg);
    if !path.exists() {
        return arg.to_string();
    }
    let named = path.file_name().map(|n| n.to_string_lossy().into_owned());
    named
        .or_else(|| path.canonicalize().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())))
        .unwrap_or_else(|| arg.to_string())
}

/// Whether `path` is a Hugging Face folder of a BERT-style encoder (an embedding model).
pub fn is_encoder_folder(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path.join("config.json")) else { return false };
    let Ok(cfg) = serde_json::from_str::<serde_json::Value>(&text) else { return false };
    let model_type = cfg.get("model_type").and_then(|v| v.as_str()).unwrap_or("");
    matches!(model_type, "bert" | "roberta" | "xlm-roberta" | "distilbert")
}

fn bind_addr(host: &str, port: u16) -> Result<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve --host {host}"))?
        .next()
        .with_context(|| format!("--host {host} resolves to no address"))
}

/// `allmende serve MODEL... [options]`.
pub fn run(args: &ServeArgs) -> Result<()> {
    let addr = bind_addr(&args.host, args.port)?;
    // ALLMENDE_API_KEY keeps the key out of the process list (`ps` shows the command line).
    let env_key = std::env::var("ALLMENDE_API_KEY").ok().filter(|k| !k.trim().is_empty());
    let api_key = args.api_key.clone().or(if args.api_keys.is_none() { env_key } else { None });
    let keys = match (&api_key, &args.api_keys) {
        (Some(k), _) if k.trim().is_empty() => bail!("--api-key must not be empty"),
        (Some(k), _) => Keys::single(k.trim()),
        (None, Some(file)) => Keys::load(file)?,
        (None, None) => Keys::none(),
    };
    if args.queue == 0 {
        bail!("--queue must be at least 1");
    }
    if args.parallel == 0 {
        bail!("--parallel must be at least 1");
    }

    let mut opts = args.threads.model_options(None);
    // One pass holds a prefill chunk and a decode token of every sequence.
    opts.n_batch = allmende_server::serve_n_batch(args.parallel);
    let mut models = Vec::new();
    let mut embedders: Vec<(String, Box<dyn EmbedModel>)> = Vec::new();
    // Every model passes the licence policy before any weights load.
    let mut origins = Vec::new();
    for name in &args.models {
        let origin = super::store::resolve_origin(name)?;
        super::policy::enforce(name, &origin, &args.policy)?;
        origins.push(origin);
    }
    for (name, origin) in args.models.iter().zip(&origins) {
        let id = model_id(name);
        let path = origin.path.clone();
        eprintln!("loading {id} from {} ...", path.display());
        if path.is_dir() && is_encoder_folder(&path) {
            let e = Embedder::load_with(&path, &opts).map_err(|e| super::about_path(&path, e))?;
            embedders.push((id, Box::new(e)));
        } else {
            let lm = LoadedModel::load(&path, &opts).map_err(|e| super::about_path(&path, e))?;
            models.push((id, lm));
        }
    }
    let backend = LocalBackend::new(
        models,
        embedders,
        LocalOptions { n_ctx: args.ctx, queue: args.queue, parallel: args.parallel, prefix_cache: args.prefix_cache },
    )?;
    let summary: Vec<String> =
        allmende_server::Backend::models(&backend).iter().map(|m| format!("{} (ctx {})", m.id, m.n_ctx)).collect();
    let named: Vec<(String, super::store::ModelOrigin)> =
        args.models.iter().map(|m| model_id(m)).zip(origins.iter().cloned()).collect();
    // Built on the first GET /v1/bom: plain-file models have to be hashed for it.
    let bom = allmende_server::LazyBom::new(Box::new(move || {
        super::bom::document(&named).map_err(|e| format!("building the AI-BOM of the served models: {e:#}"))
    }));
    let config = ServerConfig {
        bom: Some(Arc::new(bom)),
        keys,
        max_body_bytes: args.max_body_bytes,
        timeout: Duration::from_secs(args.timeout.max(1)),
        cors_origin: args.cors_origin.clone(),
        ..ServerConfig::default()
    };
    let auth = if config.keys.enabled() { "API key required" } else { "no API key" };
    if !config.keys.enabled() && !addr.ip().is_loopback() {
        eprintln!("warning: listening on {} without an API key: anyone who can reach it can use it", addr.ip());
    }
    allmende_server::serve_blocking(
        addr,
        Arc::new(backend),
        config,
        |bound| {
            eprintln!("serving {} on http://{bound} ({auth}); OpenAI base URL: http://{bound}/v1", summary.join(", "));
        },
        || eprintln!("shutting down: finishing requests in flight (Ctrl-C again to exit now)"),
    )
    .with_context(|| format!("serving on {addr}"))?;
    eprintln!("stopped");
    Ok(())
}
