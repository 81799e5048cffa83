//! GGUF (v2 and v3, little-endian) reading and writing.
//!
//! [`GgufFile`] memory-maps a file (or takes owned bytes), validates the whole header up front
//! (see `parse.rs` for the list of checks) and then hands out metadata through typed getters
//! and tensor bytes as zero-copy [`ByteView`]s. [`GgufWriter`] builds v3 files.
//!
//! Reference: ggml/docs/gguf.md; ggml/src/gguf.cpp (reader checks); gguf-py `gguf_writer.py`
//! (layout written). Dimensions are in GGML order: `dims[0]` is the row length (innermost,
//! contiguous), so a Hugging Face `[out, in]` weight has `dims == [in, out]`.

mod parse;
mod value;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use allmende_kernels::GgmlType;
use allmende_tensor::{ByteView, Storage};

pub use value::{FromGguf, GgufArray, GgufValue, GgufValueType};
pub use writer::GgufWriter;

use crate::FormatError;

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: usize = 32;
/// The metadata key that sets the alignment.
pub const KEY_ALIGNMENT: &str = "general.alignment";

/// Where one tensor lives in a GGUF file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GgufTensorInfo {
    /// Tensor name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Dimensions in GGML order: `dims[0]` is the row length (innermost). 1 to 4 entries
    /// (0 entries would be a scalar; the reader accepts it as one element).
    pub dims: Vec<usize>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Byte offset relative to the start of the data section (a multiple of the alignment).
    pub offset: usize,
    /// Byte size of the data.
    pub size: usize,
}

impl GgufTensorInfo {
    /// Total number of elements.
    pub fn n_elements(&self) -> usize {
        // Validated not to overflow when the info was read.
        self.dims.iter().product()
    }

    /// Elements per row (`dims[0]`).
    pub fn row_len(&self) -> usize {
        self.dims.first().copied().unwrap_or(1)
    }

    /// Number of rows (product of `dims[1..]`).
    pub fn n_rows(&self) -> usize {
        self.dims.iter().skip(1).product()
    }

    /// Dimensions in PyTorch / Hugging Face order (outermost first): `dims` reversed.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().copied().collect()
    }
}

/// A validated GGUF file: metadata in file order, tensor infos, and the mapped bytes.
#[derive(Debug)]
pub struct GgufFile {
    storage: Arc<Storage>,
    path: Option<PathBuf>,
    version: u32,
    alignment: usize,
    data_offset: usize,
    metadata: Vec<(String, GgufValue)>,
    key_index: HashMap<String, usize>,
    tensors: Vec<GgufTensorInfo>,
    tensor_index: HashMap<String, usize>,
}

impl GgufFile {
    /// Memory-map and validate the GGUF file at `path`. Errors name the path.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, FormatError> {
        let path = path.as_ref();
        let storage = crate::mmap::map_file(path)?;
        let mut f = GgufFile::from_storage(Arc::new(storage)).map_err(|e| e.in_file(path))?;
        f.path = Some(path.to_path_buf());
        Ok(f)
    }

    /// Validate a GGUF file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, FormatError> {
        GgufFile::from_storage(Arc::new(Storage::Owned(bytes)))
    }

    /// Validate a GGUF file in existing storage (mapped or owned).
    pub fn from_storage(storage: Arc<Storage>) -> Result<GgufFile, FormatError> {
        let h = parse::parse_header(storage.as_slice())?;
        Ok(GgufFile {
            storage,
            path: None,
            version: h.version,
            alignment: h.alignment,
            data_offset: h.data_offset,
            metadata: h.metadata,
            key_index: h.key_index,
            tensors: h.tensors,
            tensor_index: h.tensor_index,
        })
    }

    /// The path the file was opened from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Tensor data alignment (`general.alignment`, default 32).
    pub fn alignment(&self) -> usize {
        self.alignment
    }

    /// Absolute byte offset of the data section.
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    /// The underlying storage (the whole file).
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// All metadata entries in file order.
    pub fn metadata(&self) -> &[(String, GgufValue)] {
        &self.metadata
    }

    /// The raw value of `key`, if present.
    pub fn value(&self, key: &str) -> Option<&GgufValue> {
        self.key_index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.key_index.contains_key(key)
    }

    /// The value of `key` converted to `T`: [`FormatError::MissingKey`] if absent,
    /// [`FormatError::WrongType`] if it has another type or does not fit.
    pub fn get<'a, T: FromGguf<'a>>(&'a self, key: &str) -> Result<T, FormatError> {
        self.get_opt(key)?.ok_or_else(|| FormatError::MissingKey {
            key: key.to_string(),
        })
    }

    /// Like [`GgufFile::get`] but `Ok(None)` when the key is absent (a present value of the
    /// wrong type is still an error).
    pub fn get_opt<'a, T: FromGguf<'a>>(&'a self, key: &str) -> Result<Option<T>, FormatError> {
        let Some(v) = self.value(key) else {
            return Ok(None);
        };
        match T::from_gguf(v) {
            Some(t) => Ok(Some(t)),
            None => Err(FormatError::WrongType {
                key: key.to_string(),
                expected: T::EXPECTED,
                found: describe(v),
            }),
        }
    }

    /// An integer of any type whose value fits in u32.
    pub fn get_u32(&self, key: &str) -> Result<u32, FormatError> {
        self.get(key)
    }

    /// An integer of any type whose value fits in u64.
    pub fn get_u64(&self, key: &str) -> Result<u64, FormatError> {
        self.get(key)
    }

    /// An integer of any type whose value fits in usize.
    pub fn get_usize(&self, key: &str) -> Result<usize, FormatError> {
        self.get(key)
    }

    /// An integer of any type whose value fits in i32.
    pub fn get_i32(&self, key: &str) -> Result<i32, FormatError> {
        self.get(key)
    }

    /// An integer of any type whose value fits in i64.
    pub fn get_i64(&self, key: &str) -> Result<i64, FormatError> {
        self.get(key)
    }

    /// An f32 or f64 (narrowed to f32).
    pub fn get_f32(&self, key: &str) -> Result<f32, FormatError> {
        self.get(key)
    }

    /// An f32 or f64.
    pub fn get_f64(&self, key: &str) -> Result<f64, FormatError> {
        self.get(key)
    }

    /// A bool.
    pub fn get_bool(&self, key: &str) -> Result<bool, FormatError> {
        self.get(key)
    }

    /// A string.
    pub fn get_str(&self, key: &str) -> Result<&str, FormatError> {
        self.get(key)
    }

    /// An array of strings.
    pub fn get_str_array(&self, key: &str) -> Result<&[String], FormatError> {
        self.get(key)
    }

    /// An array of integers of any type whose values all fit in i32.
    pub fn get_i32_array(&self, key: &str) -> Result<Vec<i32>, FormatError> {
        self.get(key)
    }

    /// An array of integers of any type whose values all fit in u32.
    pub fn get_u32_array(&self, key: &str) -> Result<Vec<u32>, FormatError> {
        self.get(key)
    }

    /// An array of f32 or f64 (narrowed to f32).
    pub fn get_f32_array(&self, key: &str) -> Result<Vec<f32>, FormatError> {
        self.get(key)
    }

    /// An array of any element type.
    pub fn get_array(&self, key: &str) -> Result<&GgufArray, FormatError> {
        self.get(key)
    }

    /// `general.architecture` (`llama`, `qwen2`, ...).
    pub fn architecture(&self) -> Result<&str, FormatError> {
        self.get_str("general.architecture")
    }

    /// All tensor infos in file order.
    pub fn tensors(&self) -> &[GgufTensorInfo] {
        &self.tensors
    }

    /// The info of tensor `name`.
    pub fn tensor(&self, name: &str) -> Option<&GgufTensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// The bytes of a tensor of this file, zero-copy. [`FormatError::TensorNotFound`] if
    /// `info` is not one of this file's infos.
    pub fn tensor_data(&self, info: &GgufTensorInfo) -> Result<ByteView, FormatError> {
        let not_found = || FormatError::TensorNotFound {
            name: info.name.clone(),
        };
        if self.tensor(&info.name) != Some(info) {
            return Err(not_found());
        }
        // Ranges were validated against the data section when the file was read.
        let start = self
            .data_offset
            .checked_add(info.offset)
            .ok_or_else(not_found)?;
        let end = start.checked_add(info.size).ok_or_else(not_found)?;
        ByteView::new(self.storage.clone(), start..end).ok_or_else(not_found)
    }

    /// The bytes of tensor `name`, zero-copy.
    pub fn tensor_bytes(&self, name: &str) -> Result<ByteView, FormatError> {
        let info = self
            .tensor(name)
            .ok_or_else(|| FormatError::TensorNotFound {
                name: name.to_string(),
            })?;
        self.tensor_data(info)
    }
}

/// `u64 (value 5000000000)` for scalars, the type for the rest.
fn describe(v: &GgufValue) -> String {
    match (v.as_integer(), v.as_float()) {
        (Some(i), _) => format!("{} (value {i})", v.type_description()),
        (_, Some(f)) => format!("{} (value {f})", v.type_description()),
        _ => v.type_description(),
    }
}
