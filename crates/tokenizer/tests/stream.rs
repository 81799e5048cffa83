//! Streaming detokenization: chunks are always whole UTF-8 characters and their concatenation
//! equals the one-shot decode, for every vocabulary and the `tokenizer.json` backend.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use allmende_tokenizer::Tokenizer;
use common::{load_cases, load_tokenizer};

const VOCABS: &[&str] = &[
    "llama-spm",
    "phi-3",
    "qwen2",
    "gpt-2",
    "llama-bpe",
    "starcoder",
    "falcon",
    "deepseek-coder",
    "command-r",
    "bert-bge",
];

/// Stream `ids` and check the invariants; returns the chunks.
fn check_stream(tok: &Tokenizer, ids: &[u32], skip_special: bool, what: &str) -> Vec<String> {
    let want = tok.decode(ids, skip_special).unwrap();
    let mut dec = tok.stream_decoder(skip_special);
    let mut chunks = Vec::new();
    for &id in ids {
        chunks.push(dec.push(id).unwrap());
    }
    chunks.push(dec.finish());
    let got: String = chunks.concat();
    assert_eq!(got, want, "{what}");
    if !want.contains('\u{FFFD}') {
        assert!(
            chunks.iter().all(|c| !c.contains('\u{FFFD}')),
            "{what}: broken UTF-8 in {chunks:?}"
        );
    }
    chunks
}

/// All test inputs joined, long enough to make the decoder slide its window many times.
fn long_text(name: &str) -> String {
    load_cases(name)
        .into_iter()
        .map(|(t, _)| t)
        .collect::<Vec<_>>()
        .join(" | ")
}

#[test]
fn gguf_streams_equal_full_decode() {
    for name in VOCABS {
        let tok = load_tokenizer(name);
        for (text, ids) in load_cases(name) {
            check_stream(&tok, &ids, false, &format!("{name}: {text:?}"));
        }
        let long = long_text(name);
        for add_special in [false, true] {
            let ids = tok.encode(&long, add_special, false).unwrap();
            assert!(ids.len() > 300, "{name}: {}", ids.len());
            check_stream(
                &tok,
                &ids,
                false,
                &format!("{name}: long, add_special={add_special}"),
            );
            check_stream(
                &tok,
                &ids,
                true,
                &format!("{name}: long skip_special, add_special={add_special}"),
            );
        }
    }
}

#[test]
fn split_characters_are_held_back() {
    let tok = load_tokenizer("llama-spm");
    // "🦙" has no token: four byte tokens.
    let ids = tok.encode("🦙", false, false).unwrap();
    assert_eq!(ids, vec![29871, 243, 162, 169, 156]);
    let chunks = check_stream(&tok, &ids, false, "llama");
    assert_eq!(chunks, ["", "", "", "", "🦙", ""]);

    // Byte-level BPE: the llama emoji spans three tokens in llama-bpe.
    let tok = load_tokenizer("llama-bpe");
    let ids = tok.encode(" this is 🦙.cpp", false, false).unwrap();
    assert_eq!(ids, vec![420, 374, 11410, 99, 247, 13, 11055]);
    let chunks = check_stream(&tok, &ids, false, "llama-bpe");
    assert_eq!(chunks, [" this", " is", "", "", " 🦙", ".", "cpp", ""]);
}

#[test]
fn clean_spaces_never_retracts_emitted_text() {
    let tok = load_tokenizer("gpt-2");
    let text = "Hello , world ! it 's a ' quote ' and 've . , ? ! done";
    let ids = tok.encode(text, false, false).unwrap();
    let chunks = check_stream(&tok, &ids, false, "gpt-2 clean");
    assert_eq!(
        chunks.concat(),
        "Hello, world! it's a'quote'and've.,?! done"
    );
}

#[test]
fn hf_streams_equal_full_decode() {
    let dir = common::fixture_dir().join("hf");
    let tok = Tokenizer::from_tokenizer_json_file(dir.join("tokenizer.json")).unwrap();
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("reference.json")).unwrap()).unwrap();
    for p in reference["encode"].as_array().unwrap() {
        let text = p["text"].as_str().unwrap();
        let ids = tok.encode(text, true, true).unwrap();
        check_stream(&tok, &ids, true, text);
        check_stream(&tok, &ids, false, text);
    }
    let long = format!(
        "{} café naïve 東京 🙂🚀\n",
        "The quick brown fox, naïvely, jumps. ".repeat(20)
    );
    let ids = tok.encode(&long, true, true).unwrap();
    assert!(ids.len() > 300);
    let chunks = check_stream(&tok, &ids, true, "hf long");
    assert!(chunks.iter().filter(|c| !c.is_empty()).count() > 100);
}

#[test]
fn bad_id_is_an_error_and_is_forgotten() {
    let tok = load_tokenizer("qwen2");
    let mut dec = tok.stream_decoder(false);
    assert_eq!(dec.push(6023).unwrap(), "hi");
    assert!(dec.push(999_999).is_err());
    assert_eq!(dec.push(198).unwrap(), "\n");
    assert_eq!(dec.finish(), "");
}
