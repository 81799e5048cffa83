//! allmende-bom: an AI bill of materials as CycloneDX 1.6 JSON.
//!
//! [`build_bom`] turns plain [`ModelEntry`] data into a document with one
//! `machine-learning-model` component per model (name, revision, SHA-256 of each file as nested
//! `file` components, licence, a model card with architecture, parameters, quantisation and
//! context length) and allmende as the tool in `metadata.tools`. The crate takes plain data so it
//! depends on no other allmende crate; the CLI (`allmende bom`) and the server fill the entries.
//! Every document it returns validates against the official CycloneDX 1.6 JSON schema
//! (`tests/bom/run.sh` checks this with cyclonedx-python-lib's validator).
//!
//! ```
//! use allmende_bom::{build_bom, FileEntry, LicenceInfo, ModelEntry, Serial, Tool};
//! let model = ModelEntry {
//!     name: "smollm2-135m-instruct".into(),
//!     files: vec![FileEntry {
//!         path_in_model: "model.gguf".into(),
//!         size: 3,
//!         sha256: allmende_bom::sha256_bytes(b"abc"),
//!     }],
//!     licence: LicenceInfo { id: "apache-2.0".into(), ..Default::default() },
//!     ..Default::default()
//! };
//! let serial = Serial::parse("3e671687-395b-41f5-a30f-a58921a69b79")?;
//! let bom = build_bom(&[model], &Tool::allmende("0.1.0"), &serial, allmende_bom::Utc::now())?;
//! assert_eq!(bom["components"][0]["licenses"][0]["license"]["id"], "Apache-2.0");
//! # Ok::<(), allmende_bom::BomError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod build;
mod error;
mod hash;
mod licence;
mod model;
mod serial;
mod source;
mod spdx_ids;
mod url;

pub use build::{build_bom, build_bom_now, SCHEMA_URL, SPEC_VERSION};
pub use chrono::{DateTime, Utc};
pub use error::BomError;
pub use hash::{sha256_bytes, sha256_file};
pub use licence::{classify, spdx_expression, spdx_id, LicenceForm};
pub use model::{FileEntry, LicenceInfo, ModelCardInfo, ModelEntry, Tool};
pub use serial::Serial;
