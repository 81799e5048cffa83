//! The one error type of `allmende-formats`.
//!
//! Every variant names what is wrong and where: the byte offset inside the file, the metadata
//! key or tensor name, and (through [`FormatError::InFile`]) the path. Readers never panic on
//! hostile input; they return one of these.

use std::path::PathBuf;

use allmende_kernels::GgmlType;

/// Errors from reading or writing GGUF, safetensors and Hugging Face model folders.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// An operating-system error while opening, mapping, reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },

    /// An error inside a file, with that file's path. [`FormatError::root`] strips this layer.
    #[error("{}: {inner}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        inner: Box<FormatError>,
    },

    // ----- GGUF container -----
    /// The file does not start with `GGUF`.
    #[error(
        "not a GGUF file: magic is {magic:02x?} ({:?}), expected \"GGUF\"",
        String::from_utf8_lossy(magic)
    )]
    BadMagic {
        /// The first four bytes.
        magic: [u8; 4],
    },

    /// A GGUF version this reader does not handle (only 2 and 3 are).
    #[error("GGUF version {version} is not supported (only versions 2 and 3 are){}", version_hint(*version))]
    UnsupportedVersion {
        /// The version field as read little-endian.
        version: u32,
    },

    /// The file ends before a field that must be there.
    #[error("unexpected end of data at offset {offset}: {what} needs {needed} bytes, {remaining} remain")]
    UnexpectedEof {
        /// Offset where the field starts.
        offset: u64,
        /// What was being read.
        what: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes left in the file from `offset`.
        remaining: u64,
    },

    /// A count (metadata entries, tensors, array elements) that the rest of the file cannot hold.
    #[error("{what} at offset {offset}: count {count} needs at least {min_bytes} bytes but only {remaining} remain")]
    CountTooLarge {
        /// Which count.
        what: String,
        /// Offset of the count field.
        offset: u64,
        /// The count.
        count: u64,
        /// Minimum bytes the count implies (saturating).
        min_bytes: u64,
        /// Bytes left in the file.
        remaining: u64,
    },

    /// A string whose length runs past the end of the file.
    #[error(
        "{what} at offset {offset}: string length {len} exceeds the {remaining} bytes that remain"
    )]
    StringTooLong {
        /// Which string.
        what: String,
        /// Offset of the length field.
        offset: u64,
        /// The declared length.
        len: u64,
        /// Bytes left after the length field.
        remaining: u64,
    },

    /// Text that is not valid UTF-8.
    #[error("{what} at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Which string.
        what: String,
        /// Offset of the string bytes.
        offset: u64,
    },

    /// A metadata value type id outside the GGUF specification.
    #[error("metadata `{key}` at offset {offset}: unknown value type id {type_id}")]
    UnknownValueType {
        /// The key whose value (or array element type) is unknown.
        key: String,
        /// Offset of the type field.
        offset: u64,
        /// The type id.
        type_id: u32,
    },

    /// A boolean stored as something other than 0 or 1.
    #[error("metadata `{key}` at offset {offset}: boolean byte is {value}, expected 0 or 1")]
    InvalidBool {
        /// The key.
        key: String,
        /// Offset of the byte.
        offset: u64,
        /// The byte.
        value: u8,
    },

    /// Arrays nested deeper than the reader allows.
    #[error("metadata `{key}` at offset {offset}: arrays nested deeper than {max_depth} levels")]
    ArrayTooDeep {
        /// The key.
        key: String,
        /// Offset of the inner array.
        offset: u64,
        /// The limit.
        max_depth: usize,
    },

    /// The same metadata key twice.
    #[error("duplicate metadata key `{key}`")]
    DuplicateKey {
        /// The key.
        key: String,
    },

    /// `general.alignment` that is not a power of two greater than zero.
    #[error("general.alignment is {value}, expected a power of two > 0 that fits in u32")]
    BadAlignment {
        /// The value as written in the file.
        value: String,
    },

    /// A required metadata key is absent.
    #[error("metadata key `{key}` is missing")]
    MissingKey {
        /// The key.
        key: String,
    },

    /// A metadata value has a type the caller cannot use.
    #[error("metadata `{key}`: expected {expected}, found {found}")]
    WrongType {
        /// The key.
        key: String,
        /// What the caller asked for.
        expected: &'static str,
        /// What the file holds.
        found: String,
    },

    // ----- tensors (GGUF and safetensors) -----
    /// A GGML tensor type id this crate does not know.
    #[error("tensor `{name}`: unknown GGML type id {type_id}")]
    UnknownTensorType {
        /// The tensor.
        name: String,
        /// The id.
        type_id: u32,
    },

    /// More dimensions than GGML supports (4).
    #[error("tensor `{name}`: {n_dims} dimensions, at most 4 are supported")]
    TooManyDims {
        /// The tensor.
        name: String,
        /// Number of dimensions in the file.
        n_dims: u32,
    },

    /// A dimension of size zero.
    #[error("tensor `{name}`: dimension of size 0 in {dims:?}")]
    ZeroDim {
        /// The tensor.
        name: String,
        /// All dimensions.
        dims: Vec<u64>,
    },

    /// Element count or byte size does not fit in 64 bits / the address space.
    #[error("tensor `{name}`: element count or byte size of dims {dims:?} overflows")]
    TensorTooLarge {
        /// The tensor.
        name: String,
        /// All dimensions.
        dims: Vec<u64>,
    },

    /// The row length (dims\[0\]) is not a whole number of quantization blocks.
    #[error("tensor `{name}`: row length {row_len} is not a multiple of the {ty} block size {block_size}")]
    RowNotBlockAligned {
        /// The tensor.
        name: String,
        /// dims\[0\].
        row_len: u64,
        /// The GGML type.
        ty: GgmlType,
        /// Elements per block of `ty`.
        block_size: usize,
    },

    /// A tensor offset not a multiple of the file's alignment.
    #[error(
        "tensor `{name}`: data offset {offset} is not a multiple of the alignment {alignment}"
    )]
    MisalignedTensor {
        /// The tensor.
        name: String,
        /// Offset relative to the data section.
        offset: u64,
        /// The alignment.
        alignment: u64,
    },

    /// Tensor bytes that do not lie inside the data section.
    #[error("tensor `{name}`: bytes {offset}..{offset}+{size} lie outside the data section of {data_len} bytes")]
    TensorOutOfBounds {
        /// The tensor.
        name: String,
        /// Offset relative to the data section.
        offset: u64,
        /// Byte size.
        size: u64,
        /// Data-section length.
        data_len: u64,
    },

    /// Two tensors share bytes.
    #[error("tensors `{first}` and `{second}` overlap")]
    OverlappingTensors {
        /// The tensor with the lower offset.
        first: String,
        /// The other tensor.
        second: String,
    },

    /// The same tensor name twice.
    #[error("duplicate tensor name `{name}`")]
    DuplicateTensor {
        /// The name.
        name: String,
    },

    /// No tensor of that name (or a tensor info that belongs to another file).
    #[error("tensor `{name}` not found")]
    TensorNotFound {
        /// The name.
        name: String,
    },

    /// A tensor given to a writer whose byte size does not match its type and shape.
    #[error("tensor `{name}`: {got} bytes given, type and shape need {expected}")]
    TensorSizeMismatch {
        /// The tensor.
        name: String,
        /// Bytes implied by type and shape.
        expected: u64,
        /// Bytes given (or spanned by the offsets).
        got: u64,
    },

    // ----- safetensors -----
    /// The safetensors header length is larger than the file or the reader's cap.
    #[error("safetensors header length {len} is invalid: {reason}")]
    BadHeaderLength {
        /// The declared length.
        len: u64,
        /// Why it is rejected (beyond file, above cap).
        reason: String,
    },

    /// Malformed JSON (safetensors header, index, config files).
    #[error("invalid JSON in {what}: {message}")]
    InvalidJson {
        /// Which document.
        what: String,
        /// The parser's message.
        message: String,
    },

    /// JSON that parses but does not have the expected structure.
    #[error("{what}: {message}")]
    InvalidHeader {
        /// Which document or entry.
        what: String,
        /// What is wrong.
        message: String,
    },

    /// A safetensors dtype string this crate does not know.
    #[error("tensor `{name}`: unknown safetensors dtype `{dtype}`")]
    UnknownDtype {
        /// The tensor.
        name: String,
        /// The dtype string.
        dtype: String,
    },

    /// Bytes of the safetensors data section that no tensor covers (the format forbids holes).
    #[error("safetensors data bytes {start}..{end} belong to no tensor")]
    DataHole {
        /// First uncovered byte.
        start: u64,
        /// End of the uncovered range.
        end: u64,
    },

    /// A sharded index names a shard that is not there or not a plain file name.
    #[error("index {}: shard `{shard}` {reason}", index.display())]
    BadShard {
        /// The index file.
        index: PathBuf,
        /// The shard file name.
        shard: String,
        /// What is wrong.
        reason: String,
    },

    // ----- Hugging Face folders -----
    /// A required file of a model folder is absent.
    #[error("{}: missing {what}", dir.display())]
    MissingFile {
        /// The folder.
        dir: PathBuf,
        /// What was looked for.
        what: String,
    },

    /// A weight format this crate does not read yet.
    #[error("{}: {message}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is unsupported and what to do.
        message: String,
    },

    /// A pickle or PyTorch checkpoint that the restricted unpickler refuses or cannot read.
    #[error(transparent)]
    Pickle(#[from] crate::pickle::PickleError),

    /// A model configuration value is missing or has the wrong form.
    #[error("{}{message}", if key.is_empty() { String::new() } else { format!("config `{key}`: ") })]
    InvalidConfig {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn version_hint(version: u32) -> &'static str {
    if version == 1 {
        "; GGUF v1 is obsolete, re-convert the model with a current llama.cpp"
    } else if matches!(version.swap_bytes(), 1..=3) {
        "; this looks like a big-endian GGUF file, which is not supported"
    } else {
        ""
    }
}

impl FormatError {
    /// The error without [`FormatError::InFile`] wrappers: match on this to tell error kinds apart.
    pub fn root(&self) -> &FormatError {
        let mut e = self;
        while let FormatError::InFile { inner, .. } = e {
            e = inner;
        }
        e
    }

    /// Attach `path` to an error that does not already name a file.
    pub(crate) fn in_file(self, path: &std::path::Path) -> FormatError {
        match self {
            e @ (FormatError::Io { .. }
            | FormatError::InFile { .. }
            | FormatError::BadShard { .. }) => e,
            e @ (FormatError::MissingFile { .. } | FormatError::Unsupported { .. }) => e,
            e => FormatError::InFile {
                path: path.to_path_buf(),
                inner: Box::new(e),
            },
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> FormatError {
        FormatError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
