//! The plain data a BOM is built from. The caller (CLI, server) fills these from whatever it has
//! (catalogue entries, GGUF metadata, `config.json`, the model card), so this crate needs no other
//! allmende crate. Every field beyond the name is optional: what is unknown is left out of the BOM.

/// One model: a `machine-learning-model` component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelEntry {
    /// Name as the user knows it (`smollm2-135m-instruct`, `HuggingFaceTB/SmolLM2-135M-Instruct`).
    pub name: String,
    /// Revision (hub commit) or catalogue version.
    pub version: Option<String>,
    /// Who published the model (`HuggingFaceTB`, `Google`).
    pub publisher: Option<String>,
    /// One line about the model (quantisation, role).
    pub description: Option<String>,
    /// Where these bytes came from, each one of: `hf:ORG/REPO[@REVISION][:FILE]`,
    /// `pypi:PACKAGE==VERSION`, an `http(s)://` URL, or a local path. Hub, PyPI and URL sources
    /// become `distribution` external references; every source is also kept as an
    /// `allmende:source` property.
    pub sources: Vec<String>,
    /// The upstream hub repository the weights derive from (`ORG/REPO`, or `hf:ORG/REPO`): its
    /// page becomes the `model-card` external reference.
    pub upstream: Option<String>,
    /// The model's files (one for a GGUF file, several for a model folder).
    pub files: Vec<FileEntry>,
    /// The model's licence.
    pub licence: LicenceInfo,
    /// What the model is.
    pub card: ModelCardInfo,
    /// Extra `(name, value)` properties of the component, e.g. `("allmende:provenance", ...)`.
    /// Names should carry a namespace (`allmende:`); `cdx:` is reserved by CycloneDX.
    pub properties: Vec<(String, String)>,
}

/// One file of a model: a nested `file` component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileEntry {
    /// Path inside the model (`model.safetensors`, `tokenizer.json`, or the GGUF file's name).
    pub path_in_model: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 as 64 hex digits (any case; written lowercase). See [`crate::sha256_file`].
    pub sha256: String,
}

/// A model's licence as identified elsewhere (GGUF `general.license`, card front matter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LicenceInfo {
    /// An SPDX id (`Apache-2.0`, any case), an SPDX expression (`MIT OR Apache-2.0`), a hub
    /// licence id (`gemma`, `llama3.1`), `other`, or `unknown` / empty when nothing is known.
    pub id: String,
    /// Human name (`Gemma Terms of Use`); used as the licence name when `id` is not SPDX.
    pub name: Option<String>,
    /// Where the licence text is (`https://ai.google.dev/gemma/terms`); only `http(s)` URLs are
    /// written.
    pub url: Option<String>,
}

/// What the model is: the `modelCard` of the component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelCardInfo {
    /// Architecture family (`llama`, `gemma3`, `qwen2`, `bert`): `architectureFamily`.
    pub architecture: String,
    /// Concrete architecture (`LlamaForCausalLM`): `modelArchitecture`.
    pub model_architecture: Option<String>,
    /// Number of parameters (weights), as counted from the tensors.
    pub parameters: Option<u64>,
    /// Quantisation in one word (`Q8_0`, `Q4_K_M`, `BF16`).
    pub quantization: Option<String>,
    /// Tensor count per storage type (`("Q8_0", 120)`, `("F32", 45)`), in the caller's order.
    pub tensor_types: Vec<(String, u64)>,
    /// Trained context length in tokens.
    pub context_length: Option<u64>,
    /// The task (`text-generation`, `feature-extraction`). These two also give the card's
    /// input/output formats (`text` → `text`, `text` → `embedding`).
    pub task: Option<String>,
}

/// The tool that made the BOM (`metadata.tools.components`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// Tool name.
    pub name: String,
    /// Tool version.
    pub version: String,
}

impl Tool {
    /// allmende at `version` (pass `env!("CARGO_PKG_VERSION")` of the binary).
    pub fn allmende(version: &str) -> Tool {
        Tool {
            name: "allmende".to_string(),
            version: version.to_string(),
        }
    }
}
