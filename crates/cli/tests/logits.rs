//! `allmende logits` against the transformers reference for the tiny llama-gqa model
//! (`crates/models/tests/fixtures/hf/llama-gqa/reference.safetensors`, `len7.logits` and
//! `len33.logits`, computed in f32 by transformers 5.24): every position of the f32 GGUF and of
//! the HF folder within 1e-4, the f16/q8_0 GGUFs within the bounds llama.cpp itself reaches on
//! the same files (`llamacpp_check.json`), the last-row-only default, and the out-of-range id
//! error.

// Test helpers outside #[test] functions may unwrap too (clippy.toml only covers #[test]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

const VOCAB: usize = 512;

fn assert_close(model: &str, got: &[Vec<f32>], want: &[Vec<f32>], tol: f32) {
    assert_eq!(got.len(), want.len(), "{model}: row count");
    for (pos, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), VOCAB, "{model}: row {pos} length");
        let d = max_abs_diff(g, w);
        assert!(
            d <= tol,
            "{model}: position {pos} differs from the reference by {d} (> {tol})"
        );
    }
}

#[test]
fn gguf_f32_all_positions_match_reference() {
    let (ids, want) = reference_prompt("len7");
    assert_eq!(ids, [1, 501, 500, 505, 197, 91, 473]);
    let got = logits_all(&tiny_gguf("f32"), &ids);
    assert_close("gguf f32 len7", &got, &want, 1e-4);
}

#[test]
fn hf_folder_all_positions_match_reference() {
    let (ids, want) = reference_prompt("len7");
    let got = logits_all(&tiny_hf(), &ids);
    assert_close("hf len7", &got, &want, 1e-4);
}

#[test]
fn long_prompt_matches_reference_on_both_formats() {
    let (ids, want) = reference_prompt("len33");
    assert_eq!(ids.len(), 33);
    assert_close(
        "gguf f32 len33",
        &logits_all(&tiny_gguf("f32"), &ids),
        &want,
        1e-4,
    );
    assert_close("hf len33", &logits_all(&tiny_hf(), &ids), &want, 1e-4);
}

#[test]
fn quantized_gguf_stay_within_llamacpp_error() {
    // llama.cpp on these files (llamacpp_check.json, len7, all positions): f16 max |diff| 0.0039,
    // q8_0 0.083. Allow a little more than llama.cpp, not an order of magnitude.
    let (ids, want) = reference_prompt("len7");
    assert_close(
        "gguf f16",
        &logits_all(&tiny_gguf("f16"), &ids),
        &want,
        0.01,
    );
    assert_close(
        "gguf q8_0",
        &logits_all(&tiny_gguf("q8_0"), &ids),
        &want,
        0.2,
    );
}

#[test]
fn without_all_positions_only_the_last_row() {
    let (ids, want) = reference_prompt("len7");
    for model in [tiny_gguf("f32"), tiny_hf()] {
        let r = run(&["logits", s(&model), "--ids", &ids_arg(&ids), "--json"]).success();
        let rows = logits_rows(&r.json());
        assert_eq!(rows.len(), 1, "{}", model.display());
        assert_close(s(&model), &rows, &want[want.len() - 1..], 1e-4);
        // `--json` is the only format: the output is the same without the flag.
        let plain = run(&["logits", s(&model), "--ids", &ids_arg(&ids)]).success();
        assert_eq!(logits_rows(&plain.json()), rows);
    }
}

#[test]
fn single_token_and_prefix_consistency() {
    // The first row of a longer prompt is the logits of its first token alone (causal mask).
    let (ids, want) = reference_prompt("len1");
    assert_eq!(ids, [1]);
    let got = logits_all(&tiny_gguf("f32"), &ids);
    assert_close("gguf len1", &got, &want, 1e-4);
    let (ids7, _) = reference_prompt("len7");
    let got7 = logits_all(&tiny_gguf("f32"), &ids7);
    assert!(max_abs_diff(&got7[0], &got[0]) <= 1e-5);
}

#[test]
fn out_of_range_id_is_a_clean_error() {
    for model in [tiny_gguf("f32"), tiny_hf()] {
        let r = run(&["logits", s(&model), "--ids", "1,2,512,3"]);
        r.fails_with(&["token id 512", "out of range", "512 tokens"]);
        assert!(r.stdout.is_empty(), "nothing on stdout: {}", r.stdout);
        let r = run(&["logits", s(&model), "--ids", "4000000000"]);
        r.fails_with(&["4000000000", "out of range"]);
    }
    // The largest valid id works.
    let r = run(&["logits", s(&tiny_gguf("f32")), "--ids", "511", "--json"]).success();
    assert_eq!(logits_rows(&r.json())[0].len(), VOCAB);
}

#[test]
fn non_numeric_ids_are_a_usage_error() {
    let r = run(&["logits", s(&tiny_gguf("f32")), "--ids", "1,two,3"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("two"), "{}", r.stderr);
    let r = run(&["logits", s(&tiny_gguf("f32")), "--ids", "-1"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
}
