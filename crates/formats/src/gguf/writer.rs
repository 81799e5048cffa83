//! Builds GGUF v3 files: metadata of every value type (nested arrays included) and tensors
//! given as GGML type, dims and raw bytes, with alignment padding.
//!
//! Layout written (ggml/docs/gguf.md, as gguf-py `GGUFWriter`): header, metadata in insertion
//! order, tensor infos in insertion order, zero padding to the alignment, then each tensor's
//! bytes at increasing aligned offsets, each followed by zero padding to the alignment.

use std::io::Write;
use std::path::{Path, PathBuf};

use allmende_kernels::GgmlType;
use allmende_tensor::ByteView;

use super::parse::{check_alignment, tensor_size};
use super::value::{GgufArray, GgufValue};
use super::{DEFAULT_ALIGNMENT, GGUF_MAGIC, KEY_ALIGNMENT};
use crate::FormatError;

/// Tensor bytes owned by the writer or borrowed zero-copy from another file.
#[derive(Debug)]
enum TensorBytes {
    Owned(Vec<u8>),
    View(ByteView),
}

impl TensorBytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            TensorBytes::Owned(v) => v,
            TensorBytes::View(v) => v.as_slice(),
        }
    }
}

#[derive(Debug)]
struct PendingTensor {
    name: String,
    dims: Vec<usize>,
    ggml_type: GgmlType,
    data: TensorBytes,
}

/// A GGUF v3 file under construction.
#[derive(Debug, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, GgufValue)>,
    tensors: Vec<PendingTensor>,
}

impl GgufWriter {
    /// An empty file (no metadata, no tensors, alignment 32).
    pub fn new() -> GgufWriter {
        GgufWriter::default()
    }

    /// Set `key` to `value`. A key set twice keeps its first position and takes the new value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<GgufValue>) -> &mut GgufWriter {
        let key = key.into();
        let value = value.into();
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.metadata.push((key, value)),
        }
        self
    }

    /// Remove `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<GgufValue> {
        let i = self.metadata.iter().position(|(k, _)| k == key)?;
        Some(self.metadata.remove(i).1)
    }

    /// Set `general.alignment` (checked when the file is written: a power of two > 0).
    pub fn set_alignment(&mut self, alignment: u32) -> &mut GgufWriter {
        self.set(KEY_ALIGNMENT, alignment)
    }

    /// The metadata set so far, in order.
    pub fn metadata(&self) -> &[(String, GgufValue)] {
        &self.metadata
    }

    /// Add a tensor: `dims` in GGML order (`dims[0]` = row length), `data` exactly
    /// `ggml_type.row_bytes(dims[0]) * dims[1..].product()` bytes.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        ggml_type: GgmlType,
        dims: &[usize],
        data: Vec<u8>,
    ) -> Result<&mut GgufWriter, FormatError> {
        self.push(name.into(), ggml_type, dims, TensorBytes::Owned(data))
    }

    /// Like [`GgufWriter::add_tensor`] but without copying bytes that live in a [`ByteView`]
    /// (for example a tensor of another mapped file).
    pub fn add_tensor_view(
        &mut self,
        name: impl Into<String>,
        ggml_type: GgmlType,
        dims: &[usize],
        data: ByteView,
    ) -> Result<&mut GgufWriter, FormatError> {
        self.push(name.into(), ggml_type, dims, TensorBytes::View(data))
    }

    fn push(
        &mut self,
        name: String,
        ggml_type: GgmlType,
        dims: &[usize],
        data: TensorBytes,
    ) -> Result<&mut GgufWriter, FormatError> {
        if dims.len() > 4 {
            return Err(FormatError::TooManyDims {
                name,
                n_dims: dims.len() as u32,
            });
        }
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(FormatError::DuplicateTensor { name });
        }
        let raw: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
        let (dims, size) = tensor_size(&name, &raw, ggml_type)?;
        let got = data.as_slice().len();
        if got != size {
            return Err(FormatError::TensorSizeMismatch {
                name,
                expected: size as u64,
                got: got as u64,
            });
        }
        self.tensors.push(PendingTensor {
            name,
            dims,
            ggml_type,
            data,
        });
        Ok(self)
    }

    fn alignment(&self) -> Result<usize, FormatError> {
        match self.metadata.iter().find(|(k, _)| k == KEY_ALIGNMENT) {
            Some((_, v)) => check_alignment(v),
            None => Ok(DEFAULT_ALIGNMENT),
        }
    }

    /// The whole file in memory.
    pub fn to_bytes(&self) -> Result<Vec<u8>, FormatError> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }

    /// Write the file to `path` (created or truncated).
    pub fn write_to_path(&self, path: impl AsRef<Path>) -> Result<(), FormatError> {
        let path = path.as_ref();
        let file = std::fs::File::create(path).map_err(|e| FormatError::io(path, e))?;
        let mut w = std::io::BufWriter::new(file);
        self.write_inner(&mut w).map_err(|e| match e {
            WriteError::Format(e) => e,
            WriteError::Io(e) => FormatError::io(path, e),
        })?;
        w.flush().map_err(|e| FormatError::io(path, e))
    }

    /// Write the file to any writer. I/O errors name the path `<stream>`.
    pub fn write_to(&self, w: &mut impl Write) -> Result<(), FormatError> {
        self.write_inner(w).map_err(|e| match e {
            WriteError::Format(e) => e,
            WriteError::Io(e) => FormatError::io(&PathBuf::from("<stream>"), e),
        })
    }

    fn write_inner(&self, w: &mut impl Write) -> Result<(), WriteError> {
        let alignment = self.alignment()?;
        let mut w = Counting { w, pos: 0 };
        w.put(&GGUF_MAGIC)?;
        w.put(&3u32.to_le_bytes())?;
        w.put(&(self.tensors.len() as u64).to_le_bytes())?;
        w.put(&(self.metadata.len() as u64).to_le_bytes())?;
        let mut buf = Vec::new();
        for (key, value) in &self.metadata {
            buf.clear();
            put_str(&mut buf, key);
            buf.extend_from_slice(&value.value_type().id().to_le_bytes());
            put_value(&mut buf, value);
            w.put(&buf)?;
        }
        let mut offset = 0usize;
        for t in &self.tensors {
            buf.clear();
            put_str(&mut buf, &t.name);
            buf.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for &d in &t.dims {
                buf.extend_from_slice(&(d as u64).to_le_bytes());
            }
            buf.extend_from_slice(&t.ggml_type.id().to_le_bytes());
            buf.extend_from_slice(&(offset as u64).to_le_bytes());
            w.put(&buf)?;
            offset = align(offset + t.data.as_slice().len(), alignment);
        }
        let pad = align(w.pos, alignment) - w.pos;
        w.zeros(pad)?;
        for t in &self.tensors {
            let data = t.data.as_slice();
            w.put(data)?;
            w.zeros(align(data.len(), alignment) - data.len())?;
        }
        Ok(())
    }
}

/// A writer that counts the bytes written (to pad to the alignment).
struct Counting<'w, W: Write> {
    w: &'w mut W,
    pos: usize,
}

impl<W: Write> Counting<'_, W> {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.w.write_all(b)?;
        self.pos += b.len();
        Ok(())
    }

    /// `n` zero bytes of padding, written in chunks (alignments can be up to 2^31).
    fn zeros(&mut self, mut n: usize) -> std::io::Result<()> {
        const ZEROS: [u8; 4096] = [0; 4096];
        while n > 0 {
            let k = n.min(ZEROS.len());
            self.put(&ZEROS[..k])?;
            n -= k;
        }
        Ok(())
    }
}

enum WriteError {
    Format(FormatError),
    Io(std::io::Error),
}

impl From<FormatError> for WriteError {
    fn from(e: FormatError) -> WriteError {
        WriteError::Format(e)
    }
}

impl From<std::io::Error> for WriteError {
    fn from(e: std::io::Error) -> WriteError {
        WriteError::Io(e)
    }
}

fn align(n: usize, alignment: usize) -> usize {
    n.div_ceil(alignment) * alignment
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_value(buf: &mut Vec<u8>, v: &GgufValue) {
    match v {
        GgufValue::U8(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::I8(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::U16(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::I16(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::U32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::I32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::U64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::I64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::F32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::F64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::Bool(x) => buf.push(u8::from(*x)),
        GgufValue::String(s) => put_str(buf, s),
        GgufValue::Array(a) => put_array(buf, a),
    }
}

/// Element type, count, elements (nested arrays repeat this without a leading value type).
fn put_array(buf: &mut Vec<u8>, a: &GgufArray) {
    fn each<T>(buf: &mut Vec<u8>, v: &[T], f: impl Fn(&mut Vec<u8>, &T)) {
        buf.extend_from_slice(&(v.len() as u64).to_le_bytes());
        for x in v {
            f(buf, x);
        }
    }
    buf.extend_from_slice(&a.element_type().id().to_le_bytes());
    match a {
        GgufArray::U8(v) => each(buf, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        GgufArray::I8(v) => each(buf, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        GgufArray::U16(v) => each(buf, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        GgufArray::I16(v) => each(buf, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        GgufArray::U32(v) => each(buf, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        GgufArray::I32(v) => each(buf, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        GgufArray::U64(v) => each(buf, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        GgufArray::I64(v) => each(buf, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        GgufArray::F32(v) => each(buf, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        GgufArray::F64(v) => each(buf, v, |b, x| b.extend_from_slice(&x.to_le_bytes())),
        GgufArray::Bool(v) => each(buf, v, |b, x| b.push(u8::from(*x))),
        GgufArray::String(v) => each(buf, v, |b, s| put_str(b, s)),
        GgufArray::Array(v) => each(buf, v, put_array),
    }
}
