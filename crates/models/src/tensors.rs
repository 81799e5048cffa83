//! Raw tensors as the checkpoint stores them, collected under canonical GGUF-style names
//! (`token_embd.weight`, `blk.{i}.attn_q.weight`, ...), and the row-splitting helpers the arch
//! files use to take fused tensors (Falcon's `query_key_value`, Phi-3's `qkv_proj` and
//! `gate_up_proj`) apart. Splits of contiguous row ranges are zero-copy views; gathers of
//! scattered rows copy.

use std::collections::HashMap;

use allmende_formats::{Dtype, GgufFile, SafetensorsTensor};
use allmende_kernels::GgmlType;
use allmende_tensor::ByteView;

use crate::{ModelError, Result};

/// One tensor: element type, shape (row-major, outermost first, as PyTorch) and bytes.
#[derive(Clone, Debug)]
pub struct RawTensor {
    /// Element type (F32/F16/BF16 from safetensors; any GGML type from GGUF).
    pub ty: GgmlType,
    /// Shape, outermost first. A weight matrix is `[rows, cols]`.
    pub shape: Vec<usize>,
    /// The bytes, row-major.
    pub data: ByteView,
}

/// Tensors by canonical name.
pub type TensorMap = HashMap<String, RawTensor>;

impl RawTensor {
    /// Elements per row (the innermost dimension; 1 for a scalar).
    pub fn row_len(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }

    /// Number of rows (product of the outer dimensions; a 1-D tensor is one row).
    pub fn n_rows(&self) -> usize {
        self.shape.iter().rev().skip(1).product()
    }

    fn row_bytes(&self, name: &str) -> Result<usize> {
        self.ty.row_bytes(self.row_len()).ok_or_else(|| ModelError::BadTensorType {
            name: name.to_string(),
            ty: self.ty,
            why: format!("rows of {} elements are not whole blocks", self.row_len()),
        })
    }

    /// Rows `range` of a 2-D (or higher) tensor along the outermost dimension, zero-copy.
    /// For a 1-D tensor (a bias), elements `range`.
    pub fn rows(&self, name: &str, range: std::ops::Range<usize>) -> Result<RawTensor> {
        let bad = || ModelError::ShapeMismatch {
            name: name.to_string(),
            expected: vec![range.end],
            got: self.shape.clone(),
        };
        if self.shape.len() == 1 {
            let es = self.ty.row_bytes(1).filter(|_| self.ty.block_size() == 1).ok_or_else(bad)?;
            if range.end > self.shape[0] || range.start > range.end {
                return Err(bad());
            }
            let data = self.data.slice(range.start * es..range.end * es).ok_or_else(bad)?;
            return Ok(RawTensor { ty: self.ty, shape: vec![range.len()], data });
        }
        let outer = *self.shape.first().ok_or_else(bad)?;
        if range.end > outer || range.start > range.end {
            return Err(bad());
        }
        let per_outer = self.shape[1..].iter().product::<usize>() / self.row_len().max(1);
        let rb = self.row_bytes(name)? * per_outer;
        let data = self.data.slice(range.start * rb..range.end * rb).ok_or_else(bad)?;
        let mut shape = self.shape.clone();
        shape[0] = range.len();
        Ok(RawTensor { ty: self.ty, shape, data })
    }

    /// Splits along the outermost dimension into consecutive parts of the given sizes, which
    /// must add up to that dimension.
    pub fn split(&self, name: &str, sizes: &[usize]) -> Result<Vec<RawTensor>> {
        let total: usize = sizes.iter().sum();
        if self.shape.first() != Some(&total) {
            let mut expected = self.shape.clone();
            if let Some(first) = expected.first_mut() {
                *first = total;
            }
            return Err(ModelError::ShapeMismatch { name: name.to_string(), expected, got: self.shape.clone() });
        }
        let mut start = 0;
        sizes
            .iter()
            .map(|&n| {
                let t = self.rows(name, start..start + n);
                start += n;
                t
            })
            .collect()
    }

    /// A new owned tensor made of the given outermost-dimension ranges, in order (used to
    /// reorder interleaved fused projections).
    pub fn gather(&self, name: &str, ranges: &[std::ops::Range<usize>]) -> Result<RawTensor> {
        let mut bytes = Vec::new();
        let mut n = 0;
        for r in ranges {
            let part = self.rows(name, r.clone())?;
            bytes.extend_from_slice(part.data.as_slice());
            n += r.len();
        }
        let mut shape = self.shape.clone();
        if let Some(first) = shape.first_mut() {
            *first = n;
        }
        Ok(RawTensor { ty: self.ty, shape, data: ByteView::from_vec(bytes) })
    }

    /// All elements as f32 (for norms and biases; any float or block type).
    pub fn to_f32(&self, name: &str) -> Result<Vec<f32>> {
        let row_len = self.row_len();
        let rb = self.row_bytes(name)?;
        let n_rows = self.n_rows();
        if self.data.len() != rb * n_rows {
            return Err(ModelError::BadTensorType {
                name: name.to_string(),
                ty: self.ty,
                why: format!("{} bytes for shape {:?}", self.data.len(), self.shape),
            });
        }
        if !self.ty.is_weight_type() {
            return Err(ModelError::BadTensorType { name: name.to_string(), ty: self.ty, why: "not a float type".into() });
        }
        let mut out = vec![0f32; row_len * n_rows];
        for (src, dst) in self.data.as_slice().chunks_exact(rb.max(1)).zip(out.chunks_exact_mut(row_len.max(1))) {
            allmende_kernels::dequantize_row(self.ty, src, dst);
        }
        Ok(out)
    }
}

/// The GGML type that holds a safetensors dtype, for the float dtypes a model can use.
pub fn ggml_type_of(name: &str, dtype: Dtype) -> Result<GgmlType> {
    match dtype {
        Dtype::F32 => Ok(GgmlType::F32),
        Dtype::F16 => Ok(GgmlType::F16),
        Dtype::BF16 => Ok(GgmlType::BF16),
        other => Err(ModelError::Unsupported(format!("tensor `{name}`: safetensors dtype {other}"))),
    }
}

/// A safetensors tensor as a [`RawTensor`].
pub fn from_safetensors(t: &SafetensorsTensor) -> Result<RawTensor> {
    Ok(RawTensor { ty: ggml_type_of(&t.name, t.dtype)?, shape: t.shape.clone(), data: t.data.clone() })
}

/// Every tensor of a GGUF file under its own (already canonical) name.
pub fn from_gguf(file: &GgufFile) -> Result<TensorMap> {
    let mut map = TensorMap::new();
    for info in file.tensors() {
        let data = file.tensor_data(info)?;
        map.insert(info.name.clone(), RawTensor { ty: info.ggml_type, shape: info.shape(), data });
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_tensor(shape: Vec<usize>) -> RawTensor {
        let n: usize = shape.iter().product();
        let bytes = (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect();
        RawTensor { ty: GgmlType::F32, shape, data: ByteView::from_vec(bytes) }
    }

    #[test]
    fn split_and_gather_rows() {
        let t = f32_tensor(vec![6, 2]);
        let parts = t.split("t", &[1, 2, 3]).unwrap();
        assert_eq!(parts[1].to_f32("t").unwrap(), vec![2.0, 3.0, 4.0, 5.0]);
        assert_eq!(parts[2].shape, vec![3, 2]);
        assert!(t.split("t", &[1, 2]).is_err());
        let g = t.gather("t", &[4..5, 0..1]).unwrap();
        assert_eq!(g.to_f32("t").unwrap(), vec![8.0, 9.0, 0.0, 1.0]);
        let b = f32_tensor(vec![5]);
        assert_eq!(b.rows("b", 3..5).unwrap().to_f32("b").unwrap(), vec![3.0, 4.0]);
        assert!(b.rows("b", 3..6).is_err());
    }

    #[test]
    fn three_d_rows_are_matrices() {
        let t = f32_tensor(vec![3, 2, 2]);
        let e1 = t.rows("e", 1..2).unwrap();
        assert_eq!(e1.shape, vec![1, 2, 2]);
        assert_eq!(e1.to_f32("e").unwrap(), vec![4.0, 5.0, 6.0, 7.0]);
    }
}
