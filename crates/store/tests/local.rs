//! Local imports (`import_local`, `resolve_local`, `list_local`, `remove_local`): a file and a
//! folder copied or hard-linked under a name, the manifest's hashes, name rules and clashes with
//! the catalogue, re-import, tamper detection, and hostile sources (links leaving the folder,
//! FIFOs, sockets).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use allmende_store::{
    import_local, list_local, local_dir, remove_local, resolve_local, ModelState, StoreError,
    MANIFEST_FILE,
};
use common::{set_old_mtime, sha256_hex, temp_dir};

const GGUF: &[u8] = b"GGUF\x03\x00\x00\x00 a tiny stand-in for a model file";
const CONFIG: &[u8] = br#"{"model_type": "llama"}"#;
const WEIGHTS: &[u8] = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      weights";
const TOKENIZER: &[u8] = br#"{"version": "1.0"}"#;

/// `dir/Tiny-Model.Q8_0.gguf`.
fn gguf_file(dir: &Path) -> PathBuf {
    let p = dir.join("Tiny-Model.Q8_0.gguf");
    std::fs::write(&p, GGUF).unwrap();
    p
}

/// `dir/My_HF-Model/` with config, weights, a tokenizer in a subfolder and hidden clutter.
fn hf_folder(dir: &Path) -> PathBuf {
    let m = dir.join("My_HF-Model");
    std::fs::create_dir_all(m.join("tok")).unwrap();
    std::fs::create_dir_all(m.join(".git")).unwrap();
    std::fs::write(m.join("config.json"), CONFIG).unwrap();
    std::fs::write(m.join("model.safetensors"), WEIGHTS).unwrap();
    std::fs::write(m.join("tok/tokenizer.json"), TOKENIZER).unwrap();
    std::fs::write(m.join(".git/HEAD"), b"ref: main").unwrap();
    std::fs::write(m.join(".DS_Store"), b"junk").unwrap();
    m
}

fn files(model: &allmende_store::LocalModel) -> Vec<(String, u64, String)> {
    model.files.clone()
}

#[test]
fn import_file_copies_hashes_and_resolves() {
    let dir = temp_dir("local-file");
    let root = dir.join("home");
    let src = gguf_file(&dir);
    let m = import_local(&root, &src, None, false, false).unwrap();
    assert_eq!(m.name, "tiny-model.q8_0");
    let stored = local_dir(&root)
        .join("tiny-model.q8_0")
        .join("Tiny-Model.Q8_0.gguf");
    assert_eq!(m.path, stored);
    assert_eq!(std::fs::read(&stored).unwrap(), GGUF);
    assert_eq!(
        files(&m),
        vec![(
            "Tiny-Model.Q8_0.gguf".to_string(),
            GGUF.len() as u64,
            sha256_hex(GGUF)
        )]
    );
    assert_eq!(m.source, std::fs::canonicalize(&src).unwrap());
    assert_eq!(m.size(), GGUF.len() as u64);
    assert!(m.imported_at > 1_600_000_000);
    // The manifest records the source, size, mtime and hash of every file.
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(local_dir(&root).join("tiny-model.q8_0").join(MANIFEST_FILE))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["source"], m.source.to_str().unwrap());
    assert_eq!(manifest["files"][0]["sha256"], sha256_hex(GGUF));
    assert_eq!(manifest["files"][0]["linked"], false);
    assert!(manifest["files"][0]["mtime_ns"].as_u64().unwrap() > 0);
    // A copy: it is another inode than the source.
    std::fs::write(&src, b"the original changes; the copy does not").unwrap();
    let r = resolve_local(&root, "TINY-MODEL.Q8_0").unwrap().unwrap();
    assert_eq!(r, m);
    assert_eq!(resolve_local(&root, "other").unwrap(), None);
    assert_eq!(resolve_local(&root, "./not a name").unwrap(), None);
    // No leftovers.
    let names: Vec<String> = std::fs::read_dir(local_dir(&root))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["tiny-model.q8_0".to_string()]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn import_folder_skips_hidden_files_and_keeps_structure() {
    let dir = temp_dir("local-folder");
    let root = dir.join("home");
    let src = hf_folder(&dir);
    let m = import_local(&root, &src, Some("hf-tiny"), false, false).unwrap();
    assert_eq!(m.name, "hf-tiny");
    assert_eq!(m.path, local_dir(&root).join("hf-tiny").join("My_HF-Model"));
    assert_eq!(
        files(&m),
        vec![
            (
                "config.json".to_string(),
                CONFIG.len() as u64,
                sha256_hex(CONFIG)
            ),
            (
                "model.safetensors".to_string(),
                WEIGHTS.len() as u64,
                sha256_hex(WEIGHTS)
            ),
            (
                "tok/tokenizer.json".to_string(),
                TOKENIZER.len() as u64,
                sha256_hex(TOKENIZER)
            ),
        ]
    );
    assert_eq!(
        std::fs::read(m.path.join("tok/tokenizer.json")).unwrap(),
        TOKENIZER
    );
    assert!(!m.path.join(".git").exists());
    assert!(!m.path.join(".DS_Store").exists());
    assert_eq!(resolve_local(&root, "hf-tiny").unwrap().unwrap(), m);
    // The default name is the folder's, lowercased.
    let m2 = import_local(&root, &src, None, false, false).unwrap();
    assert_eq!(m2.name, "my_hf-model");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn link_shares_the_inode_on_the_same_filesystem() {
    use std::os::unix::fs::MetadataExt;
    let dir = temp_dir("local-link");
    let root = dir.join("home");
    let src = gguf_file(&dir);
    let m = import_local(&root, &src, Some("linked"), true, false).unwrap();
    let (a, b) = (
        std::fs::metadata(&src).unwrap(),
        std::fs::metadata(&m.path).unwrap(),
    );
    assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
    assert_eq!(files(&m)[0].2, sha256_hex(GGUF));
    let manifest =
        std::fs::read_to_string(local_dir(&root).join("linked").join(MANIFEST_FILE)).unwrap();
    assert!(manifest.contains("\"linked\": true"), "{manifest}");
    // Editing the original edits the linked copy: the import is refused from then on.
    let mut bytes = GGUF.to_vec();
    bytes[10] ^= 1;
    std::fs::write(&src, &bytes).unwrap();
    set_old_mtime(&src);
    let err = resolve_local(&root, "linked").unwrap_err();
    assert!(matches!(err, StoreError::LocalChanged { .. }), "{err}");
    // Removing the import removes the link, not the original.
    assert!(remove_local(&root, "linked").unwrap());
    assert_eq!(std::fs::read(&src).unwrap(), bytes);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn names_are_validated_and_catalogue_names_are_taken() {
    let dir = temp_dir("local-names");
    let root = dir.join("home");
    let src = gguf_file(&dir);
    for bad in [
        "bad name",
        "../escape",
        "x/y",
        ".hidden",
        "-flag",
        "a.partial",
        "",
    ] {
        let err = import_local(&root, &src, Some(bad), false, false).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidName { .. }),
            "{bad:?}: {err}"
        );
    }
    // A catalogue name or alias (any case) cannot be an import's name.
    for taken in ["smollm2", "Gemma3-270M", "qwen"] {
        let err = import_local(&root, &src, Some(taken), false, false).unwrap_err();
        match err {
            StoreError::NameTaken { name, by } => {
                assert_eq!(name, taken.to_ascii_lowercase());
                assert!([
                    "smollm2-135m-instruct",
                    "gemma3-270m",
                    "qwen2.5-coder-0.5b-instruct"
                ]
                .contains(&by.as_str()));
            }
            other => panic!("{taken}: {other}"),
        }
    }
    // A file name that makes no valid name asks for --name.
    let odd = dir.join("my model (final).gguf");
    std::fs::write(&odd, GGUF).unwrap();
    let err = import_local(&root, &odd, None, false, false).unwrap_err();
    assert!(err.to_string().contains("--name"), "{err}");
    assert!(import_local(&root, &odd, Some("my-model"), false, false).is_ok());
    // Nothing was created for the refused names.
    let names: Vec<_> = std::fs::read_dir(local_dir(&root))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("my-model")]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reimport_is_refused_unless_forced() {
    let dir = temp_dir("local-reimport");
    let root = dir.join("home");
    let src = gguf_file(&dir);
    import_local(&root, &src, Some("m"), false, false).unwrap();
    let other = dir.join("other.gguf");
    std::fs::write(&other, b"GGUF another model").unwrap();
    let err = import_local(&root, &other, Some("m"), false, false).unwrap_err();
    match &err {
        StoreError::LocalExists {
            name,
            imported_from,
            ..
        } => {
            assert_eq!(name, "m");
            assert_eq!(
                Path::new(imported_from),
                std::fs::canonicalize(&src).unwrap()
            );
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("--force"), "{err}");
    // Still the first model.
    assert_eq!(
        resolve_local(&root, "m").unwrap().unwrap().files[0].2,
        sha256_hex(GGUF)
    );
    let m = import_local(&root, &other, Some("m"), false, true).unwrap();
    assert_eq!(
        m.files,
        vec![(
            "other.gguf".to_string(),
            18,
            sha256_hex(b"GGUF another model")
        )]
    );
    assert_eq!(resolve_local(&root, "m").unwrap().unwrap(), m);
    assert!(
        !m.path.with_file_name("Tiny-Model.Q8_0.gguf").exists(),
        "the old copy is gone"
    );
    let names: Vec<_> = std::fs::read_dir(local_dir(&root))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("m")],
        "no .old or .partial left"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tampering_is_detected_and_the_copy_is_kept() {
    let dir = temp_dir("local-tamper");
    let root = dir.join("home");
    let src = hf_folder(&dir);
    let m = import_local(&root, &src, Some("t"), false, false).unwrap();
    let weights = m.path.join("model.safetensors");

    // Touched without a change: re-hashed once, accepted, and the manifest remembers the new mtime.
    set_old_mtime(&weights);
    assert_eq!(resolve_local(&root, "t").unwrap().unwrap(), m);
    let manifest = std::fs::read_to_string(local_dir(&root).join("t").join(MANIFEST_FILE)).unwrap();
    assert!(
        manifest.contains("\"mtime_ns\": 1000000000000000000"),
        "{manifest}"
    );

    // One byte flipped, same size, new mtime: refused, naming the file; the copy stays on disk.
    let mut bytes = WEIGHTS.to_vec();
    bytes[20] ^= 0x20;
    std::fs::write(&weights, &bytes).unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_100_000_000);
    std::fs::File::options()
        .write(true)
        .open(&weights)
        .unwrap()
        .set_modified(t)
        .unwrap();
    let err = resolve_local(&root, "t").unwrap_err();
    match &err {
        StoreError::LocalChanged {
            name, path, reason, ..
        } => {
            assert_eq!(name, "t");
            assert_eq!(path, &weights);
            assert!(reason.contains(&sha256_hex(WEIGHTS)), "{reason}");
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string().contains("changed since it was imported"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&weights).unwrap(),
        bytes,
        "the copy is not deleted"
    );
    let rows = list_local(&root).unwrap();
    assert!(
        matches!(&rows[0].state, ModelState::Corrupt { reason } if reason.contains("model.safetensors"))
    );

    // Restored bytes: accepted again. A missing file, a grown file and an extra file are refused.
    std::fs::write(&weights, WEIGHTS).unwrap();
    assert!(resolve_local(&root, "t").unwrap().is_some());
    std::fs::write(m.path.join("extra.bin"), b"injected").unwrap();
    let err = resolve_local(&root, "t").unwrap_err();
    assert!(
        err.to_string().contains("extra.bin") && err.to_string().contains("not part of the import"),
        "{err}"
    );
    std::fs::remove_file(m.path.join("extra.bin")).unwrap();
    std::fs::write(m.path.join("config.json"), b"{}{}{}{}{}{}{}{}{}{}{}{}{}").unwrap();
    assert!(resolve_local(&root, "t")
        .unwrap_err()
        .to_string()
        .contains("bytes"));
    std::fs::write(m.path.join("config.json"), CONFIG).unwrap();
    std::fs::remove_file(m.path.join("tok/tokenizer.json")).unwrap();
    assert!(resolve_local(&root, "t")
        .unwrap_err()
        .to_string()
        .contains("missing"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn list_and_remove() {
    let dir = temp_dir("local-list");
    let root = dir.join("home");
    assert!(list_local(&root).unwrap().is_empty());
    assert!(!root.exists(), "listing creates nothing");
    let a = import_local(&root, &gguf_file(&dir), Some("b-model"), false, false).unwrap();
    let b = import_local(&root, &hf_folder(&dir), Some("a-model"), false, false).unwrap();
    // A crashed import's leftover is not listed.
    std::fs::create_dir_all(local_dir(&root).join("c.partial")).unwrap();
    let rows = list_local(&root).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (&rows[0].model, &rows[0].state),
        (&b, &ModelState::Verified)
    );
    assert_eq!(
        (&rows[1].model, &rows[1].state),
        (&a, &ModelState::Verified)
    );
    assert_eq!(
        rows[0].model.size(),
        (CONFIG.len() + WEIGHTS.len() + TOKENIZER.len()) as u64
    );

    assert!(remove_local(&root, "A-Model").unwrap());
    assert!(!remove_local(&root, "a-model").unwrap());
    assert!(
        !remove_local(&root, "../home").unwrap(),
        "not a name: nothing removed"
    );
    assert!(root.exists());
    assert_eq!(resolve_local(&root, "a-model").unwrap(), None);
    assert_eq!(list_local(&root).unwrap().len(), 1);
    // The source folder is untouched.
    assert_eq!(
        std::fs::read(dir.join("My_HF-Model/config.json")).unwrap(),
        CONFIG
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn links_inside_the_folder_are_followed_and_links_out_refused() {
    use std::os::unix::fs::symlink;
    let dir = temp_dir("local-symlink");
    let root = dir.join("home");
    let src = hf_folder(&dir);
    // Inside: imported as a regular file with the target's bytes.
    symlink("config.json", src.join("generation_config.json")).unwrap();
    let m = import_local(&root, &src, Some("inside"), false, false).unwrap();
    let stored = m.path.join("generation_config.json");
    assert!(std::fs::symlink_metadata(&stored).unwrap().is_file());
    assert_eq!(std::fs::read(&stored).unwrap(), CONFIG);

    // Outside: a secret next to the folder.
    std::fs::write(dir.join("secret.txt"), b"private key").unwrap();
    symlink("../secret.txt", src.join("tokenizer_config.json")).unwrap();
    let err = import_local(&root, &src, Some("outside"), false, false).unwrap_err();
    match &err {
        StoreError::SymlinkEscapes { link, target, .. } => {
            assert_eq!(link, &src.join("tokenizer_config.json"));
            assert_eq!(
                target,
                &std::fs::canonicalize(dir.join("secret.txt")).unwrap()
            );
        }
        other => panic!("{other}"),
    }
    assert!(!local_dir(&root).join("outside").exists());
    assert!(!local_dir(&root).join("outside.partial").exists());
    std::fs::remove_file(src.join("tokenizer_config.json")).unwrap();

    // A link to a folder (a possible loop) and a dangling link are refused too.
    symlink(".", src.join("loop")).unwrap();
    let err = import_local(&root, &src, Some("loop"), false, false).unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedFile { kind, .. } if kind.contains("folder")),
        "{err}"
    );
    std::fs::remove_file(src.join("loop")).unwrap();
    symlink("nowhere.bin", src.join("dangling.bin")).unwrap();
    let err = import_local(&root, &src, Some("dangling"), false, false).unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedFile { kind, .. } if kind.contains("dangling")),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn special_files_are_refused() {
    let dir = temp_dir("local-special");
    let root = dir.join("home");
    let src = hf_folder(&dir);
    // A FIFO would block a reader forever; it must be refused without being opened.
    let fifo = src.join("model-00002.safetensors");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let err = import_local(&root, &src, Some("fifo"), false, false).unwrap_err();
    match &err {
        StoreError::UnsupportedFile { path, kind } => {
            assert_eq!(path, &fifo);
            assert_eq!(*kind, "FIFO");
        }
        other => panic!("{other}"),
    }
    let err = import_local(&root, &fifo, Some("fifo"), false, false).unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedFile { kind: "FIFO", .. }),
        "{err}"
    );
    std::fs::remove_file(&fifo).unwrap();

    let sock = src.join("control.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let err = import_local(&root, &src, Some("sock"), false, false).unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedFile { kind: "socket", .. }),
        "{err}"
    );
    assert!(!local_dir(&root).join("sock").exists());

    // A folder with nothing but hidden files has nothing to import.
    let empty = dir.join("empty");
    std::fs::create_dir_all(empty.join(".cache")).unwrap();
    std::fs::write(empty.join(".hidden"), b"x").unwrap();
    let err = import_local(&root, &empty, None, false, false).unwrap_err();
    assert!(matches!(err, StoreError::EmptyImport { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
