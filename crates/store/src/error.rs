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
    /// A local import's name is not acceptable.
    #[error("`{name}` is not a valid model name: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A local import's name is a catalogue name or alias.
    #[error("`{name}` is taken by the catalogue model `{by}`; choose another name with --name")]
    NameTaken {
        /// The name asked for.
        name: String,
        /// The catalogue entry it names.
        by: String,
    },
    /// A local import of that name exists already.
    #[error("a local model named `{name}` exists already (imported from {imported_from}, stored in {}); remove it first or replace it with --force", path.display())]
    LocalExists {
        /// The name.
        name: String,
        /// Its folder in the store.
        path: PathBuf,
        /// What it was imported from, as its manifest says.
        imported_from: String,
    },
    /// A file to import is not a regular file (FIFO, socket, device, link to a folder, ...).
    #[error("{}: refusing to import a {kind}; only regular files are imported", path.display())]
    UnsupportedFile {
        /// The file.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// A symbolic link inside an imported folder points outside it.
    #[error("{}: refusing a symbolic link to {}, outside the imported folder {}", link.display(), target.display(), root.display())]
    SymlinkEscapes {
        /// The link.
        link: PathBuf,
        /// Where it points (resolved).
        target: PathBuf,
        /// The folder being imported.
        root: PathBuf,
    },
    /// An imported folder holds no (non-hidden) file.
    #[error("{}: no files to import", path.display())]
    EmptyImport {
        /// The folder.
        path: PathBuf,
    },
    /// A file of a local import changed since it was imported; the import is not used.
    #[error("local model `{name}`: {} changed since it was imported ({reason}), so it is not used; `rm {name}` deletes the store's copy (not the original, {imported_from}) so it can be imported again", path.display())]
    LocalChanged {
        /// The import's name.
        name: String,
        /// The changed file in the store.
        path: PathBuf,
        /// What changed.
        reason: String,
        /// What it was imported from.
        imported_from: String,
    },
    /// A local import's manifest cannot be read.
    #[error("{}: unreadable import manifest: {detail}", path.display())]
    BadManifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        detail: String,
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
