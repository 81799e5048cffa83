//! `allmende inspect` on the tiny llama-gqa model as GGUF (f32, f16, q8_0) and as an HF folder:
//! architecture, parameter count, quantization mix, context length, tokenizer, chat template,
//! and `--tensors`.
//!
//! Expected values, derived independently of the binary (and cross-checked with gguf-py 0.19's
//! `GGUFReader` on the fixtures):
//! - the model: 2 layers, n_embd 64, 4 heads of 16 (2 KV heads, so k/v project to 32), FFN 128,
//!   vocab 512, untied output. Per layer: 2 norms (2 x 64), q and o (2 x 64x64), k and v
//!   (2 x 64x32), gate, up and down (3 x 64x128): 128 + 8192 + 4096 + 24576 = 36992; two layers
//!   73984; token embedding and output 2 x 512x64 = 65536; output norm 64. Total 139584, in 21
//!   tensors.
//! - f16/q8_0 files quantize the 16 matrices (139264 elements) and keep the 5 norms (320
//!   elements) in f32. q8_0 stores 32 elements in 34 bytes: 139264 / 32 * 34 = 147968.

// Test helpers outside #[test] functions may unwrap too (clippy.toml only covers #[test]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;

const PARAMS: u64 = 139_584;
const N_TENSORS: u64 = 21;
const MATRIX_ELEMS: u64 = 139_264;
const NORM_ELEMS: u64 = 320;

fn inspect_json(model: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec!["inspect", s(model), "--json"];
    args.extend_from_slice(extra);
    run(&args).success().json()
}

fn assert_common(v: &Value, what: &str) {
    assert_eq!(v["parameters"].as_u64(), Some(PARAMS), "{what}: {v}");
    assert_eq!(v["context_length"].as_u64(), Some(128), "{what}");
    assert_eq!(v["n_layer"].as_u64(), Some(2), "{what}");
    assert_eq!(v["n_embd"].as_u64(), Some(64), "{what}");
    assert_eq!(v["n_head"].as_u64(), Some(4), "{what}");
    assert_eq!(v["n_head_kv"].as_u64(), Some(2), "{what}");
    assert_eq!(v["tokenizer"]["vocab_size"].as_u64(), Some(512), "{what}");
    let template = v["chat_template"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no chat_template: {v}"));
    assert!(
        template.starts_with("{{- bos_token }}"),
        "{what}: {template}"
    );
    assert!(template.contains("[INST]"), "{what}");
    // No licence metadata in the fixtures.
    assert_eq!(v["license"], serde_json::json!({}), "{what}");
}

#[test]
fn gguf_f32_report() {
    let path = tiny_gguf("f32");
    let v = inspect_json(&path, &[]);
    assert_common(&v, "gguf f32");
    assert_eq!(v["architecture"], "llama");
    assert_eq!(v["format"], "gguf v3");
    assert_eq!(v["name"], "tiny-llama-gqa f32");
    assert_eq!(
        v["file_size"].as_u64(),
        Some(std::fs::metadata(&path).unwrap().len())
    );
    assert_eq!(v["file_size"].as_u64(), Some(572_384));
    assert_eq!(v["tokenizer"]["model"], "gpt2");
    assert_eq!(v["tokenizer"]["pre"], "gpt-2");
    assert_eq!(
        v["quantization"],
        serde_json::json!({"f32": {"tensors": N_TENSORS, "bytes": PARAMS * 4}})
    );
    assert!(
        v.get("tensors").is_none(),
        "no tensor list without --tensors"
    );
}

#[test]
fn gguf_quantized_mix() {
    let v = inspect_json(&tiny_gguf("f16"), &[]);
    assert_common(&v, "gguf f16");
    assert_eq!(
        v["quantization"],
        serde_json::json!({"f16": {"tensors": 16, "bytes": MATRIX_ELEMS * 2}, "f32": {"tensors": 5, "bytes": NORM_ELEMS * 4}})
    );
    let v = inspect_json(&tiny_gguf("q8_0"), &[]);
    assert_common(&v, "gguf q8_0");
    assert_eq!(
        v["quantization"],
        serde_json::json!({"q8_0": {"tensors": 16, "bytes": MATRIX_ELEMS / 32 * 34}, "f32": {"tensors": 5, "bytes": NORM_ELEMS * 4}})
    );
}

/// Expected `[name, shape]` of every tensor, in HF order (outermost dimension first).
fn expected_gguf_tensors() -> Vec<(String, Vec<u64>)> {
    let mut t = vec![
        ("output.weight".to_string(), vec![512, 64]),
        ("token_embd.weight".to_string(), vec![512, 64]),
    ];
    for l in 0..2 {
        for (n, shape) in [
            ("attn_norm.weight", vec![64]),
            ("ffn_down.weight", vec![64, 128]),
            ("ffn_gate.weight", vec![128, 64]),
            ("ffn_up.weight", vec![128, 64]),
            ("ffn_norm.weight", vec![64]),
            ("attn_k.weight", vec![32, 64]),
            ("attn_output.weight", vec![64, 64]),
            ("attn_q.weight", vec![64, 64]),
            ("attn_v.weight", vec![32, 64]),
        ] {
            t.push((format!("blk.{l}.{n}"), shape));
        }
    }
    t.push(("output_norm.weight".to_string(), vec![64]));
    t
}

#[test]
fn gguf_tensor_list() {
    let v = inspect_json(&tiny_gguf("q8_0"), &["--tensors"]);
    let tensors = v["tensors"].as_array().expect("tensors with --tensors");
    let want = expected_gguf_tensors();
    assert_eq!(tensors.len(), want.len());
    let mut total = 0u64;
    for (t, (name, shape)) in tensors.iter().zip(&want) {
        assert_eq!(t["name"], name.as_str());
        let got: Vec<u64> = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(&got, shape, "{name}");
        let n: u64 = shape.iter().product();
        let (ty, bytes) = if shape.len() == 1 {
            ("f32", n * 4)
        } else {
            ("q8_0", n / 32 * 34)
        };
        assert_eq!(t["type"], ty, "{name}");
        assert_eq!(t["bytes"].as_u64(), Some(bytes), "{name}");
        total += n;
    }
    assert_eq!(total, PARAMS);
    // The rest of the report is unchanged by --tensors.
    let mut without = v.clone();
    without.as_object_mut().unwrap().remove("tensors");
    assert_eq!(without, inspect_json(&tiny_gguf("q8_0"), &[]));
}

#[test]
fn hf_folder_report() {
    let dir = tiny_hf();
    let v = inspect_json(&dir, &["--tensors"]);
    assert_common(&v, "hf");
    assert_eq!(v["architecture"], "LlamaForCausalLM");
    assert_eq!(v["format"], "hf-folder");
    assert_eq!(v["name"], "llama-gqa");
    assert_eq!(v["tokenizer"]["model"], "BPE");
    assert_eq!(
        v["quantization"],
        serde_json::json!({"f32": {"tensors": N_TENSORS, "bytes": PARAMS * 4}})
    );
    let size: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(v["file_size"].as_u64(), Some(size));
    let tensors = v["tensors"].as_array().unwrap();
    assert_eq!(tensors.len() as u64, N_TENSORS);
    let total: u64 = tensors
        .iter()
        .map(|t| {
            t["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .product::<u64>()
        })
        .sum();
    assert_eq!(total, PARAMS);
    let find = |name: &str| {
        tensors
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(
        find("model.embed_tokens.weight")["shape"],
        serde_json::json!([512, 64])
    );
    assert_eq!(
        find("lm_head.weight")["shape"],
        serde_json::json!([512, 64])
    );
    assert_eq!(
        find("model.layers.1.self_attn.k_proj.weight")["shape"],
        serde_json::json!([32, 64])
    );
    assert_eq!(
        find("model.layers.0.mlp.down_proj.weight")["shape"],
        serde_json::json!([64, 128])
    );
    assert!(tensors.iter().all(|t| t["type"] == "f32"));
}

#[test]
fn human_output_shows_the_same_facts() {
    let r = run(&["inspect", s(&tiny_gguf("f32")), "--tensors"]).success();
    let line = |key: &str| {
        r.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no `{key}` line:\n{}", r.stdout))
            .to_string()
    };
    assert!(line("architecture").ends_with(" llama"));
    assert!(line("parameters").ends_with(" 139584"));
    assert!(line("context_length").ends_with(" 128"));
    assert!(
        line("tokenizer").contains("gpt2 (pre: gpt-2, vocab 512)"),
        "{}",
        line("tokenizer")
    );
    assert!(
        line("chat_template").contains("starts `{{- bos_token }}`"),
        "{}",
        line("chat_template")
    );
    assert!(line("license").ends_with("none declared"));
    assert!(
        line("blk.1.attn_v.weight").contains("f32    [32,64]"),
        "{}",
        line("blk.1.attn_v.weight")
    );
}

#[test]
fn inspect_refuses_a_file_whose_tensor_data_is_cut_short() {
    // Inspect reads only metadata, but the reader checks that every tensor lies inside the file,
    // so a file whose header is intact and whose data is 1 KiB short fails rather than reporting
    // a model that cannot be loaded. The last two tensors are `blk.1.attn_v.weight` (8192 bytes)
    // and `output_norm.weight` (256 bytes): both are cut, and the error names the first.
    let bytes = std::fs::read(tiny_gguf("f32")).unwrap();
    let dir = TempDir::new("inspect-cut");
    let cut = dir.join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() - 1024]).unwrap();
    let r = run(&["inspect", s(&cut), "--json"]);
    r.fails_with(&["cut.gguf", "blk.1.attn_v.weight", "outside"]);
}
