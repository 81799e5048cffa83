//! The hub's repository listing (`GET /api/models/{repo}/revision/{rev}?blobs=true`), parsed into
//! checked values: a 40-hex commit and files with safe paths, sane sizes and well-formed hashes.
//! Everything here comes from the network, so every field that becomes a path is checked.

use std::collections::HashSet;

use serde::Deserialize;

use crate::reference::{check_rel_path, is_hex};

/// Largest listing body read (a repo with tens of thousands of files stays well below this).
pub const MAX_LISTING_BYTES: u64 = 32 << 20;

/// Largest single file believed (the hub itself caps files far below this).
pub const MAX_FILE_SIZE: u64 = 1 << 40;

/// How a file is verified: LFS files by their sha256, other files by their git blob id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileHash {
    /// sha256 of the content (lowercase hex), from `lfs.sha256`.
    Sha256(String),
    /// git blob id: sha1 of `"blob {len}\0"` + content (lowercase hex), from `blobId`.
    GitBlob(String),
}

impl FileHash {
    /// The hex digest; also the blob's file name in the cache.
    pub fn hex(&self) -> &str {
        match self {
            FileHash::Sha256(h) | FileHash::GitBlob(h) => h,
        }
    }

    /// `"sha256"` or `"git-blob"` (as written in the verified marker).
    pub fn kind(&self) -> &'static str {
        match self {
            FileHash::Sha256(_) => "sha256",
            FileHash::GitBlob(_) => "git-blob",
        }
    }

    /// Rebuild from a marker's `kind` and `hex`; `None` if either is malformed.
    pub(crate) fn from_parts(kind: &str, hex: &str) -> Option<FileHash> {
        match kind {
            "sha256" if is_hex(hex, 64) => Some(FileHash::Sha256(hex.to_string())),
            "git-blob" if is_hex(hex, 40) => Some(FileHash::GitBlob(hex.to_string())),
            _ => None,
        }
    }
}

/// One file of a repository as the hub advertises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Path inside the repository (`/`-separated, checked safe).
    pub path: String,
    /// Size in bytes (of the real content, also for LFS files).
    pub size: u64,
    /// What the content must hash to.
    pub hash: FileHash,
}

/// A checked listing: the commit a revision resolved to, and its files.
#[derive(Debug, Clone)]
pub struct Listing {
    /// 40-hex commit id.
    pub commit: String,
    /// The files, in the hub's order.
    pub files: Vec<RemoteFile>,
}

#[derive(Deserialize)]
struct RawListing {
    sha: Option<String>,
    siblings: Option<Vec<RawSibling>>,
}

#[derive(Deserialize)]
struct RawSibling {
    rfilename: String,
    size: Option<u64>,
    #[serde(rename = "blobId")]
    blob_id: Option<String>,
    lfs: Option<RawLfs>,
}

#[derive(Deserialize)]
struct RawLfs {
    sha256: String,
    size: u64,
}

/// Parse and check a listing body. The error is a reason for [`crate::HubError::BadListing`].
pub fn parse_listing(body: &[u8]) -> Result<Listing, String> {
    let raw: RawListing =
        serde_json::from_slice(body).map_err(|e| format!("not the expected JSON: {e}"))?;
    let commit = raw.sha.ok_or("no `sha` (commit) field")?;
    if !is_hex(&commit, 40) {
        return Err(format!(
            "commit `{}` is not 40 hex digits",
            truncate(&commit)
        ));
    }
    let siblings = raw
        .siblings
        .ok_or("no `siblings` field (was ?blobs=true honoured?)")?;
    let mut seen = HashSet::new();
    let mut files = Vec::with_capacity(siblings.len());
    for s in siblings {
        let path = s.rfilename;
        check_rel_path(&path).map_err(|r| format!("unsafe file name: {r}"))?;
        if !seen.insert(path.clone()) {
            return Err(format!("`{path}` is listed twice"));
        }
        let (size, hash) = match s.lfs {
            Some(lfs) => {
                if !is_hex(&lfs.sha256, 64) {
                    return Err(format!("`{path}`: lfs.sha256 is not 64 hex digits"));
                }
                if s.size.is_some_and(|sz| sz != lfs.size) {
                    return Err(format!("`{path}`: size and lfs.size differ"));
                }
                (lfs.size, FileHash::Sha256(lfs.sha256))
            }
            None => {
                let blob = s
                    .blob_id
                    .ok_or_else(|| format!("`{path}`: no blobId (was ?blobs=true honoured?)"))?;
                if !is_hex(&blob, 40) {
                    return Err(format!("`{path}`: blobId is not 40 hex digits"));
                }
                let size = s.size.ok_or_else(|| format!("`{path}`: no size"))?;
                (size, FileHash::GitBlob(blob))
            }
        };
        if size > MAX_FILE_SIZE {
            return Err(format!(
                "`{path}`: size {size} is absurd (over {MAX_FILE_SIZE} bytes)"
            ));
        }
        files.push(RemoteFile { path, size, hash });
    }
    Ok(Listing { commit, files })
}

/// At most 80 characters of hostile text for an error message.
fn truncate(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(80).collect::<String>())
    }
}
