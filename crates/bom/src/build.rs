//! Assemble the CycloneDX 1.6 document: metadata (timestamp, allmende as the tool) and one
//! `machine-learning-model` component per model, with its files as nested `file` components.
//! Field choices follow the official 1.6 JSON schema (`bom-1.6.schema.json`): `modelCard` holds
//! the task and architecture in `modelParameters` and the rest (parameters, quantisation, context
//! length) as `properties`, since the schema has no fields for those.

use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::error::BomError;
use crate::hash::normalise_sha256;
use crate::licence::licenses_json;
use crate::model::{ModelCardInfo, ModelEntry, Tool};
use crate::serial::Serial;
use crate::source;
use crate::url::safe_url;

/// The CycloneDX version written.
pub const SPEC_VERSION: &str = "1.6";
/// The `$schema` written, so editors and validators find the schema.
pub const SCHEMA_URL: &str = "http://cyclonedx.org/schema/bom-1.6.schema.json";
/// Namespace of allmende's property names.
const NS: &str = "allmende:";

/// The BOM for `models`, made by `tool`, with the given serial number and creation time
/// (fixed values give a byte-identical document).
pub fn build_bom(
    models: &[ModelEntry],
    tool: &Tool,
    serial: &Serial,
    timestamp: DateTime<Utc>,
) -> Result<Value, BomError> {
    let mut refs = Refs::default();
    let tool_component = json!({
        "type": "application",
        "bom-ref": refs.unique(format!("tool:{}", tool.name)),
        "name": tool.name,
        "version": tool.version,
    });
    let components = models
        .iter()
        .enumerate()
        .map(|(index, model)| model_component(index, model, &mut refs))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "$schema": SCHEMA_URL,
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial.as_str(),
        "version": 1,
        "metadata": {
            "timestamp": timestamp.to_rfc3339_opts(SecondsFormat::Secs, true),
            "tools": { "components": [tool_component] },
        },
        "components": components,
    }))
}

/// [`build_bom`] with a random serial number and the current time.
pub fn build_bom_now(models: &[ModelEntry], tool: &Tool) -> Result<Value, BomError> {
    build_bom(models, tool, &Serial::random(), Utc::now())
}

/// Hands out `bom-ref`s, which must be unique within the BOM: a repeat gets `#2`, `#3`, ...
#[derive(Default)]
struct Refs(HashSet<String>);

impl Refs {
    fn unique(&mut self, base: String) -> String {
        if self.0.insert(base.clone()) {
            return base;
        }
        let mut n = 2u64;
        loop {
            let candidate = format!("{base}#{n}");
            if self.0.insert(candidate.clone()) {
                return candidate;
            }
            n += 1;
        }
    }
}

/// `value` trimmed, if it is not blank.
fn nonblank(value: Option<&String>) -> Option<&str> {
    value.map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn property(name: &str, value: impl Into<String>) -> Value {
    json!({ "name": format!("{NS}{name}"), "value": value.into() })
}

fn sha256_hash(content: &str) -> Value {
    json!([{ "alg": "SHA-256", "content": content }])
}

fn model_component(index: usize, model: &ModelEntry, refs: &mut Refs) -> Result<Value, BomError> {
    let name = model.name.trim();
    if name.is_empty() {
        return Err(BomError::EmptyName { index });
    }
    let version = nonblank(model.version.as_ref());
    let model_ref = refs.unique(match version {
        Some(v) => format!("model:{name}@{v}"),
        None => format!("model:{name}"),
    });

    let mut files = Vec::with_capacity(model.files.len());
    let mut hashes = Vec::with_capacity(model.files.len());
    for file in &model.files {
        let path = file.path_in_model.trim();
        if path.is_empty() {
            return Err(BomError::EmptyFilePath {
                model: name.to_string(),
            });
        }
        let sha = normalise_sha256(file.sha256.trim()).ok_or_else(|| BomError::BadHash {
            model: name.to_string(),
            file: path.to_string(),
            sha256: file.sha256.clone(),
        })?;
        files.push(json!({
            "type": "file",
            "bom-ref": refs.unique(format!("{model_ref}/{path}")),
            "name": path,
            "hashes": sha256_hash(&sha),
            "properties": [property("size-bytes", file.size.to_string())],
        }));
        hashes.push(sha);
    }

    let mut c = Map::new();
    c.insert("type".into(), json!("machine-learning-model"));
    c.insert("bom-ref".into(), json!(model_ref));
    if let Some(publisher) = nonblank(model.publisher.as_ref()) {
        c.insert("publisher".into(), json!(publisher));
    }
    c.insert("name".into(), json!(name));
    if let Some(v) = version {
        c.insert("version".into(), json!(v));
    }
    if let Some(d) = nonblank(model.description.as_ref()) {
        c.insert("description".into(), json!(d));
    }
    // A single-file model is that file: its hash identifies the model itself.
    if let [only] = hashes.as_slice() {
        c.insert("hashes".into(), sha256_hash(only));
    }
    if let Some(licenses) = licenses_json(&model.licence) {
        c.insert("licenses".into(), licenses);
    }
    if let Some(purl) = model.sources.iter().find_map(|s| source::purl(s.trim())) {
        c.insert("purl".into(), json!(purl));
    }
    let refs_out = external_references(model);
    if !refs_out.is_empty() {
        c.insert("externalReferences".into(), Value::Array(refs_out));
    }
    if !files.is_empty() {
        c.insert("components".into(), Value::Array(files));
    }
    c.insert("modelCard".into(), model_card(&model.card));

    let mut props = Vec::new();
    for s in model
        .sources
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        props.push(property("source", s));
    }
    if let Some(upstream) = nonblank(model.upstream.as_ref()) {
        props.push(property("upstream", upstream));
    }
    if let Some(id) = nonblank(Some(&model.licence.id)) {
        // The id as found (`gemma`, `apache-2.0`), which the licence form may have rewritten.
        props.push(property("licence-id", id));
    }
    if !model.files.is_empty() {
        let total: u64 = model.files.iter().map(|f| f.size).sum();
        props.push(property("size-bytes", total.to_string()));
    }
    for (name, value) in &model.properties {
        props.push(json!({ "name": name, "value": value }));
    }
    if !props.is_empty() {
        c.insert("properties".into(), Value::Array(props));
    }
    Ok(Value::Object(c))
}

/// Distribution pages of the sources, the upstream model card, the licence text.
fn external_references(model: &ModelEntry) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut push = |r: Value| {
        if !out.contains(&r) {
            out.push(r);
        }
    };
    for s in &model.sources {
        if let Some(r) = source::distribution(s.trim()) {
            push(r);
        }
    }
    if let Some(r) = nonblank(model.upstream.as_ref()).and_then(source::model_card) {
        push(r);
    }
    // The schema asks for a `license` reference wherever a licence URL is given.
    if let Some(url) = model.licence.url.as_deref().and_then(safe_url) {
        push(json!({ "type": "license", "url": url }));
    }
    out
}

fn model_card(card: &ModelCardInfo) -> Value {
    let mut params = Map::new();
    let task = nonblank(card.task.as_ref());
    if let Some(task) = task {
        params.insert("task".into(), json!(task));
    }
    if !card.architecture.trim().is_empty() {
        params.insert("architectureFamily".into(), json!(card.architecture.trim()));
    }
    if let Some(arch) = nonblank(card.model_architecture.as_ref()) {
        params.insert("modelArchitecture".into(), json!(arch));
    }
    let io = match task {
        Some("text-generation") => Some(("text", "text")),
        Some("feature-extraction") => Some(("text", "embedding")),
        _ => None,
    };
    if let Some((input, output)) = io {
        params.insert("inputs".into(), json!([{ "format": input }]));
        params.insert("outputs".into(), json!([{ "format": output }]));
    }

    let mut props = Vec::new();
    if let Some(n) = card.parameters {
        props.push(property("parameters", n.to_string()));
    }
    if let Some(q) = nonblank(card.quantization.as_ref()) {
        props.push(property("quantization", q));
    }
    if !card.tensor_types.is_empty() {
        let summary: Vec<String> = card
            .tensor_types
            .iter()
            .map(|(ty, n)| format!("{ty}:{n}"))
            .collect();
        props.push(property("tensor-types", summary.join(", ")));
    }
    if let Some(n) = card.context_length {
        props.push(property("context-length", n.to_string()));
    }

    let mut out = Map::new();
    if !params.is_empty() {
        out.insert("modelParameters".into(), Value::Object(params));
    }
    if !props.is_empty() {
        out.insert("properties".into(), Value::Array(props));
    }
    Value::Object(out)
}
