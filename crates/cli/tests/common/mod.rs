//! Shared helpers for the `allmende` binary's integration tests: running the binary with an
//! isolated model cache, fixture paths (relative to this crate), scratch directories, and a
//! minimal reader for the `reference.safetensors` logits written by the fixture generator
//! (safetensors layout: u64 LE header length, JSON header, raw little-endian data).

#![allow(dead_code)] // Each test file uses a different subset of these helpers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers (clippy.toml only covers #[test] fns).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// Path of the binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_allmende");

/// `crates/cli` in the source tree.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tiny llama-gqa GGUF (f32, f16 or q8_0) with an embedded gpt2 tokenizer and chat template.
pub fn tiny_gguf(kind: &str) -> PathBuf {
    manifest_dir().join(format!(
        "../models/tests/fixtures/gguf/tiny-llama-gqa-{kind}.gguf"
    ))
}

/// A complete HF folder of the same tiny llama-gqa model (config, weights, tokenizer.json,
/// tokenizer_config.json, chat_template.jinja).
pub fn tiny_hf() -> PathBuf {
    manifest_dir().join("../formats/tests/fixtures/llama-gqa")
}

/// The transformers reference for the tiny llama-gqa model (`reference.json` and
/// `reference.safetensors`).
pub fn reference_dir() -> PathBuf {
    manifest_dir().join("../models/tests/fixtures/hf/llama-gqa")
}

/// The transformers tokenizer reference (encodings and chat renderings) for the same tokenizer
/// that the HF folder and the GGUF carry.
pub fn tokenizer_reference() -> Value {
    read_json(&manifest_dir().join("../tokenizer/tests/fixtures/hf/reference.json"))
}

/// Parses a JSON file.
pub fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// A scratch directory under cargo's per-target temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh, empty directory whose name contains `tag`.
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cli-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `self.path().join(name)`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One finished run of the binary.
pub struct Run {
    /// The arguments, for failure messages.
    pub args: Vec<String>,
    /// Exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics (with both streams) unless the exit code is 0.
    pub fn success(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "allmende {:?} failed\nstdout: {}\nstderr: {}",
            self.args,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "allmende {:?}: stdout is not JSON ({e}): {}",
                self.args, self.stdout
            )
        })
    }

    /// Asserts the failure contract: exit code exactly 1 (not 101, the code of a Rust panic, and
    /// not a signal), nothing that looks like a panic, and a single `error: ...` line on stderr
    /// that contains every one of `needles` (case-insensitive). Returns the error line.
    pub fn fails_with(&self, needles: &[&str]) -> String {
        let ctx = format!(
            "allmende {:?}\nstdout: {}\nstderr: {}",
            self.args, self.stdout, self.stderr
        );
        assert_eq!(self.code, Some(1), "expected exit code 1: {ctx}");
        assert!(!self.stderr.contains("panicked"), "panic: {ctx}");
        assert!(!self.stderr.contains("RUST_BACKTRACE"), "panic: {ctx}");
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let errors: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(errors.len(), 1, "expected one `error:` line: {ctx}");
        assert_eq!(
            lines.last().copied(),
            errors.first().copied(),
            "the error must be the last line: {ctx}"
        );
        let line = errors[0].to_string();
        let lower = line.to_lowercase();
        for n in needles {
            assert!(
                lower.contains(&n.to_lowercase()),
                "error line lacks {n:?}: {ctx}"
            );
        }
        line
    }
}

/// Runs `allmende ARGS` with `ALLMENDE_HOME` set to `home` (so nothing outside the test's own
/// scratch directory can be read or written as the model cache) and no network-relevant
/// variables inherited from a developer's shell.
pub fn run_in(home: &Path, args: &[&str]) -> Run {
    let out: Output = Command::new(BIN)
        .args(args)
        .env("ALLMENDE_HOME", home)
        .env("XDG_CACHE_HOME", home.join("xdg"))
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LOG")
        .output()
        .unwrap_or_else(|e| panic!("spawning {BIN}: {e}"));
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `allmende ARGS` with `ALLMENDE_HOME = home`, none of the machine's config, policy,
/// offline or hub-token settings, and the extra environment `env`.
pub fn run_isolated(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("ALLMENDE_HOME", home)
        .env("XDG_CACHE_HOME", home.join("xdg"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("ALLMENDE_CONFIG")
        .env_remove("ALLMENDE_POLICY")
        .env_remove("ALLMENDE_OFFLINE")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("HF_TOKEN")
        .env_remove("RUST_BACKTRACE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = cmd.output().unwrap_or_else(|e| panic!("spawning {BIN}: {e}"));
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `allmende ARGS` with a fresh, empty `ALLMENDE_HOME`.
pub fn run(args: &[&str]) -> Run {
    let home = TempDir::new("home");
    run_in(home.path(), args)
}

/// `p` as a `&str` (fixture paths are ASCII).
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Reads the f32 tensor `name` of a safetensors file: (shape, row-major values).
pub fn safetensors_f32(path: &Path, name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let t = &header[name];
    assert_eq!(t["dtype"], "F32", "{name} in {}", path.display());
    let shape: Vec<usize> = t["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let off = t["data_offsets"].as_array().unwrap();
    let (a, b) = (
        off[0].as_u64().unwrap() as usize,
        off[1].as_u64().unwrap() as usize,
    );
    let data = &bytes[8 + n + a..8 + n + b];
    let values: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(values.len(), shape.iter().product::<usize>());
    (shape, values)
}

/// The reference prompt `name` (`len1`, `len7`, `len33`): its input ids and all-position logits
/// `[n_tokens][512]` as computed by transformers in f32.
pub fn reference_prompt(name: &str) -> (Vec<u32>, Vec<Vec<f32>>) {
    let meta = read_json(&reference_dir().join("reference.json"));
    let prompt = meta["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap();
    let ids: Vec<u32> = prompt["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let (shape, values) = safetensors_f32(
        &reference_dir().join("reference.safetensors"),
        &format!("{name}.logits"),
    );
    assert_eq!(shape[0], ids.len());
    let rows = values.chunks_exact(shape[1]).map(<[f32]>::to_vec).collect();
    (ids, rows)
}

/// `1,2,3` for `--ids`.
pub fn ids_arg(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// The rows of `allmende logits ... --json` output.
pub fn logits_rows(v: &Value) -> Vec<Vec<f32>> {
    v["logits"]
        .as_array()
        .expect("`logits` array")
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().expect("finite logit") as f32)
                .collect()
        })
        .collect()
}

/// Runs `allmende logits MODEL --ids IDS --all-positions --json` and returns the rows.
pub fn logits_all(model: &Path, ids: &[u32]) -> Vec<Vec<f32>> {
    let r = run(&[
        "logits",
        s(model),
        "--ids",
        &ids_arg(ids),
        "--all-positions",
        "--json",
        "-t",
        "1",
    ])
    .success();
    logits_rows(&r.json())
}

/// Index of the largest value and the gap to the second largest.
pub fn argmax_margin(row: &[f32]) -> (usize, f32) {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    let second = row
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != best)
        .map(|(_, &v)| v)
        .fold(f32::NEG_INFINITY, f32::max);
    (best, row[best] - second)
}

/// Largest absolute difference between two equally long rows.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A JSON array of integers as `Vec<u32>`.
pub fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}
