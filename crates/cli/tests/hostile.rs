//! Hostile and broken model inputs through `logits`, `inspect` and `run --raw -n 1`: each must
//! exit with code 1 (not 101, a Rust panic, and not a signal) and print one `error:` line on
//! stderr that names the problem (the path, or what is wrong with it). Inputs: an empty
//! `x.gguf`, garbage bytes, the tiny f32 GGUF truncated at 10, 100, 1000 bytes and at half its
//! size, a folder without config.json, a folder with a corrupt config.json, a folder whose
//! model.safetensors is truncated, a nonexistent path, and an unknown model name.

// Test helpers outside #[test] functions may unwrap too (clippy.toml only covers #[test]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;

/// Runs MODEL through the three commands and checks the failure contract for each; every error
/// line must contain all of `needles`.
fn all_fail(home: &Path, model: &str, needles: &[&str]) {
    let cases: [&[&str]; 3] = [
        &["logits", model, "--ids", "1,2,3", "--json"],
        &["inspect", model, "--json"],
        &["run", model, "hello", "--raw", "-n", "1", "--json"],
    ];
    for args in cases {
        let r = run_in(home, args);
        r.fails_with(needles);
        assert!(
            r.stdout.is_empty(),
            "allmende {args:?} printed to stdout: {}",
            r.stdout
        );
    }
    // Nothing was downloaded or created in the cache.
    let entries: Vec<_> = std::fs::read_dir(home)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        entries.is_empty(),
        "{model}: the cache was touched: {entries:?}"
    );
}

fn tiny_bytes() -> Vec<u8> {
    std::fs::read(tiny_gguf("f32")).unwrap()
}

/// Copies the complete HF fixture folder into `dst`.
fn copy_hf(dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(tiny_hf()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

#[test]
fn empty_gguf() {
    let home = TempDir::new("home");
    let dir = TempDir::new("empty");
    let p = dir.join("x.gguf");
    std::fs::write(&p, b"").unwrap();
    all_fail(home.path(), s(&p), &["x.gguf", "4 bytes"]);
}

#[test]
fn garbage_bytes() {
    let home = TempDir::new("home");
    let dir = TempDir::new("garbage");
    // Deterministic pseudo-random bytes (xorshift), 4 KiB, in a .gguf and in an extensionless file.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    for name in ["garbage.gguf", "garbage.bin"] {
        let p = dir.join(name);
        std::fs::write(&p, &bytes).unwrap();
        all_fail(home.path(), s(&p), &[name, "GGUF"]);
    }
    // Right magic, nonsense after it.
    let p = dir.join("magic.gguf");
    let mut m = b"GGUF".to_vec();
    m.extend_from_slice(&bytes);
    std::fs::write(&p, &m).unwrap();
    all_fail(home.path(), s(&p), &["magic.gguf", "version"]);
}

#[test]
fn truncated_gguf() {
    let home = TempDir::new("home");
    let dir = TempDir::new("trunc");
    let bytes = tiny_bytes();
    assert_eq!(bytes.len(), 572_384);
    // 10: inside the header counts; 100: inside the metadata; 1000: inside the token list
    // (`tokenizer.ggml.tokens` starts at offset 712); half: inside the tensor data (the data
    // section starts at 14048); all but the last byte: the last tensor, `output_norm.weight`,
    // loses one byte.
    let cases = [
        (10, "remain"),
        (100, "remain"),
        (1000, "tokenizer.ggml.tokens"),
        (bytes.len() / 2, "outside"),
        (bytes.len() - 1, "output_norm.weight"),
    ];
    for (cut, problem) in cases {
        let name = format!("cut{cut}.gguf");
        let p = dir.join(&name);
        std::fs::write(&p, &bytes[..cut]).unwrap();
        all_fail(home.path(), s(&p), &[&name, problem]);
    }
}

#[test]
fn folder_without_config() {
    let home = TempDir::new("home");
    let dir = TempDir::new("noconfig");
    let m = dir.join("model");
    copy_hf(&m);
    std::fs::remove_file(m.join("config.json")).unwrap();
    all_fail(home.path(), s(&m), &["config.json"]);
    // An entirely empty folder, too.
    let e = dir.join("empty");
    std::fs::create_dir_all(&e).unwrap();
    all_fail(home.path(), s(&e), &["config.json"]);
}

#[test]
fn folder_with_corrupt_config() {
    let home = TempDir::new("home");
    let dir = TempDir::new("badconfig");
    let m = dir.join("model");
    copy_hf(&m);
    let cfg = std::fs::read_to_string(m.join("config.json")).unwrap();
    std::fs::write(m.join("config.json"), &cfg[..cfg.len() / 2]).unwrap();
    all_fail(home.path(), s(&m), &["config.json", "JSON"]);
    // Valid JSON, but not an object.
    std::fs::write(m.join("config.json"), "[1, 2, 3]").unwrap();
    all_fail(home.path(), s(&m), &["config.json", "not a JSON object"]);
}

#[test]
fn folder_with_truncated_safetensors() {
    let home = TempDir::new("home");
    let dir = TempDir::new("badweights");
    let m = dir.join("model");
    copy_hf(&m);
    let w = std::fs::read(m.join("model.safetensors")).unwrap();
    for cut in [4, 100, w.len() / 2] {
        std::fs::write(m.join("model.safetensors"), &w[..cut]).unwrap();
        all_fail(home.path(), s(&m), &["model.safetensors"]);
    }
}

#[test]
fn folder_without_weights() {
    let home = TempDir::new("home");
    let dir = TempDir::new("noweights");
    let m = dir.join("model");
    copy_hf(&m);
    std::fs::remove_file(m.join("model.safetensors")).unwrap();
    all_fail(home.path(), s(&m), &["model.safetensors", "missing"]);
}

#[test]
fn nonexistent_path_and_unknown_name() {
    let home = TempDir::new("home");
    let dir = TempDir::new("missing");
    let p = dir.join("does-not-exist.gguf");
    all_fail(
        home.path(),
        s(&p),
        &[
            "does-not-exist.gguf",
            "is neither a file, a folder, a hub reference (hf:ORG/REPO), nor a catalogue name",
        ],
    );
    all_fail(
        home.path(),
        "no-such-model-7b",
        &["`no-such-model-7b`", "catalogue"],
    );
    // perplexity resolves MODEL the same way.
    let text = dir.join("t.txt");
    std::fs::write(&text, "hello").unwrap();
    run_in(home.path(), &["perplexity", "no-such-model-7b", s(&text)])
        .fails_with(&["`no-such-model-7b`"]);
}
