//! Every architecture in the registry has a fixture: each HF class name is the
//! `architectures[0]` of some `tests/fixtures/hf/*/config.json`, and each GGUF arch string is the
//! `general.architecture` of some `tests/fixtures/gguf/*.gguf` (vLLM's test-registry pattern:
//! an arch cannot be added without a fixture).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use allmende_formats::GgufFile;
use allmende_models::registry::ARCHS;
use common::fixture;

#[test]
fn every_registered_arch_has_a_fixture() {
    let mut hf_classes = Vec::new();
    for entry in std::fs::read_dir(fixture("hf")).unwrap() {
        let cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path().join("config.json")).unwrap()).unwrap();
        hf_classes.push(cfg["architectures"][0].as_str().unwrap().to_string());
    }
    let mut gguf_archs = Vec::new();
    for entry in std::fs::read_dir(fixture("gguf")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "gguf") {
            gguf_archs.push(GgufFile::open(&path).unwrap().architecture().unwrap().to_string());
        }
    }
    let mut missing = Vec::new();
    for arch in ARCHS {
        for class in arch.hf_classes {
            if !hf_classes.iter().any(|c| c == class) {
                missing.push(format!("{}: HF class {class}", arch.id));
            }
        }
        for name in arch.gguf_archs {
            if !gguf_archs.iter().any(|c| c == name) {
                missing.push(format!("{}: GGUF arch {name}", arch.id));
            }
        }
    }
    assert!(missing.is_empty(), "registered without a fixture: {missing:?}");
}

#[test]
fn every_fixture_maps_to_a_registered_arch() {
    for entry in std::fs::read_dir(fixture("hf")).unwrap() {
        let path = entry.unwrap().path();
        let cfg = allmende_formats::HfConfig::open(path.join("config.json")).unwrap();
        let spec = allmende_models::spec_from_hf_config(&cfg).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        spec.validate().unwrap();
    }
}
