//! The on-disk cache, in huggingface_hub's layout under `<cache root>/hub/models--ORG--REPO/`
//! (`blobs/`, `snapshots/<commit>/`, `refs/<revision>`), plus allmende's `verified/<commit>.json`
//! marker listing the files of a snapshot that were verified. See docs/hub-cache.md.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::error::{HubError, Result};
use crate::listing::FileHash;
use crate::reference::{check_rel_path, is_hex, HubRef};
use crate::verify::check_file;

/// Folder under the allmende cache root that holds the hub cache.
pub const HUB_DIR: &str = "hub";

/// Suffix of a blob being downloaded (huggingface_hub uses the same).
pub const INCOMPLETE_SUFFIX: &str = ".incomplete";

/// The cache folder of one repository.
#[derive(Debug, Clone)]
pub(crate) struct RepoCache {
    pub dir: PathBuf,
}

/// One verified file of a snapshot, as recorded in the marker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct MarkerFile {
    pub path: String,
    pub kind: String,
    pub hash: String,
    pub size: u64,
    pub mtime_ns: u64,
}

/// `verified/<commit>.json`: what was verified in `snapshots/<commit>/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Marker {
    pub commit: String,
    /// A pull without FILE finished: the snapshot holds the repository's whole model-file selection.
    pub complete: bool,
    pub files: Vec<MarkerFile>,
}

impl Marker {
    pub(crate) fn new(commit: &str) -> Marker {
        Marker {
            commit: commit.to_string(),
            complete: false,
            files: Vec::new(),
        }
    }

    pub(crate) fn find(&self, path: &str) -> Option<&MarkerFile> {
        self.files.iter().find(|f| f.path == path)
    }

    pub(crate) fn upsert(&mut self, entry: MarkerFile) {
        self.files.retain(|f| f.path != entry.path);
        self.files.push(entry);
    }
}

impl MarkerFile {
    pub(crate) fn hash(&self) -> Option<FileHash> {
        FileHash::from_parts(&self.kind, &self.hash)
    }
}

/// `<root>/hub`.
pub(crate) fn hub_dir(cache_root: &Path) -> PathBuf {
    cache_root.join(HUB_DIR)
}

impl RepoCache {
    pub(crate) fn new(cache_root: &Path, reference: &HubRef) -> RepoCache {
        RepoCache {
            dir: hub_dir(cache_root).join(reference.cache_folder_name()),
        }
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.dir.join("blobs")
    }

    pub(crate) fn blob(&self, hash: &FileHash) -> PathBuf {
        self.blobs_dir().join(hash.hex())
    }

    pub(crate) fn incomplete(&self, hash: &FileHash) -> PathBuf {
        self.blobs_dir()
            .join(format!("{}{INCOMPLETE_SUFFIX}", hash.hex()))
    }

    pub(crate) fn snapshot_dir(&self, commit: &str) -> PathBuf {
        self.dir.join("snapshots").join(commit)
    }

    /// `snapshots/<commit>/<path>`; `path` was checked safe by the listing or the marker reader.
    pub(crate) fn snapshot_file(&self, commit: &str, path: &str) -> PathBuf {
        let mut p = self.snapshot_dir(commit);
        p.extend(path.split('/'));
        p
    }

    pub(crate) fn refs_dir(&self) -> PathBuf {
        self.dir.join("refs")
    }

    fn ref_path(&self, revision: &str) -> PathBuf {
        let mut p = self.refs_dir();
        p.extend(revision.split('/'));
        p
    }

    fn marker_path(&self, commit: &str) -> PathBuf {
        self.dir.join("verified").join(format!("{commit}.json"))
    }

    /// The commit a revision points to: a 40-hex revision is itself, else `refs/<revision>`.
    pub(crate) fn commit_for(&self, revision: &str) -> Option<String> {
        if is_hex(revision, 40) {
            return Some(revision.to_string());
        }
        let text = fs::read_to_string(self.ref_path(revision)).ok()?;
        let commit = text.trim();
        is_hex(commit, 40).then(|| commit.to_string())
    }

    pub(crate) fn write_ref(&self, revision: &str, commit: &str) -> Result<()> {
        write_atomic(&self.ref_path(revision), commit.as_bytes())
    }

    /// All `(revision, commit)` pairs under `refs/`.
    pub(crate) fn refs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut stack = vec![(self.refs_dir(), String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let Some(name) = e.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                let rev = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                };
                let path = e.path();
                if path.is_dir() {
                    stack.push((path, rev));
                } else if let Some(commit) = self.commit_for(&rev) {
                    out.push((rev, commit));
                }
            }
        }
        out.sort();
        out
    }

    /// Delete the refs that point to `commit`.
    pub(crate) fn remove_refs_to(&self, commit: &str) -> Result<()> {
        for (rev, c) in self.refs() {
            if c == commit {
                let p = self.ref_path(&rev);
                fs::remove_file(&p).map_err(|e| HubError::io("remove", &p, e))?;
            }
        }
        Ok(())
    }

    /// The marker of `commit`, if present and well-formed (entries with unsafe paths or malformed
    /// hashes make the whole marker invalid: it is ours, so it was tampered with).
    pub(crate) fn read_marker(&self, commit: &str) -> Option<Marker> {
        let bytes = fs::read(self.marker_path(commit)).ok()?;
        let marker: Marker = serde_json::from_slice(&bytes).ok()?;
        let sane = marker.commit == commit
            && marker
                .files
                .iter()
                .all(|f| check_rel_path(&f.path).is_ok() && f.hash().is_some());
        sane.then_some(marker)
    }

    pub(crate) fn write_marker(&self, marker: &Marker) -> Result<()> {
        let json = serde_json::to_vec_pretty(marker)
            .map_err(|e| HubError::io("serialise", self.marker_path(&marker.commit), e.into()))?;
        write_atomic(&self.marker_path(&marker.commit), &json)
    }

    pub(crate) fn remove_marker(&self, commit: &str) -> Result<()> {
        remove_file_if_present(&self.marker_path(commit))
    }

    /// Commits that have a marker.
    pub(crate) fn marked_commits(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.dir.join("verified")) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                let commit = name.strip_suffix(".json")?;
                is_hex(commit, 40).then(|| commit.to_string())
            })
            .collect();
        out.sort();
        out
    }

    /// Check a snapshot file against its marker entry: size and mtime equal → trusted without
    /// reading; otherwise re-hashed. A file that fails is deleted (with its blob: a hard link
    /// shares the damage) and the error returned. On success returns the current mtime.
    pub(crate) fn check_entry(&self, commit: &str, entry: &MarkerFile) -> Result<u64> {
        let path = self.snapshot_file(commit, &entry.path);
        let meta = fs::metadata(&path).map_err(|e| HubError::io("stat", &path, e))?;
        let mtime = mtime_ns(&meta);
        if meta.len() == entry.size && mtime == entry.mtime_ns {
            return Ok(mtime);
        }
        let Some(hash) = entry.hash() else {
            return Err(HubError::io(
                "verify",
                &path,
                std::io::Error::other("malformed marker entry"),
            ));
        };
        if let Err(e) = check_file(&path, &entry.path, &hash, entry.size) {
            if matches!(
                e,
                HubError::SizeMismatch { .. } | HubError::HashMismatch { .. }
            ) {
                remove_file_if_present(&path)?;
                remove_file_if_present(&self.blob(&hash))?;
            }
            return Err(e);
        }
        Ok(mtime)
    }
}

/// Modification time in ns since the epoch (0 if unknown).
pub(crate) fn mtime_ns(meta: &fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Make `dest` hold the blob: a hard link (no copy, same inode), else a copy.
pub(crate) fn link_blob(blob: &Path, dest: &Path) -> Result<()> {
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(|e| HubError::io("create", parent, e))?;
    }
    remove_file_if_present(dest)?;
    if fs::hard_link(blob, dest).is_err() {
        fs::copy(blob, dest).map_err(|e| HubError::io("copy to", dest, e))?;
    }
    Ok(())
}

/// Write via a temporary sibling and rename, so readers never see half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| HubError::io("create", parent, e))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut f = fs::File::create(&tmp).map_err(|e| HubError::io("create", &tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| HubError::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| HubError::io("rename", &tmp, e))
}

pub(crate) fn remove_file_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(HubError::io("remove", path, e)),
    }
}
