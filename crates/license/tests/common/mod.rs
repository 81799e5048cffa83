//! Shared test helpers: fixture access and throw-away model folders.

#![allow(dead_code, clippy::unwrap_used)] // Test helpers (clippy.toml only covers #[test] fns).

use std::path::{Path, PathBuf};

/// The text of a fixture file.
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fresh, empty folder under the target's tmp dir, unique per test name.
pub fn folder(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("license-tests")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Write `files` (name, content) into a fresh folder.
pub fn folder_with(test: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = folder(test);
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
    dir
}

/// GGUF-style metadata pairs.
pub fn meta(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
