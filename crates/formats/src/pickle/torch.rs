//! `torch.save` state dicts into safetensors tensors.
//!
//! The zip format (PyTorch ≥ 1.6): one top-level folder `<prefix>/` holding `data.pkl` (the
//! pickled state dict, storages as persistent ids `('storage', torch.XStorage, key, location,
//! numel)`), `data/<key>` (each storage's raw little-endian bytes), `byteorder` and `version`.
//! The pickle goes through the restricted unpickler; tensors must be contiguous (strides of a
//! row-major layout, any `storage_offset`), and are copied into one in-memory safetensors file.
//! The legacy (pre-1.6, non-zip) format is read too: the same pickle, with storages appended
//! to the stream after it.

use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use super::machine::{Machine, Node, TensorRef};
use super::PickleError;
use crate::safetensors::{SafetensorsFile, SafetensorsSet, SafetensorsWriter};
use crate::FormatError;

/// Largest `data.pkl` read (it holds structure only; tensor bytes live in other members).
const MAX_PICKLE_BYTES: u64 = 1 << 30;

fn ck(message: impl Into<String>) -> FormatError {
    FormatError::Pickle(PickleError::checkpoint(message))
}

/// The first pickle of a legacy checkpoint: `pickle.dumps(MAGIC_NUMBER, protocol=2)`, the
/// 10-byte little-endian integer 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.',
];

/// Read a `torch.save` checkpoint held in memory (zip format, or the legacy pre-1.6 stream of
/// pickles followed by raw storages) into safetensors tensors.
pub fn read_checkpoint(bytes: &[u8]) -> Result<SafetensorsFile, FormatError> {
    if bytes.starts_with(&LEGACY_MAGIC) {
        return read_legacy(bytes);
    }
    if !bytes.starts_with(b"PK\x03\x04") {
        let message = if bytes.starts_with(&[0x80]) {
            "a pickle, but neither a PyTorch zip checkpoint nor a legacy one (no magic number)"
        } else {
            "not a PyTorch checkpoint (no zip signature, no legacy magic number)"
        };
        return Err(ck(message));
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ck(format!("unreadable zip archive: {e}")))?;
    let names: HashSet<String> = zip.file_names().map(str::to_string).collect();
    let pkls: Vec<&String> = names
        .iter()
        .filter(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .collect();
    let pkl_name = match pkls[..] {
        [one] => one.clone(),
        [] => return Err(ck("no `<prefix>/data.pkl` in the archive")),
        _ => return Err(ck("more than one `<prefix>/data.pkl` in the archive")),
    };
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let byteorder = format!("{prefix}byteorder");
    if names.contains(&byteorder) {
        let b = read_member(&mut zip, &byteorder, 64)?;
        if b.trim_ascii() != b"little" {
            return Err(ck(format!(
                "byte order `{}` is not supported (only little-endian)",
                String::from_utf8_lossy(&b).escape_debug()
            )));
        }
    }
    let pkl = read_member(&mut zip, &pkl_name, MAX_PICKLE_BYTES)?;
    let (m, root, _) = super::load(&pkl)?;
    let entries = state_dict(&m, root)?;
    assemble(&m, &entries, |key, expected| {
        if key.is_empty() || key.contains(['/', '\\']) || key.contains("..") {
            return Err(ck(format!(
                "storage key `{}` is not a plain name",
                key.escape_debug()
            )));
        }
        let member = format!("{prefix}data/{key}");
        if !names.contains(&member) {
            return Err(ck(format!(
                "storage `{member}` is missing from the archive"
            )));
        }
        // The persistent id fixes the storage's size, which bounds what is read.
        read_member(&mut zip, &member, expected)
    })
}

/// The legacy format (`_legacy_save`): pickles of the magic number, the protocol version and
/// `sys_info`, then the object (storages as `('storage', type, key, location, numel,
/// view_metadata)`), then the sorted list of storage keys, then per key an 8-byte element
/// count and the storage's bytes.
fn read_legacy(bytes: &[u8]) -> Result<SafetensorsFile, FormatError> {
    let mut pos = LEGACY_MAGIC.len();
    let next = |pos: &mut usize| -> Result<_, FormatError> {
        let base = *pos;
        let (m, r, n) = super::load(&bytes[base..]).map_err(|e| e.shifted(base))?;
        *pos += n;
        Ok((m, r))
    };
    let _version = next(&mut pos)?;
    let (si, si_root) = next(&mut pos)?;
    if let Node::Dict(items) = si.node(si_root) {
        for &(k, v) in items {
            if matches!(si.node(k), Node::Str(s) if s == "little_endian")
                && matches!(si.node(v), Node::Bool(false))
            {
                return Err(ck("big-endian legacy checkpoints are not supported"));
            }
        }
    }
    let (m, root) = next(&mut pos)?;
    let entries = state_dict(&m, root)?;
    let (km, kroot) = next(&mut pos)?;
    let Node::List(keys) = km.node(kroot) else {
        return Err(ck("the storage-key list is not a list"));
    };
    let keys: Vec<String> = keys
        .iter()
        .map(|&k| match km.node(k) {
            Node::Str(s) => Ok(s.clone()),
            _ => Err(ck("a storage key is not a string")),
        })
        .collect::<Result<_, _>>()?;
    // Storages follow in key order; find each one's span.
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    for (_, t) in &entries {
        if let Node::Storage { key, dtype, .. } = m.node(t.storage) {
            sizes.insert(key, dtype.size());
        }
    }
    let mut spans: HashMap<String, (usize, usize)> = HashMap::with_capacity(keys.len());
    for key in keys {
        let es = *sizes
            .get(key.as_str())
            .ok_or_else(|| ck(format!("storage `{key}` is used by no tensor")))?;
        let Some(n) = bytes.get(pos..pos + 8) else {
            return Err(ck(format!("storage `{key}`: file ends before its size")));
        };
        let mut a = [0u8; 8];
        a.copy_from_slice(n);
        let numel = u64::from_le_bytes(a);
        let len = numel
            .checked_mul(es as u64)
            .and_then(|l| usize::try_from(l).ok())
            .filter(|&l| l <= bytes.len() - pos - 8)
            .ok_or_else(|| {
                ck(format!(
                    "storage `{key}`: {numel} elements run past the end of the file"
                ))
            })?;
        spans.insert(key, (pos + 8, len));
        pos += 8 + len;
    }
    assemble(&m, &entries, |key, expected| {
        let &(at, len) = spans
            .get(key)
            .ok_or_else(|| ck(format!("storage `{key}` is not in the file")))?;
        if len as u64 != expected {
            return Err(ck(format!(
                "storage `{key}` holds {len} bytes, its persistent id says {expected}"
            )));
        }
        Ok(bytes[at..at + len].to_vec())
    })
}

/// Copy each tensor out of its storage (fetched once per key, with the byte size its
/// persistent id states) into one safetensors file.
fn assemble(
    m: &Machine,
    entries: &[(String, TensorRef)],
    mut storage_bytes: impl FnMut(&str, u64) -> Result<Vec<u8>, FormatError>,
) -> Result<SafetensorsFile, FormatError> {
    // Filled storage by storage, so that one storage is in memory at a time. Keys in first
    // use order, each with the tensors that use it (maps keep this linear in the tensor
    // count, which a hostile pickle chooses).
    let mut data: Vec<Option<Vec<u8>>> = vec![None; entries.len()];
    let mut keys: Vec<(&str, u64)> = Vec::new();
    let mut users: HashMap<&str, Vec<usize>> = HashMap::new();
    for (k, (_, t)) in entries.iter().enumerate() {
        if let Node::Storage { key, dtype, numel } = m.node(t.storage) {
            let u = users.entry(key.as_str()).or_default();
            if u.is_empty() {
                let bytes = numel
                    .checked_mul(dtype.size() as u64)
                    .ok_or_else(|| ck(format!("storage `{key}` is too large")))?;
                keys.push((key, bytes));
            }
            u.push(k);
        }
    }
    for (key, expected) in keys {
        let storage = storage_bytes(key, expected)?;
        for &k in users.get(key).map(Vec::as_slice).unwrap_or_default() {
            let (name, t) = &entries[k];
            data[k] = Some(tensor_bytes(m, name, t, &storage)?);
        }
    }

    let mut w = SafetensorsWriter::new();
    w.set_metadata("format", "pt");
    for ((name, t), bytes) in entries.iter().zip(data) {
        let Node::Storage { dtype, .. } = m.node(t.storage) else {
            return Err(ck(format!("tensor `{name}` has no storage")));
        };
        let bytes = bytes.ok_or_else(|| ck(format!("tensor `{name}` has no data")))?;
        let shape = t
            .size
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ck(format!("tensor `{name}` is too large")))?;
        w.add(name.clone(), *dtype, &shape, bytes)?;
    }
    SafetensorsFile::from_bytes(w.to_bytes())
}

/// Open a checkpoint file (`pytorch_model.bin`) or the shards of an index
/// (`pytorch_model.bin.index.json`). Errors name the file.
pub fn open_checkpoint(path: impl AsRef<Path>) -> Result<SafetensorsSet, FormatError> {
    let path = path.as_ref();
    if path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".index.json"))
    {
        return open_index(path);
    }
    SafetensorsSet::from_files(vec![open_file(path)?])
}

fn open_file(path: &Path) -> Result<SafetensorsFile, FormatError> {
    let storage = crate::mmap::map_file(path)?;
    read_checkpoint(storage.as_slice()).map_err(|e| e.in_file(path))
}

fn open_index(index: &Path) -> Result<SafetensorsSet, FormatError> {
    let bytes = std::fs::read(index).map_err(|e| FormatError::io(index, e))?;
    let top = crate::json::value(&bytes, "checkpoint index").map_err(|e| e.in_file(index))?;
    let bad = |shard: &str, reason: &str| FormatError::BadShard {
        index: index.to_path_buf(),
        shard: shard.to_string(),
        reason: reason.to_string(),
    };
    let Some(map) = top.get("weight_map").and_then(|m| m.as_object()) else {
        return Err(FormatError::InvalidHeader {
            what: "checkpoint index".into(),
            message: "has no `weight_map` object".into(),
        }
        .in_file(index));
    };
    let mut shards: Vec<&str> = Vec::new();
    for v in map.values() {
        let s = v
            .as_str()
            .ok_or_else(|| bad("", "weight_map value is not a string"))?;
        if !shards.contains(&s) {
            shards.push(s);
        }
    }
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut files = Vec::with_capacity(shards.len());
    for s in &shards {
        if s.is_empty() || *s == "." || *s == ".." || s.contains(['/', '\\', '\0', ':']) {
            return Err(bad(s, "is not a plain file name"));
        }
        let p: PathBuf = dir.join(s);
        if !p.is_file() {
            return Err(bad(s, "does not exist"));
        }
        files.push(open_file(&p)?);
    }
    let set = SafetensorsSet::from_files(files)?;
    for (name, shard) in map {
        if set.tensor(name).is_none() {
            return Err(bad(
                shard.as_str().unwrap_or(""),
                &format!("does not contain tensor `{name}` that the weight map assigns to it"),
            ));
        }
    }
    Ok(set)
}

/// A zip member's bytes, at most `cap` of them (declared and actual sizes both checked).
fn read_member(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    cap: u64,
) -> Result<Vec<u8>, FormatError> {
    let f = zip.by_name(name).map_err(|e| ck(format!("{name}: {e}")))?;
    let size = f.size();
    if size > cap {
        return Err(ck(format!(
            "{name}: {size} bytes, more than the {cap} allowed"
        )));
    }
    let mut out = Vec::new();
    // `take` bounds what a lying header (or a decompression bomb) can produce.
    f.take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| ck(format!("{name}: {e}")))?;
    if out.len() as u64 != size {
        return Err(ck(format!(
            "{name}: {} bytes read, the directory says {size}",
            out.len()
        )));
    }
    Ok(out)
}

/// The `(name, tensor)` entries of the unpickled state dict, in order.
fn state_dict(m: &Machine, root: u32) -> Result<Vec<(String, TensorRef)>, FormatError> {
    let Node::Dict(items) = m.node(root) else {
        return Err(ck("the pickled object is not a dict (state dict)"));
    };
    let mut out: Vec<(String, TensorRef)> = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    for &(k, v) in items {
        let Node::Str(name) = m.node(k) else {
            return Err(ck("a state-dict key is not a string"));
        };
        let Node::Tensor(t) = m.node(v) else {
            return Err(ck(format!("state-dict entry `{name}` is not a tensor")));
        };
        if !seen.insert(name.as_str()) {
            return Err(FormatError::DuplicateTensor { name: name.clone() });
        }
        out.push((name.clone(), t.clone()));
    }
    Ok(out)
}

/// The bytes of a contiguous tensor inside its storage's bytes.
fn tensor_bytes(
    m: &Machine,
    name: &str,
    t: &TensorRef,
    storage: &[u8],
) -> Result<Vec<u8>, FormatError> {
    let Node::Storage { dtype, numel, .. } = m.node(t.storage) else {
        return Err(ck(format!("tensor `{name}` has no storage")));
    };
    let es = dtype.size() as u64;
    let too_big = || ck(format!("tensor `{name}`: sizes overflow"));
    let storage_bytes = numel.checked_mul(es).ok_or_else(too_big)?;
    if storage_bytes != storage.len() as u64 {
        return Err(ck(format!(
            "tensor `{name}`: storage holds {} bytes, its persistent id says {numel} × {es}",
            storage.len()
        )));
    }
    // Row-major strides; dimensions of size 1 may have any stride.
    let mut expect = 1u64;
    for (&d, &s) in t.size.iter().zip(&t.stride).rev() {
        if d > 1 && s != expect {
            return Err(ck(format!(
                "tensor `{name}` is not contiguous (size {:?}, stride {:?}); \
                 save it with `.contiguous()`",
                t.size, t.stride
            )));
        }
        expect = expect.checked_mul(d).ok_or_else(too_big)?;
    }
    let n = expect;
    let begin = t.offset.checked_mul(es).ok_or_else(too_big)?;
    let end = t
        .offset
        .checked_add(n)
        .and_then(|e| e.checked_mul(es))
        .ok_or_else(too_big)?;
    if end > storage.len() as u64 {
        return Err(FormatError::TensorOutOfBounds {
            name: name.to_string(),
            offset: begin,
            size: end - begin,
            data_len: storage.len() as u64,
        });
    }
    Ok(storage[begin as usize..end as usize].to_vec())
}
