//! Cache operations that never touch the network: resolve a reference to a verified snapshot
//! (`--offline`), list what is cached, remove a repo, a snapshot or a file.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::cache::{hub_dir, remove_file_if_present, MarkerFile, RepoCache};
use crate::client::{PulledSnapshot, SnapshotFile};
use crate::error::{HubError, Result};
use crate::reference::HubRef;

/// One cached repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedRepo {
    /// `ORG/REPO`.
    pub repo: String,
    /// `<cache root>/hub/models--ORG--REPO`.
    pub dir: PathBuf,
    /// `(revision, commit)` for each ref.
    pub refs: Vec<(String, String)>,
    /// The verified snapshots.
    pub snapshots: Vec<CachedSnapshot>,
}

/// One verified snapshot of a cached repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedSnapshot {
    /// 40-hex commit.
    pub commit: String,
    /// `snapshots/<commit>`.
    pub dir: PathBuf,
    /// Whether a pull without FILE finished (the whole model-file selection is there).
    pub complete: bool,
    /// The verified files.
    pub files: Vec<SnapshotFile>,
    /// Every file is present with the size and mtime recorded at verification (no hashing done).
    pub intact: bool,
    /// Sum of the file sizes.
    pub size: u64,
}

fn not_cached(reference: &HubRef, cache_root: &Path, reason: impl Into<String>) -> HubError {
    HubError::NotCached {
        reference: reference.to_string(),
        root: hub_dir(cache_root),
        reason: reason.into(),
    }
}

fn snapshot_file(entry: &MarkerFile) -> Option<SnapshotFile> {
    Some(SnapshotFile {
        path: entry.path.clone(),
        hash: entry.hash()?,
        size: entry.size,
    })
}

/// Find the verified snapshot of `reference` in `<cache_root>/hub/` without any network: the
/// revision goes through `refs/<revision>` (a 40-hex revision is the commit), the files through
/// the marker. Files changed since verification are re-hashed; a file that fails is deleted and
/// the error returned. Without FILE, the snapshot must hold a whole pull.
pub fn resolve_offline(reference: &HubRef, cache_root: &Path) -> Result<PulledSnapshot> {
    let repo = RepoCache::new(cache_root, reference);
    if !repo.dir.is_dir() {
        return Err(not_cached(
            reference,
            cache_root,
            "repository not in the cache",
        ));
    }
    let revision = reference.revision();
    let commit = repo.commit_for(revision).ok_or_else(|| {
        not_cached(
            reference,
            cache_root,
            format!("no ref for revision `{revision}`"),
        )
    })?;
    let marker = repo.read_marker(&commit).ok_or_else(|| {
        not_cached(
            reference,
            cache_root,
            format!("snapshot {commit} was never verified"),
        )
    })?;
    let entries: Vec<&MarkerFile> = match reference.file() {
        Some(file) => vec![marker.find(file).ok_or_else(|| {
            not_cached(
                reference,
                cache_root,
                format!("`{file}` of {commit} was not pulled"),
            )
        })?],
        None if marker.complete => marker.files.iter().collect(),
        None => {
            return Err(not_cached(
                reference,
                cache_root,
                format!("only single files of {commit} were pulled"),
            ))
        }
    };
    let mut files = Vec::with_capacity(entries.len());
    for entry in entries {
        repo.check_entry(&commit, entry).map_err(|e| match e {
            HubError::Io { .. } => not_cached(
                reference,
                cache_root,
                format!("`{}` is missing from snapshot {commit}", entry.path),
            ),
            other => other,
        })?;
        files.extend(snapshot_file(entry));
    }
    Ok(PulledSnapshot {
        repo: reference.repo().to_string(),
        commit: commit.clone(),
        dir: repo.snapshot_dir(&commit),
        files,
    })
}

/// The repositories in `<cache_root>/hub/`, sorted, each with its refs and verified snapshots.
/// Only `stat`s files (no hashing). A missing hub folder is an empty list.
pub fn list_cached(cache_root: &Path) -> Result<Vec<CachedRepo>> {
    let hub = hub_dir(cache_root);
    let entries = match fs::read_dir(&hub) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(HubError::io("read", &hub, e)),
    };
    let mut repos = Vec::new();
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Some(reference) = name
            .strip_prefix("models--")
            .and_then(|rest| rest.split_once("--"))
            .and_then(|(org, repo)| HubRef::parse(&format!("hf:{org}/{repo}")).ok())
        else {
            continue;
        };
        let cache = RepoCache::new(cache_root, &reference);
        let snapshots = cache
            .marked_commits()
            .into_iter()
            .filter_map(|commit| {
                let marker = cache.read_marker(&commit)?;
                let intact = marker.files.iter().all(|f| {
                    fs::metadata(cache.snapshot_file(&commit, &f.path)).is_ok_and(|m| {
                        m.len() == f.size && crate::cache::mtime_ns(&m) == f.mtime_ns
                    })
                });
                let files: Vec<SnapshotFile> =
                    marker.files.iter().filter_map(snapshot_file).collect();
                Some(CachedSnapshot {
                    dir: cache.snapshot_dir(&commit),
                    complete: marker.complete,
                    size: files.iter().map(|f| f.size).sum(),
                    files,
                    intact,
                    commit,
                })
            })
            .collect();
        repos.push(CachedRepo {
            repo: reference.repo().to_string(),
            refs: cache.refs(),
            dir: cache.dir,
            snapshots,
        });
    }
    repos.sort_by(|a, b| a.repo.cmp(&b.repo));
    Ok(repos)
}

/// Remove from the cache: `hf:ORG/REPO` removes the whole repository folder;
/// `hf:ORG/REPO@REV` the snapshot REV resolves to (with its refs); `...:FILE` only that file of
/// the snapshot. Blobs no verified snapshot uses any more are deleted. Returns the bytes freed
/// (blob sizes). Nothing to remove is [`HubError::NotCached`].
pub fn remove(reference: &HubRef, cache_root: &Path) -> Result<u64> {
    let repo = RepoCache::new(cache_root, reference);
    if !repo.dir.is_dir() {
        return Err(not_cached(
            reference,
            cache_root,
            "repository not in the cache",
        ));
    }
    if reference.explicit_revision().is_none() && reference.file().is_none() {
        let freed = dir_size(&repo.blobs_dir());
        fs::remove_dir_all(&repo.dir).map_err(|e| HubError::io("remove", &repo.dir, e))?;
        return Ok(freed);
    }
    let revision = reference.revision();
    let commit = repo.commit_for(revision).ok_or_else(|| {
        not_cached(
            reference,
            cache_root,
            format!("no ref for revision `{revision}`"),
        )
    })?;
    match reference.file() {
        Some(file) => {
            let mut marker = repo.read_marker(&commit).ok_or_else(|| {
                not_cached(
                    reference,
                    cache_root,
                    format!("snapshot {commit} was never verified"),
                )
            })?;
            if marker.find(file).is_none() {
                return Err(not_cached(
                    reference,
                    cache_root,
                    format!("`{file}` was not pulled"),
                ));
            }
            marker.files.retain(|f| f.path != file);
            // The selection is no longer whole.
            marker.complete = false;
            remove_file_if_present(&repo.snapshot_file(&commit, file))?;
            if marker.files.is_empty() {
                // Its last file: the snapshot goes as a whole.
                remove_snapshot(&repo, &commit)?;
            } else {
                repo.write_marker(&marker)?;
            }
        }
        None => remove_snapshot(&repo, &commit)?,
    }
    let freed = collect_garbage(&repo)?;
    if repo.marked_commits().is_empty() {
        fs::remove_dir_all(&repo.dir).map_err(|e| HubError::io("remove", &repo.dir, e))?;
    }
    Ok(freed)
}

/// Delete `snapshots/<commit>`, its marker and the refs pointing to it (not the blobs).
fn remove_snapshot(repo: &RepoCache, commit: &str) -> Result<()> {
    let snapshot = repo.snapshot_dir(commit);
    if snapshot.is_dir() {
        fs::remove_dir_all(&snapshot).map_err(|e| HubError::io("remove", &snapshot, e))?;
    }
    repo.remove_marker(commit)?;
    repo.remove_refs_to(commit)
}

/// Delete blobs (and partial downloads of them) that no marker lists; returns the bytes freed.
fn collect_garbage(repo: &RepoCache) -> Result<u64> {
    let used: HashSet<String> = repo
        .marked_commits()
        .iter()
        .filter_map(|c| repo.read_marker(c))
        .flat_map(|m| m.files.into_iter().map(|f| f.hash))
        .collect();
    let blobs = repo.blobs_dir();
    let Ok(entries) = fs::read_dir(&blobs) else {
        return Ok(0);
    };
    let mut freed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let key = name
            .strip_suffix(crate::cache::INCOMPLETE_SUFFIX)
            .unwrap_or(&name);
        if !used.contains(key) {
            freed += e.metadata().map(|m| m.len()).unwrap_or(0);
            remove_file_if_present(&e.path())?;
        }
    }
    Ok(freed)
}

fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
