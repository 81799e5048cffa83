//! Hugging Face folders with PyTorch weights: the llama-gqa fixture's `model.safetensors`
//! (byte-identical to `crates/models/tests/fixtures/hf/llama-gqa`) rewritten as a `torch.save`
//! zip checkpoint (`pytorch_model.bin`, and sharded with `pytorch_model.bin.index.json`) opens
//! through `HfFolder::open` with tensors identical to the safetensors original; safetensors
//! weights win when both are there; a malicious checkpoint is refused naming the callable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod torch_builder;

use std::path::{Path, PathBuf};

use allmende_formats::hf::HfFolder;
use allmende_formats::pickle::PickleError;
use allmende_formats::{Dtype, FormatError, SafetensorsSet, SafetensorsTensor};
use torch_builder::{state_dict_pickle, torch_zip, Entry, P};

fn llama() -> PathBuf {
    common::fixtures().join("llama-gqa")
}

fn storage_class(d: Dtype) -> &'static str {
    match d {
        Dtype::F32 => "FloatStorage",
        Dtype::F16 => "HalfStorage",
        Dtype::BF16 => "BFloat16Storage",
        other => panic!("fixture dtype {other}"),
    }
}

/// A torch zip checkpoint of `tensors`, each in its own storage like `torch.save` of a
/// freshly loaded state dict.
fn checkpoint(tensors: &[&SafetensorsTensor]) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut storages = Vec::new();
    for (k, t) in tensors.iter().enumerate() {
        let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
        entries.push(Entry::whole(
            &t.name,
            storage_class(t.dtype),
            &k.to_string(),
            &shape,
        ));
        storages.push((k.to_string(), t.data.as_slice().to_vec()));
    }
    torch_zip(&state_dict_pickle(&entries), &storages)
}

/// A scratch folder with the fixture's config.json.
fn folder(name: &str) -> PathBuf {
    let dir = common::scratch(name);
    std::fs::copy(llama().join("config.json"), dir.join("config.json")).unwrap();
    dir
}

fn assert_same(got: &SafetensorsSet, want: &SafetensorsSet) {
    assert_eq!(got.len(), want.len());
    for t in want.tensors() {
        let g = got
            .tensor(&t.name)
            .unwrap_or_else(|| panic!("{} missing", t.name));
        assert_eq!((g.dtype, &g.shape), (t.dtype, &t.shape), "{}", t.name);
        assert_eq!(g.data.as_slice(), t.data.as_slice(), "{}", t.name);
    }
}

fn open(dir: &Path) -> HfFolder {
    HfFolder::open(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

#[test]
fn llama_fixture_from_pytorch_model_bin() {
    let st = open(&llama());
    let all: Vec<&SafetensorsTensor> = st.weights().tensors().collect();
    assert_eq!(all.len(), 21);
    let dir = folder("torch-single");
    std::fs::write(dir.join("pytorch_model.bin"), checkpoint(&all)).unwrap();
    let pt = open(&dir);
    assert_same(pt.weights(), st.weights());
    assert_eq!(pt.config().model_type(), Some("llama"));
}

#[test]
fn llama_fixture_from_sharded_pytorch_checkpoint() {
    let st = open(&llama());
    let all: Vec<&SafetensorsTensor> = st.weights().tensors().collect();
    let (a, b) = all.split_at(all.len() / 2);
    let dir = folder("torch-sharded");
    let names = [
        "pytorch_model-00001-of-00002.bin",
        "pytorch_model-00002-of-00002.bin",
    ];
    let mut map = serde_json::Map::new();
    for (shard, part) in names.iter().zip([a, b]) {
        std::fs::write(dir.join(shard), checkpoint(part)).unwrap();
        for t in part {
            map.insert(t.name.clone(), (*shard).into());
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map});
    std::fs::write(dir.join("pytorch_model.bin.index.json"), index.to_string()).unwrap();
    let pt = open(&dir);
    assert_eq!(pt.weights().files().len(), 2);
    assert_same(pt.weights(), st.weights());

    // A shard name that leaves the folder is refused before anything is opened.
    let bad = serde_json::json!({"weight_map": {"x": "../pytorch_model-00001-of-00002.bin"}});
    std::fs::write(dir.join("pytorch_model.bin.index.json"), bad.to_string()).unwrap();
    let e = HfFolder::open(&dir).unwrap_err();
    assert!(matches!(e, FormatError::BadShard { .. }), "{e}");
}

#[test]
fn safetensors_win_and_malicious_checkpoints_are_refused() {
    let mut evil = P::new();
    evil.proto(2)
        .global("posix", "system")
        .unicode("touch /tmp/pwned")
        .tuple1()
        .reduce()
        .stop();
    let evil = torch_zip(&evil.0, &[]);

    // Both present: the safetensors weights are used and the pickle is never read.
    let dir = folder("torch-both");
    std::fs::copy(
        llama().join("model.safetensors"),
        dir.join("model.safetensors"),
    )
    .unwrap();
    std::fs::write(dir.join("pytorch_model.bin"), &evil).unwrap();
    assert_eq!(open(&dir).weights().len(), 21);

    // Pickle only: refused, the error names the file, the callable and the offset.
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let e = HfFolder::open(&dir).unwrap_err();
    assert!(
        matches!(&e, FormatError::InFile { path, .. } if path.ends_with("pytorch_model.bin")),
        "{e}"
    );
    assert!(
        matches!(e.root(), FormatError::Pickle(PickleError::Forbidden { callable, offset: 2, .. }) if callable == "posix.system"),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("pytorch_model.bin") && msg.contains("posix.system"),
        "{msg}"
    );
}
