//! safetensors reading (single files and sharded sets) and a small writer.
//!
//! Layout (reference: huggingface/safetensors `docs/source/metadata_parsing.mdx` and
//! `safetensors/src/tensor.rs`): an 8-byte little-endian header length N, N bytes of JSON
//! (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {..}}`), then
//! the data section. Offsets are relative to the data section. The reader checks what the
//! reference implementation checks: header length within the file and under a cap, valid
//! UTF-8 JSON, known dtype, `end - begin == dtype size * prod(shape)`, no overlaps and no
//! holes (the data section must be covered exactly), plus duplicate names, which serde_json
//! alone would silently merge.

mod set;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use allmende_tensor::{ByteView, Storage};
use serde_json::Value;

pub use set::SafetensorsSet;
pub use writer::SafetensorsWriter;

use crate::FormatError;

/// Largest header the reader accepts (the reference implementation uses the same cap).
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// A safetensors element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Dtype {
    Bool,
    U8,
    I8,
    F8E5M2,
    F8E4M3,
    F8E8M0,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    C64,
    F64,
    I64,
    U64,
}

impl Dtype {
    /// Every dtype, for parsing.
    pub const ALL: [Dtype; 17] = [
        Dtype::Bool,
        Dtype::U8,
        Dtype::I8,
        Dtype::F8E5M2,
        Dtype::F8E4M3,
        Dtype::F8E8M0,
        Dtype::I16,
        Dtype::U16,
        Dtype::F16,
        Dtype::BF16,
        Dtype::I32,
        Dtype::U32,
        Dtype::F32,
        Dtype::C64,
        Dtype::F64,
        Dtype::I64,
        Dtype::U64,
    ];

    /// The string used in headers (`F32`, `BF16`, `F8_E4M3`, ...).
    pub const fn name(self) -> &'static str {
        use Dtype::*;
        match self {
            Bool => "BOOL",
            U8 => "U8",
            I8 => "I8",
            F8E5M2 => "F8_E5M2",
            F8E4M3 => "F8_E4M3",
            F8E8M0 => "F8_E8M0",
            I16 => "I16",
            U16 => "U16",
            F16 => "F16",
            BF16 => "BF16",
            I32 => "I32",
            U32 => "U32",
            F32 => "F32",
            C64 => "C64",
            F64 => "F64",
            I64 => "I64",
            U64 => "U64",
        }
    }

    /// The dtype named `s` in a header, if known.
    pub fn parse(s: &str) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.name() == s)
    }

    /// Bytes per element.
    pub const fn size(self) -> usize {
        use Dtype::*;
        match self {
            Bool | U8 | I8 | F8E5M2 | F8E4M3 | F8E8M0 => 1,
            I16 | U16 | F16 | BF16 => 2,
            I32 | U32 | F32 => 4,
            C64 | F64 | I64 | U64 => 8,
        }
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One tensor of a safetensors file.
#[derive(Clone, Debug)]
pub struct SafetensorsTensor {
    /// Name as in the header (`model.layers.0.self_attn.q_proj.weight`).
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape, outermost first (PyTorch order).
    pub shape: Vec<usize>,
    /// The bytes (little-endian, row-major), zero-copy.
    pub data: ByteView,
}

impl SafetensorsTensor {
    /// Number of elements.
    pub fn n_elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A validated `.safetensors` file.
#[derive(Debug)]
pub struct SafetensorsFile {
    path: Option<PathBuf>,
    storage: Arc<Storage>,
    metadata: Vec<(String, String)>,
    tensors: Vec<SafetensorsTensor>,
    index: HashMap<String, usize>,
    data_offset: usize,
}

impl SafetensorsFile {
    /// Memory-map and validate the file at `path`. Errors name the path.
    pub fn open(path: impl AsRef<Path>) -> Result<SafetensorsFile, FormatError> {
        let path = path.as_ref();
        let storage = crate::mmap::map_file(path)?;
        let mut f =
            SafetensorsFile::from_storage(Arc::new(storage)).map_err(|e| e.in_file(path))?;
        f.path = Some(path.to_path_buf());
        Ok(f)
    }

    /// Validate a file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<SafetensorsFile, FormatError> {
        SafetensorsFile::from_storage(Arc::new(Storage::Owned(bytes)))
    }

    /// Validate a file in existing storage.
    pub fn from_storage(storage: Arc<Storage>) -> Result<SafetensorsFile, FormatError> {
        let buf = storage.as_slice();
        let Some(len_bytes) = buf.get(..8) else {
            return Err(FormatError::UnexpectedEof {
                offset: 0,
                what: "safetensors header length".to_string(),
                needed: 8,
                remaining: buf.len() as u64,
            });
        };
        let mut a = [0u8; 8];
        a.copy_from_slice(len_bytes);
        let n = u64::from_le_bytes(a);
        let rest = (buf.len() - 8) as u64;
        if n > MAX_HEADER_LEN {
            return Err(FormatError::BadHeaderLength {
                len: n,
                reason: format!("above the {MAX_HEADER_LEN}-byte cap"),
            });
        }
        if n > rest {
            return Err(FormatError::BadHeaderLength {
                len: n,
                reason: format!("beyond the end of the file ({rest} bytes follow)"),
            });
        }
        let header_end = 8 + n as usize;
        let header = &buf[8..header_end];
        if std::str::from_utf8(header).is_err() {
            return Err(FormatError::InvalidUtf8 {
                what: "safetensors header".to_string(),
                offset: 8,
            });
        }
        let data = ByteView::new(storage.clone(), header_end..buf.len()).ok_or_else(|| {
            FormatError::InvalidHeader {
                what: "safetensors".into(),
                message: "bad data range".into(),
            }
        })?;
        let (metadata, tensors) = parse_header(header, &data)?;
        let index = tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(SafetensorsFile {
            path: None,
            storage,
            metadata,
            tensors,
            index,
            data_offset: header_end,
        })
    }

    /// The path the file was opened from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The whole file.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// Absolute offset of the data section (8 + header length).
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    /// `__metadata__` entries in file order.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// All tensors in header order.
    pub fn tensors(&self) -> &[SafetensorsTensor] {
        &self.tensors
    }

    /// Tensor `name`.
    pub fn tensor(&self, name: &str) -> Option<&SafetensorsTensor> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }
}

fn invalid(what: &str, message: impl Into<String>) -> FormatError {
    FormatError::InvalidHeader {
        what: what.to_string(),
        message: message.into(),
    }
}

type Parsed = (Vec<(String, String)>, Vec<SafetensorsTensor>);

/// Parse the JSON header and check every entry against the data section.
fn parse_header(header: &[u8], data: &ByteView) -> Result<Parsed, FormatError> {
    let obj = crate::json::ordered_object(header, "safetensors header")?;
    if let Some(name) = obj.duplicate {
        return Err(FormatError::DuplicateTensor { name });
    }
    let mut metadata = Vec::new();
    let mut tensors = Vec::with_capacity(obj.entries.len());
    let mut spans = Vec::with_capacity(obj.entries.len());
    for (name, v) in obj.entries {
        if name == "__metadata__" {
            let Value::Object(m) = v else {
                return Err(invalid("safetensors __metadata__", "is not an object"));
            };
            for (k, v) in m {
                let Value::String(s) = v else {
                    return Err(invalid(
                        "safetensors __metadata__",
                        format!("value of `{k}` is not a string"),
                    ));
                };
                metadata.push((k, s));
            }
            continue;
        }
        let (dtype, shape, begin, end) = entry(&name, &v)?;
        let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        let too_large = || FormatError::TensorTooLarge {
            name: name.clone(),
            dims: dims.clone(),
        };
        let n = shape
            .iter()
            .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
            .ok_or_else(too_large)?;
        if end - begin != n as u64 {
            return Err(FormatError::TensorSizeMismatch {
                name,
                expected: n as u64,
                got: end - begin,
            });
        }
        if end > data.len() as u64 {
            return Err(FormatError::TensorOutOfBounds {
                name,
                offset: begin,
                size: end - begin,
                data_len: data.len() as u64,
            });
        }
        let Some(bytes) = data.slice(begin as usize..end as usize) else {
            return Err(FormatError::TensorOutOfBounds {
                name,
                offset: begin,
                size: end - begin,
                data_len: data.len() as u64,
            });
        };
        spans.push((begin, end, tensors.len()));
        tensors.push(SafetensorsTensor {
            name,
            dtype,
            shape,
            data: bytes,
        });
    }
    spans.sort_unstable();
    let mut covered = 0u64;
    let mut last: Option<usize> = None;
    for &(begin, end, i) in &spans {
        if begin < covered {
            let first = last.map(|j| tensors[j].name.clone()).unwrap_or_default();
            return Err(FormatError::OverlappingTensors {
                first,
                second: tensors[i].name.clone(),
            });
        }
        if begin > covered {
            return Err(FormatError::DataHole {
                start: covered,
                end: begin,
            });
        }
        covered = end;
        last = Some(i);
    }
    if covered != data.len() as u64 {
        return Err(FormatError::DataHole {
            start: covered,
            end: data.len() as u64,
        });
    }
    Ok((metadata, tensors))
}

/// One header entry: dtype, shape and data offsets.
fn entry(name: &str, v: &Value) -> Result<(Dtype, Vec<usize>, u64, u64), FormatError> {
    let what = format!("safetensors tensor `{name}`");
    let Value::Object(m) = v else {
        return Err(invalid(&what, "entry is not an object"));
    };
    let dtype_str = m
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&what, "missing string `dtype`"))?;
    let dtype = Dtype::parse(dtype_str).ok_or_else(|| FormatError::UnknownDtype {
        name: name.to_string(),
        dtype: dtype_str.to_string(),
    })?;
    let shape = m
        .get("shape")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| invalid(&what, "`shape` is not an array of non-negative integers"))?;
    let offsets = m
        .get("data_offsets")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<_>>>())
        .ok_or_else(|| {
            invalid(
                &what,
                "`data_offsets` is not an array of non-negative integers",
            )
        })?;
    let [begin, end] = offsets[..] else {
        return Err(invalid(
            &what,
            format!("`data_offsets` has {} entries, expected 2", offsets.len()),
        ));
    };
    if begin > end {
        return Err(invalid(
            &what,
            format!("`data_offsets` [{begin}, {end}] end before they begin"),
        ));
    }
    Ok((dtype, shape, begin, end))
}
