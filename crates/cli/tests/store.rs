//! `allmende list`, `rm` and `pull` against an empty, private cache (`ALLMENDE_HOME` in a
//! scratch directory; nothing here downloads): the four catalogue entries and their fields,
//! where the cache lives (`ALLMENDE_HOME`, else `$XDG_CACHE_HOME/allmende`), `rm` of an absent
//! and of a present model, and `pull`/`rm` of names outside the catalogue.

// Test helpers outside #[test] functions may unwrap too (clippy.toml only covers #[test]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// The catalogue (crates/store/src/catalogue.rs): name, format, licence, output file or folder.
const CATALOGUE: [(&str, &str, &str, &str); 4] = [
    ("smollm2-135m-instruct", "gguf", "Apache-2.0", ".gguf"),
    ("gemma3-270m", "gguf", "gemma", ".gguf"),
    ("qwen2.5-coder-0.5b-instruct", "gguf", "unknown", ".gguf"),
    ("all-minilm-l6-v2", "hf-folder", "Apache-2.0", ""),
];

fn list_json(home: &Path) -> Vec<Value> {
    run_in(home, &["list", "--json"])
        .success()
        .json()
        .as_array()
        .expect("list --json is an array")
        .clone()
}

#[test]
fn list_json_on_an_empty_cache() {
    let home = TempDir::new("home");
    let rows = list_json(home.path());
    assert_eq!(rows.len(), 4, "{rows:?}");
    for (row, (name, format, licence, ext)) in rows.iter().zip(CATALOGUE) {
        assert_eq!(row["name"], name, "{row}");
        assert_eq!(row["present"], false, "{row}");
        assert_eq!(row["verified"], false, "{row}");
        assert_eq!(row["license"], licence, "{row}");
        assert_eq!(row["format"], format, "{row}");
        assert!(
            row["size"].as_u64().unwrap() > 1_000_000,
            "catalogue size of {name}: {row}"
        );
        assert!(!row["description"].as_str().unwrap().is_empty(), "{row}");
        let path = Path::new(row["path"].as_str().unwrap());
        assert!(
            path.starts_with(home.path().join("models").join(name)),
            "{name} stored outside ALLMENDE_HOME: {}",
            path.display()
        );
        assert!(path.to_str().unwrap().ends_with(ext), "{}", path.display());
        assert!(!path.exists());
    }
    // Listing creates nothing.
    assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 0);
}

#[test]
fn list_table_marks_everything_absent() {
    let home = TempDir::new("home");
    let r = run_in(home.path(), &["list"]).success();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", r.stdout);
    assert!(lines[0].starts_with("NAME"), "{}", r.stdout);
    for (line, (name, ..)) in lines[1..].iter().zip(CATALOGUE) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[0], name);
        assert_eq!(cols[2], "MB", "{line}");
        assert_eq!(cols[3], "-", "{line}: an absent model's state is `-`");
    }
}

#[test]
fn xdg_cache_home_is_the_fallback() {
    let xdg = TempDir::new("xdg");
    let out = std::process::Command::new(BIN)
        .args(["list", "--json"])
        .env("ALLMENDE_HOME", "")
        .env("XDG_CACHE_HOME", xdg.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    for row in rows.as_array().unwrap() {
        let path = Path::new(row["path"].as_str().unwrap());
        assert!(
            path.starts_with(xdg.path().join("allmende").join("models")),
            "{}",
            path.display()
        );
    }
}

#[test]
fn rm_of_an_absent_model_succeeds_with_a_note() {
    let home = TempDir::new("home");
    let r = run_in(home.path(), &["rm", "smollm2-135m-instruct"]).success();
    assert!(
        r.stderr
            .contains("smollm2-135m-instruct was not in the cache"),
        "{}",
        r.stderr
    );
    // By alias and case-insensitively: the message names the catalogue entry.
    let r = run_in(home.path(), &["rm", "SmolLM2"]).success();
    assert!(
        r.stderr
            .contains("smollm2-135m-instruct was not in the cache"),
        "{}",
        r.stderr
    );
}

#[test]
fn rm_removes_a_present_model_directory() {
    let home = TempDir::new("home");
    let dir = home.path().join("models").join("gemma3-270m");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("partial-download.gguf"), b"not really a model").unwrap();
    // Something is stored, but it does not verify.
    let rows = list_json(home.path());
    let gemma = rows.iter().find(|r| r["name"] == "gemma3-270m").unwrap();
    assert_eq!(gemma["verified"], false, "{gemma}");
    let r = run_in(home.path(), &["rm", "gemma3-270m"]).success();
    assert!(r.stderr.contains("removed gemma3-270m"), "{}", r.stderr);
    assert!(!dir.exists());
    let rows = list_json(home.path());
    assert!(rows.iter().all(|r| r["present"] == false), "{rows:?}");
}

#[test]
fn names_outside_the_catalogue() {
    let home = TempDir::new("home");
    let r = run_in(home.path(), &["pull", "llama-9000b"]);
    r.fails_with(&["`llama-9000b`", "not in the catalogue"]);
    let r = run_in(home.path(), &["rm", "llama-9000b"]);
    r.fails_with(&["`llama-9000b`", "not in the catalogue"]);
    // A path is not a catalogue name either.
    let gguf = tiny_gguf("f32");
    let r = run_in(home.path(), &["pull", s(&gguf)]);
    r.fails_with(&["not in the catalogue"]);
    assert_eq!(
        std::fs::read_dir(home.path()).unwrap().count(),
        0,
        "nothing created in the cache"
    );
}
