//! `allmende inspect`: what a model file or folder holds, read from metadata only (no weights
//! are loaded): architecture, parameter count, quantization mix, context length, tokenizer, chat
//! template and licence metadata.

use std::collections::BTreeMap;
use std::path::Path;

use allmende_formats::{GgufFile, GgufValue, HfFolder};
use anyhow::Result;
use serde_json::{json, Map, Value};

/// Builds the inspection report as JSON (the human output prints the same fields).
pub fn report(path: &Path, with_tensors: bool) -> Result<Value> {
    if path.is_dir() {
        hf_report(path, with_tensors)
    } else {
        gguf_report(path, with_tensors)
    }
}

/// `allmende inspect MODEL [--json] [--tensors]`.
pub fn run(model: &str, as_json: bool, with_tensors: bool) -> Result<()> {
    let path = super::store::resolve_model(model)?;
    let r = report(&path, with_tensors)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    print_human(&r);
    Ok(())
}

fn print_human(r: &Value) {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    };
    for key in ["path", "format", "architecture", "name", "parameters", "file_size", "context_length", "n_layer", "n_embd"] {
        println!("{:<16} {}", key, s(&r[key]));
    }
    if let Some(mix) = r["quantization"].as_object() {
        let parts: Vec<String> = mix
            .iter()
            .map(|(k, v)| format!("{k}: {} tensors, {:.1} MB", v["tensors"], v["bytes"].as_f64().unwrap_or(0.0) / 1e6))
            .collect();
        println!("{:<16} {}", "quantization", parts.join("; "));
    }
    let tok = &r["tokenizer"];
    println!("{:<16} {} (pre: {}, vocab {})", "tokenizer", s(&tok["model"]), s(&tok["pre"]), s(&tok["vocab_size"]));
    match r["chat_template"].as_str() {
        Some(t) => {
            let first = t.lines().next().unwrap_or("");
            println!("{:<16} {} chars, starts `{}`", "chat_template", t.len(), first.chars().take(60).collect::<String>());
        }
        None => println!("{:<16} none (base model: use --raw)", "chat_template"),
    }
    let lic = &r["license"];
    if lic.as_object().is_some_and(|m| !m.is_empty()) {
        for (k, v) in lic.as_object().into_iter().flatten() {
            println!("{:<16} {}", format!("license.{k}"), s(v));
        }
    } else {
        println!("{:<16} none declared", "license");
    }
    if let Some(ts) = r["tensors"].as_array() {
        println!();
        for t in ts {
            println!("{:<40} {:<6} {}", s(&t["name"]), s(&t["type"]), s(&t["shape"]));
        }
    }
}

fn gguf_value_json(v: &GgufValue) -> Value {
    match v {
        GgufValue::String(s) => Value::String(s.clone()),
        GgufValue::Bool(b) => Value::Bool(*b),
        GgufValue::Array(_) => Value::String(v.type_description()),
        other => other
            .as_integer()
            .map(|i| json!(i as i64))
            .or_else(|| other.as_float().map(|f| json!(f)))
            .unwrap_or(Value::Null),
    }
}

fn gguf_report(path: &Path, with_tensors: bool) -> Result<Value> {
    let f = GgufFile::open(path).map_err(|e| super::about_path(path, e))?;
    let arch = f.architecture().unwrap_or("unknown").to_string();
    let key = |k: &str| f.value(&format!("{arch}.{k}")).map(gguf_value_json).unwrap_or(Value::Null);
    let mut params: u64 = 0;
    let mut mix: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for t in f.tensors() {
        params += t.n_elements() as u64;
        let e = mix.entry(t.ggml_type.name().to_string()).or_default();
        e.0 += 1;
        e.1 += t.size as u64;
    }
    let mut license = Map::new();
    for (k, v) in f.metadata() {
        if let Some(rest) = k.strip_prefix("general.license") {
            let name = rest.trim_start_matches('.');
            license.insert(if name.is_empty() { "id".to_string() } else { name.to_string() }, gguf_value_json(v));
        }
    }
    let vocab = f.get_str_array("tokenizer.ggml.tokens").map(|t| t.len()).ok();
    let mut r = json!({
        "path": path.display().to_string(),
        "format": format!("gguf v{}", f.version()),
        "architecture": arch,
        "name": f.value("general.name").map(gguf_value_json),
        "parameters": params,
        "file_size": std::fs::metadata(path).map(|m| m.len()).ok(),
        "context_length": key("context_length"),
        "n_layer": key("block_count"),
        "n_embd": key("embedding_length"),
        "n_head": key("attention.head_count"),
        "n_head_kv": key("attention.head_count_kv"),
        "quantization": mix.iter().map(|(k, (n, b))| (k.clone(), json!({"tensors": n, "bytes": b}))).collect::<Map<_, _>>(),
        "tokenizer": {
            "model": f.value("tokenizer.ggml.model").map(gguf_value_json),
            "pre": f.value("tokenizer.ggml.pre").map(gguf_value_json),
            "vocab_size": vocab,
        },
        "chat_template": f.value("tokenizer.chat_template").map(gguf_value_json),
        "license": license,
    });
    if with_tensors {
        r["tensors"] = f
            .tensors()
            .iter()
            .map(|t| json!({"name": t.name, "type": t.ggml_type.name(), "shape": t.shape(), "bytes": t.size}))
            .collect();
    }
    Ok(r)
}

fn hf_report(dir: &Path, with_tensors: bool) -> Result<Value> {
    let folder = HfFolder::open(dir).map_err(|e| super::about_path(dir, e))?;
    let cfg = folder.config();
    let mut params: u64 = 0;
    let mut mix: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut tensors = Vec::new();
    for file in folder.weights().files() {
        for t in file.tensors() {
            params += t.n_elements() as u64;
            let e = mix.entry(format!("{:?}", t.dtype).to_lowercase()).or_default();
            e.0 += 1;
            e.1 += t.data.len() as u64;
            if with_tensors {
                tensors.push(json!({"name": t.name, "type": format!("{:?}", t.dtype).to_lowercase(), "shape": t.shape}));
            }
        }
    }
    let size: u64 = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0);
    let tok_model = folder
        .tokenizer_json()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .map(|v| (v["model"]["type"].clone(), v["model"]["vocab"].as_object().map(|m| m.len())));
    let mut license = Map::new();
    if let Ok(readme) = std::fs::read_to_string(dir.join("README.md")) {
        license = model_card_license(&readme);
    }
    let mut r = json!({
        "path": dir.display().to_string(),
        "format": "hf-folder",
        "architecture": cfg.architectures().first().copied().or(cfg.model_type()),
        "model_type": cfg.model_type(),
        "name": dir.file_name().map(|n| n.to_string_lossy().to_string()),
        "parameters": params,
        "file_size": size,
        "context_length": cfg.get("max_position_embeddings"),
        "n_layer": cfg.get("num_hidden_layers"),
        "n_embd": cfg.get("hidden_size"),
        "n_head": cfg.get("num_attention_heads"),
        "n_head_kv": cfg.get("num_key_value_heads"),
        "quantization": mix.iter().map(|(k, (n, b))| (k.clone(), json!({"tensors": n, "bytes": b}))).collect::<Map<_, _>>(),
        "tokenizer": {
            "model": tok_model.as_ref().map(|t| t.0.clone()),
            "pre": Value::Null,
            "vocab_size": tok_model.as_ref().and_then(|t| t.1),
        },
        "chat_template": folder.chat_template(),
        "license": license,
    });
    if with_tensors {
        r["tensors"] = Value::Array(tensors);
    }
    Ok(r)
}

/// `license`, `license_name`, `license_link` from a model card's YAML front matter (flat keys
/// only; the full licence reader is a later issue).
fn model_card_license(readme: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut lines = readme.lines();
    if lines.next().map(str::trim) != Some("---") {
        return out;
    }
    for line in lines {
        if line.trim() == "---" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim();
            if matches!(k, "license" | "license_name" | "license_link") {
                let name = if k == "license" { "id" } else { k.trim_start_matches("license_") };
                out.insert(name.to_string(), Value::String(v.trim().trim_matches('"').to_string()));
            }
        }
    }
    out
}
