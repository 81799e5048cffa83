//! A small safetensors writer (tests, converted weights): tensors laid out back to back in
//! insertion order, header padded with spaces to a multiple of 8 bytes as the reference
//! implementation does (huggingface/safetensors `serialize`).

use std::path::Path;

use serde_json::{json, Map, Value};

use super::Dtype;
use crate::FormatError;

/// A safetensors file under construction.
#[derive(Debug, Default)]
pub struct SafetensorsWriter {
    metadata: Vec<(String, String)>,
    tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
}

impl SafetensorsWriter {
    /// An empty file.
    pub fn new() -> SafetensorsWriter {
        SafetensorsWriter::default()
    }

    /// Add a `__metadata__` entry.
    pub fn set_metadata(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> &mut SafetensorsWriter {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// Add a tensor; `data` must hold exactly `dtype.size() * prod(shape)` bytes.
    pub fn add(
        &mut self,
        name: impl Into<String>,
        dtype: Dtype,
        shape: &[usize],
        data: Vec<u8>,
    ) -> Result<&mut SafetensorsWriter, FormatError> {
        let name = name.into();
        if name == "__metadata__" || self.tensors.iter().any(|t| t.0 == name) {
            return Err(FormatError::DuplicateTensor { name });
        }
        let n = shape
            .iter()
            .try_fold(dtype.size(), |a, &d| a.checked_mul(d));
        let Some(n) = n else {
            return Err(FormatError::TensorTooLarge {
                name,
                dims: shape.iter().map(|&d| d as u64).collect(),
            });
        };
        if n != data.len() {
            return Err(FormatError::TensorSizeMismatch {
                name,
                expected: n as u64,
                got: data.len() as u64,
            });
        }
        self.tensors.push((name, dtype, shape.to_vec(), data));
        Ok(self)
    }

    /// Add an f32 tensor from values.
    pub fn add_f32(
        &mut self,
        name: impl Into<String>,
        shape: &[usize],
        values: &[f32],
    ) -> Result<&mut SafetensorsWriter, FormatError> {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.add(name, Dtype::F32, shape, data)
    }

    /// The header JSON (unpadded).
    fn header(&self) -> String {
        let mut m = Map::new();
        if !self.metadata.is_empty() {
            let meta: Map<String, Value> = self
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            m.insert("__metadata__".into(), Value::Object(meta));
        }
        let mut offset = 0usize;
        for (name, dtype, shape, data) in &self.tensors {
            let end = offset + data.len();
            m.insert(
                name.clone(),
                json!({"dtype": dtype.name(), "shape": shape, "data_offsets": [offset, end]}),
            );
            offset = end;
        }
        Value::Object(m).to_string()
    }

    /// The whole file in memory.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = self.header().into_bytes();
        header.resize(header.len().next_multiple_of(8), b' ');
        let total: usize = self.tensors.iter().map(|t| t.3.len()).sum();
        let mut out = Vec::with_capacity(8 + header.len() + total);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        for t in &self.tensors {
            out.extend_from_slice(&t.3);
        }
        out
    }

    /// Write the file to `path`.
    pub fn write_to_path(&self, path: impl AsRef<Path>) -> Result<(), FormatError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_bytes()).map_err(|e| FormatError::io(path, e))
    }
}
