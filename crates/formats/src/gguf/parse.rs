//! The GGUF header parser: magic, version, metadata key/values, tensor infos, and the checks
//! that make a hostile file an error instead of a panic or a huge allocation.
//!
//! Reference: ggml/docs/gguf.md and `gguf_init_from_file_impl` in ggml/src/gguf.cpp (the checks
//! mirror it: counts bounded by the bytes left before allocating, duplicate keys and names,
//! at most 4 dims, row length a whole number of blocks, offsets aligned, element and byte
//! counts that fit in 63 bits). Unlike gguf.cpp, tensors need not be stored contiguously in
//! info order; they only have to lie in the data section and not overlap.

use std::collections::HashMap;

use allmende_kernels::GgmlType;

use super::value::{GgufArray, GgufValue, GgufValueType};
use super::{GgufTensorInfo, DEFAULT_ALIGNMENT, GGUF_MAGIC, KEY_ALIGNMENT};
use crate::FormatError;

/// Nesting limit for arrays of arrays (the reader recurses once per level).
pub(crate) const MAX_ARRAY_DEPTH: usize = 8;
/// Most elements reserved up front for counts read from the file; longer collections grow as
/// their elements are actually read, so memory stays proportional to bytes parsed.
const MAX_RESERVE: usize = 1 << 16;
/// Fewest bytes one metadata entry occupies: key length, type, a one-byte value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// Fewest bytes one tensor info occupies: name length, n_dims, type, offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

/// Everything in a GGUF file before the tensor data.
pub(crate) struct Header {
    pub version: u32,
    pub metadata: Vec<(String, GgufValue)>,
    pub key_index: HashMap<String, usize>,
    pub tensors: Vec<GgufTensorInfo>,
    pub tensor_index: HashMap<String, usize>,
    pub alignment: usize,
    pub data_offset: usize,
}

/// A bounds-checked little-endian reader.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    fn offset(&self) -> u64 {
        self.pos as u64
    }

    fn take(&mut self, n: u64, what: impl FnOnce() -> String) -> Result<&'a [u8], FormatError> {
        if n > self.remaining() {
            return Err(FormatError::UnexpectedEof {
                offset: self.offset(),
                what: what(),
                needed: n,
                remaining: self.remaining(),
            });
        }
        // n <= remaining <= usize::MAX, so the cast is lossless.
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(
        &mut self,
        what: impl FnOnce() -> String,
    ) -> Result<[u8; N], FormatError> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: impl FnOnce() -> String) -> Result<u32, FormatError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: impl FnOnce() -> String) -> Result<u64, FormatError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// Check that `count` items of at least `min_each` bytes can fit in what is left.
    fn check_count(
        &self,
        count: u64,
        min_each: u64,
        offset: u64,
        what: impl FnOnce() -> String,
    ) -> Result<(), FormatError> {
        let min_bytes = count.saturating_mul(min_each);
        if min_bytes > self.remaining() {
            return Err(FormatError::CountTooLarge {
                what: what(),
                offset,
                count,
                min_bytes,
                remaining: self.remaining(),
            });
        }
        Ok(())
    }

    fn string(&mut self, what: impl Fn() -> String) -> Result<String, FormatError> {
        let offset = self.offset();
        let len = self.u64(|| format!("length of {}", what()))?;
        if len > self.remaining() {
            return Err(FormatError::StringTooLong {
                what: what(),
                offset,
                len,
                remaining: self.remaining(),
            });
        }
        let bytes_at = self.offset();
        let bytes = self.take(len, &what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => Err(FormatError::InvalidUtf8 {
                what: what(),
                offset: bytes_at,
            }),
        }
    }

    fn value_type(&mut self, key: &str) -> Result<GgufValueType, FormatError> {
        let offset = self.offset();
        let id = self.u32(|| format!("value type of `{key}`"))?;
        GgufValueType::from_id(id).ok_or_else(|| FormatError::UnknownValueType {
            key: key.to_string(),
            offset,
            type_id: id,
        })
    }

    fn bool(&mut self, key: &str) -> Result<bool, FormatError> {
        let offset = self.offset();
        let [b] = self.array::<1>(|| format!("value of `{key}`"))?;
        match b {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(FormatError::InvalidBool {
                key: key.to_string(),
                offset,
                value,
            }),
        }
    }

    fn value(
        &mut self,
        ty: GgufValueType,
        key: &str,
        depth: usize,
    ) -> Result<GgufValue, FormatError> {
        use GgufValueType as T;
        let what = || format!("value of `{key}`");
        Ok(match ty {
            T::U8 => GgufValue::U8(u8::from_le_bytes(self.array(what)?)),
            T::I8 => GgufValue::I8(i8::from_le_bytes(self.array(what)?)),
            T::U16 => GgufValue::U16(u16::from_le_bytes(self.array(what)?)),
            T::I16 => GgufValue::I16(i16::from_le_bytes(self.array(what)?)),
            T::U32 => GgufValue::U32(u32::from_le_bytes(self.array(what)?)),
            T::I32 => GgufValue::I32(i32::from_le_bytes(self.array(what)?)),
            T::U64 => GgufValue::U64(u64::from_le_bytes(self.array(what)?)),
            T::I64 => GgufValue::I64(i64::from_le_bytes(self.array(what)?)),
            T::F32 => GgufValue::F32(f32::from_le_bytes(self.array(what)?)),
            T::F64 => GgufValue::F64(f64::from_le_bytes(self.array(what)?)),
            T::Bool => GgufValue::Bool(self.bool(key)?),
            T::String => GgufValue::String(self.string(what)?),
            T::Array => GgufValue::Array(self.gguf_array(key, depth + 1)?),
        })
    }

    /// Read fixed-size elements of `N` bytes each with `f`.
    fn fixed<const N: usize, T>(
        &mut self,
        count: u64,
        key: &str,
        f: impl Fn([u8; N]) -> T,
    ) -> Result<Vec<T>, FormatError> {
        let bytes = self.take(count.saturating_mul(N as u64), || {
            format!("elements of array `{key}`")
        })?;
        Ok(bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect())
    }

    fn gguf_array(&mut self, key: &str, depth: usize) -> Result<GgufArray, FormatError> {
        use GgufValueType as T;
        let start = self.offset();
        if depth > MAX_ARRAY_DEPTH {
            return Err(FormatError::ArrayTooDeep {
                key: key.to_string(),
                offset: start,
                max_depth: MAX_ARRAY_DEPTH,
            });
        }
        let elem = self.value_type(key)?;
        let count_at = self.offset();
        let count = self.u64(|| format!("length of array `{key}`"))?;
        self.check_count(count, elem.min_size(), count_at, || {
            format!("array `{key}`")
        })?;
        // From here on `count` is bounded by the bytes left, so allocations are bounded too.
        let n = count as usize;
        let reserve = n.min(MAX_RESERVE);
        Ok(match elem {
            T::U8 => GgufArray::U8(self.fixed(count, key, u8::from_le_bytes)?),
            T::I8 => GgufArray::I8(self.fixed(count, key, i8::from_le_bytes)?),
            T::U16 => GgufArray::U16(self.fixed(count, key, u16::from_le_bytes)?),
            T::I16 => GgufArray::I16(self.fixed(count, key, i16::from_le_bytes)?),
            T::U32 => GgufArray::U32(self.fixed(count, key, u32::from_le_bytes)?),
            T::I32 => GgufArray::I32(self.fixed(count, key, i32::from_le_bytes)?),
            T::U64 => GgufArray::U64(self.fixed(count, key, u64::from_le_bytes)?),
            T::I64 => GgufArray::I64(self.fixed(count, key, i64::from_le_bytes)?),
            T::F32 => GgufArray::F32(self.fixed(count, key, f32::from_le_bytes)?),
            T::F64 => GgufArray::F64(self.fixed(count, key, f64::from_le_bytes)?),
            T::Bool => {
                let mut v = Vec::with_capacity(reserve);
                for _ in 0..n {
                    v.push(self.bool(key)?);
                }
                GgufArray::Bool(v)
            }
            T::String => {
                let mut v = Vec::with_capacity(reserve);
                for i in 0..n {
                    v.push(self.string(|| format!("element {i} of array `{key}`"))?);
                }
                GgufArray::String(v)
            }
            T::Array => {
                let mut v = Vec::with_capacity(reserve);
                for _ in 0..n {
                    v.push(self.gguf_array(key, depth + 1)?);
                }
                GgufArray::Array(v)
            }
        })
    }
}

/// Parse and validate everything up to the tensor data of the GGUF file in `buf`.
pub(crate) fn parse_header(buf: &[u8]) -> Result<Header, FormatError> {
    let mut c = Cursor { buf, pos: 0 };
    let magic: [u8; 4] = c.array(|| "magic".to_string())?;
    if magic != GGUF_MAGIC {
        return Err(FormatError::BadMagic { magic });
    }
    let version = c.u32(|| "version".to_string())?;
    if !matches!(version, 2 | 3) {
        return Err(FormatError::UnsupportedVersion { version });
    }
    let tensor_count_at = c.offset();
    let tensor_count = c.u64(|| "tensor count".to_string())?;
    let kv_count_at = c.offset();
    let kv_count = c.u64(|| "metadata count".to_string())?;
    c.check_count(kv_count, MIN_KV_BYTES, kv_count_at, || {
        "metadata count".to_string()
    })?;
    c.check_count(tensor_count, MIN_TENSOR_INFO_BYTES, tensor_count_at, || {
        "tensor count".to_string()
    })?;

    let reserve = (kv_count as usize).min(MAX_RESERVE);
    let mut metadata = Vec::with_capacity(reserve);
    let mut key_index = HashMap::with_capacity(reserve);
    for i in 0..kv_count {
        let key = c.string(|| format!("key of metadata entry {i}"))?;
        if key_index.contains_key(&key) {
            return Err(FormatError::DuplicateKey { key });
        }
        let ty = c.value_type(&key)?;
        let value = c.value(ty, &key, 0)?;
        key_index.insert(key.clone(), metadata.len());
        metadata.push((key, value));
    }

    let alignment = match key_index.get(KEY_ALIGNMENT).map(|&i| &metadata[i].1) {
        None => DEFAULT_ALIGNMENT,
        Some(v) => check_alignment(v)?,
    };

    c.check_count(tensor_count, MIN_TENSOR_INFO_BYTES, tensor_count_at, || {
        "tensor count".to_string()
    })?;
    let reserve = (tensor_count as usize).min(MAX_RESERVE);
    let mut tensors = Vec::with_capacity(reserve);
    let mut tensor_index = HashMap::with_capacity(reserve);
    for i in 0..tensor_count {
        let info = tensor_info(&mut c, i, alignment)?;
        if tensor_index.contains_key(&info.name) {
            return Err(FormatError::DuplicateTensor { name: info.name });
        }
        tensor_index.insert(info.name.clone(), tensors.len());
        tensors.push(info);
    }

    let data_offset = c
        .pos
        .checked_next_multiple_of(alignment)
        .unwrap_or(usize::MAX);
    let data_len = buf.len().saturating_sub(data_offset);
    check_layout(&tensors, data_len)?;
    Ok(Header {
        version,
        metadata,
        key_index,
        tensors,
        tensor_index,
        alignment,
        data_offset,
    })
}

/// `general.alignment`: any integer type, a power of two that fits in u32.
pub(crate) fn check_alignment(v: &GgufValue) -> Result<usize, FormatError> {
    match v.as_integer() {
        Some(a) if a > 0 && a <= i128::from(u32::MAX) && (a as u64).is_power_of_two() => {
            Ok(a as usize)
        }
        Some(a) => Err(FormatError::BadAlignment {
            value: a.to_string(),
        }),
        None => Err(FormatError::BadAlignment {
            value: format!("a {}", v.type_description()),
        }),
    }
}

fn tensor_info(
    c: &mut Cursor<'_>,
    i: u64,
    alignment: usize,
) -> Result<GgufTensorInfo, FormatError> {
    let name = c.string(|| format!("name of tensor {i}"))?;
    let n_dims = c.u32(|| format!("n_dims of tensor `{name}`"))?;
    if n_dims > 4 {
        return Err(FormatError::TooManyDims { name, n_dims });
    }
    let mut raw = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        raw.push(c.u64(|| format!("dims of tensor `{name}`"))?);
    }
    let type_id = c.u32(|| format!("type of tensor `{name}`"))?;
    let offset = c.u64(|| format!("offset of tensor `{name}`"))?;
    let Some(ggml_type) = GgmlType::from_id(type_id) else {
        return Err(FormatError::UnknownTensorType { name, type_id });
    };
    let (dims, size) = tensor_size(&name, &raw, ggml_type)?;
    if offset % alignment as u64 != 0 {
        return Err(FormatError::MisalignedTensor {
            name,
            offset,
            alignment: alignment as u64,
        });
    }
    let Ok(offset) = usize::try_from(offset) else {
        return Err(FormatError::TensorOutOfBounds {
            name,
            offset,
            size: size as u64,
            data_len: c.remaining(),
        });
    };
    Ok(GgufTensorInfo {
        name,
        dims,
        ggml_type,
        offset,
        size,
    })
}

/// Validate GGML dims (innermost first) for `ty` and return them as `usize` with the byte size.
pub(crate) fn tensor_size(
    name: &str,
    raw: &[u64],
    ty: GgmlType,
) -> Result<(Vec<usize>, usize), FormatError> {
    if raw.contains(&0) {
        return Err(FormatError::ZeroDim {
            name: name.to_string(),
            dims: raw.to_vec(),
        });
    }
    let too_large = || FormatError::TensorTooLarge {
        name: name.to_string(),
        dims: raw.to_vec(),
    };
    // Element count must fit in i64, as in ggml (int64_t ne[]).
    let n_elements = raw
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(too_large)?;
    if n_elements > i64::MAX as u64 {
        return Err(too_large());
    }
    let row_len = raw.first().copied().unwrap_or(1);
    if row_len % ty.block_size() as u64 != 0 {
        return Err(FormatError::RowNotBlockAligned {
            name: name.to_string(),
            row_len,
            ty,
            block_size: ty.block_size(),
        });
    }
    let dims: Vec<usize> = raw
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| too_large())?;
    let row_bytes = ty
        .row_bytes(dims.first().copied().unwrap_or(1))
        .ok_or_else(too_large)?;
    let n_rows = dims
        .iter()
        .skip(1)
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(too_large)?;
    let size = row_bytes.checked_mul(n_rows).ok_or_else(too_large)?;
    if size as u64 > i64::MAX as u64 {
        return Err(too_large());
    }
    Ok((dims, size))
}

/// Every tensor inside the data section, no two sharing bytes.
pub(crate) fn check_layout(tensors: &[GgufTensorInfo], data_len: usize) -> Result<(), FormatError> {
    for t in tensors {
        if t.offset
            .checked_add(t.size)
            .is_none_or(|end| end > data_len)
        {
            return Err(FormatError::TensorOutOfBounds {
                name: t.name.clone(),
                offset: t.offset as u64,
                size: t.size as u64,
                data_len: data_len as u64,
            });
        }
    }
    let mut order: Vec<&GgufTensorInfo> = tensors.iter().collect();
    order.sort_by_key(|t| t.offset);
    for w in order.windows(2) {
        if w[0].offset + w[0].size > w[1].offset {
            return Err(FormatError::OverlappingTensors {
                first: w[0].name.clone(),
                second: w[1].name.clone(),
            });
        }
    }
    Ok(())
}
