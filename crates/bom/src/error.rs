//! The errors of building a BOM: input that would make the document invalid is refused rather
//! than written, so every BOM the crate returns validates against the CycloneDX 1.6 schema.

/// Why a BOM could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BomError {
    /// The serial number is not a UUID (`urn:uuid:` prefix optional).
    #[error("bad serial number `{0}`: expected urn:uuid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")]
    BadSerial(String),
    /// A model has an empty (or all-blank) name; CycloneDX requires a component name.
    #[error("model #{index} has an empty name")]
    EmptyName {
        /// Position of the model in the input slice.
        index: usize,
    },
    /// A file's hash is not 64 hexadecimal digits.
    #[error("model `{model}`, file `{file}`: `{sha256}` is not a SHA-256 (64 hex digits)")]
    BadHash {
        /// The model's name.
        model: String,
        /// The file's path inside the model.
        file: String,
        /// The rejected value.
        sha256: String,
    },
    /// A file has an empty path.
    #[error("model `{model}` has a file with an empty path")]
    EmptyFilePath {
        /// The model's name.
        model: String,
    },
}
