//! Error paths of the public API on a model built by hand from a spec and random tensors:
//! bad inputs to `forward`, a cache from another model, missing / misshapen / unused tensors,
//! unknown architectures and paths that hold no model.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use allmende_kernels::GgmlType;
use allmende_models::tensors::{RawTensor, TensorMap};
use allmende_models::{
    Activation, AttnSpec, BlockLayout, DecoderSpec, FfnKind, LayerSpec, Logits, Model, ModelError, ModelOptions,
    NormKind, RopePairing, RopeScaling, RopeSpec,
};
use allmende_tensor::ByteView;

fn spec() -> DecoderSpec {
    let rope = RopeSpec { pairing: RopePairing::Neox, n_rot: 4, theta: 10000.0, scaling: RopeScaling::None };
    DecoderSpec {
        arch: "test".into(),
        n_vocab: 10,
        n_embd: 8,
        n_layer: 1,
        n_head: 2,
        n_head_kv: 1,
        head_dim: 4,
        n_ff: 16,
        n_ctx_train: 32,
        norm: NormKind::Rms { eps: 1e-5, unit_offset: false },
        ffn: FfnKind::Gated { act: Activation::Silu },
        ffn_bias: false,
        attn: AttnSpec { qkv_bias: false, out_bias: false, scale: 0.5, softcap: None, qk_norm: false, alibi: None },
        block: BlockLayout::Sequential,
        post_norms: false,
        embed_scale: None,
        final_softcap: None,
        tied_output: true,
        layers: vec![LayerSpec { sliding_window: None, rope: Some(rope) }],
    }
}

fn tensor(shape: &[usize], seed: u32) -> RawTensor {
    let n: usize = shape.iter().product();
    let bytes = (0..n).flat_map(|i| ((((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 1000.0 - 0.5).to_le_bytes()).collect();
    RawTensor { ty: GgmlType::F32, shape: shape.to_vec(), data: ByteView::from_vec(bytes) }
}

fn tensors() -> TensorMap {
    let mut m = TensorMap::new();
    for (name, shape) in [
        ("token_embd.weight", vec![10, 8]),
        ("output_norm.weight", vec![8]),
        ("blk.0.attn_norm.weight", vec![8]),
        ("blk.0.attn_q.weight", vec![8, 8]),
        ("blk.0.attn_k.weight", vec![4, 8]),
        ("blk.0.attn_v.weight", vec![4, 8]),
        ("blk.0.attn_output.weight", vec![8, 8]),
        ("blk.0.ffn_norm.weight", vec![8]),
        ("blk.0.ffn_gate.weight", vec![16, 8]),
        ("blk.0.ffn_up.weight", vec![16, 8]),
        ("blk.0.ffn_down.weight", vec![8, 16]),
    ] {
        m.insert(name.to_string(), tensor(&shape, name.len() as u32));
    }
    m
}

#[test]
fn forward_rejects_bad_input() {
    let mut model = Model::from_tensors(spec(), &tensors(), &ModelOptions { n_threads: 1, n_batch: 4, ..ModelOptions::default() }).unwrap();
    let mut cache = model.new_cache(6);
    assert!(matches!(model.forward(&[], &mut cache, Logits::Last), Err(ModelError::EmptyInput)));
    assert!(matches!(
        model.forward(&[1, 10], &mut cache, Logits::Last),
        Err(ModelError::TokenOutOfRange { id: 10, index: 1, n_vocab: 10 })
    ));
    assert_eq!(model.forward(&[1, 2, 3, 4, 5], &mut cache, Logits::All).unwrap().len(), 50);
    assert!(matches!(
        model.forward(&[1, 2], &mut cache, Logits::Last),
        Err(ModelError::ContextFull { len: 5, n_new: 2, n_ctx: 6 })
    ));
    assert_eq!(cache.len(), 5, "a rejected call leaves the cache alone");
    let mut other = spec();
    other.n_layer = 2;
    other.layers.push(other.layers[0].clone());
    let mut foreign = allmende_models::KvCache::new(&other, 8);
    assert!(matches!(model.forward(&[1], &mut foreign, Logits::Last), Err(ModelError::CacheMismatch(_))));
}

#[test]
fn weight_building_names_the_tensor() {
    let opts = ModelOptions { n_threads: 1, n_batch: 4, ..ModelOptions::default() };
    let mut t = tensors();
    t.remove("blk.0.ffn_up.weight");
    match Model::from_tensors(spec(), &t, &opts) {
        Err(ModelError::MissingTensor { name }) => assert_eq!(name, "blk.0.ffn_up.weight"),
        other => panic!("{other:?}"),
    }
    let mut t = tensors();
    t.insert("blk.0.attn_k.weight".into(), tensor(&[8, 8], 1));
    match Model::from_tensors(spec(), &t, &opts) {
        Err(ModelError::ShapeMismatch { name, expected, got }) => {
            assert_eq!((name.as_str(), expected, got), ("blk.0.attn_k.weight", vec![4, 8], vec![8, 8]));
        }
        other => panic!("{other:?}"),
    }
    // A bias the spec does not expect means the spec misses a feature: refuse, don't ignore.
    let mut t = tensors();
    t.insert("blk.0.attn_q.bias".into(), tensor(&[8], 2));
    assert!(matches!(Model::from_tensors(spec(), &t, &opts), Err(ModelError::Unsupported(m)) if m.contains("attn_q.bias")));
    let mut bad = spec();
    bad.n_head_kv = 3;
    assert!(matches!(Model::from_tensors(bad, &tensors(), &opts), Err(ModelError::BadConfig { .. })));
}

#[test]
fn unknown_arch_and_non_models() {
    let dir = std::env::temp_dir().join(format!("allmende-models-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"architectures": ["GPT2LMHeadModel"]}"#).unwrap();
    let cfg = allmende_formats::HfConfig::open(dir.join("config.json")).unwrap();
    match allmende_models::spec_from_hf_config(&cfg) {
        Err(ModelError::UnknownArch { name, supported }) => {
            assert_eq!(name, "GPT2LMHeadModel");
            assert!(supported.contains("Gemma3ForCausalLM"));
        }
        other => panic!("{other:?}"),
    }
    let not_gguf = dir.join("weights.bin");
    std::fs::write(&not_gguf, b"PK\x03\x04 not a model").unwrap();
    assert!(matches!(Model::load(&not_gguf, &ModelOptions::default()), Err(ModelError::NotAModel { .. })));
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(matches!(Model::load(&empty, &ModelOptions::default()), Err(ModelError::NotAModel { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn logits_last_is_the_last_row_of_all() {
    let mut model = Model::from_tensors(spec(), &tensors(), &ModelOptions { n_threads: 2, n_batch: 3, ..ModelOptions::default() }).unwrap();
    let ids = [1, 4, 2, 8, 5, 7, 0];
    let all = model.forward(&ids, &mut model.new_cache(8), Logits::All).unwrap().to_vec();
    let last = model.forward(&ids, &mut model.new_cache(8), Logits::Last).unwrap().to_vec();
    assert_eq!(last, all[6 * 10..]);
    assert!(last.iter().all(|v| v.is_finite()) && last.iter().any(|v| *v != 0.0));
}

#[test]
fn model_and_cache_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}
    assert_send::<Model>();
    assert_send::<allmende_models::KvCache>();
    assert_sync::<allmende_models::KvCache>();
}
