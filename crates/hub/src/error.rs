//! The hub client's error type: one enum, each variant naming what is wrong and what to do.
//! No variant ever carries the token (errors get printed and logged).

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = HubError> = std::result::Result<T, E>;

/// Everything that can go wrong while parsing a reference, talking to the hub, verifying files or
/// reading the cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The reference is not of the form `hf:ORG/REPO[@REVISION][:FILE]`.
    #[error("bad hub reference `{reference}`: {reason} (expected hf:ORG/REPO[@REVISION][:FILE])")]
    BadReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The endpoint (`HF_ENDPOINT`) is not an http(s) URL.
    #[error("bad hub endpoint `{endpoint}`: {reason}")]
    BadEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The hub does not know the repository, or does not show it without a token.
    #[error("repository {repo} not found on {endpoint} (or it is gated/private: set HF_TOKEN)")]
    RepoNotFound {
        /// `ORG/REPO`.
        repo: String,
        /// The endpoint asked.
        endpoint: String,
    },
    /// The repository is gated: the token's user has not accepted its terms (or no token was sent).
    #[error(
        "repository {repo} on {endpoint} is gated: accept its terms on the hub and set HF_TOKEN"
    )]
    Gated {
        /// `ORG/REPO`.
        repo: String,
        /// The endpoint asked.
        endpoint: String,
    },
    /// The repository exists but the revision (branch, tag or commit) does not.
    #[error("revision `{revision}` not found in repository {repo} on {endpoint}")]
    RevisionNotFound {
        /// `ORG/REPO`.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The endpoint asked.
        endpoint: String,
    },
    /// The file asked for is not in the repository at that revision.
    #[error("file `{file}` not found in {repo}@{revision}")]
    FileNotFound {
        /// `ORG/REPO`.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The file asked for.
        file: String,
    },
    /// No FILE was given and the repository holds several GGUF files (quantisations, or a split model).
    #[error("repository {repo} has {} .gguf files; pick one with hf:{repo}[@REVISION]:FILE: {}", files.len(), files.join(", "))]
    AmbiguousGguf {
        /// `ORG/REPO`.
        repo: String,
        /// The GGUF files of the repository.
        files: Vec<String>,
    },
    /// No FILE was given and the repository has no weights file that passes the model-file filter.
    #[error("repository {repo}@{revision} has no model weights (.safetensors, .gguf or .bin); name a file with :FILE")]
    NoModelFiles {
        /// `ORG/REPO`.
        repo: String,
        /// The revision asked for.
        revision: String,
    },
    /// The hub answered with an unexpected HTTP status.
    #[error("{url}: HTTP {status}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    Http {
        /// The URL requested (no credentials are ever part of it).
        url: String,
        /// The status code.
        status: u16,
        /// The hub's `X-Error-Message`, or the start of the body; may be empty.
        detail: String,
    },
    /// The request failed below HTTP: DNS, connect, TLS, a cut connection, oversized headers.
    #[error("{url}: {detail}")]
    Network {
        /// The URL requested.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// A redirect could not be followed (no or bad `Location`, too many hops, https to http).
    #[error("{url}: cannot follow redirect: {reason}")]
    Redirect {
        /// The URL that answered with the redirect.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The hub's file listing is not what the protocol promises (bad JSON, bad hash, unsafe path,
    /// absurd size). Nothing is downloaded from such a listing.
    #[error("bad listing from {url}: {reason}")]
    BadListing {
        /// The listing URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A downloaded or cached file does not have the size the hub advertises.
    #[error("{file}: size {actual} bytes, the hub advertises {expected}; the file was deleted")]
    SizeMismatch {
        /// Path of the file inside the repository.
        file: String,
        /// Advertised size.
        expected: u64,
        /// Size received (or found), at least; a transfer is cut one byte past the advertised size.
        actual: u64,
    },
    /// A downloaded or cached file does not hash to what the hub advertises.
    #[error("{file}: {kind} is {actual}, the hub advertises {expected}; the file was deleted")]
    HashMismatch {
        /// Path of the file inside the repository.
        file: String,
        /// `sha256` (LFS files) or `git blob id` (other files).
        kind: &'static str,
        /// Advertised hash, lowercase hex.
        expected: String,
        /// Hash of the bytes received, lowercase hex.
        actual: String,
    },
    /// Offline resolution found no verified snapshot for the reference.
    #[error("{reference} is not in the cache at {} ({reason}); pull it first", root.display())]
    NotCached {
        /// The reference asked for.
        reference: String,
        /// The hub cache directory searched.
        root: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("create", "rename", ...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl HubError {
    /// Wrap an I/O error with the operation and path.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HubError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
