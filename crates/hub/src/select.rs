//! Which files of a listing a pull downloads: the one FILE of the reference, or the repository's
//! model files (weights, config, tokenizer, chat template, licence texts) and nothing else.

use crate::error::HubError;
use crate::listing::{Listing, RemoteFile};
use crate::reference::HubRef;

/// Whether a repository file is a model file by name (matched on the last path component).
/// `.bin` is dropped later when the repository also has safetensors (same weights, pickle format).
pub fn is_model_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    const PREFIXES: [&str; 5] = ["config", "tokenizer", "license", "notice", "use_policy"];
    const EXTENSIONS: [&str; 9] = [
        ".json",
        ".jinja",
        ".md",
        ".txt",
        ".safetensors",
        ".gguf",
        ".bin",
        ".model",
        ".tiktoken",
    ];
    PREFIXES.iter().any(|p| lower.starts_with(p)) || EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

fn has_ext(path: &str, ext: &str) -> bool {
    path.to_ascii_lowercase().ends_with(ext)
}

/// The files a pull of `reference` downloads from `listing`.
pub fn select<'a>(
    reference: &HubRef,
    listing: &'a Listing,
) -> Result<Vec<&'a RemoteFile>, HubError> {
    if let Some(file) = reference.file() {
        return listing
            .files
            .iter()
            .find(|f| f.path == file)
            .map(|f| vec![f])
            .ok_or_else(|| HubError::FileNotFound {
                repo: reference.repo().to_string(),
                revision: reference.revision().to_string(),
                file: file.to_string(),
            });
    }
    let ggufs: Vec<String> = listing
        .files
        .iter()
        .filter(|f| has_ext(&f.path, ".gguf"))
        .map(|f| f.path.clone())
        .collect();
    if ggufs.len() > 1 {
        return Err(HubError::AmbiguousGguf {
            repo: reference.repo().to_string(),
            files: ggufs,
        });
    }
    let has_safetensors = listing
        .files
        .iter()
        .any(|f| has_ext(&f.path, ".safetensors"));
    let chosen: Vec<&RemoteFile> = listing
        .files
        .iter()
        .filter(|f| is_model_file(&f.path))
        .filter(|f| !(has_safetensors && has_ext(&f.path, ".bin")))
        .collect();
    let has_weights = chosen.iter().any(|f| {
        [".gguf", ".safetensors", ".bin"]
            .iter()
            .any(|e| has_ext(&f.path, e))
    });
    if !has_weights {
        return Err(HubError::NoModelFiles {
            repo: reference.repo().to_string(),
            revision: reference.revision().to_string(),
        });
    }
    Ok(chosen)
}
