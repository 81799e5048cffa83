//! `tokenizer.json` backend against the reference produced by Hugging Face `transformers`
//! (`tests/fixtures/hf/reference.json`): ids with and without special tokens, token strings and
//! both decodes for every probe, plus the chat renderings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use allmende_tokenizer::{Tokenizer, TokenizerKind};
use serde_json::Value;

fn load() -> (Tokenizer, Value) {
    let dir = common::fixture_dir().join("hf");
    let tok = Tokenizer::from_tokenizer_json_file(dir.join("tokenizer.json")).unwrap();
    let reference: Value =
        serde_json::from_slice(&std::fs::read(dir.join("reference.json")).unwrap()).unwrap();
    (tok, reference)
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn all_probes_match_transformers() {
    let (tok, reference) = load();
    let probes = reference["encode"].as_array().unwrap();
    assert_eq!(probes.len(), 8);
    for p in probes {
        let text = p["text"].as_str().unwrap();
        let with = ids(&p["ids_with_special"]);
        let without = ids(&p["ids_no_special"]);
        assert_eq!(
            tok.encode(text, true, true).unwrap(),
            with,
            "{text:?} with special"
        );
        assert_eq!(
            tok.encode(text, false, true).unwrap(),
            without,
            "{text:?} without special"
        );
        let tokens: Vec<&str> = with
            .iter()
            .map(|&id| tok.id_to_token(id).unwrap())
            .collect();
        let want_tokens: Vec<&str> = p["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(tokens, want_tokens, "{text:?} tokens");
        assert_eq!(
            tok.decode(&with, true).unwrap(),
            p["decoded_skip_special"].as_str().unwrap(),
            "{text:?}"
        );
        assert_eq!(
            tok.decode(&with, false).unwrap(),
            p["decoded"].as_str().unwrap(),
            "{text:?}"
        );
    }
}

#[test]
fn chat_renderings_match_transformers() {
    let (tok, reference) = load();
    for c in reference["chat"].as_array().unwrap() {
        let rendered = c["rendered"].as_str().unwrap();
        assert_eq!(
            tok.encode(rendered, false, true).unwrap(),
            ids(&c["ids"]),
            "{rendered:?}"
        );
    }
}

#[test]
fn special_tokens_and_metadata() {
    let (tok, reference) = load();
    assert_eq!(tok.kind(), TokenizerKind::HfJson);
    assert_eq!(
        tok.vocab_size(),
        reference["vocab_size"].as_u64().unwrap() as usize
    );
    assert_eq!(tok.bos_id(), Some(1));
    assert_eq!(tok.eos_id(), Some(2));
    assert_eq!(tok.special_tokens().unk, Some(0));
    assert_eq!(tok.special_tokens().pad, Some(3));
    assert!(tok.add_bos());
    assert!(!tok.add_eos());
    assert_eq!(tok.eog_ids(), &[2]);
    assert!(tok.is_eog(2) && !tok.is_eog(1));
    assert!(tok.is_control(1) && !tok.is_control(43));
    assert_eq!(tok.token_to_id("<pad>"), Some(3));
    assert_eq!(tok.id_to_token(296), Some("or"));
}

#[test]
fn tokenizer_config_overrides_detection() {
    let dir = common::fixture_dir().join("hf");
    let cfg = std::fs::read(dir.join("tokenizer_config.json")).unwrap();
    let tok = Tokenizer::from_tokenizer_json_file(dir.join("tokenizer.json"))
        .unwrap()
        .with_tokenizer_config(&cfg)
        .unwrap();
    assert_eq!((tok.bos_id(), tok.eos_id()), (Some(1), Some(2)));
    let edited = br#"{"eos_token": {"content": "<pad>"}, "add_bos_token": false}"#;
    let tok = tok.with_tokenizer_config(edited).unwrap();
    assert_eq!(tok.eos_id(), Some(3));
    assert!(!tok.add_bos());
    assert!(tok.is_eog(3));
}

#[test]
fn parse_special_false_keeps_special_text_as_text() {
    let (tok, _) = load();
    let text = "<s>special</s>";
    let parsed = tok.encode(text, false, true).unwrap();
    assert_eq!(parsed.first(), Some(&1));
    assert!(parsed.contains(&2));
    let plain = tok.encode(text, false, false).unwrap();
    assert!(!plain.contains(&1) && !plain.contains(&2), "{plain:?}");
    assert_eq!(tok.decode(&plain, true).unwrap(), text);
}

#[test]
fn pieces_are_raw_bytes() {
    let (tok, _) = load();
    // "Ã" + "©" are the two byte-level halves of "é".
    let ids = tok.encode("é", false, true).unwrap();
    let bytes: Vec<u8> = ids
        .iter()
        .flat_map(|&id| tok.token_to_piece(id).unwrap())
        .collect();
    assert_eq!(bytes, "é".as_bytes());
    assert_eq!(ids.len(), 2);
    assert_eq!(tok.token_to_piece(ids[0]).unwrap(), vec![0xC3]);
    assert_eq!(tok.token_to_piece(1).unwrap(), b"<s>".to_vec());
    assert_eq!(tok.token_to_piece(224).unwrap(), b" ".to_vec());
    assert!(tok.token_to_piece(512).is_err());
    assert!(tok.decode(&[512], false).is_err());
}
