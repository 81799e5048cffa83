//! `HubClient`: endpoint + token + HTTP agent; fetches a listing and pulls a reference into the
//! cache (listing → selection → per file: reuse a verified file, or download, verify, link).

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::cache::{link_blob, mtime_ns, Marker, MarkerFile, RepoCache};
use crate::download::{download, Target};
use crate::error::{HubError, Result};
use crate::http::{encode_path, encode_segment, status_error, Context, Http};
use crate::listing::{parse_listing, FileHash, Listing, RemoteFile, MAX_LISTING_BYTES};
use crate::reference::HubRef;
use crate::select::select;
use crate::verify::check_file;

/// The endpoint used when `HF_ENDPOINT` is unset.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// Environment variable naming the endpoint.
pub const ENV_ENDPOINT: &str = "HF_ENDPOINT";
/// Environment variable holding the access token.
pub const ENV_TOKEN: &str = "HF_TOKEN";
/// Network retries per file by default (each resumes the partial download).
pub const DEFAULT_RETRIES: u32 = 3;

/// A client for one hub endpoint. `Debug` never shows the token.
pub struct HubClient {
    endpoint: String,
    has_token: bool,
    http: Http,
    retries: u32,
}

impl fmt::Debug for HubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubClient")
            .field("endpoint", &self.endpoint)
            .field("token", &if self.has_token { "<set>" } else { "<none>" })
            .field("retries", &self.retries)
            .finish()
    }
}

/// One file of a pulled or cached snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    /// Path inside the repository (`/`-separated).
    pub path: String,
    /// The sha256 (LFS files) or git blob id it was verified against.
    pub hash: FileHash,
    /// Size in bytes.
    pub size: u64,
}

/// A verified snapshot in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledSnapshot {
    /// `ORG/REPO`.
    pub repo: String,
    /// The 40-hex commit the revision resolved to.
    pub commit: String,
    /// `<cache root>/hub/models--ORG--REPO/snapshots/<commit>`: the files live below it.
    pub dir: PathBuf,
    /// The files pulled (the one FILE of the reference, or the model-file selection).
    pub files: Vec<SnapshotFile>,
}

impl PulledSnapshot {
    /// What to load: the single file if there is one, else the only `.gguf`, else the folder
    /// (a safetensors model with its config and tokenizer).
    pub fn model_path(&self) -> PathBuf {
        let mut ggufs = self
            .files
            .iter()
            .filter(|f| f.path.to_ascii_lowercase().ends_with(".gguf"));
        let one = match (self.files.as_slice(), ggufs.next(), ggufs.next()) {
            ([only], _, _) => Some(&only.path),
            (_, Some(gguf), None) => Some(&gguf.path),
            _ => None,
        };
        match one {
            Some(path) => {
                let mut p = self.dir.clone();
                p.extend(path.split('/'));
                p
            }
            None => self.dir.clone(),
        }
    }
}

/// The hub `HF_ENDPOINT` names (an empty value counts as unset), else [`DEFAULT_ENDPOINT`],
/// without a trailing `/`.
pub fn endpoint_from_env() -> String {
    let endpoint = std::env::var(ENV_ENDPOINT)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    endpoint.trim().trim_end_matches('/').to_string()
}

impl HubClient {
    /// A client for `HF_ENDPOINT` (default [`DEFAULT_ENDPOINT`]) with the token in `HF_TOKEN`
    /// (an empty value counts as unset).
    pub fn from_env() -> Result<HubClient> {
        let endpoint = endpoint_from_env();
        let token = std::env::var(ENV_TOKEN)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        HubClient::new(&endpoint, token)
    }

    /// A client for `endpoint` (`http(s)://host[:port][/prefix]`; a trailing `/` is dropped),
    /// sending `token` as `Authorization: Bearer` to that origin only.
    pub fn new(endpoint: &str, token: Option<String>) -> Result<HubClient> {
        let endpoint = endpoint.trim().trim_end_matches('/').to_string();
        let bad = |reason: &str| HubError::BadEndpoint {
            endpoint: endpoint.clone(),
            reason: reason.to_string(),
        };
        if crate::http::origin(&endpoint).is_none() {
            return Err(bad("not an http:// or https:// URL with a host"));
        }
        if endpoint.contains(['?', '#', ' ']) || endpoint.chars().any(char::is_control) {
            return Err(bad(
                "it contains a query, a fragment, spaces or control characters",
            ));
        }
        if token
            .as_deref()
            .is_some_and(|t| t.chars().any(|c| c.is_control() || c == ' '))
        {
            return Err(bad("the token contains spaces or control characters"));
        }
        Ok(HubClient {
            http: Http::new(&endpoint, token.clone()),
            has_token: token.is_some(),
            endpoint,
            retries: DEFAULT_RETRIES,
        })
    }

    /// Set how often a file's download is retried (resuming) after a network error.
    pub fn with_retries(mut self, retries: u32) -> HubClient {
        self.retries = retries;
        self
    }

    /// The endpoint, without trailing `/`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whether a token is sent.
    pub fn has_token(&self) -> bool {
        self.has_token
    }

    fn context<'a>(&'a self, reference: &'a HubRef, file: Option<&'a str>) -> Context<'a> {
        Context {
            endpoint: &self.endpoint,
            repo: reference.repo(),
            revision: reference.revision(),
            file,
        }
    }

    /// The listing of the reference's repo at its revision (commit and files, checked).
    pub fn listing(&self, reference: &HubRef) -> Result<Listing> {
        let url = format!(
            "{}/api/models/{}/revision/{}?blobs=true",
            self.endpoint,
            reference.repo(),
            encode_segment(reference.revision())
        );
        let (url, resp) = self.http.get(&url, None)?;
        if resp.status().as_u16() != 200 {
            return Err(status_error(&url, resp, &self.context(reference, None)));
        }
        let mut body = Vec::new();
        resp.into_body()
            .into_reader()
            .take(MAX_LISTING_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(|e| HubError::Network {
                url: url.clone(),
                detail: format!("reading the listing: {e}"),
            })?;
        if body.len() as u64 > MAX_LISTING_BYTES {
            return Err(HubError::BadListing {
                url,
                reason: format!("larger than {MAX_LISTING_BYTES} bytes"),
            });
        }
        parse_listing(&body).map_err(|reason| HubError::BadListing { url, reason })
    }

    /// Pull `reference` into `<cache_root>/hub/`: list the revision, select the files, and for
    /// each reuse the verified cached copy or download (resuming), verify and link it into the
    /// snapshot. `progress` draws a bar per file on stderr when it is a terminal.
    pub fn pull(
        &self,
        reference: &HubRef,
        cache_root: &Path,
        progress: bool,
    ) -> Result<PulledSnapshot> {
        let listing = self.listing(reference)?;
        let chosen = select(reference, &listing)?;
        let commit = listing.commit.as_str();
        let repo = RepoCache::new(cache_root, reference);
        let blobs = repo.blobs_dir();
        fs::create_dir_all(&blobs).map_err(|e| HubError::io("create", &blobs, e))?;
        let mut marker = repo
            .read_marker(commit)
            .unwrap_or_else(|| Marker::new(commit));
        let mut files = Vec::with_capacity(chosen.len());
        for file in chosen {
            self.pull_file(reference, &repo, commit, file, &mut marker, progress)?;
            files.push(SnapshotFile {
                path: file.path.clone(),
                hash: file.hash.clone(),
                size: file.size,
            });
        }
        if reference.file().is_none() && !marker.complete {
            marker.complete = true;
            repo.write_marker(&marker)?;
        }
        if reference.revision() != commit {
            repo.write_ref(reference.revision(), commit)?;
        }
        Ok(PulledSnapshot {
            repo: reference.repo().to_string(),
            commit: commit.to_string(),
            dir: repo.snapshot_dir(commit),
            files,
        })
    }

    fn pull_file(
        &self,
        reference: &HubRef,
        repo: &RepoCache,
        commit: &str,
        file: &RemoteFile,
        marker: &mut Marker,
        progress: bool,
    ) -> Result<()> {
        // Already verified in this snapshot and unchanged (or re-verified): nothing to do. A
        // damaged copy is deleted by the check and fetched again below.
        if let Some(entry) = marker.find(&file.path) {
            if entry.hash().as_ref() == Some(&file.hash)
                && entry.size == file.size
                && repo.check_entry(commit, entry).is_ok()
            {
                return Ok(());
            }
        }
        let blob = repo.blob(&file.hash);
        if blob.exists() {
            // Another snapshot's blob, or left by an interrupted pull: trust it only after hashing.
            if let Err(e) = check_file(&blob, &file.path, &file.hash, file.size) {
                match e {
                    HubError::SizeMismatch { .. } | HubError::HashMismatch { .. } => {
                        crate::cache::remove_file_if_present(&blob)?;
                    }
                    other => return Err(other),
                }
            }
        }
        if !blob.exists() {
            let url = format!(
                "{}/{}/resolve/{}/{}",
                self.endpoint,
                reference.repo(),
                commit,
                encode_path(&file.path)
            );
            let incomplete = repo.incomplete(&file.hash);
            let target = Target {
                url: &url,
                file,
                incomplete: &incomplete,
                blob: &blob,
            };
            let ctx = self.context(reference, Some(&file.path));
            download(&self.http, &target, &ctx, self.retries, progress)?;
        }
        let dest = repo.snapshot_file(commit, &file.path);
        link_blob(&blob, &dest)?;
        let meta = fs::metadata(&dest).map_err(|e| HubError::io("stat", &dest, e))?;
        marker.upsert(MarkerFile {
            path: file.path.clone(),
            kind: file.hash.kind().to_string(),
            hash: file.hash.hex().to_string(),
            size: file.size,
            mtime_ns: mtime_ns(&meta),
        });
        repo.write_marker(marker)
    }
}
