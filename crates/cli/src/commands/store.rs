//! `pull`, `import`, `list`, `rm`, and how a MODEL argument becomes a path: an existing file or
//! folder, a Hugging Face hub reference `hf:ORG/REPO[@REVISION][:FILE]`, the name of a local
//! import, or a catalogue name. Hub and catalogue models are pulled on first use, unless
//! `--offline` (or `ALLMENDE_OFFLINE=1` / `HF_HUB_OFFLINE=1`) restricts every command to the
//! cache; a local import is checked against its manifest on every use.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use allmende_hub::{HubClient, HubRef};
use anyhow::{bail, Context, Result};

/// Set once from the global `--offline` flag.
static OFFLINE: AtomicBool = AtomicBool::new(false);

/// Restricts model resolution to the cache (the global `--offline` flag).
pub fn set_offline(offline: bool) {
    OFFLINE.store(offline, Ordering::Relaxed);
}

/// Whether the network may not be used: `--offline`, `ALLMENDE_OFFLINE=1` or `HF_HUB_OFFLINE=1`.
pub fn offline() -> bool {
    let env_on = |k: &str| std::env::var(k).is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"));
    OFFLINE.load(Ordering::Relaxed) || env_on("ALLMENDE_OFFLINE") || env_on("HF_HUB_OFFLINE")
}

/// Where a resolved model came from, for licences and the AI-BOM.
#[derive(Debug, Clone)]
pub struct ModelOrigin {
    /// The file or folder to load.
    pub path: PathBuf,
    /// Hub commit or catalogue pin, when known.
    pub version: Option<String>,
    /// The catalogue's licence id for a catalogue model.
    pub catalogue_licence: Option<&'static str>,
    /// The catalogue's note on where a catalogue model's bytes come from.
    pub provenance: Option<&'static str>,
    /// The hub's base URL of the repo (for references in the BOM).
    pub url: Option<String>,
    /// Every origin of the bytes: `hf:ORG/REPO@COMMIT`, one `pypi:PACKAGE==VERSION` per wheel,
    /// or `local:ORIGINAL-PATH`; empty for a file or folder given by path.
    pub sources: Vec<String>,
    /// sha256 of files already known from verification (path relative to the model's folder, or
    /// the file name of a single-file model), so the AI-BOM need not hash them again.
    pub known_sha256: Vec<(String, String)>,
}

impl ModelOrigin {
    /// Where the bytes came from, in one line (`file` for a path given directly).
    pub fn source(&self) -> String {
        if self.sources.is_empty() {
            "file".to_string()
        } else {
            self.sources.join(", ")
        }
    }
}

fn store_root() -> Result<PathBuf> {
    allmende_store::cache_dir().context("finding the cache directory")
}

/// Resolves MODEL to a path; see [`resolve_origin`].
pub fn resolve_model(model: &str) -> Result<PathBuf> {
    Ok(resolve_origin(model)?.path)
}

/// Resolves MODEL: an existing path is used as is; a hub reference is used from a verified
/// snapshot in the cache, else pulled; a local import by its name once it verifies against its
/// manifest (a changed import is an error, never used); a catalogue name like a hub reference.
pub fn resolve_origin(model: &str) -> Result<ModelOrigin> {
    let path = Path::new(model);
    if path.exists() {
        return Ok(ModelOrigin {
            path: path.to_path_buf(),
            version: None,
            catalogue_licence: None,
            provenance: None,
            url: None,
            sources: Vec::new(),
            known_sha256: Vec::new(),
        });
    }
    if let Some(r) = hub_ref(model)? {
        let root = store_root()?;
        let snap = match allmende_hub::resolve_offline(&r, &root) {
            Ok(snap) => snap,
            Err(e) if offline() => return Err(anyhow::anyhow!(e).context(format!("{model} (offline: only the cache is used)"))),
            Err(_) => {
                eprintln!("pulling {r} ...");
                HubClient::from_env()?.pull(&r, &root, true).with_context(|| format!("pulling {r}"))?
            }
        };
        let source = format!("hf:{}@{}", snap.repo, snap.commit);
        let known_sha256 = snap
            .files
            .iter()
            .filter_map(|f| match &f.hash {
                allmende_hub::FileHash::Sha256(h) => Some((f.path.clone(), h.clone())),
                allmende_hub::FileHash::GitBlob(_) => None,
            })
            .collect();
        return Ok(ModelOrigin {
            path: snap.model_path(),
            version: Some(snap.commit.clone()),
            catalogue_licence: None,
            provenance: None,
            url: Some(format!("{}/{}", allmende_hub::endpoint_from_env(), snap.repo)),
            sources: vec![source],
            known_sha256,
        });
    }
    // Local imports come before the catalogue: their names cannot be catalogue names, and should
    // a later catalogue take one, the user's own model still wins.
    if let Ok(root) = store_root() {
        if let Some(m) = allmende_store::resolve_local(&root, model)? {
            return Ok(local_origin(m));
        }
    }
    match allmende_store::lookup(model) {
        Some(entry) => {
            let known_sha256 = match &entry.payload {
                allmende_store::Payload::File(f) => vec![(f.path.to_string(), f.sha256.to_string())],
                allmende_store::Payload::ZippedFolder { pinned, .. } => {
                    pinned.iter().map(|f| (f.path.to_string(), f.sha256.to_string())).collect()
                }
            };
            let origin = |path: PathBuf| ModelOrigin {
                path,
                version: entry.parts.first().map(|w| w.version.to_string()),
                catalogue_licence: Some(entry.licence),
                provenance: Some(entry.provenance),
                url: Some(format!("{}/{}", allmende_hub::DEFAULT_ENDPOINT, entry.hub_repo)),
                sources: entry.parts.iter().map(|w| format!("pypi:{}=={}", w.package, w.version)).collect(),
                known_sha256: known_sha256.clone(),
            };
            if let Some(p) = allmende_store::resolve(entry.name) {
                return Ok(origin(p));
            }
            if offline() {
                bail!("{} is not in the cache and --offline forbids pulling it (run `allmende pull {}` first)", entry.name, entry.name);
            }
            eprintln!("pulling {} ({}) ...", entry.name, entry.description);
            let p = allmende_store::pull(entry.name, true).with_context(|| format!("pulling {}", entry.name))?;
            Ok(origin(p))
        }
        None => bail!(
            "`{model}` is neither a file, a folder, a hub reference (hf:ORG/REPO), nor a catalogue name or local import (see `allmende list`)"
        ),
    }
}

/// The origin of a verified local import: the manifest's hashes, so the AI-BOM need not re-hash.
fn local_origin(m: allmende_store::LocalModel) -> ModelOrigin {
    let source = format!("local:{}", m.source.display());
    ModelOrigin {
        path: m.path,
        version: None,
        catalogue_licence: None,
        provenance: None,
        url: None,
        sources: vec![source],
        known_sha256: m.files.into_iter().map(|(rel, _, sha)| (rel, sha)).collect(),
    }
}

/// `allmende import PATH [--name NAME] [--link] [--force] [--json]`.
pub fn import(path: &Path, name: Option<&str>, link: bool, force: bool, json: bool) -> Result<()> {
    check_importable(path)?;
    let m = allmende_store::import_local(&store_root()?, path, name, link, force)
        .with_context(|| format!("importing {}", path.display()))?;
    if json {
        let files: Vec<_> = m
            .files
            .iter()
            .map(|(p, size, sha)| serde_json::json!({ "path": p, "size": size, "sha256": sha }))
            .collect();
        let row = serde_json::json!({ "name": m.name, "path": m.path, "source": m.source, "files": files });
        println!("{}", serde_json::to_string_pretty(&row)?);
    } else {
        eprintln!("imported {} as `{}` ({} file(s), {} MB)", m.source.display(), m.name, m.files.len(), m.size() / 1_000_000);
        println!("{}", m.path.display());
    }
    Ok(())
}

/// Refuses what no command could load: a file that is not GGUF, a folder without config.json.
fn check_importable(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.is_dir() {
        if !path.join("config.json").is_file() {
            bail!("{}: not a Hugging Face model folder (no config.json)", path.display());
        }
    } else if meta.is_file() {
        let mut magic = [0u8; 4];
        let mut file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        if std::io::Read::read_exact(&mut file, &mut magic).is_err() || magic != *b"GGUF" {
            bail!("{}: not a GGUF file (import takes a .gguf file or a Hugging Face model folder)", path.display());
        }
    }
    // Anything else (a FIFO, a device) is refused by the store without being opened.
    Ok(())
}

/// A hub reference, if MODEL is written as one (`hf:`); a malformed one is an error.
fn hub_ref(model: &str) -> Result<Option<HubRef>> {
    if !model.starts_with("hf:") {
        return Ok(None);
    }
    Ok(Some(HubRef::parse(model)?))
}

/// `allmende pull MODEL`: a catalogue name or a hub reference (always asks the hub for the
/// revision's current listing, so a moved branch is updated).
pub fn pull(model: &str) -> Result<()> {
    if offline() {
        bail!("`pull` needs the network; --offline forbids it");
    }
    if let Some(r) = hub_ref(model)? {
        let snap = HubClient::from_env()?.pull(&r, &store_root()?, true).with_context(|| format!("pulling {r}"))?;
        eprintln!("{} @ {}: {} files verified", snap.repo, snap.commit, snap.files.len());
        println!("{}", snap.model_path().display());
        return Ok(());
    }
    let Some(entry) = allmende_store::lookup(model) else {
        bail!("`{model}` is not in the catalogue (see `allmende list`) nor a hub reference (hf:ORG/REPO[@REVISION][:FILE])");
    };
    let path = allmende_store::pull(entry.name, true).with_context(|| format!("pulling {}", entry.name))?;
    println!("{}", path.display());
    Ok(())
}

/// `allmende list [--json]`: the catalogue, then the hub repos in the cache, then local imports.
pub fn list(json: bool) -> Result<()> {
    let entries = allmende_store::list()?;
    let hub = allmende_hub::list_cached(&store_root()?)?;
    let local = allmende_store::list_local(&store_root()?)?;
    if json {
        let mut rows: Vec<_> = entries
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
        for repo in &hub {
            for snap in &repo.snapshots {
                rows.push(serde_json::json!({
                    "name": format!("hf:{}@{}", repo.repo, snap.commit),
                    "path": snap.dir,
                    "size": snap.size,
                    "present": true,
                    "verified": snap.complete && snap.intact,
                    "refs": repo.refs.iter().filter(|(_, c)| *c == snap.commit).map(|(r, _)| r).collect::<Vec<_>>(),
                    "files": snap.files.iter().map(|f| &f.path).collect::<Vec<_>>(),
                }));
            }
        }
        for l in &local {
            let m = &l.model;
            rows.push(serde_json::json!({
                "name": m.name,
                "path": m.path,
                "size": m.size(),
                "present": true,
                "verified": l.state == allmende_store::ModelState::Verified,
                "format": local_format(&m.path),
                "license": null,
                "description": format!("imported from {}", m.source.display()),
                "source": format!("local:{}", m.source.display()),
                "imported_at": m.imported_at,
                "files": m.files.iter().map(|(p, _, _)| p).collect::<Vec<_>>(),
                "problem": match &l.state {
                    allmende_store::ModelState::Corrupt { reason } => Some(reason),
                    _ => None,
                },
            }));
        }
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
    for repo in &hub {
        for snap in &repo.snapshots {
            let refs: Vec<&str> = repo.refs.iter().filter(|(_, c)| *c == snap.commit).map(|(r, _)| r.as_str()).collect();
            let state = if !snap.intact { "CORRUPT" } else if snap.complete { "cached" } else { "partial" };
            let short = &snap.commit[..snap.commit.len().min(12)];
            println!(
                "{:<30} {:>6} MB  {:<10} {:<11} {} file(s){}",
                format!("hf:{}@{short}", repo.repo),
                snap.size / 1_000_000,
                state,
                "-",
                snap.files.len(),
                if refs.is_empty() { String::new() } else { format!(", {}", refs.join(", ")) }
            );
        }
    }
    for l in &local {
        let state = if l.state == allmende_store::ModelState::Verified { "imported" } else { "CORRUPT" };
        println!(
            "{:<30} {:>6} MB  {:<10} {:<11} imported from {}",
            l.model.name,
            l.model.size() / 1_000_000,
            state,
            "-",
            l.model.source.display()
        );
    }
    Ok(())
}

/// `gguf` for an imported file, `hf-folder` for an imported folder (as the catalogue says).
fn local_format(path: &Path) -> &'static str {
    if path.is_dir() {
        allmende_store::ModelFormat::HfFolder.as_str()
    } else {
        allmende_store::ModelFormat::Gguf.as_str()
    }
}

/// `allmende rm MODEL`: a catalogue name, a local import (the store's copy only) or a hub
/// reference (repo, `@REVISION` or `:FILE`).
pub fn rm(model: &str) -> Result<()> {
    if let Some(r) = hub_ref(model)? {
        let freed = allmende_hub::remove(&r, &store_root()?)?;
        eprintln!("removed {r} ({} MB freed)", freed / 1_000_000);
        return Ok(());
    }
    let Some(entry) = allmende_store::lookup(model) else {
        let root = store_root()?;
        let name = allmende_store::validate_name(model).ok();
        let local = allmende_store::list_local(&root)?.into_iter().find(|l| Some(&l.model.name) == name.as_ref());
        if let Some(l) = local {
            allmende_store::remove_local(&root, &l.model.name)?;
            eprintln!(
                "removed local model {} ({} MB; the original {} is not touched)",
                l.model.name,
                l.model.size() / 1_000_000,
                l.model.source.display()
            );
            return Ok(());
        }
        bail!("`{model}` is not in the catalogue (see `allmende list`) nor a local import or hub reference");
    };
    if allmende_store::rm(entry.name)? {
        eprintln!("removed {}", entry.name);
    } else {
        eprintln!("{} was not in the cache", entry.name);
    }
    Ok(())
}
