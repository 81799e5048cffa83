//! llama.cpp's tokenizer test vectors (`test-tokenizer-0`): every `.inp` case of every vocab must
//! encode to exactly the ids in `.out`, with `add_special = false, parse_special = false` as
//! llama.cpp's test runs them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{load_cases, load_tokenizer};

fn check_vocab(name: &str) {
    let tok = load_tokenizer(name);
    let cases = load_cases(name);
    let mut failures = Vec::new();
    for (text, want) in &cases {
        let got = tok.encode(text, false, false).unwrap();
        if &got != want {
            failures.push(format!("{text:?}\n  want {want:?}\n  got  {got:?}"));
        }
    }
    println!(
        "{name}: {}/{} cases pass",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn llama_spm() {
    check_vocab("llama-spm");
}

#[test]
fn phi_3() {
    check_vocab("phi-3");
}

#[test]
fn qwen2() {
    check_vocab("qwen2");
}

#[test]
fn gpt_2() {
    check_vocab("gpt-2");
}

#[test]
fn llama_bpe() {
    check_vocab("llama-bpe");
}

#[test]
fn starcoder() {
    check_vocab("starcoder");
}

#[test]
fn falcon() {
    check_vocab("falcon");
}

#[test]
fn deepseek_coder() {
    check_vocab("deepseek-coder");
}

#[test]
fn command_r() {
    check_vocab("command-r");
}

#[test]
fn bert_bge() {
    check_vocab("bert-bge");
}
