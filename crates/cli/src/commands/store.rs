//! `pull`, `list`, `rm`, and how a MODEL argument becomes a path (a file, a folder, or a
//! catalogue model pulled on first use).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Resolves MODEL: an existing path is used as is; a catalogue name is pulled on first use.
pub fn resolve_model(model: &str) -> Result<PathBuf> {
    let path = Path::new(model);
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    match allmende_store::lookup(model) {
        Some(entry) => {
            if let Some(p) = allmende_store::resolve(entry.name) {
                return Ok(p);
            }
            eprintln!("pulling {} ({}) ...", entry.name, entry.description);
            allmende_store::pull(entry.name, true).with_context(|| format!("pulling {}", entry.name))
        }
        None => bail!(
            "`{model}` is neither a file, a folder, nor a catalogue name (see `allmende list`)"
        ),
    }
}

/// `allmende pull MODEL`.
pub fn pull(model: &str) -> Result<()> {
    let Some(entry) = allmende_store::lookup(model) else {
        bail!("`{model}` is not in the catalogue (see `allmende list`)");
    };
    let path = allmende_store::pull(entry.name, true).with_context(|| format!("pulling {}", entry.name))?;
    println!("{}", path.display());
    Ok(())
}

/// `allmende list [--json]`.
pub fn list(json: bool) -> Result<()> {
    let entries = allmende_store::list()?;
    if json {
        let rows: Vec<_> = entries
            .iter()
            .map(|e| {
                let cat = allmende_store::lookup(e.name);
                serde_json::json!({
                    "name": e.name,
                    "path": e.path,
                    "size": e.size,
                    "present": e.present(),
                    "verified": e.verified(),
                    "format": cat.map(|c| c.format.as_str()),
                    "license": cat.map(|c| c.licence),
                    "description": cat.map(|c| c.description),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("{:<30} {:>9}  {:<10} {:<11} DESCRIPTION", "NAME", "SIZE", "STATE", "LICENSE");
    for e in &entries {
        let cat = allmende_store::lookup(e.name);
        let state = match &e.state {
            allmende_store::ModelState::Verified => "cached",
            allmende_store::ModelState::Missing => "-",
            allmende_store::ModelState::Corrupt { .. } => "CORRUPT",
        };
        println!(
            "{:<30} {:>6} MB  {:<10} {:<11} {}",
            e.name,
            e.size / 1_000_000,
            state,
            cat.map(|c| c.licence).unwrap_or("?"),
            cat.map(|c| c.description).unwrap_or("")
        );
    }
    Ok(())
}

/// `allmende rm MODEL`.
pub fn rm(model: &str) -> Result<()> {
    let Some(entry) = allmende_store::lookup(model) else {
        bail!("`{model}` is not in the catalogue (see `allmende list`)");
    };
    if allmende_store::rm(entry.name)? {
        eprintln!("removed {}", entry.name);
    } else {
        eprintln!("{} was not in the cache", entry.name);
    }
    Ok(())
}
