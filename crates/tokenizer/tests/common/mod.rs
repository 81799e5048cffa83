//! Test helpers: load the vocab fixtures (JSON of GGUF tokenizer metadata, xz-compressed) into
//! [`GgufVocab`], and read llama.cpp's `.inp`/`.out` test vectors.
//!
//! The fixtures are produced by `tests/extract_vocab.py`; the key-to-field mapping below is the
//! one a GGUF loader uses (see the table on [`GgufVocab`]).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use allmende_tokenizer::{GgufVocab, Tokenizer};
use serde_json::{Map, Value};

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn u32_key(m: &Map<String, Value>, key: &str) -> Option<u32> {
    m.get(key).and_then(Value::as_u64).map(|v| v as u32)
}

fn bool_key(m: &Map<String, Value>, key: &str) -> Option<bool> {
    m.get(key).and_then(Value::as_bool)
}

fn str_key(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(Value::as_str).map(str::to_string)
}

fn strings(m: &Map<String, Value>, key: &str) -> Option<Vec<String>> {
    let arr = m.get(key)?.as_array()?;
    Some(
        arr.iter()
            .map(|v| v.as_str().expect("string array").to_string())
            .collect(),
    )
}

/// Map GGUF tokenizer metadata (as a JSON object of key -> value) to a [`GgufVocab`].
pub fn vocab_from_metadata(m: &Map<String, Value>) -> GgufVocab {
    GgufVocab {
        model: str_key(m, "tokenizer.ggml.model").expect("tokenizer.ggml.model"),
        pre: str_key(m, "tokenizer.ggml.pre"),
        tokens: strings(m, "tokenizer.ggml.tokens").expect("tokenizer.ggml.tokens"),
        scores: m
            .get("tokenizer.ggml.scores")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| v.as_f64().expect("score") as f32)
                    .collect()
            }),
        token_types: m
            .get("tokenizer.ggml.token_type")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| v.as_i64().expect("token type") as i32)
                    .collect()
            }),
        merges: strings(m, "tokenizer.ggml.merges"),
        bos_id: u32_key(m, "tokenizer.ggml.bos_token_id"),
        eos_id: u32_key(m, "tokenizer.ggml.eos_token_id"),
        eot_id: u32_key(m, "tokenizer.ggml.eot_token_id"),
        eom_id: u32_key(m, "tokenizer.ggml.eom_token_id"),
        unk_id: u32_key(m, "tokenizer.ggml.unknown_token_id"),
        sep_id: u32_key(m, "tokenizer.ggml.seperator_token_id"),
        pad_id: u32_key(m, "tokenizer.ggml.padding_token_id"),
        cls_id: u32_key(m, "tokenizer.ggml.cls_token_id"),
        mask_id: u32_key(m, "tokenizer.ggml.mask_token_id"),
        fim_pre_id: u32_key(m, "tokenizer.ggml.fim_pre_token_id")
            .or(u32_key(m, "tokenizer.ggml.prefix_token_id")),
        fim_suf_id: u32_key(m, "tokenizer.ggml.fim_suf_token_id")
            .or(u32_key(m, "tokenizer.ggml.suffix_token_id")),
        fim_mid_id: u32_key(m, "tokenizer.ggml.fim_mid_token_id")
            .or(u32_key(m, "tokenizer.ggml.middle_token_id")),
        fim_pad_id: u32_key(m, "tokenizer.ggml.fim_pad_token_id"),
        fim_rep_id: u32_key(m, "tokenizer.ggml.fim_rep_token_id"),
        fim_sep_id: u32_key(m, "tokenizer.ggml.fim_sep_token_id"),
        add_bos: bool_key(m, "tokenizer.ggml.add_bos_token"),
        add_eos: bool_key(m, "tokenizer.ggml.add_eos_token"),
        add_sep: bool_key(m, "tokenizer.ggml.add_sep_token"),
        add_space_prefix: bool_key(m, "tokenizer.ggml.add_space_prefix"),
        remove_extra_whitespaces: bool_key(m, "tokenizer.ggml.remove_extra_whitespaces"),
        normalizer_lowercase: bool_key(m, "tokenizer.ggml.normalizer.lowercase"),
        normalizer_strip_accents: bool_key(m, "tokenizer.ggml.normalizer.strip_accents"),
        clean_spaces: None,
        model_name: str_key(m, "general.name"),
        architecture: str_key(m, "general.architecture"),
    }
}

/// Read `fixtures/vocab/ggml-vocab-<name>.json.xz` into a [`GgufVocab`].
pub fn load_vocab(name: &str) -> GgufVocab {
    let path = fixture_dir().join(format!("vocab/ggml-vocab-{name}.json.xz"));
    let compressed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut json = Vec::new();
    lzma_rs::xz_decompress(&mut compressed.as_slice(), &mut json).expect("xz");
    let value: Value = serde_json::from_slice(&json).expect("json");
    vocab_from_metadata(value.as_object().expect("object"))
}

pub fn load_tokenizer(name: &str) -> Tokenizer {
    Tokenizer::from_gguf_vocab(load_vocab(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// llama.cpp test vectors: inputs separated by `\n__ggml_vocab_test__\n`, one output line of
/// space-separated ids per input.
pub fn load_cases(name: &str) -> Vec<(String, Vec<u32>)> {
    let dir = fixture_dir().join("vocab");
    let inp = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.inp"))).expect("inp");
    let out = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.out"))).expect("out");
    let sep = "\n__ggml_vocab_test__\n";
    let mut inputs = Vec::new();
    let mut pos = 0;
    while pos < inp.len() {
        match inp[pos..].find(sep) {
            Some(rel) => {
                inputs.push(inp[pos..pos + rel].to_string());
                pos += rel + sep.len();
            }
            None => {
                inputs.push(inp[pos..].to_string());
                break;
            }
        }
    }
    let outputs: Vec<Vec<u32>> = out
        .lines()
        .map(|l| {
            l.split_whitespace()
                .map(|t| t.parse().expect("id"))
                .collect()
        })
        .collect();
    assert_eq!(inputs.len(), outputs.len(), "{name}: input/output count");
    inputs.into_iter().zip(outputs).collect()
}
