//! `allmende license MODEL [--json]`: what licence a model is under and what it obliges, from
//! GGUF metadata, the model card's front matter and licence files recognised by their text
//! (allmende-license), falling back to the catalogue's pin for catalogue models.

use std::path::Path;

use allmende_formats::{GgufFile, GgufValue};
use allmende_license::{detect, LicenseReport, GGUF_LICENSE, GGUF_LICENSE_LINK, GGUF_LICENSE_NAME};
use anyhow::Result;

use super::store::ModelOrigin;

/// The licence keys of a GGUF file's metadata, as plain pairs.
fn gguf_licence_pairs(path: &Path) -> Result<Vec<(String, String)>> {
    let f = GgufFile::open(path).map_err(|e| super::about_path(path, e))?;
    Ok([GGUF_LICENSE, GGUF_LICENSE_NAME, GGUF_LICENSE_LINK]
        .iter()
        .filter_map(|k| match f.value(k) {
            Some(GgufValue::String(s)) => Some((k.to_string(), s.clone())),
            _ => None,
        })
        .collect())
}

/// The licence report of a resolved model. For a file, the folder it sits in is searched for a
/// model card and licence files too (hub snapshots keep them next to the weights).
pub fn report(origin: &ModelOrigin) -> Result<LicenseReport> {
    let path = &origin.path;
    let (pairs, folder) = if path.is_dir() {
        (Vec::new(), Some(path.as_path()))
    } else {
        let pairs = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")) {
            gguf_licence_pairs(path)?
        } else {
            Vec::new()
        };
        (pairs, path.parent().filter(|p| !p.as_os_str().is_empty()))
    };
    let mut r = detect(&pairs, folder);
    if r.is_unidentified() {
        if let Some(id) = origin.catalogue_licence {
            // The catalogue pins each model's licence from its model card; use it when the
            // files themselves say nothing.
            let mut from_catalogue = detect(&[(GGUF_LICENSE.to_string(), id.to_string())], None);
            from_catalogue.source = format!("allmende catalogue ({})", origin.source());
            from_catalogue.notes.extend(r.notes);
            r = from_catalogue;
        }
    }
    Ok(r)
}

/// `allmende license MODEL [--json]`.
pub fn run(model: &str, json: bool) -> Result<()> {
    let origin = super::store::resolve_origin(model)?;
    let r = report(&origin)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!("{:<16} {}", "licence", r.id);
    println!("{:<16} {}", "name", r.name);
    println!("{:<16} {}", "found in", r.source);
    if let Some(link) = &r.link {
        println!("{:<16} {}", "link", link);
    }
    let note = if r.commercial_use_note.is_empty() { String::new() } else { format!(" ({})", r.commercial_use_note) };
    println!("{:<16} {}{note}", "commercial use", r.commercial_use.as_str());
    if r.obligations.is_empty() {
        println!("{:<16} none recorded", "obligations");
    } else {
        println!("obligations:");
        for o in &r.obligations {
            println!("  - [{}] {}", serde_json::to_value(o.kind)?.as_str().unwrap_or("?"), o.text);
        }
    }
    for c in &r.conflicts {
        println!("conflict: {} says {} ({})", c.source, c.id, c.detail);
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    Ok(())
}
