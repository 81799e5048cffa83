//! Governance from the command line: `license`, the licence policy of `run` (checked before any
//! weights load, with `--accept-license` and the audit log), and hub references
//! (`pull hf:...`, pull on first use, `--offline`, `list`, `rm`) against a fake hub.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic loudly

mod common;
#[path = "../../hub/tests/common/mod.rs"]
mod fake_hub;

use std::path::Path;

use common::{s, tiny_gguf, tiny_hf, Run, TempDir};
use serde_json::Value;

fn run_env(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    common::run_isolated(home, env, args)
}

/// A copy of the tiny GGUF in `dir` next to a model card declaring `license`.
fn gguf_with_card(dir: &Path, license: &str) -> std::path::PathBuf {
    let model = dir.join("tiny.gguf");
    std::fs::copy(tiny_gguf("q8_0"), &model).unwrap();
    std::fs::write(dir.join("README.md"), format!("---\nlicense: {license}\n---\n# tiny\n")).unwrap();
    model
}

fn audit_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn license_reports_the_model_card_licence_with_obligations() {
    let home = TempDir::new("lic-home");
    let dir = TempDir::new("lic-model");
    let model = gguf_with_card(dir.path(), "apache-2.0");
    let r = run_env(home.path(), &[], &["license", s(&model), "--json"]).success();
    let j = r.json();
    assert_eq!(j["id"], "Apache-2.0");
    assert!(j["source"].as_str().unwrap().contains("README.md"), "{j}");
    assert_eq!(j["commercial_use"], "yes");
    let kinds: Vec<&str> = j["obligations"].as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"licence_copy"), "{kinds:?}");

    // A licence text is recognised by its content whatever the file is called.
    let dir2 = TempDir::new("lic-text");
    let model2 = dir2.join("tiny.gguf");
    std::fs::copy(tiny_gguf("q8_0"), &model2).unwrap();
    std::fs::write(
        dir2.join("COPYING.txt"),
        "MIT License\n\nCopyright (c) 2024 Someone\n\n\
         Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated \
         documentation files (the \"Software\"), to deal in the Software without restriction, including without limitation \
         the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to \
         permit persons to whom the Software is furnished to do so, subject to the following conditions:\n\n\
         The above copyright notice and this permission notice shall be included in all copies or substantial portions of \
         the Software.\n\n\
         THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO \
         THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.\n",
    )
    .unwrap();
    let j = run_env(home.path(), &[], &["license", s(&model2), "--json"]).success().json();
    assert_eq!(j["id"], "MIT", "{j}");

    // Nothing declared: unknown, and the human output says so.
    let r = run_env(home.path(), &[], &["license", s(&tiny_gguf("q8_0"))]).success();
    assert!(r.stdout.contains("unknown"), "{}", r.stdout);
}

#[test]
fn policy_refuses_before_loading_and_accepting_is_audited() {
    let home = TempDir::new("pol-home");
    let dir = TempDir::new("pol-model");
    // An HF folder whose weights are garbage: a refusal must come before any weights load.
    let folder = dir.join("broken-hf");
    std::fs::create_dir_all(&folder).unwrap();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(tiny_hf().join(f), folder.join(f)).unwrap();
    }
    std::fs::write(folder.join("model.safetensors"), b"not a safetensors file").unwrap();
    std::fs::write(folder.join("README.md"), "---\nlicense: llama3.1\n---\n").unwrap();
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, "[licenses]\nallow = [\"Apache-2.0\", \"MIT\"]\nunknown = \"deny\"\n").unwrap();
    let audit = dir.join("audit.jsonl");
    let base = ["run", s(&folder), "--raw", "hi", "-n", "1", "--policy", s(&policy), "--audit-log", s(&audit)];
    let r = run_env(home.path(), &[], &base);
    r.fails_with(&["llama3.1", "[licenses].allow", "policy.toml", "--accept-license llama3.1"]);
    let lines = audit_lines(&audit);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["decision"], "deny");
    assert_eq!(lines[0]["licence"], "llama3.1");

    // Accepting it deliberately passes the policy; the broken weights then fail to load.
    let mut accepted = base.to_vec();
    accepted.extend(["--accept-license", "llama3.1"]);
    let r = run_env(home.path(), &[], &accepted);
    r.fails_with(&["model.safetensors"]);
    let lines = audit_lines(&audit);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["decision"], "accepted");
    assert_eq!(lines[1]["accepted"], serde_json::json!(["llama3.1"]));

    // An allowed licence runs; the policy can come from the config file (relative path).
    let ok = TempDir::new("pol-ok");
    let model = gguf_with_card(ok.path(), "MIT");
    let cfg_dir = home.join("config").join("allmende");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    std::fs::copy(&policy, cfg_dir.join("policy.toml")).unwrap();
    std::fs::write(cfg_dir.join("config.toml"), "policy = \"policy.toml\"\n").unwrap();
    run_env(home.path(), &[], &["run", s(&model), "--raw", "hi", "-n", "2", "--temp", "0"]).success();
    // The same config refuses an undeclared licence (unknown = "deny").
    let r = run_env(home.path(), &[], &["run", s(&tiny_gguf("q8_0")), "--raw", "hi", "-n", "1"]);
    r.fails_with(&["unknown"]);
    // A typo in the config file is an error, not a silently disabled policy.
    std::fs::write(cfg_dir.join("config.toml"), "polcy = \"policy.toml\"\n").unwrap();
    let r = run_env(home.path(), &[], &["run", s(&model), "--raw", "hi", "-n", "1"]);
    r.fails_with(&["config.toml", "polcy"]);
}

#[test]
fn hub_models_pull_on_first_use_and_work_offline() {
    let gguf = std::fs::read(tiny_gguf("q8_0")).unwrap();
    let hub = fake_hub::FakeHub::start(vec![fake_hub::repo(
        "acme/tiny",
        7,
        vec![
            fake_hub::file("README.md", b"---\nlicense: apache-2.0\n---\n# tiny\n"),
            fake_hub::lfs("tiny-q8_0.gguf", &gguf),
        ],
    )]);
    let home = TempDir::new("hub-home");
    let env = [("HF_ENDPOINT", hub.endpoint.as_str())];
    let off = [("HF_ENDPOINT", "http://127.0.0.1:9")]; // nothing listens there

    // Offline before any pull: a clear error, no network.
    let r = run_env(home.path(), &off, &["--offline", "run", "hf:acme/tiny", "--raw", "hi", "-n", "1"]);
    r.fails_with(&["acme/tiny", "offline"]);

    // First use pulls; the snapshot then serves offline runs and the licence command.
    let first = run_env(home.path(), &env, &["run", "hf:acme/tiny", "--raw", "hi", "-n", "3", "--temp", "0", "--json"]).success();
    let again = run_env(home.path(), &off, &["--offline", "run", "hf:acme/tiny", "--raw", "hi", "-n", "3", "--temp", "0", "--json"])
        .success();
    assert_eq!(first.json()["ids"], again.json()["ids"]);
    let lic = run_env(home.path(), &off, &["--offline", "license", "hf:acme/tiny", "--json"]).success().json();
    assert_eq!(lic["id"], "Apache-2.0");

    let list = run_env(home.path(), &off, &["list", "--json"]).success().json();
    let row = list.as_array().unwrap().iter().find(|r| r["name"].as_str().unwrap().starts_with("hf:acme/tiny@")).unwrap();
    assert_eq!(row["verified"], true);

    // `pull` refuses to run offline, then works online; an unknown repo is a clear error.
    run_env(home.path(), &env, &["--offline", "pull", "hf:acme/tiny"]).fails_with(&["offline"]);
    run_env(home.path(), &env, &["pull", "hf:acme/tiny"]).success();
    run_env(home.path(), &env, &["pull", "hf:acme/nope"]).fails_with(&["acme/nope", "not found"]);

    // After rm, offline use fails again.
    run_env(home.path(), &off, &["rm", "hf:acme/tiny"]).success();
    run_env(home.path(), &off, &["--offline", "run", "hf:acme/tiny", "--raw", "hi", "-n", "1"]).fails_with(&["acme/tiny"]);
}

#[test]
fn bom_lists_each_model_with_file_hashes_licence_and_card() {
    use sha2::{Digest, Sha256};
    let home = TempDir::new("bom-home");
    let dir = TempDir::new("bom-model");
    let model = gguf_with_card(dir.path(), "apache-2.0");
    let out = dir.join("bom.json");
    run_env(home.path(), &[], &["bom", s(&model), s(&tiny_hf()), "-o", s(&out)]).success();
    let bom: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.6");
    assert_eq!(bom["metadata"]["tools"]["components"][0]["name"], "allmende");
    let comps = bom["components"].as_array().unwrap();
    assert_eq!(comps.len(), 2);
    let gguf = &comps[0];
    assert_eq!(gguf["type"], "machine-learning-model");
    let want = format!("{:x}", Sha256::digest(std::fs::read(&model).unwrap()));
    assert_eq!(gguf["hashes"][0]["alg"], "SHA-256");
    assert_eq!(gguf["hashes"][0]["content"], want.as_str());
    assert_eq!(gguf["licenses"][0]["license"]["id"], "Apache-2.0");
    assert_eq!(gguf["modelCard"]["modelParameters"]["architectureFamily"], "llama");
    let props: Vec<&str> =
        gguf["modelCard"]["properties"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(props.contains(&"allmende:parameters") && props.contains(&"allmende:quantization"), "{props:?}");
    // The HF folder: one file component per file, each hashed.
    let files = comps[1]["components"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"model.safetensors") && names.contains(&"config.json"), "{names:?}");
    let st = files.iter().find(|f| f["name"] == "model.safetensors").unwrap();
    let want = format!("{:x}", Sha256::digest(std::fs::read(tiny_hf().join("model.safetensors")).unwrap()));
    assert_eq!(st["hashes"][0]["content"], want.as_str());
    // A model that cannot be resolved is an error, not a partial BOM.
    run_env(home.path(), &[], &["--offline", "bom", s(&model), "no-such-model"]).fails_with(&["no-such-model"]);
}
