//! `allmende run` on the tiny llama-gqa model (GGUF and HF folder):
//! - `--raw --temp 0 --json`: the report's fields, BOS + the transformers tokenization of the
//!   prompt, and ids equal to greedy decoding over `allmende logits` (argmax at every step), and
//!   to the transformers greedy continuation of the `len7` reference prompt;
//! - the streamed text equals the JSON `text`; both formats generate the same ids and text;
//! - sampling: the same seed reproduces the output, and the seed reported by an unseeded run
//!   reproduces that run;
//! - chat mode: `prompt_ids` equal the transformers chat-template rendering tokenized
//!   (`crates/tokenizer/tests/fixtures/hf/reference.json`, `chat`);
//! - bad sampling settings or a context smaller than the prompt: exit 1 with a clear message.

// Test helpers outside #[test] functions may unwrap too (clippy.toml only covers #[test]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

const EOS: u32 = 2;

fn run_json(model: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["run", s(model)];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--json", "-t", "1"]);
    run(&args).success().json()
}

/// Checks that `ids` is what greedy decoding gives after `prompt`: one `logits --all-positions`
/// call over prompt + ids[..n-1]; the row of position `prompt.len() - 1 + i` must have its argmax
/// at ids[i] (a near tie, margin < 1e-4, accepts either of the two tokens).
fn assert_greedy(model: &Path, prompt: &[u32], ids: &[u32]) {
    let mut seq = prompt.to_vec();
    seq.extend_from_slice(&ids[..ids.len() - 1]);
    let rows = logits_all(model, &seq);
    assert_eq!(rows.len(), seq.len());
    for (i, &id) in ids.iter().enumerate() {
        let row = &rows[prompt.len() - 1 + i];
        let (best, margin) = argmax_margin(row);
        if margin >= 1e-4 {
            assert_eq!(
                id as usize,
                best,
                "{}: step {i}: run chose {id}, argmax of logits is {best}",
                model.display()
            );
        } else {
            assert!(
                row[best] - row[id as usize] < 1e-4,
                "{}: step {i}: {id} is not a top token",
                model.display()
            );
        }
    }
}

fn check_report_shape(v: &Value, max_tokens: usize) -> (Vec<u32>, Vec<u32>) {
    let prompt_ids = u32s(&v["prompt_ids"]);
    let ids = u32s(&v["ids"]);
    assert!(!prompt_ids.is_empty());
    assert!(!ids.is_empty() && ids.len() <= max_tokens, "{v}");
    let stopped_early = ids.len() < max_tokens;
    if stopped_early {
        assert_eq!(
            *ids.last().unwrap(),
            EOS,
            "only an EOG token ends a run early: {v}"
        );
        assert_eq!(v["finish_reason"], "stop", "{v}");
    } else if *ids.last().unwrap() != EOS {
        assert_eq!(v["finish_reason"], "length", "{v}");
    }
    assert!(
        !ids[..ids.len() - 1].contains(&EOS),
        "generation continued past EOS: {v}"
    );
    assert!(v["text"].is_string(), "{v}");
    let t = &v["timings"];
    assert_eq!(
        t["prompt_tokens"].as_u64(),
        Some(prompt_ids.len() as u64),
        "{v}"
    );
    assert_eq!(
        t["generated_tokens"].as_u64(),
        Some(ids.len() as u64),
        "{v}"
    );
    for k in [
        "prompt_ms",
        "generation_ms",
        "prompt_tokens_per_second",
        "generation_tokens_per_second",
    ] {
        let x = t[k]
            .as_f64()
            .unwrap_or_else(|| panic!("timings.{k} missing: {v}"));
        assert!(x.is_finite() && x >= 0.0, "timings.{k} = {x}");
    }
    (prompt_ids, ids)
}

#[test]
fn raw_greedy_json_is_greedy_decoding_over_logits() {
    let tok = tokenizer_reference();
    let hello = &tok["encode"][0];
    assert_eq!(hello["text"], "Hello world");
    let want_prompt = u32s(&hello["ids_with_special"]);
    let mut outputs = Vec::new();
    for model in [tiny_gguf("f32"), tiny_hf()] {
        let v = run_json(&model, &["Hello world", "--raw", "--temp", "0", "-n", "8"]);
        let (prompt_ids, ids) = check_report_shape(&v, 8);
        // BOS, then transformers' tokenization of the text.
        assert_eq!(prompt_ids, want_prompt, "{}", model.display());
        assert!(v["seed"].is_null(), "greedy decoding reports no seed: {v}");
        assert_greedy(&model, &prompt_ids, &ids);
        outputs.push((ids, v["text"].clone()));
    }
    // Same weights and tokenizer in both formats: same continuation, same text.
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn raw_greedy_reproduces_the_transformers_continuation() {
    // The len7 reference prompt is [BOS, "ght", " nigh", " light", byte 0x05, "x", " sal"]; its
    // text tokenizes back to the same ids, so `run --raw` must continue it exactly as
    // transformers' greedy generate did (the smallest top-2 margin over the 20 steps is 0.0067).
    let meta = read_json(&reference_dir().join("reference.json"));
    let len7 = meta["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "len7")
        .unwrap();
    let want_prompt = u32s(&len7["input_ids"]);
    let want_new = u32s(&len7["greedy"]["new_tokens"]);
    for model in [tiny_gguf("f32"), tiny_hf()] {
        let v = run_json(
            &model,
            &[
                "ght nigh light\u{5}x sal",
                "--raw",
                "--temp",
                "0",
                "-n",
                "20",
            ],
        );
        let (prompt_ids, ids) = check_report_shape(&v, 20);
        assert_eq!(prompt_ids, want_prompt, "{}", model.display());
        assert_eq!(ids, want_new, "{}", model.display());
    }
}

#[test]
fn streamed_text_equals_json_text() {
    let model = tiny_gguf("f32");
    let v = run_json(&model, &["Hello world", "--raw", "--temp", "0", "-n", "8"]);
    let r = run(&[
        "run",
        s(&model),
        "Hello world",
        "--raw",
        "--temp",
        "0",
        "-n",
        "8",
        "-t",
        "1",
    ])
    .success();
    assert_eq!(r.stdout, format!("{}\n", v["text"].as_str().unwrap()));
    let n = v["ids"].as_array().unwrap().len();
    assert!(r.stderr.contains("[prompt: 9 tokens,"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("generated: {n} tokens,")),
        "{}",
        r.stderr
    );
}

#[test]
fn verbose_prompt_lists_the_prompt_tokens() {
    let model = tiny_gguf("f32");
    let r = run(&[
        "run",
        s(&model),
        "Hello world",
        "--raw",
        "--temp",
        "0",
        "-n",
        "1",
        "--verbose-prompt",
        "-t",
        "1",
    ])
    .success();
    assert!(r.stderr.contains("prompt: 9 tokens"), "{}", r.stderr);
    // One line per token: id -> piece.
    assert!(r.stderr.contains("1 -> \"<s>\""), "{}", r.stderr);
    assert!(r.stderr.contains("43 -> \"H\""), "{}", r.stderr);
    assert!(r.stderr.contains("275 -> \" w\""), "{}", r.stderr);
}

#[test]
fn seeded_sampling_is_reproducible() {
    let model = tiny_gguf("f32");
    let args = [
        "Hello world",
        "--raw",
        "--temp",
        "0.9",
        "-n",
        "12",
        "--seed",
        "42",
    ];
    let a = run_json(&model, &args);
    let b = run_json(&model, &args);
    assert_eq!(a["seed"].as_u64(), Some(42), "{a}");
    assert_eq!(a["ids"], b["ids"]);
    assert_eq!(a["text"], b["text"]);
    check_report_shape(&a, 12);

    // An unseeded run reports the seed it drew; that seed reproduces it.
    let c = run_json(
        &model,
        &["Hello world", "--raw", "--temp", "0.9", "-n", "12"],
    );
    let seed = c["seed"]
        .as_u64()
        .unwrap_or_else(|| panic!("an unseeded sampling run reports its seed: {c}"));
    let d = run_json(
        &model,
        &[
            "Hello world",
            "--raw",
            "--temp",
            "0.9",
            "-n",
            "12",
            "--seed",
            &seed.to_string(),
        ],
    );
    assert_eq!(c["ids"], d["ids"]);
    assert_eq!(c["text"], d["text"]);
}

#[test]
fn chat_prompt_ids_are_the_template_rendering() {
    let tok = tokenizer_reference();
    let chat = tok["chat"].as_array().unwrap();
    // [{"role": "user", "content": "What is the capital of France?"}]
    let one = &chat[0];
    assert_eq!(
        one["messages"][0]["content"],
        "What is the capital of France?"
    );
    let want_one = u32s(&one["ids"]);
    // The second conversation starts with a system message and a user turn; its ids up to the
    // end of the first "[/INST]" are the rendering of just those two messages.
    let two = &chat[1];
    assert_eq!(two["messages"][0]["content"], "You are terse.");
    assert_eq!(two["messages"][1]["content"], "Say hi.");
    let all = u32s(&two["ids"]);
    let inst_end: [u32; 7] = [62, 18, 44, 49, 54, 55, 64]; // "[", "/", "I", "N", "S", "T", "]"
    let cut = all.windows(7).position(|w| w == inst_end).unwrap() + 7;
    let want_two = &all[..cut];
    for model in [tiny_gguf("f32"), tiny_hf()] {
        let v = run_json(
            &model,
            &["What is the capital of France?", "--temp", "0", "-n", "3"],
        );
        let (prompt_ids, ids) = check_report_shape(&v, 3);
        assert_eq!(prompt_ids, want_one, "{}", model.display());
        assert_greedy(&model, &prompt_ids, &ids);

        let v = run_json(
            &model,
            &[
                "Say hi.",
                "--system",
                "You are terse.",
                "--temp",
                "0",
                "-n",
                "1",
            ],
        );
        assert_eq!(u32s(&v["prompt_ids"]), want_two, "{}", model.display());
    }
}

#[test]
fn raw_and_chat_differ_only_by_the_template() {
    // --raw on the same text gives BOS + the plain tokenization, not the [INST] wrapping.
    let model = tiny_gguf("f32");
    let raw = run_json(
        &model,
        &[
            "What is the capital of France?",
            "--raw",
            "--temp",
            "0",
            "-n",
            "1",
        ],
    );
    let chat = run_json(
        &model,
        &["What is the capital of France?", "--temp", "0", "-n", "1"],
    );
    let raw_ids = u32s(&raw["prompt_ids"]);
    let chat_ids = u32s(&chat["prompt_ids"]);
    assert_eq!(raw_ids[0], 1);
    assert_ne!(raw_ids, chat_ids);
    assert_eq!(&chat_ids[..7], &[1, 62, 44, 49, 54, 55, 64]); // <s>[INST]
}

#[test]
fn invalid_sampling_settings_are_rejected() {
    let model = tiny_gguf("f32");
    let r = run(&["run", s(&model), "hi", "--raw", "--temp", "nan", "-n", "1"]);
    r.fails_with(&["temperature", "finite"]);
    let r = run(&["run", s(&model), "hi", "--raw", "--min-p", "2", "-n", "1"]);
    r.fails_with(&["min_p"]);
    let r = run(&["run", s(&model), "hi", "--raw", "--top-p", "1.5", "-n", "1"]);
    r.fails_with(&["top_p"]);
}

#[test]
fn context_smaller_than_the_prompt_is_an_error() {
    let model = tiny_gguf("f32");
    // "Hello world" is 9 tokens with BOS.
    let r = run(&[
        "run",
        s(&model),
        "Hello world",
        "--raw",
        "--ctx",
        "4",
        "-n",
        "1",
        "--json",
    ]);
    r.fails_with(&["9 tokens", "4"]);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[test]
fn interactive_session_reads_stdin_until_eof() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let model = tiny_gguf("f32");
    let want = run_json(&model, &["Hello world", "--raw", "--temp", "0", "-n", "4"]);
    let home = TempDir::new("home");
    let mut child = Command::new(BIN)
        .args([
            "run",
            s(&model),
            "--raw",
            "--temp",
            "0",
            "-n",
            "4",
            "-t",
            "1",
        ])
        .env("ALLMENDE_HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // An empty line is skipped; the raw turn is completed; EOF ends the session cleanly.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\nHello world\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", want["text"].as_str().unwrap())
    );
    assert!(stderr.starts_with("interactive session"), "{stderr}");
    assert_eq!(stderr.matches("[prompt: 9 tokens,").count(), 1, "{stderr}");
}

#[test]
fn zero_max_tokens_generates_nothing() {
    let v = run_json(
        &tiny_gguf("f32"),
        &["Hello world", "--raw", "--temp", "0", "-n", "0"],
    );
    assert_eq!(u32s(&v["prompt_ids"]).len(), 9);
    assert_eq!(v["ids"], serde_json::json!([]));
    assert_eq!(v["text"], "");
    assert_eq!(v["finish_reason"], "length");
}
