//! `allmende import PATH [--name NAME] [--link] [--force]`: a local GGUF file or HF folder,
//! imported into a private `ALLMENDE_HOME`, is then accepted by name everywhere (`run`,
//! `inspect`, `license`, `bom`), shown by `list`, checked against its manifest on every use, and
//! removed by `rm` (the store's copy only).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic loudly

mod common;

use std::path::{Path, PathBuf};

use common::{s, tiny_gguf, tiny_hf, Run, TempDir};
use serde_json::Value;

fn run_home(home: &Path, args: &[&str]) -> Run {
    common::run_isolated(home, &[], args)
}

/// `run MODEL --raw hi -n 3 --temp 0 --json`: (prompt ids, generated ids, text).
fn greedy(home: &Path, model: &str) -> (Value, Value, Value) {
    let j = run_home(home, &["run", model, "--raw", "hi", "-n", "3", "--temp", "0", "--json", "-t", "1"]).success().json();
    assert_eq!(j["ids"].as_array().map(Vec::len), Some(3), "{j}");
    (j["prompt_ids"].clone(), j["ids"].clone(), j["text"].clone())
}

fn list_rows(home: &Path) -> Vec<Value> {
    run_home(home, &["list", "--json"]).success().json().as_array().unwrap().clone()
}

/// The import row of `list --json`, if any.
fn listed(home: &Path, name: &str) -> Option<Value> {
    list_rows(home).into_iter().find(|r| r["name"] == name)
}

fn manifest_path(home: &Path, name: &str) -> PathBuf {
    home.join("local").join(name).join(".manifest.json")
}

#[test]
fn imported_gguf_runs_by_name_like_the_path() {
    let home = TempDir::new("imp-gguf");
    let src = tiny_gguf("q8_0");
    let r = run_home(home.path(), &["import", s(&src)]).success();
    let stored = home.path().join("local/tiny-llama-gqa-q8_0/tiny-llama-gqa-q8_0.gguf");
    assert_eq!(r.stdout.trim(), s(&stored));
    assert!(r.stderr.contains("as `tiny-llama-gqa-q8_0`"), "{}", r.stderr);
    assert_eq!(std::fs::read(&stored).unwrap(), std::fs::read(&src).unwrap());

    assert_eq!(greedy(home.path(), "tiny-llama-gqa-q8_0"), greedy(home.path(), s(&src)));
    // Names are case-insensitive, like catalogue names.
    assert_eq!(greedy(home.path(), "Tiny-Llama-GQA-Q8_0"), greedy(home.path(), s(&src)));
    // inspect takes the name too and sees the same model.
    let by_name = run_home(home.path(), &["inspect", "tiny-llama-gqa-q8_0", "--json"]).success().json();
    let by_path = run_home(home.path(), &["inspect", s(&src), "--json"]).success().json();
    assert_eq!(by_name["architecture"], by_path["architecture"]);
    assert_eq!(by_name["parameters"], by_path["parameters"]);

    let row = listed(home.path(), "tiny-llama-gqa-q8_0").expect("listed");
    assert_eq!(row["verified"], true, "{row}");
    assert_eq!(row["format"], "gguf", "{row}");
    assert_eq!(row["path"], s(&stored), "{row}");
    assert_eq!(row["size"], std::fs::metadata(&src).unwrap().len(), "{row}");
    let canonical = std::fs::canonicalize(&src).unwrap();
    assert_eq!(row["source"], format!("local:{}", canonical.display()), "{row}");
    // The table lists it as imported.
    let table = run_home(home.path(), &["list"]).success().stdout;
    let line = table.lines().find(|l| l.starts_with("tiny-llama-gqa-q8_0 ")).expect(&table);
    assert!(line.contains("imported"), "{line}");

    // rm deletes the store's copy, never the original; afterwards the name is unknown.
    let r = run_home(home.path(), &["rm", "tiny-llama-gqa-q8_0"]).success();
    assert!(r.stderr.contains("removed local model tiny-llama-gqa-q8_0"), "{}", r.stderr);
    assert!(!home.path().join("local/tiny-llama-gqa-q8_0").exists());
    assert!(src.is_file());
    run_home(home.path(), &["run", "tiny-llama-gqa-q8_0", "--raw", "hi", "-n", "1"])
        .fails_with(&["`tiny-llama-gqa-q8_0`", "local import"]);
    run_home(home.path(), &["rm", "tiny-llama-gqa-q8_0"]).fails_with(&["not in the catalogue", "local import"]);
    assert!(listed(home.path(), "tiny-llama-gqa-q8_0").is_none());
}

#[test]
fn imported_hf_folder_runs_by_name_and_bom_uses_the_manifest() {
    use sha2::{Digest, Sha256};
    let home = TempDir::new("imp-hf");
    let src = tiny_hf();
    let j = run_home(home.path(), &["import", s(&src), "--name", "tiny-hf", "--json"]).success().json();
    assert_eq!(j["name"], "tiny-hf");
    let files: Vec<&str> = j["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(files.contains(&"config.json") && files.contains(&"model.safetensors") && files.contains(&"tokenizer.json"), "{files:?}");

    assert_eq!(greedy(home.path(), "tiny-hf"), greedy(home.path(), s(&src)));
    let row = listed(home.path(), "tiny-hf").expect("listed");
    assert_eq!((row["format"].as_str(), row["verified"].as_bool()), (Some("hf-folder"), Some(true)), "{row}");

    // The BOM carries the manifest's hashes (equal to the files' real hashes) and the source.
    let bom = run_home(home.path(), &["bom", "tiny-hf"]).success().json();
    let comp = &bom["components"][0];
    assert_eq!(comp["name"], "tiny-hf");
    let st = comp["components"].as_array().unwrap().iter().find(|f| f["name"] == "model.safetensors").unwrap();
    let real = format!("{:x}", Sha256::digest(std::fs::read(src.join("model.safetensors")).unwrap()));
    assert_eq!(st["hashes"][0]["content"], real.as_str());
    let props = comp["properties"].to_string();
    assert!(props.contains("local:"), "{props}");

    // Proof that bom reads the hashes from the manifest instead of re-hashing: a hash edited in
    // the manifest (the file's size and mtime unchanged, so the check trusts it) shows up as is.
    let mpath = manifest_path(home.path(), "tiny-hf");
    let text = std::fs::read_to_string(&mpath).unwrap();
    let fake = "ab".repeat(32);
    std::fs::write(&mpath, text.replace(&real, &fake)).unwrap();
    let bom = run_home(home.path(), &["bom", "tiny-hf"]).success().json();
    let st = bom["components"][0]["components"].as_array().unwrap().iter().find(|f| f["name"] == "model.safetensors").unwrap().clone();
    assert_eq!(st["hashes"][0]["content"], fake.as_str());
}

#[test]
fn a_changed_import_is_refused_by_every_command() {
    let home = TempDir::new("imp-tamper");
    let src = tiny_gguf("q8_0");
    run_home(home.path(), &["import", s(&src), "--name", "t"]).success();
    let stored = home.path().join("local/t/tiny-llama-gqa-q8_0.gguf");
    // One byte flipped in the store's copy, same size, and a new mtime.
    let mut bytes = std::fs::read(&stored).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&stored, &bytes).unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options().write(true).open(&stored).unwrap().set_modified(t).unwrap();
    for args in [
        &["run", "t", "--raw", "hi", "-n", "1"][..],
        &["inspect", "t"],
        &["bom", "t"],
        &["license", "t"],
    ] {
        run_home(home.path(), args).fails_with(&["local model `t`", "changed since it was imported", "rm t"]);
    }
    let row = listed(home.path(), "t").expect("listed");
    assert_eq!(row["verified"], false, "{row}");
    assert!(row["problem"].as_str().unwrap().contains("sha256"), "{row}");
    // The copy stays for the user to look at; rm deletes it, and a re-import works.
    assert!(stored.is_file());
    run_home(home.path(), &["rm", "t"]).success();
    run_home(home.path(), &["import", s(&src), "--name", "t"]).success();
    assert_eq!(greedy(home.path(), "t"), greedy(home.path(), s(&src)));
}

#[test]
fn import_refusals() {
    let home = TempDir::new("imp-refuse");
    let dir = TempDir::new("imp-refuse-src");
    let src = tiny_gguf("q8_0");
    // Catalogue names and aliases are taken.
    run_home(home.path(), &["import", s(&src), "--name", "SmolLM2"]).fails_with(&["`smollm2`", "smollm2-135m-instruct", "--name"]);
    run_home(home.path(), &["import", s(&src), "--name", "no spaces"]).fails_with(&["not a valid model name"]);
    // Not a model at all.
    let text = dir.join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    run_home(home.path(), &["import", s(&text)]).fails_with(&["not a GGUF file"]);
    run_home(home.path(), &["import", s(dir.path())]).fails_with(&["no config.json"]);
    run_home(home.path(), &["import", s(&dir.join("missing.gguf"))]).fails_with(&["missing.gguf"]);
    // A second import under the same name needs --force.
    run_home(home.path(), &["import", s(&src), "--name", "m"]).success();
    run_home(home.path(), &["import", s(&tiny_gguf("f16")), "--name", "m"]).fails_with(&["`m` exists already", "--force"]);
    run_home(home.path(), &["import", s(&tiny_gguf("f16")), "--name", "m", "--force"]).success();
    let row = listed(home.path(), "m").unwrap();
    assert!(row["path"].as_str().unwrap().ends_with("tiny-llama-gqa-f16.gguf"), "{row}");
    // A folder whose link leaves it is refused.
    let m = dir.join("linked");
    std::fs::create_dir_all(&m).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(tiny_hf().join(f), m.join(f)).unwrap();
    }
    std::fs::write(dir.join("secret"), "key").unwrap();
    std::os::unix::fs::symlink("../secret", m.join("tokenizer_config.json")).unwrap();
    run_home(home.path(), &["import", s(&m)]).fails_with(&["symbolic link", "outside the imported folder"]);
    assert!(!home.path().join("local/linked").exists());
}

#[test]
fn link_imports_without_copying() {
    use std::os::unix::fs::MetadataExt;
    let home = TempDir::new("imp-link");
    let dir = TempDir::new("imp-link-src");
    // A private copy of the fixture, so the test may edit it.
    let src = dir.join("tiny.gguf");
    std::fs::copy(tiny_gguf("q8_0"), &src).unwrap();
    let r = run_home(home.path(), &["import", s(&src), "--link"]).success();
    let stored = PathBuf::from(r.stdout.trim());
    let (a, b) = (std::fs::metadata(&src).unwrap(), std::fs::metadata(&stored).unwrap());
    // CARGO_TARGET_TMPDIR holds both: one filesystem, so a hard link.
    assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
    assert_eq!(greedy(home.path(), "tiny"), greedy(home.path(), s(&src)));
    run_home(home.path(), &["rm", "tiny"]).success();
    assert!(src.is_file(), "rm leaves the original");
}
