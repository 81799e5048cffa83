//! Verification of stored models: sha256 hashing and the `.verified` marker.
//!
//! The marker (`models/<name>/.verified`, JSON) records, for every file of a model, its size,
//! modification time and sha256 at the time it was verified. A later check re-hashes only files
//! whose size or mtime changed, so confirming a present model costs a few `stat` calls. Pinned files
//! must also match the catalogue's sha256; unpinned files of a folder (config.json, ...) must still
//! match the hash recorded when they were extracted.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalogue::CatalogueEntry;
use crate::error::{Result, StoreError};
use crate::paths::{MARKER_FILE, PARTIAL_SUFFIX};

/// Marker format version written by this crate.
const MARKER_VERSION: u32 = 1;

/// Buffer size for streaming copies and hashing.
pub(crate) const BUF_SIZE: usize = 1 << 20;

/// What a check found for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelState {
    /// Nothing is stored for the model.
    Missing,
    /// Present and every file matches its pinned (or recorded) sha256.
    Verified,
    /// Present but some file is missing or has the wrong content; `reason` says which.
    Corrupt {
        /// Human-readable explanation (file, expected and actual hash).
        reason: String,
    },
}

/// One file recorded in the marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MarkedFile {
    /// Path relative to the model directory, `/`-separated.
    pub path: String,
    /// Size in bytes when verified.
    pub size: u64,
    /// Modification time (nanoseconds since the Unix epoch) when verified.
    pub mtime_ns: u64,
    /// Lowercase hex sha256.
    pub sha256: String,
}

/// The `.verified` marker of a model directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Marker {
    /// Format version.
    pub version: u32,
    /// Every file of the model.
    pub files: Vec<MarkedFile>,
}

impl Marker {
    /// A marker with the given files.
    pub fn new(files: Vec<MarkedFile>) -> Self {
        Marker {
            version: MARKER_VERSION,
            files,
        }
    }

    /// Read the marker of `model_dir`; `None` if absent, unreadable or of another version.
    pub fn load(model_dir: &Path) -> Option<Marker> {
        let text = std::fs::read_to_string(model_dir.join(MARKER_FILE)).ok()?;
        let marker: Marker = serde_json::from_str(&text).ok()?;
        (marker.version == MARKER_VERSION).then_some(marker)
    }

    /// Write the marker of `model_dir` atomically (temporary file, then rename).
    pub fn save(&self, model_dir: &Path) -> Result<()> {
        let path = model_dir.join(MARKER_FILE);
        let tmp = model_dir.join(format!("{MARKER_FILE}{PARTIAL_SUFFIX}"));
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| StoreError::io("serialise marker", &path, std::io::Error::other(e)))?;
        std::fs::write(&tmp, json).map_err(|e| StoreError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename", &tmp, e))
    }

    fn get(&self, rel: &str) -> Option<&MarkedFile> {
        self.files.iter().find(|f| f.path == rel)
    }
}

/// Size and mtime (ns since epoch) of a file.
pub(crate) fn stamp(path: &Path) -> Result<(u64, u64)> {
    let meta = std::fs::metadata(path).map_err(|e| StoreError::io("stat", path, e))?;
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Ok((meta.len(), mtime_ns))
}

/// A [`MarkedFile`] for `model_dir/rel` with a known hash (stat only).
pub(crate) fn marked(model_dir: &Path, rel: &str, sha256: String) -> Result<MarkedFile> {
    let (size, mtime_ns) = stamp(&model_dir.join(rel))?;
    Ok(MarkedFile {
        path: rel.to_string(),
        size,
        mtime_ns,
        sha256,
    })
}

/// Lowercase hex encoding.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// sha256 of a file's content, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let file = File::open(path).map_err(|e| StoreError::io("open", path, e))?;
    let mut reader = BufReader::with_capacity(BUF_SIZE, file);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| StoreError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// A writer that hashes (sha256) and counts everything written through it.
pub(crate) struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
    on_write: indicatif::ProgressBar,
}

impl<W: Write> HashingWriter<W> {
    /// Wrap `inner`; every write also advances `bar` by the bytes written.
    pub fn new(inner: W, bar: indicatif::ProgressBar) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
            on_write: bar,
        }
    }

    /// Flush and return the inner writer, the hex sha256 and the byte count.
    pub fn finish(mut self) -> std::io::Result<(W, String, u64)> {
        self.inner.flush()?;
        Ok((self.inner, hex(&self.hasher.finalize()), self.written))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        self.on_write.inc(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// All regular files below `dir`, as `/`-separated paths relative to `base`, sorted.
pub(crate) fn walk_files(dir: &Path, base: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| StoreError::io("list", &d, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("list", &d, e))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|e| StoreError::io("stat", &path, e))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                if let Ok(rel) = path.strip_prefix(base) {
                    let parts: Vec<_> = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect();
                    out.push(parts.join("/"));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Check the stored copy of `entry` in `model_dir`, cheaply when the marker still matches, and
/// refresh the marker if files had to be re-hashed.
pub(crate) fn check(model_dir: &Path, entry: &CatalogueEntry) -> Result<ModelState> {
    let output: PathBuf = model_dir.join(entry.output_name());
    if !output.exists() {
        return Ok(ModelState::Missing);
    }
    let old = Marker::load(model_dir);
    let mut files = Vec::new();
    let pinned = entry.pinned_files();
    // Pinned files: must exist and match the catalogue.
    for (rel, expected) in &pinned {
        let path = model_dir.join(rel);
        if !path.is_file() {
            return Ok(ModelState::Corrupt {
                reason: format!("{} is missing", path.display()),
            });
        }
        let (size, mtime_ns) = stamp(&path)?;
        let recorded = old.as_ref().and_then(|m| m.get(rel));
        let sha = match recorded {
            Some(f) if f.size == size && f.mtime_ns == mtime_ns && f.sha256 == *expected => {
                f.sha256.clone()
            }
            _ => sha256_file(&path)?,
        };
        if sha != *expected {
            return Ok(ModelState::Corrupt {
                reason: format!("{}: sha256 {sha}, expected {expected}", path.display()),
            });
        }
        files.push(MarkedFile {
            path: rel.clone(),
            size,
            mtime_ns,
            sha256: sha,
        });
    }
    // Unpinned files of a folder: must match what the marker recorded (or are recorded now).
    if output.is_dir() {
        for rel in walk_files(&output, model_dir)? {
            if pinned.iter().any(|(p, _)| *p == rel) {
                continue;
            }
            let path = model_dir.join(&rel);
            let (size, mtime_ns) = stamp(&path)?;
            let sha = match old.as_ref().and_then(|m| m.get(&rel)) {
                Some(f) if f.size == size && f.mtime_ns == mtime_ns => f.sha256.clone(),
                Some(f) => {
                    let sha = sha256_file(&path)?;
                    if sha != f.sha256 {
                        return Ok(ModelState::Corrupt {
                            reason: format!(
                                "{}: sha256 {sha}, recorded {}",
                                path.display(),
                                f.sha256
                            ),
                        });
                    }
                    sha
                }
                None => sha256_file(&path)?,
            };
            files.push(MarkedFile {
                path: rel,
                size,
                mtime_ns,
                sha256: sha,
            });
        }
        // A file recorded at extraction time that has disappeared.
        if let Some(m) = &old {
            if let Some(gone) = m
                .files
                .iter()
                .find(|f| !files.iter().any(|g| g.path == f.path))
            {
                return Ok(ModelState::Corrupt {
                    reason: format!("{} is missing", model_dir.join(&gone.path).display()),
                });
            }
        }
    }
    let fresh = Marker::new(files);
    if old.as_ref() != Some(&fresh) {
        // Best effort: a read-only store still verifies, it just re-hashes next time.
        let _ = fresh.save(model_dir);
    }
    Ok(ModelState::Verified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_sha256_of_known_input() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        let dir =
            std::env::temp_dir().join(format!("allmende-store-verify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("abc");
        std::fs::write(&f, b"abc").unwrap();
        // FIPS 180-2 test vector.
        assert_eq!(
            sha256_file(&f).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut w = HashingWriter::new(Vec::new(), indicatif::ProgressBar::hidden());
        w.write_all(b"abc").unwrap();
        let (bytes, sha, n) = w.finish().unwrap();
        assert_eq!((bytes, n), (b"abc".to_vec(), 3));
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
