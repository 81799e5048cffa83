//! One model's safetensors weights: a single file or the shards listed by a
//! `model.safetensors.index.json` (`{"metadata": {...}, "weight_map": {tensor: shard file}}`,
//! as written by transformers `save_pretrained` / huggingface_hub `split_torch_state_dict`).
//!
//! Shard names must be plain file names next to the index (no directories, no `..`): an index
//! from an untrusted download cannot make the reader open other files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{SafetensorsFile, SafetensorsTensor};
use crate::FormatError;

/// A model's tensors across one or more safetensors files, looked up by name.
#[derive(Debug)]
pub struct SafetensorsSet {
    files: Vec<SafetensorsFile>,
    /// name → (file, tensor index in that file)
    index: HashMap<String, (usize, usize)>,
    /// `metadata` of the index file (e.g. `total_size`), `Null` for a single file.
    index_metadata: Value,
}

impl SafetensorsSet {
    /// Open `path`: an `*.index.json` file opens its shards, anything else is one safetensors file.
    pub fn open(path: impl AsRef<Path>) -> Result<SafetensorsSet, FormatError> {
        let path = path.as_ref();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".index.json"))
        {
            SafetensorsSet::open_index(path)
        } else {
            SafetensorsSet::from_files(vec![SafetensorsFile::open(path)?])
        }
    }

    /// Open the shards listed by a sharded-checkpoint index file.
    pub fn open_index(index_path: impl AsRef<Path>) -> Result<SafetensorsSet, FormatError> {
        let index_path = index_path.as_ref();
        let bytes = std::fs::read(index_path).map_err(|e| FormatError::io(index_path, e))?;
        let (metadata, map) = parse_index(&bytes).map_err(|e| e.in_file(index_path))?;
        let dir = index_path.parent().unwrap_or(Path::new("."));
        let bad = |shard: &str, reason: String| FormatError::BadShard {
            index: index_path.to_path_buf(),
            shard: shard.to_string(),
            reason,
        };

        // Shards in order of first mention.
        let mut shard_names: Vec<&str> = Vec::new();
        for (_, shard) in &map {
            if !shard_names.contains(&shard.as_str()) {
                shard_names.push(shard);
            }
        }
        let mut files = Vec::with_capacity(shard_names.len());
        for shard in &shard_names {
            if !is_plain_file_name(shard) {
                return Err(bad(shard, "is not a plain file name".to_string()));
            }
            let shard_path: PathBuf = dir.join(shard);
            if !shard_path.is_file() {
                return Err(bad(
                    shard,
                    format!("does not exist ({})", shard_path.display()),
                ));
            }
            files.push(SafetensorsFile::open(&shard_path)?);
        }
        let mut set = SafetensorsSet::from_files(files)?;
        set.index_metadata = metadata;
        for (name, shard) in &map {
            let found = set.index.get(name).map(|&(f, _)| shard_names[f]);
            if found != Some(shard.as_str()) {
                return Err(bad(
                    shard,
                    format!("does not contain tensor `{name}` that the weight map assigns to it"),
                ));
            }
        }
        Ok(set)
    }

    /// Combine already-open files; a tensor name in two files is an error.
    pub fn from_files(files: Vec<SafetensorsFile>) -> Result<SafetensorsSet, FormatError> {
        let mut index = HashMap::new();
        for (fi, f) in files.iter().enumerate() {
            for (ti, t) in f.tensors().iter().enumerate() {
                if index.insert(t.name.clone(), (fi, ti)).is_some() {
                    return Err(FormatError::DuplicateTensor {
                        name: t.name.clone(),
                    });
                }
            }
        }
        Ok(SafetensorsSet {
            files,
            index,
            index_metadata: Value::Null,
        })
    }

    /// The files, in shard order.
    pub fn files(&self) -> &[SafetensorsFile] {
        &self.files
    }

    /// Tensor `name`, from whichever shard holds it.
    pub fn tensor(&self, name: &str) -> Option<&SafetensorsTensor> {
        let &(f, t) = self.index.get(name)?;
        self.files.get(f)?.tensors().get(t)
    }

    /// All tensors: file by file, each in header order.
    pub fn tensors(&self) -> impl Iterator<Item = &SafetensorsTensor> {
        self.files.iter().flat_map(|f| f.tensors())
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The index file's `metadata` object (`Null` for a single file or when absent).
    pub fn index_metadata(&self) -> &Value {
        &self.index_metadata
    }
}

fn is_plain_file_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0']) && !s.contains(':')
}

/// `(metadata, [(tensor, shard)])` from an index file.
fn parse_index(bytes: &[u8]) -> Result<(Value, Vec<(String, String)>), FormatError> {
    const WHAT: &str = "safetensors index";
    let top = crate::json::value(bytes, WHAT)?;
    let Value::Object(top) = top else {
        return Err(FormatError::InvalidHeader {
            what: WHAT.into(),
            message: "is not a JSON object".into(),
        });
    };
    let metadata = top.get("metadata").cloned().unwrap_or(Value::Null);
    // Re-read `weight_map` in order and with duplicate detection.
    let Some(wm) = top.get("weight_map") else {
        return Err(FormatError::InvalidHeader {
            what: WHAT.into(),
            message: "has no `weight_map`".into(),
        });
    };
    if !wm.is_object() {
        return Err(FormatError::InvalidHeader {
            what: WHAT.into(),
            message: "`weight_map` is not an object".into(),
        });
    }
    let raw = weight_map_raw(bytes)?;
    if let Some(name) = raw.duplicate {
        return Err(FormatError::DuplicateTensor { name });
    }
    let mut map = Vec::with_capacity(raw.entries.len());
    for (name, v) in raw.entries {
        let Value::String(shard) = v else {
            return Err(FormatError::InvalidHeader {
                what: WHAT.into(),
                message: format!("weight_map entry `{name}` is not a file name string"),
            });
        };
        map.push((name, shard));
    }
    Ok((metadata, map))
}

/// The `weight_map` object of an index, parsed with order and duplicates kept.
fn weight_map_raw(bytes: &[u8]) -> Result<crate::json::OrderedObject, FormatError> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: crate::json::OrderedObject,
    }
    serde_json::from_slice::<Index>(bytes)
        .map(|i| i.weight_map)
        .map_err(|e| FormatError::InvalidJson {
            what: "safetensors index".into(),
            message: e.to_string(),
        })
}
