//! Local imports: a `.gguf` file or a Hugging Face folder from the user's disk, copied (or
//! hard-linked) into `<root>/local/<name>/` under a name every command accepts afterwards.
//!
//! The store cannot pin a local model's hash in advance, so it records one: every file is hashed
//! while it is copied, and `<root>/local/<name>/.manifest.json` keeps each file's size, mtime and
//! sha256. [`resolve_local`] then checks the copy against the manifest the way the catalogue's
//! `.verified` marker is checked (a `stat` per file, a re-hash of a file whose size or mtime
//! moved), and refuses a copy that changed. Layout and rules: `docs/model-store.md`.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::catalogue::lookup;
use crate::error::{Result, StoreError};
use crate::paths::PARTIAL_SUFFIX;
use crate::verify::{sha256_file, stamp, HashingWriter, ModelState, BUF_SIZE};

/// Directory below the store root that holds local imports.
pub const LOCAL_DIR: &str = "local";

/// Name of the manifest inside `<root>/local/<name>/`.
pub const MANIFEST_FILE: &str = ".manifest.json";

/// Manifest format version written by this crate.
const MANIFEST_VERSION: u32 = 1;

/// Longest accepted import name.
const MAX_NAME_LEN: usize = 100;

/// Suffix of the previous copy while `force` replaces it.
const OLD_SUFFIX: &str = ".old";

/// Folders nested deeper than this below an imported folder are refused (a loop guard too).
const MAX_DEPTH: usize = 32;

/// A verified local import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalModel {
    /// The import's name (lowercase).
    pub name: String,
    /// The model file or folder in the store: `<root>/local/<name>/<original file or folder name>`.
    pub path: PathBuf,
    /// Every file: path relative to the model folder (the file name for a single file), size
    /// in bytes, lowercase hex sha256.
    pub files: Vec<(String, u64, String)>,
    /// The file or folder it was imported from (canonical path at import time).
    pub source: PathBuf,
    /// Import time, seconds since the Unix epoch.
    pub imported_at: u64,
}

impl LocalModel {
    /// Total bytes of the model's files.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|(_, size, _)| size).sum()
    }
}

/// One row of [`list_local`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEntry {
    /// The import as its manifest records it (the directory and no files when the manifest is
    /// unreadable).
    pub model: LocalModel,
    /// `Verified`, or `Corrupt` with what changed.
    pub state: ModelState,
}

/// One file in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ManifestFile {
    /// Path relative to the model folder (the file name for a single file), `/`-separated.
    path: String,
    size: u64,
    /// Modification time of the store's copy (ns since the Unix epoch).
    mtime_ns: u64,
    sha256: String,
    /// Whether the store's copy is a hard link to the source file.
    linked: bool,
}

/// `<root>/local/<name>/.manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    name: String,
    /// File or folder name of the model inside `<root>/local/<name>/`.
    model: String,
    /// Whether the model is a folder.
    folder: bool,
    source: String,
    imported_at: u64,
    files: Vec<ManifestFile>,
}

impl Manifest {
    fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| StoreError::io("read", &path, e))?;
        let bad = |detail: String| StoreError::BadManifest {
            path: path.clone(),
            detail,
        };
        let m: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if m.version != MANIFEST_VERSION {
            return Err(bad(format!(
                "version {}, expected {MANIFEST_VERSION}",
                m.version
            )));
        }
        // The manifest names paths that are joined below the import's folder.
        if !is_plain_rel(&m.model) || m.files.iter().any(|f| !is_plain_rel(&f.path)) {
            return Err(bad("a path leaves the import's folder".into()));
        }
        Ok(m)
    }

    /// Write atomically (temporary file, then rename).
    fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST_FILE);
        let tmp = dir.join(format!("{MANIFEST_FILE}{PARTIAL_SUFFIX}"));
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| StoreError::io("serialise manifest", &path, std::io::Error::other(e)))?;
        std::fs::write(&tmp, json).map_err(|e| StoreError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename", &tmp, e))
    }

    fn to_model(&self, dir: &Path) -> LocalModel {
        LocalModel {
            name: self.name.clone(),
            path: dir.join(&self.model),
            files: self
                .files
                .iter()
                .map(|f| (f.path.clone(), f.size, f.sha256.clone()))
                .collect(),
            source: PathBuf::from(&self.source),
            imported_at: self.imported_at,
        }
    }
}

/// A relative `/`-separated path without `.`, `..` or empty parts.
fn is_plain_rel(p: &str) -> bool {
    !p.is_empty()
        && p.split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\'))
}

/// `<root>/local`.
pub fn local_dir(root: &Path) -> PathBuf {
    root.join(LOCAL_DIR)
}

/// The import name `name` stands for: lowercased, and checked to be 1-100 of `[a-z0-9._-]`,
/// starting with a letter or digit and not ending in `.partial` or `.old`.
pub fn validate_name(name: &str) -> Result<String> {
    let lower = name.trim().to_ascii_lowercase();
    let invalid = |reason: &str| StoreError::InvalidName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if lower.is_empty() || lower.len() > MAX_NAME_LEN {
        return Err(invalid("it must be 1 to 100 characters long"));
    }
    if !lower
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(invalid(
            "only letters, digits, `.`, `_` and `-` are allowed",
        ));
    }
    if !lower.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(invalid("it must start with a letter or digit"));
    }
    if lower.ends_with(PARTIAL_SUFFIX) || lower.ends_with(OLD_SUFFIX) {
        return Err(invalid("names ending in .partial or .old are reserved"));
    }
    Ok(lower)
}

/// A source file to import: its path relative to the model and the regular file to read.
struct SourceFile {
    rel: String,
    real: PathBuf,
}

/// Import `src` (a file, or a folder with every regular file below it) into
/// `<root>/local/<name>/` and return it verified.
///
/// `name` defaults to the file's stem or the folder's name, lowercased; it must pass
/// [`validate_name`] and must not be a catalogue name or alias. Hidden files (names starting
/// with `.`) are skipped; a link inside the folder is followed only to a regular file inside the
/// folder; special files (FIFOs, sockets, devices) are refused. `link` hard-links each file
/// instead of copying it where the filesystem allows (else it is copied). An existing import of
/// the same name is an error unless `force`, which replaces it once the new copy is complete.
pub fn import_local(
    root: &Path,
    src: &Path,
    name: Option<&str>,
    link: bool,
    force: bool,
) -> Result<LocalModel> {
    let real = std::fs::canonicalize(src).map_err(|e| StoreError::io("open", src, e))?;
    let meta = std::fs::metadata(&real).map_err(|e| StoreError::io("stat", &real, e))?;
    let folder = meta.is_dir();
    if !folder && !meta.is_file() {
        return Err(StoreError::UnsupportedFile {
            path: real,
            kind: file_kind(&meta.file_type()),
        });
    }
    let model = real.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = match name {
        Some(n) => validate_name(n)?,
        None => {
            let stem = if folder {
                real.file_name()
            } else {
                real.file_stem()
            };
            let stem = stem
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            validate_name(&stem).map_err(|e| match e {
                StoreError::InvalidName { name, reason } => StoreError::InvalidName {
                    name,
                    reason: format!("{reason} (the name comes from the file or folder name; choose one with --name)"),
                },
                other => other,
            })?
        }
    };
    if let Some(entry) = lookup(&name) {
        return Err(StoreError::NameTaken {
            name,
            by: entry.name.to_string(),
        });
    }
    let model = model.unwrap_or_else(|| name.clone());
    let base = local_dir(root);
    let dir = base.join(&name);
    if !force && dir.exists() {
        return Err(existing(&dir, name));
    }
    let files = if folder {
        let files = collect_folder(&real)?;
        if files.is_empty() {
            return Err(StoreError::EmptyImport { path: real });
        }
        files
    } else {
        vec![SourceFile {
            rel: model.clone(),
            real: real.clone(),
        }]
    };

    let partial = base.join(format!("{name}{PARTIAL_SUFFIX}"));
    remove_tree(&partial)?;
    let assembled = assemble(&partial, &model, folder, &files, link).and_then(|manifest_files| {
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            name: name.clone(),
            model: model.clone(),
            folder,
            source: real.to_string_lossy().into_owned(),
            imported_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            files: manifest_files,
        };
        manifest.save(&partial)?;
        Ok(manifest)
    });
    let manifest = match assembled {
        Ok(m) => m,
        Err(e) => {
            let _ = remove_tree(&partial);
            return Err(e);
        }
    };
    // Swap in: the previous copy (with `force`) moves aside first, so a crash leaves either the
    // old import or the new one in place, never a mixture.
    let old = base.join(format!("{name}{OLD_SUFFIX}"));
    if dir.exists() {
        if !force {
            let _ = remove_tree(&partial);
            return Err(existing(&dir, name));
        }
        remove_tree(&old)?;
        std::fs::rename(&dir, &old).map_err(|e| StoreError::io("rename", &dir, e))?;
    }
    std::fs::rename(&partial, &dir).map_err(|e| StoreError::io("rename", &partial, e))?;
    remove_tree(&old)?;
    Ok(manifest.to_model(&dir))
}

fn existing(dir: &Path, name: String) -> StoreError {
    let source = Manifest::load(dir)
        .map(|m| m.source)
        .unwrap_or_else(|_| "?".into());
    StoreError::LocalExists {
        name,
        path: dir.to_path_buf(),
        imported_from: source,
    }
}

/// Copy (or link) every file into `partial/<model>`, hashing on the way.
fn assemble(
    partial: &Path,
    model: &str,
    folder: bool,
    files: &[SourceFile],
    link: bool,
) -> Result<Vec<ManifestFile>> {
    std::fs::create_dir_all(partial).map_err(|e| StoreError::io("create", partial, e))?;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let dst = if folder {
            partial.join(model).join(&f.rel)
        } else {
            partial.join(model)
        };
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::io("create", parent, e))?;
        }
        let (sha256, linked) = place(&f.real, &dst, link)?;
        let (size, mtime_ns) = stamp(&dst)?;
        out.push(ManifestFile {
            path: f.rel.clone(),
            size,
            mtime_ns,
            sha256,
            linked,
        });
    }
    Ok(out)
}

/// Put `src` (a regular file) at `dst`: a hard link when asked and possible, else a copy.
/// Returns the sha256 of what is at `dst` and whether it is a link.
fn place(src: &Path, dst: &Path, link: bool) -> Result<(String, bool)> {
    let before = std::fs::symlink_metadata(src).map_err(|e| StoreError::io("stat", src, e))?;
    if !before.is_file() {
        return Err(StoreError::UnsupportedFile {
            path: src.to_path_buf(),
            kind: file_kind(&before.file_type()),
        });
    }
    // Another filesystem (EXDEV), or one without hard links: copy instead.
    if link && std::fs::hard_link(src, dst).is_ok() {
        return Ok((sha256_file(dst)?, true));
    }
    let input = File::open(src).map_err(|e| StoreError::io("open", src, e))?;
    let opened = input
        .metadata()
        .map_err(|e| StoreError::io("stat", src, e))?;
    // The file checked above must be the file opened (not swapped for another in between).
    if !opened.is_file() || !same_file(&before, &opened) {
        return Err(StoreError::UnsupportedFile {
            path: src.to_path_buf(),
            kind: "file replaced during the import",
        });
    }
    let output = File::create_new(dst).map_err(|e| StoreError::io("create", dst, e))?;
    let mut writer = HashingWriter::new(
        BufWriter::with_capacity(BUF_SIZE, output),
        indicatif::ProgressBar::hidden(),
    );
    std::io::copy(&mut BufReader::with_capacity(BUF_SIZE, input), &mut writer)
        .map_err(|e| StoreError::io("copy", src, e))?;
    let (buffered, sha256, _) = writer
        .finish()
        .map_err(|e| StoreError::io("write", dst, e))?;
    let output = buffered
        .into_inner()
        .map_err(|e| StoreError::io("write", dst, e.into_error()))?;
    output
        .sync_all()
        .map_err(|e| StoreError::io("sync", dst, e))?;
    Ok((sha256, false))
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len()
}

/// What kind of non-regular file this is, for an error message.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_socket() {
            return "socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "device";
        }
    }
    if t.is_symlink() {
        "symbolic link"
    } else if t.is_dir() {
        "folder"
    } else {
        "special file"
    }
}

/// Every non-hidden regular file below `root` (canonical), sorted by relative path.
fn collect_folder(root: &Path) -> Result<Vec<SourceFile>> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, prefix, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| StoreError::io("list", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("list", &dir, e))?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if file_name.starts_with('.') {
                continue; // .git, .cache, editor files: not part of a model
            }
            let path = entry.path();
            let rel = if prefix.is_empty() {
                file_name
            } else {
                format!("{prefix}/{file_name}")
            };
            let kind = entry
                .file_type()
                .map_err(|e| StoreError::io("stat", &path, e))?;
            if kind.is_dir() {
                if depth + 1 > MAX_DEPTH {
                    return Err(StoreError::UnsupportedFile {
                        path,
                        kind: "folder nested too deep",
                    });
                }
                stack.push((path, rel, depth + 1));
            } else if kind.is_file() {
                out.push(SourceFile { rel, real: path });
            } else if kind.is_symlink() {
                out.push(SourceFile {
                    rel,
                    real: follow_inside(root, &path)?,
                });
            } else {
                return Err(StoreError::UnsupportedFile {
                    path,
                    kind: file_kind(&kind),
                });
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// The regular file a link inside `root` points to, which must be inside `root` too.
fn follow_inside(root: &Path, link: &Path) -> Result<PathBuf> {
    let target = std::fs::canonicalize(link).map_err(|_| StoreError::UnsupportedFile {
        path: link.to_path_buf(),
        kind: "dangling symbolic link",
    })?;
    if !target.starts_with(root) {
        return Err(StoreError::SymlinkEscapes {
            link: link.to_path_buf(),
            target,
            root: root.to_path_buf(),
        });
    }
    let meta = std::fs::metadata(&target).map_err(|e| StoreError::io("stat", &target, e))?;
    if !meta.is_file() {
        // A link to a folder could make the walk loop; a link to a FIFO would block the copy.
        let kind = if meta.is_dir() {
            "symbolic link to a folder"
        } else {
            file_kind(&meta.file_type())
        };
        return Err(StoreError::UnsupportedFile {
            path: link.to_path_buf(),
            kind,
        });
    }
    Ok(target)
}

/// Remove a file or directory tree if it exists (links are removed, never followed).
fn remove_tree(path: &Path) -> Result<()> {
    let res = match std::fs::symlink_metadata(path) {
        Err(_) => return Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    };
    res.map_err(|e| StoreError::io("remove", path, e))
}

/// A file of an import that changed, and how.
type Changed = (PathBuf, String);

/// Check the import in `dir` against its manifest: `Ok(Ok(refreshed))` when it verifies
/// (`refreshed`: a touched file re-hashed equal), `Ok(Err(changed))` when a file changed.
fn check(dir: &Path, manifest: &mut Manifest) -> Result<std::result::Result<bool, Changed>> {
    let mut refreshed = false;
    for f in &mut manifest.files {
        let path = if manifest.folder {
            dir.join(&manifest.model).join(&f.path)
        } else {
            dir.join(&manifest.model)
        };
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Ok(Err((path, "no longer a regular file".into()))),
            Err(_) => return Ok(Err((path, "missing".into()))),
        }
        let (size, mtime_ns) = stamp(&path)?;
        if size == f.size && mtime_ns == f.mtime_ns {
            continue;
        }
        if size != f.size {
            return Ok(Err((path, format!("{size} bytes, {} at import", f.size))));
        }
        let sha = sha256_file(&path)?;
        if sha != f.sha256 {
            return Ok(Err((path, format!("sha256 {sha}, {} at import", f.sha256))));
        }
        // Touched but unchanged: remember the new mtime so the next check is cheap again.
        f.mtime_ns = mtime_ns;
        refreshed = true;
    }
    if manifest.folder {
        let model_dir = dir.join(&manifest.model);
        if let Some(extra) = stored_entries(&model_dir)?
            .into_iter()
            .find(|rel| !manifest.files.iter().any(|f| f.path == *rel))
        {
            return Ok(Err((
                model_dir.join(extra),
                "not part of the import".into(),
            )));
        }
    }
    Ok(Ok(refreshed))
}

/// Every entry below `dir` that is not a folder (hidden ones too), as relative paths.
fn stored_entries(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| StoreError::io("list", &d, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("list", &d, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let kind = entry
                .file_type()
                .map_err(|e| StoreError::io("stat", entry.path(), e))?;
            if kind.is_dir() {
                stack.push((entry.path(), rel));
            } else {
                out.push(rel);
            }
        }
    }
    Ok(out)
}

/// Check `<root>/local/<dir_name>`; the manifest, refreshed if a touched file re-hashed equal.
fn verify_dir(dir: &Path) -> Result<(Manifest, std::result::Result<(), Changed>)> {
    let mut manifest = Manifest::load(dir)?;
    match check(dir, &mut manifest)? {
        Ok(refreshed) => {
            if refreshed {
                // Best effort: a read-only store still verifies, it just re-hashes next time.
                let _ = manifest.save(dir);
            }
            Ok((manifest, Ok(())))
        }
        Err(changed) => Ok((manifest, Err(changed))),
    }
}

/// The import called `name`, verified: `Ok(None)` when there is none, an error
/// ([`StoreError::LocalChanged`]) when a file changed since the import (the copy is then never
/// returned, and left on disk for the user to inspect or remove).
pub fn resolve_local(root: &Path, name: &str) -> Result<Option<LocalModel>> {
    let Ok(name) = validate_name(name) else {
        return Ok(None);
    };
    let dir = local_dir(root).join(&name);
    if !dir.is_dir() {
        return Ok(None);
    }
    let (manifest, state) = verify_dir(&dir)?;
    match state {
        Ok(()) => Ok(Some(manifest.to_model(&dir))),
        Err((path, reason)) => Err(StoreError::LocalChanged {
            name,
            path,
            reason,
            imported_from: manifest.source,
        }),
    }
}

/// Every import under `<root>/local`, sorted by name, with what a check found.
pub fn list_local(root: &Path) -> Result<Vec<LocalEntry>> {
    let base = local_dir(root);
    let Ok(entries) = std::fs::read_dir(&base) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list", &base, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let dir = entry.path();
        if validate_name(&name).ok().as_deref() != Some(name.as_str()) || !dir.is_dir() {
            continue; // `.partial` / `.old` leftovers and foreign files
        }
        let row = match verify_dir(&dir) {
            Ok((manifest, state)) => LocalEntry {
                model: manifest.to_model(&dir),
                state: match state {
                    Ok(()) => ModelState::Verified,
                    Err((path, reason)) => ModelState::Corrupt {
                        reason: format!("{}: {reason}", path.display()),
                    },
                },
            },
            Err(e) => LocalEntry {
                model: LocalModel {
                    name,
                    path: dir,
                    files: Vec::new(),
                    source: PathBuf::new(),
                    imported_at: 0,
                },
                state: ModelState::Corrupt {
                    reason: e.to_string(),
                },
            },
        };
        out.push(row);
    }
    out.sort_by(|a, b| a.model.name.cmp(&b.model.name));
    Ok(out)
}

/// Delete the import called `name` (the store's copy or links only; the source is untouched);
/// `Ok(false)` when there is none.
pub fn remove_local(root: &Path, name: &str) -> Result<bool> {
    let Ok(name) = validate_name(name) else {
        return Ok(false);
    };
    let dir = local_dir(root).join(name);
    if std::fs::symlink_metadata(&dir).is_err() {
        return Ok(false);
    }
    remove_tree(&dir)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercased_and_checked() {
        assert_eq!(validate_name("Tiny-Llama_Q8.0").unwrap(), "tiny-llama_q8.0");
        for bad in [
            "",
            "a b",
            "-x",
            ".x",
            "x/y",
            "x.partial",
            "x.old",
            "hf:org/x",
            "é",
        ] {
            assert!(
                matches!(validate_name(bad), Err(StoreError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(validate_name(&"a".repeat(100)).is_ok());
        assert!(validate_name(&"a".repeat(101)).is_err());
    }

    #[test]
    fn manifest_paths_stay_inside() {
        assert!(is_plain_rel("a/b.json"));
        for bad in ["", "/a", "a//b", "../a", "a/./b", "a\\b"] {
            assert!(!is_plain_rel(bad), "{bad:?}");
        }
    }
}
