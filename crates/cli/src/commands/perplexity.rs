//! `allmende perplexity`: perplexity of a text file, by llama.cpp's method (see
//! `allmende_engine::perplexity`), so figures compare with llama.cpp's.

use anyhow::{Context, Result};

use crate::args::ThreadArgs;
use serde_json::json;

/// `allmende perplexity MODEL FILE [--ctx 512] [--json]`.
pub fn run(model: &str, file: &std::path::Path, n_ctx: usize, as_json: bool, threads: &ThreadArgs) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut lm = super::run::load(model, &threads.model_options(None))?;
    let started = std::time::Instant::now();
    let (r, n_tokens) = lm.perplexity(&text, n_ctx, |i, ppl| {
        if !as_json {
            eprint!("[{}]{ppl:.4},", i + 1);
        }
    })?;
    let secs = started.elapsed().as_secs_f64();
    if as_json {
        println!(
            "{}",
            json!({
                "ppl": r.ppl,
                "ppl_err": r.ppl_err,
                "chunk_ppl": r.chunk_ppl,
                "ctx": r.n_ctx,
                "n_chunks": r.chunk_ppl.len(),
                "n_tokens": n_tokens,
                "n_scored": r.n_scored,
                "seconds": secs,
            })
        );
    } else {
        eprintln!();
        println!("PPL = {:.4} +/- {:.5} ({} chunks of {}, {} tokens scored, {:.1} s)", r.ppl, r.ppl_err, r.chunk_ppl.len(), n_ctx, r.n_scored, secs);
    }
    Ok(())
}
