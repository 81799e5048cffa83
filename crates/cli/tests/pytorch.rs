//! PyTorch checkpoints from the command line: a Hugging Face folder with `pytorch_model.bin`
//! runs exactly as the same weights in safetensors (restricted unpickler, nothing executed); a
//! malicious checkpoint is refused by `run` naming the callable, and flagged by `scan`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic loudly

mod common;
#[path = "../../formats/tests/torch_builder/mod.rs"]
mod torch_builder;

use std::path::{Path, PathBuf};

use allmende_formats::{Dtype, SafetensorsFile};
use common::{run, s, tiny_hf, TempDir};
use torch_builder::{state_dict_pickle, torch_zip, Entry, P};

/// The tiny llama folder with its weights rewritten as a `torch.save` zip checkpoint.
fn torch_folder(dir: &Path) -> PathBuf {
    let folder = dir.join("llama-torch");
    std::fs::create_dir_all(&folder).unwrap();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"] {
        std::fs::copy(tiny_hf().join(f), folder.join(f)).unwrap();
    }
    let st = SafetensorsFile::open(tiny_hf().join("model.safetensors")).unwrap();
    let (mut entries, mut storages) = (Vec::new(), Vec::new());
    for (k, t) in st.tensors().iter().enumerate() {
        assert_eq!(t.dtype, Dtype::F32);
        let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
        entries.push(Entry::whole(&t.name, "FloatStorage", &k.to_string(), &shape));
        storages.push((k.to_string(), t.data.as_slice().to_vec()));
    }
    std::fs::write(folder.join("pytorch_model.bin"), torch_zip(&state_dict_pickle(&entries), &storages)).unwrap();
    folder
}

#[test]
fn pytorch_checkpoint_gives_the_same_logits_as_safetensors() {
    let dir = TempDir::new("torch-logits");
    let folder = torch_folder(dir.path());
    let ids = "1,5,9,42,7";
    let a = run(&["logits", s(&tiny_hf()), "--ids", ids, "--all-positions", "--json"]).success().json();
    let b = run(&["logits", s(&folder), "--ids", ids, "--all-positions", "--json"]).success().json();
    assert_eq!(a["logits"].as_array().unwrap().len(), 5);
    assert_eq!(a, b);
    // The scanner finds nothing to flag in a benign checkpoint.
    run(&["scan", s(&folder)]).success();
}

#[test]
fn malicious_checkpoint_is_refused_and_flagged_without_running() {
    let dir = TempDir::new("torch-evil");
    let folder = torch_folder(dir.path());
    let marker = dir.join("pwned");
    let mut evil = P::new();
    evil.proto(2).global("posix", "system").unicode(&format!("touch {}", marker.display())).tuple1().reduce().stop();
    std::fs::write(folder.join("pytorch_model.bin"), torch_zip(&evil.0, &[])).unwrap();

    run(&["run", s(&folder), "--raw", "hi", "-n", "1"]).fails_with(&["pytorch_model.bin", "posix.system"]);
    let r = run(&["scan", s(&folder), "--json"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let report = r.json();
    let findings: Vec<&serde_json::Value> =
        report["files"].as_array().unwrap().iter().flat_map(|f| f["findings"].as_array().unwrap()).collect();
    let global = findings.iter().find(|f| f["code"] == "pickle.forbidden-global").expect("forbidden global flagged");
    assert_eq!(global["severity"], "danger");
    assert!(global["message"].as_str().unwrap().contains("posix.system"));
    assert!(!marker.exists(), "the payload ran");
}
