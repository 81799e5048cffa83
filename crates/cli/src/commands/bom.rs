//! `allmende bom MODEL... [--format cyclonedx-json] [-o FILE]`: a CycloneDX 1.6 AI-BOM of the
//! models (allmende-bom), one `machine-learning-model` component each, with the SHA-256 of every
//! file, the licence and a model card read from the files' metadata. `serve` builds the same
//! document for what it loads and serves it at `GET /v1/bom`.

use std::path::Path;

use allmende_bom::{FileEntry, LicenceInfo, ModelCardInfo, ModelEntry, Tool};
use anyhow::{Context, Result};
use serde_json::Value;

use super::store::ModelOrigin;

/// The files of a model: the file itself, or every non-hidden file under the folder (sorted).
fn files_of(origin: &ModelOrigin) -> Result<Vec<FileEntry>> {
    let known = |rel: &str| origin.known_sha256.iter().find(|(p, _)| p == rel).map(|(_, h)| h.clone());
    let entry = |path: &Path, rel: String| -> Result<FileEntry> {
        let size = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
        let sha256 = match known(&rel) {
            Some(h) => h,
            None => allmende_bom::sha256_file(path).with_context(|| format!("hashing {}", path.display()))?,
        };
        Ok(FileEntry { path_in_model: rel, size, sha256 })
    };
    let root = &origin.path;
    if !root.is_dir() {
        let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        return Ok(vec![entry(root, name)?]);
    }
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let e = e?;
            if e.file_name().to_string_lossy().starts_with('.') {
                continue; // the store's markers and partial downloads
            }
            let p = e.path();
            let ty = e.file_type()?;
            if ty.is_dir() {
                stack.push(p);
            } else if ty.is_file() || (ty.is_symlink() && p.is_file()) {
                let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy().replace('\\', "/");
                out.push(entry(&p, rel)?);
            }
        }
    }
    out.sort_by(|a, b| a.path_in_model.cmp(&b.path_in_model));
    Ok(out)
}

/// The model card facts from `allmende inspect`'s report `r` of the model.
fn card_of(origin: &ModelOrigin, r: &Value) -> ModelCardInfo {
    let arch = r["architecture"].as_str().unwrap_or("unknown").to_string();
    // (type, tensors, bytes); the type holding the most bytes names the quantization.
    let mut mix: Vec<(String, u64, u64)> = r["quantization"]
        .as_object()
        .map(|m| {
            m.iter().map(|(k, v)| (k.clone(), v["tensors"].as_u64().unwrap_or(0), v["bytes"].as_u64().unwrap_or(0))).collect()
        })
        .unwrap_or_default();
    mix.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    let quantization = mix.first().map(|(t, _, _)| t.clone());
    let tensor_types = mix.into_iter().map(|(t, n, _)| (t, n)).collect();
    let encoder = origin.path.is_dir() && super::serve::is_encoder_folder(&origin.path);
    ModelCardInfo {
        model_architecture: (origin.path.is_dir()).then(|| arch.clone()),
        architecture: if origin.path.is_dir() { r["model_type"].as_str().unwrap_or(&arch).to_string() } else { arch },
        parameters: r["parameters"].as_u64(),
        quantization,
        tensor_types,
        context_length: r["context_length"].as_u64(),
        task: Some(if encoder { "feature-extraction" } else { "text-generation" }.to_string()),
    }
}

/// The BOM entry of one model as the user named it.
pub fn entry(model: &str, origin: &ModelOrigin) -> Result<ModelEntry> {
    let lic = super::license::report(origin)?;
    let r = super::inspect::report(&origin.path, false)?;
    Ok(ModelEntry {
        name: model.to_string(),
        version: origin.version.clone(),
        publisher: None,
        description: r["name"].as_str().map(str::to_string),
        sources: origin.sources.clone(),
        upstream: origin.url.clone(),
        files: files_of(origin)?,
        licence: LicenceInfo { id: lic.id.clone(), name: Some(lic.name.clone()), url: lic.link.clone() },
        card: card_of(origin, &r),
        properties: std::iter::once(("allmende:licence-source".to_string(), lic.source.clone()))
            .chain(origin.provenance.map(|p| ("allmende:provenance".to_string(), p.to_string())))
            .collect(),
    })
}

/// The CycloneDX document of `models` (as named by the user, with their resolved origins).
pub fn document(models: &[(String, ModelOrigin)]) -> Result<Value> {
    let entries = models.iter().map(|(m, o)| entry(m, o)).collect::<Result<Vec<_>>>()?;
    Ok(allmende_bom::build_bom_now(&entries, &Tool::allmende(env!("CARGO_PKG_VERSION")))?)
}

/// `allmende bom MODEL... [--format cyclonedx-json] [-o FILE]`.
pub fn run(models: &[String], output: Option<&Path>) -> Result<()> {
    let mut resolved = Vec::new();
    for m in models {
        resolved.push((m.clone(), super::store::resolve_origin(m)?));
    }
    let text = serde_json::to_string_pretty(&document(&resolved)?)?;
    match output {
        Some(path) => std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?,
        None => println!("{text}"),
    }
    Ok(())
}
