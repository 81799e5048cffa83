//! allmende-hub: a Hugging Face hub client. Pulls `hf:ORG/REPO[@REVISION][:FILE]` over the
//! hub's HTTP protocol (as the `huggingface_hub` client uses it: the revision listing with blob
//! ids, `resolve/<commit>/<file>` with redirects to the CDN), resumes cut transfers with `Range`,
//! verifies every file (LFS files by sha256, the others by git blob id, sizes too) and caches them
//! in huggingface_hub's layout under `<cache root>/hub/`. Offline resolution, listing and removal
//! never touch the network. The layout is documented in `docs/hub-cache.md`.
//!
//! ```no_run
//! use allmende_hub::{HubClient, HubRef};
//! let reference = HubRef::parse("hf:HuggingFaceTB/SmolLM2-135M-Instruct")?;
//! let root = std::path::Path::new("/home/me/.cache/allmende");
//! let snapshot = HubClient::from_env()?.pull(&reference, root, true)?;
//! assert_eq!(allmende_hub::resolve_offline(&reference, root)?.commit, snapshot.commit);
//! # Ok::<(), allmende_hub::HubError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cache;
mod client;
mod download;
mod error;
mod http;
mod listing;
mod offline;
mod reference;
mod select;
mod verify;

pub use cache::{HUB_DIR, INCOMPLETE_SUFFIX};
pub use client::{
    endpoint_from_env, HubClient, PulledSnapshot, SnapshotFile, DEFAULT_ENDPOINT, DEFAULT_RETRIES, ENV_ENDPOINT,
    ENV_TOKEN,
};
pub use error::{HubError, Result};
pub use http::{MAX_HEADER_BYTES, MAX_REDIRECTS};
pub use listing::{parse_listing, FileHash, Listing, RemoteFile, MAX_FILE_SIZE, MAX_LISTING_BYTES};
pub use offline::{list_cached, remove, resolve_offline, CachedRepo, CachedSnapshot};
pub use reference::{HubRef, DEFAULT_REVISION, SCHEME};
pub use select::{is_model_file, select};
