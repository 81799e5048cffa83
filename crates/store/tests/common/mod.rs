//! Shared helpers for the store's integration tests: a fake `pip` (a shell script that copies
//! wheels from a local "index" folder and logs each request), tiny wheels built with the `zip`
//! crate, and catalogue entries pinned to their sha256.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};

use allmende_store::{CatalogueEntry, ModelFormat, Payload, PinnedFile, WheelPart};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

/// A fresh, empty directory under cargo's per-target temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn leak(s: impl Into<String>) -> &'static str {
    Box::leak(s.into().into_boxed_str())
}

/// Build a zip at `path` with `(name, bytes)` members (deflated); names ending in `/` are folders.
pub fn write_zip(path: &Path, members: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, bytes) in members {
        if name.ends_with('/') {
            zip.add_directory(*name, opts).unwrap();
        } else {
            zip.start_file(*name, opts).unwrap();
            zip.write_all(bytes).unwrap();
        }
    }
    zip.finish().unwrap();
}

/// Bytes of an in-memory zip.
pub fn zip_bytes(members: &[(&str, &[u8])], scratch: &Path) -> Vec<u8> {
    let p = scratch.join("scratch.zip");
    write_zip(&p, members);
    let b = std::fs::read(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    b
}

/// A fake package index plus a fake `pip` script serving it.
pub struct FakePip {
    pub dir: PathBuf,
}

impl FakePip {
    pub fn new(dir: &Path) -> Self {
        let index = dir.join("index");
        std::fs::create_dir_all(&index).unwrap();
        let script = dir.join("pip");
        std::fs::write(
            &script,
            r#"#!/bin/sh
# Fake pip: `download ... -d DIR PKG==VER` copies index/<pkg>-<ver>-py3-none-any.whl into DIR.
here=$(dirname "$0")
if [ "$1" = "--version" ]; then echo "pip 0.0 (fake)"; exit 0; fi
dest=""; spec=""
while [ $# -gt 0 ]; do
  case "$1" in
    -d) dest="$2"; shift 2 ;;
    *==*) spec="$1"; shift ;;
    *) shift ;;
  esac
done
echo "$spec" >> "$here/calls.log"
pkg=${spec%%==*}; ver=${spec##*==}
norm=$(printf '%s' "$pkg" | tr 'A-Z.-' 'a-z__')
src="$here/index/$norm-$ver-py3-none-any.whl"
if [ ! -f "$src" ]; then
  echo "ERROR: Could not find a version that satisfies the requirement $spec (from versions: none)" >&2
  echo "ERROR: No matching distribution found for $spec" >&2
  exit 1
fi
cp "$src" "$dest/"
"#,
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        FakePip {
            dir: dir.to_path_buf(),
        }
    }

    pub fn script(&self) -> PathBuf {
        self.dir.join("pip")
    }

    /// Publish a wheel of `package==version` holding `members`.
    pub fn publish(&self, package: &str, version: &str, members: &[(&str, &[u8])]) {
        let name = format!(
            "{}py3-none-any.whl",
            allmende_store::wheel_prefix(package, version)
        );
        write_zip(&self.dir.join("index").join(name), members);
    }

    /// The `PKG==VER` requests pip received, in order.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls.log"))
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }
}

/// A single-file (GGUF-like) entry assembled from `parts` (package, member) pinned to `sha256`.
pub fn file_entry(name: &str, parts: &[(&str, &str)], file: &str, sha256: &str) -> CatalogueEntry {
    let parts: Vec<WheelPart> = parts
        .iter()
        .map(|(p, m)| WheelPart {
            package: leak(*p),
            version: "1.0.0",
            member: leak(*m),
        })
        .collect();
    CatalogueEntry {
        name: leak(name),
        aliases: Box::leak(vec![leak(format!("{name}-alias"))].into_boxed_slice()),
        hub_repo: leak(format!("test/{name}")),
        description: "test model",
        format: ModelFormat::Gguf,
        licence: "Apache-2.0",
        provenance: "test fixture",
        size_bytes: 1000,
        parts: Box::leak(parts.into_boxed_slice()),
        payload: Payload::File(PinnedFile {
            path: leak(file),
            sha256: leak(sha256),
        }),
    }
}

/// A zipped-folder (HF-like) entry from one wheel member, with `pinned` (path, sha256) files.
pub fn folder_entry(
    name: &str,
    package: &str,
    member: &str,
    folder: &str,
    pinned: &[(&str, &str)],
) -> CatalogueEntry {
    let pinned: Vec<PinnedFile> = pinned
        .iter()
        .map(|(p, s)| PinnedFile {
            path: leak(*p),
            sha256: leak(*s),
        })
        .collect();
    CatalogueEntry {
        name: leak(name),
        aliases: &[],
        hub_repo: leak(format!("test/{name}")),
        description: "test folder model",
        format: ModelFormat::HfFolder,
        licence: "Apache-2.0",
        provenance: "test fixture",
        size_bytes: 1000,
        parts: Box::leak(
            vec![WheelPart {
                package: leak(package),
                version: "1.0.0",
                member: leak(member),
            }]
            .into_boxed_slice(),
        ),
        payload: Payload::ZippedFolder {
            folder: leak(folder),
            pinned: Box::leak(pinned.into_boxed_slice()),
        },
    }
}

/// Give `path` a modification time it cannot already have (2001-09-09), as an edit a clock tick
/// after the pull would.
pub fn set_old_mtime(path: &Path) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}
