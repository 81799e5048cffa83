//! `allmende perplexity` on the tiny llama-gqa GGUF with `--ctx 16` over a text file written to
//! a scratch directory. The expected perplexity is recomputed here from `allmende logits` by
//! llama.cpp's method (`tools/perplexity/perplexity.cpp`): cut the tokens into chunks of n_ctx,
//! put BOS first in each chunk, score positions n_ctx/2 .. n_ctx-2 against the next token, and
//! take exp(mean NLL). Also: a text shorter than 2 x ctx, a tiny --ctx and a missing file are
//! exit-1 errors.

// Test helpers outside #[test] functions may unwrap too (clippy.toml only covers #[test]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

const TEXT: &str =
    "The quick brown fox jumps over the lazy dog. Hello world, the night light was on \
and the fox slept. The dog ran over the hill and the light went out at night.";

/// `log softmax(row)[target]` in f64.
fn log_softmax_at(row: &[f32], target: usize) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
    row[target] as f64 - max - sum.ln()
}

#[test]
fn perplexity_matches_recomputation_from_logits() {
    let model = tiny_gguf("f32");
    let dir = TempDir::new("ppl");
    let file = dir.join("text.txt");
    std::fs::write(&file, TEXT).unwrap();

    // The token ids of TEXT with BOS, as the binary tokenizes it (no special tokens in TEXT, so
    // the raw-prompt tokenization equals perplexity's).
    let v = run(&[
        "run",
        s(&model),
        TEXT,
        "--raw",
        "--temp",
        "0",
        "-n",
        "1",
        "--json",
        "-t",
        "1",
    ])
    .success()
    .json();
    let tokens = u32s(&v["prompt_ids"]);
    assert_eq!(tokens[0], 1);
    let n_ctx = 16;
    assert!(
        tokens.len() >= 2 * n_ctx,
        "TEXT has only {} tokens",
        tokens.len()
    );
    let n_chunks = tokens.len() / n_ctx;

    let mut nll = 0f64;
    let mut count = 0usize;
    let mut chunk_ppl = Vec::new();
    for c in 0..n_chunks {
        let mut chunk = tokens[c * n_ctx..(c + 1) * n_ctx].to_vec();
        chunk[0] = 1;
        let rows = logits_all(&model, &chunk);
        for j in n_ctx / 2..n_ctx - 1 {
            nll -= log_softmax_at(&rows[j], chunk[j + 1] as usize);
            count += 1;
        }
        chunk_ppl.push((nll / count as f64).exp());
    }
    let want = (nll / count as f64).exp();

    let r = run(&[
        "perplexity",
        s(&model),
        s(&file),
        "--ctx",
        "16",
        "--json",
        "-t",
        "1",
    ])
    .success();
    let got = r.json();
    let ppl = got["ppl"].as_f64().unwrap();
    assert!(ppl.is_finite() && ppl > 1.0, "{got}");
    // A random-weight model over a 512-token vocabulary: no better than a few hundred.
    assert!(ppl < 2000.0, "{got}");
    assert!(
        (ppl - want).abs() <= 1e-3 * want,
        "ppl {ppl}, recomputed from logits {want}"
    );
    assert_eq!(got["ctx"].as_u64(), Some(16));
    assert_eq!(got["n_tokens"].as_u64(), Some(tokens.len() as u64));
    assert_eq!(got["n_chunks"].as_u64(), Some(n_chunks as u64));
    assert_eq!(got["n_scored"].as_u64(), Some(count as u64));
    let got_chunks: Vec<f64> = got["chunk_ppl"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(got_chunks.len(), chunk_ppl.len());
    for (g, w) in got_chunks.iter().zip(&chunk_ppl) {
        assert!((g - w).abs() <= 1e-3 * w, "chunk ppl {g} vs {w}");
    }
    let err = got["ppl_err"].as_f64().unwrap();
    assert!(err.is_finite() && err > 0.0, "{got}");

    // The human format prints the same figure.
    let h = run(&["perplexity", s(&model), s(&file), "--ctx", "16", "-t", "1"]).success();
    assert!(
        h.stdout.starts_with(&format!("PPL = {ppl:.4} +/- ")),
        "{} vs {ppl}",
        h.stdout
    );
    assert!(
        h.stdout
            .contains(&format!("({n_chunks} chunks of 16, {count} tokens scored")),
        "{}",
        h.stdout
    );
    assert!(
        h.stderr.starts_with("[1]"),
        "progress on stderr: {}",
        h.stderr
    );
}

#[test]
fn hf_folder_gives_the_same_perplexity() {
    let dir = TempDir::new("ppl-hf");
    let file = dir.join("text.txt");
    std::fs::write(&file, TEXT).unwrap();
    let a = run(&[
        "perplexity",
        s(&tiny_gguf("f32")),
        s(&file),
        "--ctx",
        "16",
        "--json",
        "-t",
        "1",
    ])
    .success()
    .json();
    let b = run(&[
        "perplexity",
        s(&tiny_hf()),
        s(&file),
        "--ctx",
        "16",
        "--json",
        "-t",
        "1",
    ])
    .success()
    .json();
    let (pa, pb) = (a["ppl"].as_f64().unwrap(), b["ppl"].as_f64().unwrap());
    assert!((pa - pb).abs() <= 1e-4 * pa, "gguf {pa} vs hf {pb}");
    assert_eq!(a["n_tokens"], b["n_tokens"]);
}

#[test]
fn too_short_text_is_a_clear_error() {
    let dir = TempDir::new("ppl-short");
    let file = dir.join("short.txt");
    std::fs::write(&file, "Hello world").unwrap(); // 9 tokens with BOS
    let r = run(&[
        "perplexity",
        s(&tiny_gguf("f32")),
        s(&file),
        "--ctx",
        "16",
        "--json",
    ]);
    r.fails_with(&["9 tokens", "--ctx 16", "at least 32"]);
    assert!(r.stdout.is_empty(), "{}", r.stdout);

    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let r = run(&["perplexity", s(&tiny_gguf("f32")), s(&empty), "--ctx", "16"]);
    r.fails_with(&["at least 32"]);
}

#[test]
fn tiny_ctx_and_missing_file_are_errors() {
    let dir = TempDir::new("ppl-misc");
    let file = dir.join("text.txt");
    std::fs::write(&file, TEXT).unwrap();
    let r = run(&["perplexity", s(&tiny_gguf("f32")), s(&file), "--ctx", "1"]);
    r.fails_with(&["--ctx 1", "too small"]);
    let r = run(&["perplexity", s(&tiny_gguf("f32")), s(&file), "--ctx", "0"]);
    r.fails_with(&["--ctx 0"]);
    let missing = dir.join("nope.txt");
    let r = run(&[
        "perplexity",
        s(&tiny_gguf("f32")),
        s(&missing),
        "--ctx",
        "16",
    ]);
    r.fails_with(&["nope.txt"]);
    // Not UTF-8.
    let bin = dir.join("bin.txt");
    std::fs::write(&bin, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let r = run(&["perplexity", s(&tiny_gguf("f32")), s(&bin), "--ctx", "16"]);
    r.fails_with(&["bin.txt"]);
}

#[test]
fn ctx_beyond_the_model_context() {
    // The model was trained with 128 positions; a 256-token chunk must be refused or computed,
    // never crash. Make the text long enough for two chunks of 256.
    let dir = TempDir::new("ppl-long");
    let file = dir.join("long.txt");
    std::fs::write(&file, TEXT.repeat(12)).unwrap();
    let r = run(&[
        "perplexity",
        s(&tiny_gguf("f32")),
        s(&file),
        "--ctx",
        "256",
        "--json",
        "-t",
        "1",
    ]);
    match r.code {
        Some(0) => {
            let v = r.json();
            let ppl = v["ppl"].as_f64().unwrap();
            assert!(ppl.is_finite() && ppl > 1.0, "{v}");
            let n_tokens = v["n_tokens"].as_u64().unwrap();
            assert!(n_tokens >= 512, "{v}");
            assert_eq!(v["n_chunks"].as_u64(), Some(n_tokens / 256), "{v}");
            assert_eq!(v["n_scored"].as_u64(), Some(n_tokens / 256 * 127), "{v}");
        }
        _ => {
            // A refusal must say why: the model's trained context.
            r.fails_with(&["128"]);
        }
    }
}
