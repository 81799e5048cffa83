//! allmende-scan: checks model files for what could run code or mislead a loader, without
//! loading or executing anything.
//!
//! [`scan_path`] takes a file or a folder (every file under it) and returns a [`ScanReport`]:
//! per file its [`FileKind`] and [`Finding`]s ([`Severity::Info`], `Warning`, `Danger`), each
//! with a stable `code`, a message naming what was found, and a byte offset or line.
//!
//! - PyTorch checkpoints (zip with `data.pkl`) and bare pickles (`.pkl`, `.pt`, `.bin`, ...):
//!   every global, call and BUILD outside the tensor-rebuild allow-list (e.g. `posix.system`,
//!   `builtins.eval`), extension codes, pickles nested in string arguments or extra `.pkl`
//!   members, and zip anomalies (path traversal, encryption, duplicate names, absurd sizes).
//! - GGUF: the reader's validation, tensor placement, and the embedded chat template.
//! - Chat templates (`chat_template.jinja`, `chat_template.json`, `tokenizer_config.json`,
//!   GGUF metadata): sandbox-escape gadgets, template loading, DoS shapes.
//! - safetensors: header length and size, names, and the reader's full validation.
//! - `*.index.json`: shard names that would leave the folder.
#![deny(missing_docs)]

mod gguf;
mod json;
mod pickle;
mod report;
mod safetensors;
mod template;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use report::{FileKind, FileReport, Finding, ScanReport, Severity};
pub use template::check_template;

/// Deepest folder nesting followed.
const MAX_DEPTH: usize = 32;

/// The scan could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The path does not exist or cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Scan a file, or every file under a folder (symbolic links to files are followed and noted,
/// links to folders are not followed). Problems with individual files are findings; only a
/// root path that cannot be read at all is an error.
pub fn scan_path(path: impl AsRef<Path>) -> Result<ScanReport, ScanError> {
    let path = path.as_ref();
    let meta = std::fs::metadata(path).map_err(|source| ScanError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut report = ScanReport::default();
    if meta.is_dir() {
        walk(path, 0, &mut report);
    } else {
        report.files.push(scan_file(path));
    }
    Ok(report)
}

fn walk(dir: &Path, depth: usize, report: &mut ScanReport) {
    let entries = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) => {
            report.files.push(FileReport {
                path: dir.to_path_buf(),
                kind: FileKind::Other,
                findings: vec![Finding::new(
                    Severity::Warning,
                    "file.unreadable",
                    e.to_string(),
                )],
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let Ok(lmeta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if lmeta.file_type().is_symlink() {
            if p.is_dir() {
                let target = std::fs::read_link(&p).unwrap_or_default();
                report.files.push(FileReport {
                    path: p,
                    kind: FileKind::Symlink,
                    findings: vec![Finding::new(
                        Severity::Info,
                        "file.symlink-dir",
                        format!("link to folder `{}` not followed", target.display()),
                    )],
                });
                continue;
            }
        } else if lmeta.is_dir() {
            if depth + 1 >= MAX_DEPTH {
                report.files.push(FileReport {
                    path: p,
                    kind: FileKind::Other,
                    findings: vec![Finding::new(
                        Severity::Warning,
                        "file.too-deep",
                        format!("folders nested deeper than {MAX_DEPTH} were not scanned"),
                    )],
                });
            } else {
                walk(&p, depth + 1, report);
            }
            continue;
        }
        report.files.push(scan_file(&p));
    }
}

/// What the first bytes and the name say a file is.
fn classify(path: &Path, head: &[u8]) -> FileKind {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.ends_with(".index.json") {
        FileKind::WeightIndex
    } else if name == "tokenizer_config.json" || name == "chat_template.json" {
        FileKind::TemplateJson
    } else if ext == "jinja" || ext == "j2" {
        FileKind::ChatTemplate
    } else if head.starts_with(b"GGUF") {
        FileKind::Gguf
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        FileKind::PytorchZip
    } else if ext == "safetensors" {
        FileKind::Safetensors
    } else if matches!(head, [0x80, p, ..] if *p <= 5)
        || (matches!(
            ext.as_str(),
            "pkl" | "pickle" | "pt" | "pth" | "bin" | "ckpt" | "joblib"
        ) && pickle::looks_like_pickle(head))
        || matches!(ext.as_str(), "pkl" | "pickle")
    {
        FileKind::Pickle
    } else {
        FileKind::Other
    }
}

/// Scan one file (following a symbolic link, which is noted).
pub fn scan_file(path: &Path) -> FileReport {
    let mut findings = Vec::new();
    if let Ok(target) = std::fs::read_link(path) {
        if !path.exists() {
            return FileReport {
                path: path.to_path_buf(),
                kind: FileKind::Symlink,
                findings: vec![Finding::new(
                    Severity::Warning,
                    "file.symlink-dangling",
                    format!("link to `{}`, which does not exist", target.display()),
                )],
            };
        }
        findings.push(Finding::new(
            Severity::Info,
            "file.symlink",
            format!("link to `{}`; the target was scanned", target.display()),
        ));
    }
    let unreadable =
        |e: std::io::Error| Finding::new(Severity::Warning, "file.unreadable", e.to_string());
    let (kind, len) = match head_of(path) {
        Ok((head, len)) => (classify(path, &head), len),
        Err(e) => {
            findings.push(unreadable(e));
            return FileReport {
                path: path.to_path_buf(),
                kind: FileKind::Other,
                findings,
            };
        }
    };
    match kind {
        FileKind::Gguf => gguf::scan_gguf(path, &mut findings),
        FileKind::Safetensors => safetensors::scan_safetensors(path, len, &mut findings),
        FileKind::WeightIndex => json::scan_index(path, len, &mut findings),
        FileKind::TemplateJson => json::scan_template_json(path, len, &mut findings),
        FileKind::ChatTemplate => match read_text(path, len) {
            Ok(t) => check_template(&t, "chat template", &mut findings),
            Err(f) => findings.push(f),
        },
        FileKind::PytorchZip | FileKind::Pickle => match map(path) {
            Ok(m) => {
                if kind == FileKind::PytorchZip {
                    pickle::scan_zip(&m, &mut findings);
                } else {
                    pickle::scan_pickle_bytes(&m, "pickle", &mut findings);
                }
            }
            Err(e) => findings.push(unreadable(e)),
        },
        FileKind::Symlink | FileKind::Other => {}
    }
    FileReport {
        path: path.to_path_buf(),
        kind,
        findings,
    }
}

fn head_of(path: &Path) -> std::io::Result<(Vec<u8>, u64)> {
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut head = Vec::with_capacity(16);
    f.take(16).read_to_end(&mut head)?;
    Ok((head, len))
}

fn read_text(path: &Path, len: u64) -> Result<String, Finding> {
    const MAX: u64 = 64 << 20;
    if len > MAX {
        return Err(Finding::new(
            Severity::Warning,
            "template.length",
            format!("{len} bytes: too large to be a chat template, not checked"),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| Finding::new(Severity::Warning, "file.unreadable", e.to_string()))?;
    String::from_utf8(bytes)
        .map_err(|_| Finding::new(Severity::Warning, "template.not-utf8", "not UTF-8 text"))
}

/// The file's bytes: mapped (pickle streams are walked front to back, zip directories are
/// at the end; neither needs the whole file in memory at once).
fn map(path: &Path) -> std::io::Result<Mapped> {
    let f = std::fs::File::open(path)?;
    if f.metadata()?.len() == 0 {
        return Ok(Mapped::Empty);
    }
    // SAFETY: read-only private map; the scanner relies, like every mmap-based reader, on the
    // file not being truncated while it is scanned (a concurrent truncation is outside the
    // scanner's contract).
    let m = unsafe { memmap2::Mmap::map(&f) }?;
    Ok(Mapped::Map(m))
}

enum Mapped {
    Empty,
    Map(memmap2::Mmap),
}

impl std::ops::Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Mapped::Empty => &[],
            Mapped::Map(m) => m,
        }
    }
}
