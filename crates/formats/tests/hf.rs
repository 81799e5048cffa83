//! Hugging Face folders: the llama fixture folder, chat-template precedence and forms, special
//! tokens, generation config, weight discovery errors, and RoPE normalisation of the
//! transformers-5 fixture configs (gemma3-text, llama3-rope) and of old-form public configs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use allmende_formats::hf::{GenerationConfig, HfConfig, HfFolder, RopeConfig, TokenizerConfig};
use allmende_formats::safetensors::SafetensorsWriter;
use allmende_formats::FormatError;
use serde_json::json;

fn llama_dir() -> std::path::PathBuf {
    common::fixtures().join("llama-gqa")
}

/// A scratch model folder with `config.json` and a one-tensor `model.safetensors`.
fn folder(name: &str) -> std::path::PathBuf {
    let dir = common::scratch(name);
    std::fs::copy(llama_dir().join("config.json"), dir.join("config.json")).unwrap();
    let mut w = SafetensorsWriter::new();
    w.add_f32("model.norm.weight", &[2], &[1.0, 1.0]).unwrap();
    w.write_to_path(dir.join("model.safetensors")).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn llama_fixture_folder() {
    let f = HfFolder::open(llama_dir()).unwrap();
    let c = f.config();
    assert_eq!(c.model_type(), Some("llama"));
    assert_eq!(c.architectures(), ["LlamaForCausalLM"]);
    assert_eq!(c.usize("num_hidden_layers").unwrap(), 2);
    assert_eq!(c.usize("num_key_value_heads").unwrap(), 2);
    assert_eq!(c.f64("rms_norm_eps").unwrap(), 1e-5);
    assert_eq!(c.opt_bool("tie_word_embeddings").unwrap(), Some(false));
    assert_eq!(c.str("hidden_act").unwrap(), "silu");
    assert_eq!(c.opt_usize("sliding_window").unwrap(), None);
    assert!(
        matches!(c.usize("hidden_act"), Err(FormatError::InvalidConfig { key, .. }) if key == "hidden_act")
    );
    assert!(
        matches!(c.usize("nope"), Err(FormatError::InvalidConfig { message, .. }) if message == "missing")
    );

    assert_eq!(f.weights().len(), 21);
    assert_eq!(
        f.weights().tensor("lm_head.weight").unwrap().shape,
        vec![512, 64]
    );
    assert_eq!(
        f.tokenizer_json(),
        Some(llama_dir().join("tokenizer.json").as_path())
    );

    let t = f.tokenizer_config().unwrap();
    assert_eq!(t.bos_token.as_deref(), Some("<s>"));
    assert_eq!(t.eos_token.as_deref(), Some("</s>"));
    assert_eq!(t.unk_token.as_deref(), Some("<unk>"));
    assert_eq!(t.pad_token.as_deref(), Some("<pad>"));
    assert_eq!(
        (t.add_bos_token, t.add_eos_token),
        (Some(true), Some(false))
    );

    let jinja = std::fs::read_to_string(llama_dir().join("chat_template.jinja")).unwrap();
    assert_eq!(f.chat_template(), Some(jinja.as_str()));
    assert!(jinja.starts_with("{{- bos_token }}"));

    let g = f.generation_config().unwrap();
    assert_eq!(
        (g.bos_token_id, g.eos_token_ids.as_slice(), g.pad_token_id),
        (Some(1), &[2][..], Some(3))
    );
    assert_eq!(f.eos_token_ids().unwrap(), vec![2]);

    let rope = f.rope().unwrap();
    assert_eq!(
        (rope.params.rope_type.as_str(), rope.params.theta),
        ("default", 10000.0)
    );
    assert!(rope.by_layer_type.is_empty());
}

#[test]
fn chat_template_precedence_and_forms() {
    let dir = folder("hf-chat");
    assert_eq!(HfFolder::open(&dir).unwrap().chat_template(), None);
    write(
        &dir,
        "tokenizer_config.json",
        r#"{"chat_template": "FROM_TOKENIZER_CONFIG"}"#,
    );
    assert_eq!(
        HfFolder::open(&dir).unwrap().chat_template(),
        Some("FROM_TOKENIZER_CONFIG")
    );
    write(
        &dir,
        "chat_template.json",
        r#"{"chat_template": "FROM_CHAT_TEMPLATE_JSON"}"#,
    );
    assert_eq!(
        HfFolder::open(&dir).unwrap().chat_template(),
        Some("FROM_CHAT_TEMPLATE_JSON")
    );
    write(&dir, "chat_template.jinja", "FROM_JINJA");
    assert_eq!(
        HfFolder::open(&dir).unwrap().chat_template(),
        Some("FROM_JINJA")
    );
    // The tokenizer config keeps its own template regardless.
    assert_eq!(
        HfFolder::open(&dir)
            .unwrap()
            .tokenizer_config()
            .unwrap()
            .chat_template
            .as_deref(),
        Some("FROM_TOKENIZER_CONFIG")
    );
}

#[test]
fn named_chat_templates() {
    let t = TokenizerConfig::from_value(json!({"chat_template": [
        {"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}))
    .unwrap();
    assert_eq!(t.chat_template.as_deref(), Some("D"));
    assert_eq!(
        t.chat_templates,
        [
            ("tool_use".to_string(), "T".to_string()),
            ("default".to_string(), "D".to_string())
        ]
    );
    let t =
        TokenizerConfig::from_value(json!({"chat_template": [{"name": "rag", "template": "R"}]}))
            .unwrap();
    assert_eq!(t.chat_template.as_deref(), Some("R"));
    let t = TokenizerConfig::from_value(json!({"chat_template": [
        {"name": "a", "template": "A"}, {"name": "b", "template": "B"}]}))
    .unwrap();
    assert_eq!(t.chat_template, None);
    let e = TokenizerConfig::from_value(json!({"chat_template": [{"name": "a"}]})).unwrap_err();
    assert!(
        matches!(&e, FormatError::InvalidConfig { key, .. } if key == "chat_template"),
        "{e}"
    );
    let e = TokenizerConfig::from_value(json!({"chat_template": 3})).unwrap_err();
    assert!(matches!(&e, FormatError::InvalidConfig { .. }), "{e}");
}

#[test]
fn special_tokens_as_strings_or_objects() {
    let t = TokenizerConfig::from_value(json!({
        "bos_token": {"__type": "AddedToken", "content": "<|begin|>", "lstrip": false},
        "eos_token": "<|end|>", "unk_token": null, "add_bos_token": false}))
    .unwrap();
    assert_eq!(t.bos_token.as_deref(), Some("<|begin|>"));
    assert_eq!(t.eos_token.as_deref(), Some("<|end|>"));
    assert_eq!((t.unk_token, t.pad_token), (None, None));
    assert_eq!((t.add_bos_token, t.add_eos_token), (Some(false), None));
    assert!(TokenizerConfig::from_value(json!({"bos_token": {"lstrip": true}})).is_err());
    assert!(TokenizerConfig::from_value(json!({"eos_token": 5})).is_err());
    assert!(TokenizerConfig::from_value(json!({"add_bos_token": "yes"})).is_err());
}

#[test]
fn generation_config_forms() {
    let g = GenerationConfig::from_value(json!({"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
        "do_sample": true, "temperature": 0.6, "top_p": 0.9, "top_k": 50, "repetition_penalty": 1.1, "max_new_tokens": 256}))
    .unwrap();
    assert_eq!(g.eos_token_ids, vec![128001, 128008, 128009]);
    assert_eq!(
        (g.bos_token_id, g.do_sample, g.top_k),
        (Some(128000), Some(true), Some(50))
    );
    assert_eq!(
        (g.temperature, g.top_p, g.repetition_penalty, g.min_p),
        (Some(0.6), Some(0.9), Some(1.1), None)
    );
    assert_eq!(g.max_new_tokens, Some(256));
    let g = GenerationConfig::from_value(json!({"eos_token_id": 7, "pad_token_id": null})).unwrap();
    assert_eq!((g.eos_token_ids, g.pad_token_id), (vec![7], None));
    assert!(GenerationConfig::from_value(json!({"eos_token_id": [1, "x"]})).is_err());
    assert!(GenerationConfig::from_value(json!({"eos_token_id": -1})).is_err());
    assert!(GenerationConfig::from_value(json!({"temperature": "hot"})).is_err());
    assert!(GenerationConfig::from_value(json!([])).is_err());
}

#[test]
fn eos_falls_back_to_config() {
    let dir = folder("hf-eos");
    write(
        &dir,
        "config.json",
        r#"{"model_type": "llama", "eos_token_id": [2, 9]}"#,
    );
    assert_eq!(
        HfFolder::open(&dir).unwrap().eos_token_ids().unwrap(),
        vec![2, 9]
    );
    write(&dir, "generation_config.json", r#"{"eos_token_id": 5}"#);
    assert_eq!(
        HfFolder::open(&dir).unwrap().eos_token_ids().unwrap(),
        vec![5]
    );
}

#[test]
fn weight_discovery() {
    let dir = folder("hf-weights");
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let e = HfFolder::open(&dir).unwrap_err();
    assert!(
        matches!(&e, FormatError::MissingFile { what, .. } if what.contains("model.safetensors")),
        "{e}"
    );
    // PyTorch weights are read by the restricted unpickler (tests/torch_hf.rs); a file that
    // is no zip checkpoint is an error naming it.
    write(&dir, "pytorch_model.bin", "PK");
    let e = HfFolder::open(&dir).unwrap_err();
    assert!(
        matches!(&e, FormatError::InFile { path, .. } if path.ends_with("pytorch_model.bin")),
        "{e}"
    );
    assert!(matches!(e.root(), FormatError::Pickle(_)), "{e}");

    // Sharded weights win over everything else.
    let mut a = SafetensorsWriter::new();
    a.add_f32("a", &[1], &[1.0]).unwrap();
    a.write_to_path(dir.join("model-00001-of-00002.safetensors"))
        .unwrap();
    let mut b = SafetensorsWriter::new();
    b.add_f32("b", &[1], &[2.0]).unwrap();
    b.write_to_path(dir.join("model-00002-of-00002.safetensors"))
        .unwrap();
    write(
        &dir,
        "model.safetensors.index.json",
        r#"{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#,
    );
    let f = HfFolder::open(&dir).unwrap();
    assert_eq!(f.weights().files().len(), 2);
    assert_eq!(
        f.weights().tensor("b").unwrap().data.as_slice(),
        2.0f32.to_le_bytes()
    );

    std::fs::remove_file(dir.join("config.json")).unwrap();
    let e = HfFolder::open(&dir).unwrap_err();
    assert!(
        matches!(&e, FormatError::MissingFile { what, .. } if what == "config.json"),
        "{e}"
    );
    assert!(matches!(
        HfFolder::open(dir.join("nope")),
        Err(FormatError::Io { .. })
    ));
}

#[test]
fn bad_json_names_the_file() {
    let dir = folder("hf-badjson");
    write(&dir, "generation_config.json", "{\"eos_token_id\": ");
    let e = HfFolder::open(&dir).unwrap_err();
    assert!(
        matches!(&e, FormatError::InvalidJson { what, .. } if what.ends_with("generation_config.json")),
        "{e}"
    );
    write(&dir, "generation_config.json", "{\"eos_token_id\": \"x\"}");
    let e = HfFolder::open(&dir).unwrap_err();
    assert!(
        matches!(e.root(), FormatError::InvalidConfig { key, .. } if key == "eos_token_id"),
        "{e}"
    );
    assert!(e.to_string().contains("generation_config.json"), "{e}");
    write(&dir, "config.json", "[]");
    assert!(matches!(
        HfFolder::open(&dir).unwrap_err().root(),
        FormatError::InvalidConfig { .. }
    ));
}

#[test]
fn nested_text_config() {
    let c = HfConfig::from_value(
        json!({"model_type": "llava", "text_config": {"model_type": "llama",
        "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}}, "vision_config": 3}),
    )
    .unwrap();
    let text = c.sub("text_config").unwrap().unwrap();
    assert_eq!(text.model_type(), Some("llama"));
    assert_eq!(text.rope().unwrap().params.theta, 10000.0);
    assert!(c.sub("vision_config").is_err());
    assert_eq!(c.sub("audio_config").unwrap(), None);
}

fn rope(v: serde_json::Value) -> RopeConfig {
    HfConfig::from_value(v).unwrap().rope().unwrap()
}

#[test]
fn rope_transformers5_gemma3_per_layer_type() {
    let c = HfConfig::open(common::fixtures().join("hf-configs/gemma3-text.json")).unwrap();
    let r = c.rope().unwrap();
    assert_eq!(r.by_layer_type.len(), 2);
    let full = r.for_layer_type("full_attention");
    assert_eq!(
        (full.rope_type.as_str(), full.theta, full.factor),
        ("linear", 1_000_000.0, Some(8.0))
    );
    let sliding = r.for_layer_type("sliding_attention");
    assert_eq!(
        (sliding.rope_type.as_str(), sliding.theta, sliding.factor),
        ("default", 10_000.0, None)
    );
    assert_eq!(r.params, *full);
    // Layer types from the config map onto the parameters.
    let types: Vec<String> = c.req("layer_types").unwrap();
    assert_eq!(r.for_layer_type(&types[0]).theta, 10_000.0);
    assert_eq!(r.for_layer_type(&types[1]).theta, 1_000_000.0);
}

#[test]
fn rope_transformers5_llama3() {
    let r = HfConfig::open(common::fixtures().join("hf-configs/llama3-rope.json"))
        .unwrap()
        .rope()
        .unwrap();
    let p = &r.params;
    assert_eq!(
        (p.rope_type.as_str(), p.theta, p.factor),
        ("llama3", 500_000.0, Some(8.0))
    );
    assert_eq!(
        (p.low_freq_factor, p.high_freq_factor),
        (Some(1.0), Some(4.0))
    );
    assert_eq!(p.original_max_position_embeddings, Some(64));
    assert!(r.by_layer_type.is_empty());
    assert_eq!(r.for_layer_type("full_attention"), p);
}

#[test]
fn rope_old_forms() {
    // No RoPE keys at all.
    let r = rope(json!({"model_type": "llama"}));
    assert_eq!(
        (r.params.rope_type.as_str(), r.params.theta),
        ("default", 10_000.0)
    );
    // Llama 3.1 (transformers 4.43+): rope_scaling with rope_type.
    let r = rope(
        json!({"rope_theta": 500000.0, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}}),
    );
    let p = &r.params;
    assert_eq!(
        (p.rope_type.as_str(), p.theta, p.factor),
        ("llama3", 500_000.0, Some(8.0))
    );
    assert_eq!(
        (
            p.low_freq_factor,
            p.high_freq_factor,
            p.original_max_position_embeddings
        ),
        (Some(1.0), Some(4.0), Some(8192))
    );
    // Qwen2.5 long context: older `type` key; integer theta.
    let r = rope(
        json!({"rope_theta": 1000000, "rope_scaling": {"factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn"}}),
    );
    assert_eq!(
        (r.params.rope_type.as_str(), r.params.theta, r.params.factor),
        ("yarn", 1_000_000.0, Some(4.0))
    );
    // Linear scaling, null scaling.
    let r = rope(json!({"rope_theta": 10000.0, "rope_scaling": {"type": "linear", "factor": 2.0}}));
    assert_eq!(
        (r.params.rope_type.as_str(), r.params.factor),
        ("linear", Some(2.0))
    );
    let r = rope(json!({"rope_theta": 10000.0, "rope_scaling": null}));
    assert_eq!(r.params.rope_type, "default");
    // Phi-3 128k: `su` is longrope; original max and partial rotary factor from the top level.
    let r = rope(
        json!({"rope_theta": 10000.0, "original_max_position_embeddings": 4096, "partial_rotary_factor": 0.5,
        "rope_scaling": {"type": "su", "short_factor": [1.0, 1.5], "long_factor": [2, 3.5]}}),
    );
    let p = &r.params;
    assert_eq!(p.rope_type, "longrope");
    assert_eq!(
        (p.short_factor.as_deref(), p.long_factor.as_deref()),
        (Some(&[1.0, 1.5][..]), Some(&[2.0, 3.5][..]))
    );
    assert_eq!(
        (p.original_max_position_embeddings, p.partial_rotary_factor),
        (Some(4096), Some(0.5))
    );
    // Unknown keys are kept.
    let r = rope(json!({"rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}}));
    assert_eq!(r.params.extra["mrope_section"], json!([16, 24, 24]));
}

#[test]
fn rope_old_gemma3_local_base_freq() {
    let r = rope(
        json!({"model_type": "gemma3_text", "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"}}),
    );
    let full = r.for_layer_type("full_attention");
    assert_eq!(
        (full.rope_type.as_str(), full.theta, full.factor),
        ("linear", 1_000_000.0, Some(8.0))
    );
    let sliding = r.for_layer_type("sliding_attention");
    assert_eq!(
        (sliding.rope_type.as_str(), sliding.theta, sliding.factor),
        ("default", 10_000.0, None)
    );
}

#[test]
fn rope_transformers5_uniform_falls_back_to_top_level() {
    let r = rope(
        json!({"rope_theta": 20000.0, "partial_rotary_factor": 0.25, "rope_parameters": {"rope_type": "default"}}),
    );
    assert_eq!(
        (r.params.theta, r.params.partial_rotary_factor),
        (20000.0, Some(0.25))
    );
    let r = rope(
        json!({"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 1.0}}),
    );
    assert_eq!(r.params.partial_rotary_factor, Some(1.0));
}

#[test]
fn rope_errors() {
    let err = |v| HfConfig::from_value(v).unwrap().rope().unwrap_err();
    for (v, key) in [
        (json!({"rope_theta": -1.0}), "rope_theta"),
        (json!({"rope_theta": "big"}), "rope_theta"),
        (json!({"rope_scaling": 8}), "rope_scaling"),
        (
            json!({"rope_scaling": {"type": "linear", "factor": 0.0}}),
            "rope_scaling.factor",
        ),
        (
            json!({"rope_scaling": {"rope_type": 3}}),
            "rope_scaling.rope_type",
        ),
        (json!({"rope_parameters": []}), "rope_parameters"),
        (
            json!({"rope_parameters": {"full_attention": {"rope_theta": 0}}}),
            "rope_parameters.full_attention.rope_theta",
        ),
        (
            json!({"rope_parameters": {"rope_type": "longrope", "short_factor": ["a"]}}),
            "rope_parameters.short_factor",
        ),
    ] {
        let e = err(v.clone());
        assert!(
            matches!(&e, FormatError::InvalidConfig { key: k, .. } if k == key),
            "{v}: {e}"
        );
    }
}
