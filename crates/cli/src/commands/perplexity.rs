//! `allmende perplexity`: perplexity of a text file, by llama.cpp's method (see
//! `allmende_engine::perplexity`), so figures compare with llama.cpp's.

use allmende_models::Logits;
use anyhow::{Context, Result};
use serde_json::json;

/// `allmende perplexity MODEL FILE [--ctx 512] [--json]`.
pub fn run(model: &str, file: &std::path::Path, n_ctx: usize, as_json: bool, threads: usize) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut lm = super::run::load(model, threads)?;
    // llama.cpp tokenizes the whole text with special tokens added (BOS where the model adds one)
    // and special-token text taken literally.
    let tokens = lm.tokenizer.encode(&text, true, false)?;
    let bos = if lm.tokenizer.add_bos() { lm.tokenizer.bos_id() } else { None };
    let n_vocab = lm.model.n_vocab();
    let mut cache = lm.model.new_cache(n_ctx);
    let started = std::time::Instant::now();
    let model = &mut lm.model;
    let r = allmende_engine::perplexity(
        &tokens,
        n_ctx,
        n_vocab,
        bos,
        |chunk| {
            cache.clear();
            model.forward(chunk, &mut cache, Logits::All).map(|l| l.to_vec())
        },
        |i, ppl| {
            if !as_json {
                eprint!("[{}]{ppl:.4},", i + 1);
            }
        },
    )?;
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
                "n_tokens": tokens.len(),
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
