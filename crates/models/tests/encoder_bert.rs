//! The sentence encoder against a naive f64 reference, on a tiny random BERT written to a temp
//! folder the way sentence-transformers saves one (`config.json`, `model.safetensors`,
//! `modules.json`, `1_Pooling/config.json`, `sentence_bert_config.json`):
//!
//! * token states (embeddings, post-LN blocks, GELU-erf FFN, bidirectional attention) match a
//!   straightforward f64 implementation of transformers' `BertModel`;
//! * every pooling mode, alone and concatenated, and the `Normalize` module match the reference
//!   pooled by hand;
//! * a batch gives the same vectors as one input at a time, whatever the token groups and thread
//!   count;
//! * over-long, empty and out-of-vocabulary inputs, and pipelines or configs the encoder does
//!   not implement, are typed errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic loudly

use std::path::{Path, PathBuf};

use allmende_formats::{Dtype, SafetensorsWriter};
use allmende_models::encoder::{Encoder, EncoderError, Pooling, SentenceConfig};
use allmende_models::{ModelError, ModelOptions};
use serde_json::json;

const VOCAB: usize = 40;
const E: usize = 16;
const HEADS: usize = 4;
const LAYERS: usize = 2;
const FF: usize = 24;
const POS: usize = 20;
const TYPES: usize = 2;
/// Large enough that reading the wrong eps would show.
const EPS: f64 = 1e-3;
const MAX_SEQ: usize = 12;

/// Deterministic values in [-scale, scale).
struct Rng(u64);
impl Rng {
    fn next(&mut self, scale: f32) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (((self.0 >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0) * scale
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next(scale)).collect()
    }
}

/// The tiny model's tensors by transformers name: (shape, values).
fn tensors() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut r = Rng(42);
    let mut t = Vec::new();
    let mut add = |name: String, shape: Vec<usize>, scale: f32, offset: f32| {
        let n = shape.iter().product();
        let v = r.vec(n, scale).into_iter().map(|x| x + offset).collect();
        t.push((name, shape, v));
    };
    add("embeddings.word_embeddings.weight".into(), vec![VOCAB, E], 1.0, 0.0);
    add("embeddings.position_embeddings.weight".into(), vec![POS, E], 0.5, 0.0);
    add("embeddings.token_type_embeddings.weight".into(), vec![TYPES, E], 0.5, 0.0);
    add("embeddings.LayerNorm.weight".into(), vec![E], 0.2, 1.0);
    add("embeddings.LayerNorm.bias".into(), vec![E], 0.2, 0.0);
    for i in 0..LAYERS {
        let b = format!("encoder.layer.{i}");
        for (name, rows, cols) in [
            ("attention.self.query", E, E),
            ("attention.self.key", E, E),
            ("attention.self.value", E, E),
            ("attention.output.dense", E, E),
            ("intermediate.dense", FF, E),
            ("output.dense", E, FF),
        ] {
            // Large enough that attention is far from uniform and GELU sees both tails.
            add(format!("{b}.{name}.weight"), vec![rows, cols], 0.6, 0.0);
            add(format!("{b}.{name}.bias"), vec![rows], 0.3, 0.0);
        }
        for ln in ["attention.output.LayerNorm", "output.LayerNorm"] {
            add(format!("{b}.{ln}.weight"), vec![E], 0.2, 1.0);
            add(format!("{b}.{ln}.bias"), vec![E], 0.2, 0.0);
        }
    }
    add("pooler.dense.weight".into(), vec![E, E], 0.5, 0.0);
    add("pooler.dense.bias".into(), vec![E], 0.5, 0.0);
    t
}

fn config() -> serde_json::Value {
    json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": VOCAB,
        "hidden_size": E,
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "intermediate_size": FF,
        "max_position_embeddings": POS,
        "type_vocab_size": TYPES,
        "layer_norm_eps": EPS,
        "hidden_act": "gelu",
        "position_embedding_type": "absolute",
        "pad_token_id": 0
    })
}

/// A fresh temp folder for one test.
fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("allmende-encoder-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes the model folder; `modules`/`pooling` as sentence-transformers saves them, `None` for
/// a plain transformers folder.
fn write_model(dir: &Path, cfg: &serde_json::Value, tensors: &[(String, Vec<usize>, Vec<f32>)], pooling: Option<serde_json::Value>, normalize: bool) {
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    let mut w = SafetensorsWriter::new();
    for (name, shape, v) in tensors {
        w.add_f32(name.clone(), shape, v).unwrap();
    }
    // The buffer transformers saves with BERT checkpoints: not a weight.
    let pos_ids: Vec<u8> = (0..POS as i64).flat_map(|i| i.to_le_bytes()).collect();
    w.add("embeddings.position_ids", Dtype::I64, &[1, POS], pos_ids).unwrap();
    w.write_to_path(dir.join("model.safetensors")).unwrap();
    if let Some(p) = pooling {
        let mut modules = vec![
            json!({"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}),
            json!({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}),
        ];
        if normalize {
            modules.push(json!({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}));
        }
        std::fs::write(dir.join("modules.json"), serde_json::Value::Array(modules).to_string()).unwrap();
        std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
        std::fs::write(dir.join("1_Pooling/config.json"), p.to_string()).unwrap();
        std::fs::write(dir.join("sentence_bert_config.json"), json!({"max_seq_length": MAX_SEQ, "do_lower_case": false}).to_string())
            .unwrap();
    }
}

fn pooling_cfg(modes: &[&str]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("word_embedding_dimension".into(), json!(E));
    for key in ["cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken"] {
        m.insert(format!("pooling_mode_{key}"), json!(modes.contains(&key)));
    }
    serde_json::Value::Object(m)
}

fn opts(n_threads: usize, n_batch: usize) -> ModelOptions {
    ModelOptions { n_threads, n_batch, ..ModelOptions::default() }
}

// ---- naive f64 reference (transformers BertModel, eval mode) ----

/// erf by Simpson's rule on `2/sqrt(pi) * exp(-t^2)` over [0, x] (error far below 1e-12 with
/// this many steps), deliberately unlike the encoder's `erfc` fit.
fn erf(x: f64) -> f64 {
    if x.abs() > 6.0 {
        return x.signum();
    }
    const STEPS: usize = 2000; // even
    let h = x / STEPS as f64;
    let f = |t: f64| (-t * t).exp();
    let mut sum = f(0.0) + f(x);
    for i in 1..STEPS {
        sum += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    sum * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
}

fn layer_norm(x: &[f64], w: &[f32], b: &[f32]) -> Vec<f64> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    x.iter().enumerate().map(|(i, v)| (v - mean) / (var + EPS).sqrt() * w[i] as f64 + b[i] as f64).collect()
}

struct Ref {
    t: std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Ref {
    fn new() -> Ref {
        Ref { t: tensors().into_iter().map(|(n, s, v)| (n, (s, v))).collect() }
    }
    fn get(&self, name: &str) -> &[f32] {
        &self.t[name].1
    }
    fn linear(&self, base: &str, x: &[f64]) -> Vec<f64> {
        let (shape, w) = &self.t[&format!("{base}.weight")];
        let b = self.get(&format!("{base}.bias"));
        (0..shape[0]).map(|r| b[r] as f64 + (0..shape[1]).map(|c| w[r * shape[1] + c] as f64 * x[c]).sum::<f64>()).collect()
    }

    /// Last hidden states of one sequence.
    fn forward(&self, ids: &[u32]) -> Vec<Vec<f64>> {
        let word = self.get("embeddings.word_embeddings.weight");
        let pos = self.get("embeddings.position_embeddings.weight");
        let typ = self.get("embeddings.token_type_embeddings.weight");
        let mut x: Vec<Vec<f64>> = ids
            .iter()
            .enumerate()
            .map(|(p, &id)| {
                let v: Vec<f64> =
                    (0..E).map(|i| word[id as usize * E + i] as f64 + typ[i] as f64 + pos[p * E + i] as f64).collect();
                layer_norm(&v, self.get("embeddings.LayerNorm.weight"), self.get("embeddings.LayerNorm.bias"))
            })
            .collect();
        let hd = E / HEADS;
        for l in 0..LAYERS {
            let b = format!("encoder.layer.{l}");
            let q: Vec<Vec<f64>> = x.iter().map(|r| self.linear(&format!("{b}.attention.self.query"), r)).collect();
            let k: Vec<Vec<f64>> = x.iter().map(|r| self.linear(&format!("{b}.attention.self.key"), r)).collect();
            let v: Vec<Vec<f64>> = x.iter().map(|r| self.linear(&format!("{b}.attention.self.value"), r)).collect();
            let n = ids.len();
            let mut ctx = vec![vec![0f64; E]; n];
            for t in 0..n {
                for h in 0..HEADS {
                    let cols = h * hd..(h + 1) * hd;
                    let s: Vec<f64> = (0..n)
                        .map(|j| cols.clone().map(|c| q[t][c] * k[j][c]).sum::<f64>() / (hd as f64).sqrt())
                        .collect();
                    let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                    for j in 0..n {
                        let p = (s[j] - m).exp() / z;
                        for c in cols.clone() {
                            ctx[t][c] += p * v[j][c];
                        }
                    }
                }
            }
            for t in 0..n {
                let a = self.linear(&format!("{b}.attention.output.dense"), &ctx[t]);
                let a: Vec<f64> = a.iter().zip(&x[t]).map(|(a, r)| a + r).collect();
                let a = layer_norm(&a, self.get(&format!("{b}.attention.output.LayerNorm.weight")), self.get(&format!("{b}.attention.output.LayerNorm.bias")));
                let h: Vec<f64> = self
                    .linear(&format!("{b}.intermediate.dense"), &a)
                    .iter()
                    .map(|&u| 0.5 * u * (1.0 + erf(u / std::f64::consts::SQRT_2)))
                    .collect();
                let o = self.linear(&format!("{b}.output.dense"), &h);
                let o: Vec<f64> = o.iter().zip(&a).map(|(o, r)| o + r).collect();
                x[t] = layer_norm(&o, self.get(&format!("{b}.output.LayerNorm.weight")), self.get(&format!("{b}.output.LayerNorm.bias")));
            }
        }
        x
    }
}

/// A few id sequences of different lengths (`[CLS]`-like 1 first, `[SEP]`-like 2 last).
fn inputs() -> Vec<Vec<u32>> {
    vec![
        vec![1, 7, 2],
        vec![1, 5, 9, 33, 12, 2],
        vec![1, 39, 2],
        vec![1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 2],
        vec![1, 2],
        vec![1, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 2],
        vec![1, 17, 17, 17, 2],
    ]
}

fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(&x, &y)| (x as f64 - y).abs()).fold(0.0, f64::max)
}

#[test]
fn token_states_match_the_f64_reference() {
    let dir = temp("states");
    write_model(&dir, &config(), &tensors(), Some(pooling_cfg(&["mean_tokens"])), true);
    let r = Ref::new();
    for threads in [1, 3] {
        let enc = Encoder::load(&dir, &opts(threads, 512)).unwrap();
        assert_eq!((enc.dim(), enc.max_seq_len()), (E, MAX_SEQ));
        for ids in inputs() {
            let got = enc.token_states(&ids).unwrap();
            let want: Vec<f64> = r.forward(&ids).concat();
            // The states are LayerNorm outputs of size ~1: f32 rounding through two blocks.
            let d = max_abs_diff(&got, &want);
            assert!(d < 2e-5, "threads {threads}, ids {ids:?}: max |diff| {d:e}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// sentence-transformers pooling of the reference states.
fn ref_pool(states: &[Vec<f64>], modes: &[&str], normalize: bool) -> Vec<f64> {
    let n = states.len();
    let mut out = Vec::new();
    let col_sum = |w: &dyn Fn(usize) -> f64| -> Vec<f64> { (0..E).map(|c| (0..n).map(|t| w(t) * states[t][c]).sum()).collect() };
    // sentence-transformers' concatenation order.
    for mode in ["cls_token", "max_tokens", "mean_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken"] {
        if !modes.contains(&mode) {
            continue;
        }
        match mode {
            "cls_token" => out.extend_from_slice(&states[0]),
            "max_tokens" => out.extend((0..E).map(|c| states.iter().map(|s| s[c]).fold(f64::NEG_INFINITY, f64::max))),
            "mean_tokens" => out.extend(col_sum(&|_| 1.0).iter().map(|s| s / n as f64)),
            "mean_sqrt_len_tokens" => out.extend(col_sum(&|_| 1.0).iter().map(|s| s / (n as f64).sqrt())),
            "weightedmean_tokens" => {
                let total: f64 = (1..=n).map(|w| w as f64).sum();
                out.extend(col_sum(&|t| (t + 1) as f64).iter().map(|s| s / total));
            }
            _ => out.extend_from_slice(&states[n - 1]),
        }
    }
    if normalize {
        let norm = out.iter().map(|v| v * v).sum::<f64>().sqrt();
        out.iter_mut().for_each(|v| *v /= norm);
    }
    out
}

#[test]
fn pooling_modes_and_normalize_match_the_reference() {
    let r = Ref::new();
    let cases: &[(&[&str], bool)] = &[
        (&["mean_tokens"], true),
        (&["mean_tokens"], false),
        (&["cls_token"], false),
        (&["max_tokens"], true),
        (&["mean_sqrt_len_tokens"], false),
        (&["weightedmean_tokens"], false),
        (&["lasttoken"], true),
        (&["cls_token", "mean_tokens", "max_tokens"], false),
        (&["lasttoken", "weightedmean_tokens", "mean_sqrt_len_tokens"], true),
    ];
    let ins = inputs();
    let states: Vec<Vec<Vec<f64>>> = ins.iter().map(|ids| r.forward(ids)).collect();
    for (i, &(modes, normalize)) in cases.iter().enumerate() {
        let dir = temp(&format!("pool{i}"));
        write_model(&dir, &config(), &tensors(), Some(pooling_cfg(modes)), normalize);
        let enc = Encoder::load(&dir, &opts(2, 512)).unwrap();
        assert_eq!((enc.dim(), enc.normalizes()), (modes.len() * E, normalize), "{modes:?}");
        let got = enc.encode(&ins).unwrap();
        for (g, s) in got.iter().zip(&states) {
            let want = ref_pool(s, modes, normalize);
            let d = max_abs_diff(g, &want);
            assert!(d < 2e-5, "{modes:?} normalize {normalize}: max |diff| {d:e}");
            if normalize {
                let norm = g.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
                assert!((norm - 1.0).abs() < 1e-6, "norm {norm}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn batching_changes_nothing() {
    let dir = temp("batch");
    write_model(&dir, &config(), &tensors(), Some(pooling_cfg(&["mean_tokens", "max_tokens"])), true);
    let ins = inputs();
    let one = Encoder::load(&dir, &opts(1, 512)).unwrap();
    let singles: Vec<Vec<f32>> = ins.iter().map(|ids| one.encode(&[ids]).unwrap().remove(0)).collect();
    // One group, groups of a few sequences, one sequence per group; one and several threads.
    for (threads, n_batch) in [(1, 512), (3, 512), (2, 14), (4, 1)] {
        let enc = Encoder::load(&dir, &opts(threads, n_batch)).unwrap();
        let batch = enc.encode(&ins).unwrap();
        assert_eq!(batch.len(), ins.len());
        for (i, (b, s)) in batch.iter().zip(&singles).enumerate() {
            let d = b.iter().zip(s).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(d <= 1e-6, "threads {threads} n_batch {n_batch} input {i}: {d:e}");
        }
    }
    assert!(one.encode::<Vec<u32>>(&[]).unwrap().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plain_folder_is_mean_pooled_unnormalised() {
    let dir = temp("plain");
    write_model(&dir, &config(), &tensors(), None, false);
    let sc = SentenceConfig::read(&dir).unwrap();
    assert_eq!((sc.pooling, sc.normalize, sc.max_seq_length), (Pooling::MEAN, false, None));
    let enc = Encoder::load(&dir, &opts(2, 512)).unwrap();
    assert_eq!(enc.max_seq_len(), POS, "no sentence_bert_config.json: the position table bounds the input");
    let ids = [1u32, 8, 9, 2];
    let want = ref_pool(&Ref::new().forward(&ids), &["mean_tokens"], false);
    let d = max_abs_diff(&enc.encode(&[ids]).unwrap()[0], &want);
    assert!(d < 2e-5, "{d:e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_are_typed_errors() {
    let dir = temp("inputs");
    write_model(&dir, &config(), &tensors(), Some(pooling_cfg(&["mean_tokens"])), true);
    let enc = Encoder::load(&dir, &opts(2, 512)).unwrap();
    let long = vec![3u32; MAX_SEQ + 1];
    match enc.encode(&[vec![1, 2], long]) {
        Err(EncoderError::SequenceTooLong { index: 1, len, max }) => assert_eq!((len, max), (MAX_SEQ + 1, MAX_SEQ)),
        other => panic!("{other:?}"),
    }
    assert!(enc.encode(&[vec![3u32; MAX_SEQ]]).is_ok(), "exactly max_seq_length tokens is fine");
    assert!(matches!(enc.encode(&[vec![1, 2], vec![]]), Err(EncoderError::EmptySequence { index: 1 })));
    match enc.encode(&[vec![1, VOCAB as u32, 2]]) {
        Err(EncoderError::TokenOutOfRange { index: 0, position: 1, id, n_vocab }) => {
            assert_eq!((id, n_vocab), (VOCAB as u32, VOCAB))
        }
        other => panic!("{other:?}"),
    }
    let msg = EncoderError::SequenceTooLong { index: 0, len: 300, max: 256 }.to_string();
    assert!(msg.contains("300") && msg.contains("256"), "{msg}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unsupported_models_and_pipelines_are_refused() {
    // A module sentence-transformers would run but this encoder does not implement.
    let dir = temp("dense");
    write_model(&dir, &config(), &tensors(), Some(pooling_cfg(&["mean_tokens"])), false);
    let modules = json!([
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    ]);
    std::fs::write(dir.join("modules.json"), modules.to_string()).unwrap();
    assert!(matches!(Encoder::load(&dir, &ModelOptions::default()), Err(EncoderError::Unsupported(m)) if m.contains("Dense")));
    std::fs::remove_dir_all(&dir).unwrap();

    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("act", json!({"hidden_act": "quick_gelu"}), "quick_gelu"),
        ("relpos", json!({"position_embedding_type": "relative_key"}), "relative_key"),
        ("arch", json!({"model_type": "roberta"}), "roberta"),
    ];
    for (name, patch, needle) in cases {
        let dir = temp(name);
        let mut cfg = config();
        for (k, v) in patch.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        write_model(&dir, &cfg, &tensors(), Some(pooling_cfg(&["mean_tokens"])), false);
        match Encoder::load(&dir, &ModelOptions::default()) {
            Err(EncoderError::Unsupported(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("{name}: {other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // A missing weight and an unknown one under `encoder.`.
    let dir = temp("tensors");
    let mut t = tensors();
    t.retain(|(n, _, _)| n != "encoder.layer.1.output.dense.bias");
    write_model(&dir, &config(), &t, Some(pooling_cfg(&["mean_tokens"])), false);
    match Encoder::load(&dir, &ModelOptions::default()) {
        Err(EncoderError::Model(ModelError::MissingTensor { name })) => assert_eq!(name, "encoder.layer.1.output.dense.bias"),
        other => panic!("{other:?}"),
    }
    let mut t = tensors();
    t.push(("encoder.layer.0.attention.self.distance_embedding.weight".into(), vec![3, E], vec![0.0; 3 * E]));
    write_model(&dir, &config(), &t, Some(pooling_cfg(&["mean_tokens"])), false);
    assert!(matches!(Encoder::load(&dir, &ModelOptions::default()), Err(EncoderError::Unsupported(m)) if m.contains("distance_embedding")));
    std::fs::remove_dir_all(&dir).unwrap();
}
