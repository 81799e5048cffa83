//! API keys: `--api-key KEY` or a keys file (`--api-keys FILE`), checked in constant time, with
//! optional per-key request and token quotas over fixed windows.
//!
//! Keys file: one key per line; `#` starts a comment line; blank lines are skipped. After the key,
//! optional space-separated settings:
//!
//! ```text
//! # KEY                      settings
//! sk-alice-7f3a9c2e          name=alice requests=1000/day tokens=200000/day
//! sk-batch-jobs-1b4d         name=batch tokens=50000/hour
//! sk-admin-0c8e
//! ```
//!
//! `name=` labels the key in `/metrics` (default `key1`, `key2`, ... by line order; the key itself
//! is never shown). `requests=N/PERIOD` and `tokens=N/PERIOD` (PERIOD `minute`, `hour` or `day`)
//! limit a key per window; windows are aligned to the Unix epoch (a day runs 00:00–24:00 UTC).
//! Tokens are prompt plus generated tokens, counted when a request finishes, so the request that
//! crosses the limit completes and the next one is refused (429 `insufficient_quota`).

use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::ApiError;

/// A keys-file problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line could not be parsed.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file holds no key.
    #[error("{0}: no API key in the file")]
    Empty(String),
}

/// A quota: at most `limit` per window of `period_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Most requests or tokens per window.
    pub limit: u64,
    /// Window length in seconds.
    pub period_s: u64,
}

/// One accepted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// The secret.
    pub key: String,
    /// Label for metrics.
    pub name: String,
    /// Request quota.
    pub requests: Option<Quota>,
    /// Token quota.
    pub tokens: Option<Quota>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    req_window: u64,
    requests: u64,
    tok_window: u64,
    tokens: u64,
}

/// The accepted keys and their usage.
#[derive(Debug, Default)]
pub struct Keys {
    specs: Vec<KeySpec>,
    usage: Mutex<Vec<Usage>>,
}

/// Compares two byte strings in time that depends only on their lengths, not on where they
/// differ: every byte is visited and differences are OR-ed together.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    // Keep the optimiser from turning the loop back into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn parse_quota(v: &str) -> Result<Quota, String> {
    let (n, period) = v.split_once('/').ok_or_else(|| format!("quota {v:?} is not N/PERIOD"))?;
    let limit: u64 = n.parse().map_err(|_| format!("quota count {n:?} is not a number"))?;
    let period_s = match period {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        _ => return Err(format!("quota period {period:?} must be minute, hour or day")),
    };
    Ok(Quota { limit, period_s })
}

impl Keys {
    /// No keys: every request is let in.
    pub fn none() -> Self {
        Keys::default()
    }

    /// The given keys.
    pub fn new(specs: Vec<KeySpec>) -> Self {
        let usage = Mutex::new(vec![Usage::default(); specs.len()]);
        Keys { specs, usage }
    }

    /// One key named `default`, without quotas.
    pub fn single(key: &str) -> Self {
        Keys::new(vec![KeySpec { key: key.to_string(), name: "default".into(), requests: None, tokens: None }])
    }

    /// Parses a keys file's text (`path` is for messages).
    pub fn parse(text: &str, path: &str) -> Result<Self, KeysError> {
        let mut specs: Vec<KeySpec> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| KeysError::Syntax { path: path.to_string(), line: i + 1, message };
            let mut words = line.split_whitespace();
            let key = words.next().unwrap_or_default().to_string();
            let mut spec = KeySpec { key, name: format!("key{}", specs.len() + 1), requests: None, tokens: None };
            for w in words {
                let (k, v) =
                    w.split_once('=').ok_or_else(|| err(format!("expected name=, requests= or tokens=, got {w:?}")))?;
                match k {
                    "name" if !v.is_empty() => spec.name = v.to_string(),
                    "requests" => spec.requests = Some(parse_quota(v).map_err(&err)?),
                    "tokens" => spec.tokens = Some(parse_quota(v).map_err(&err)?),
                    _ => return Err(err(format!("unknown setting {w:?} (expected name=, requests= or tokens=)"))),
                }
            }
            if specs.iter().any(|s| s.key == spec.key) {
                return Err(err("the same key appears twice".into()));
            }
            if specs.iter().any(|s| s.name == spec.name) {
                return Err(err(format!("the name {:?} is used twice", spec.name)));
            }
            specs.push(spec);
        }
        if specs.is_empty() {
            return Err(KeysError::Empty(path.to_string()));
        }
        Ok(Keys::new(specs))
    }

    /// Reads a keys file.
    pub fn load(path: &Path) -> Result<Self, KeysError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeysError::Io { path: shown.clone(), source })?;
        Self::parse(&text, &shown)
    }

    /// Whether any key is required.
    pub fn enabled(&self) -> bool {
        !self.specs.is_empty()
    }

    /// The keys.
    pub fn specs(&self) -> &[KeySpec] {
        &self.specs
    }

    /// Checks an `Authorization` header value: `Ok(None)` when no keys are configured,
    /// `Ok(Some(index))` for a valid key, 401 otherwise. Every key is compared, whichever
    /// matches, so the time taken does not tell which key was close.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Option<usize>, ApiError> {
        if self.specs.is_empty() {
            return Ok(None);
        }
        let Some(h) = authorization else { return Err(ApiError::missing_key()) };
        let token = match h.get(..7) {
            Some(p) if p.eq_ignore_ascii_case(b"bearer ") => h[7..].trim_ascii(),
            _ => return Err(ApiError::missing_key()),
        };
        if token.is_empty() {
            return Err(ApiError::missing_key());
        }
        let mut found = usize::MAX;
        for (i, s) in self.specs.iter().enumerate() {
            if ct_eq(token, s.key.as_bytes()) {
                found = i;
            }
        }
        if found == usize::MAX {
            Err(ApiError::wrong_key())
        } else {
            Ok(Some(found))
        }
    }

    /// The metrics label of key `i`.
    pub fn name(&self, i: usize) -> &str {
        self.specs.get(i).map(|s| s.name.as_str()).unwrap_or("unknown")
    }

    fn usage<R>(&self, f: impl FnOnce(&mut Vec<Usage>) -> R) -> R {
        let mut g = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// Admits one request of key `i` at time `now` (Unix seconds) or refuses it with 429 when
    /// a quota is spent.
    pub fn admit_at(&self, i: usize, now: u64) -> Result<(), ApiError> {
        let Some(spec) = self.specs.get(i) else { return Ok(()) };
        self.usage(|u| {
            let Some(u) = u.get_mut(i) else { return Ok(()) };
            if let Some(q) = spec.tokens {
                let w = now / q.period_s;
                if u.tok_window != w {
                    u.tok_window = w;
                    u.tokens = 0;
                }
                if u.tokens >= q.limit {
                    return Err(ApiError::quota(format!(
                        "The token quota of key `{}` ({} per {} s) is used up; it renews with the next window.",
                        spec.name, q.limit, q.period_s
                    )));
                }
            }
            if let Some(q) = spec.requests {
                let w = now / q.period_s;
                if u.req_window != w {
                    u.req_window = w;
                    u.requests = 0;
                }
                if u.requests >= q.limit {
                    return Err(ApiError::quota(format!(
                        "The request quota of key `{}` ({} per {} s) is used up; it renews with the next window.",
                        spec.name, q.limit, q.period_s
                    )));
                }
                u.requests += 1;
            }
            Ok(())
        })
    }

    /// [`Self::admit_at`] now.
    pub fn admit(&self, i: usize) -> Result<(), ApiError> {
        self.admit_at(i, now_s())
    }

    /// Adds `tokens` to key `i`'s token window at time `now`.
    pub fn add_tokens_at(&self, i: usize, tokens: u64, now: u64) {
        let Some(spec) = self.specs.get(i) else { return };
        let Some(q) = spec.tokens else { return };
        self.usage(|u| {
            if let Some(u) = u.get_mut(i) {
                let w = now / q.period_s;
                if u.tok_window != w {
                    u.tok_window = w;
                    u.tokens = 0;
                }
                u.tokens = u.tokens.saturating_add(tokens);
            }
        });
    }

    /// [`Self::add_tokens_at`] now.
    pub fn add_tokens(&self, i: usize, tokens: u64) {
        self.add_tokens_at(i, tokens, now_s());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_compares_bytes_and_lengths() {
        assert!(ct_eq(b"secret", b"secret"));
        assert!(!ct_eq(b"secret", b"secreT"));
        assert!(!ct_eq(b"secret", b"secret2"));
        assert!(!ct_eq(b"", b"x"));
        assert!(ct_eq(b"", b""));
        // A shorter string padded with zero bytes must not equal the longer one.
        assert!(!ct_eq(b"ab", b"ab\0"));
    }

    #[test]
    fn keys_file_format() {
        let text =
            "# comment\n\nsk-one name=alice requests=2/minute tokens=100/day\n  sk-two  \nsk-three tokens=5/hour\n";
        let k = Keys::parse(text, "keys.txt").unwrap();
        let s = k.specs();
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0],
            KeySpec {
                key: "sk-one".into(),
                name: "alice".into(),
                requests: Some(Quota { limit: 2, period_s: 60 }),
                tokens: Some(Quota { limit: 100, period_s: 86_400 }),
            }
        );
        assert_eq!(s[1].name, "key2");
        assert_eq!(s[1].key, "sk-two");
        assert_eq!(s[2].tokens, Some(Quota { limit: 5, period_s: 3600 }));
    }

    #[test]
    fn keys_file_errors_name_the_line() {
        let e = Keys::parse("a\nb colour=red\n", "k").unwrap_err().to_string();
        assert!(e.starts_with("k:2: unknown setting"), "{e}");
        let e = Keys::parse("a requests=5/week\n", "k").unwrap_err().to_string();
        assert!(e.contains("k:1:") && e.contains("minute, hour or day"), "{e}");
        let e = Keys::parse("a\na\n", "k").unwrap_err().to_string();
        assert!(e.contains("k:2: the same key appears twice"), "{e}");
        let e = Keys::parse("# only comments\n", "k").unwrap_err().to_string();
        assert_eq!(e, "k: no API key in the file");
    }

    #[test]
    fn authenticate_header_forms() {
        let k = Keys::parse("sk-one\nsk-two\n", "k").unwrap();
        assert_eq!(k.authenticate(Some(b"Bearer sk-two")).unwrap(), Some(1));
        assert_eq!(k.authenticate(Some(b"bearer sk-one")).unwrap(), Some(0));
        assert_eq!(k.authenticate(Some(b"Bearer sk-three")).unwrap_err().code, Some("invalid_api_key"));
        assert_eq!(k.authenticate(Some(b"Basic abc")).unwrap_err().code, Some("missing_api_key"));
        assert_eq!(k.authenticate(None).unwrap_err().code, Some("missing_api_key"));
        assert_eq!(Keys::none().authenticate(None).unwrap(), None);
    }

    #[test]
    fn quotas_per_window() {
        let k = Keys::parse("a requests=2/minute\nb tokens=10/hour\n", "k").unwrap();
        assert!(k.admit_at(0, 60).is_ok());
        assert!(k.admit_at(0, 61).is_ok());
        assert_eq!(k.admit_at(0, 119).unwrap_err().status.as_u16(), 429);
        assert!(k.admit_at(0, 120).is_ok(), "a new minute renews the quota");

        assert!(k.admit_at(1, 0).is_ok());
        k.add_tokens_at(1, 9, 0);
        assert!(k.admit_at(1, 10).is_ok());
        k.add_tokens_at(1, 5, 10);
        let e = k.admit_at(1, 20).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (429, Some("insufficient_quota")));
        assert!(k.admit_at(1, 3600).is_ok());
    }
}
