//! Teacher-forced comparison of our log-probabilities with llama.cpp's recorded top-5 along the
//! golden greedy continuations: prints, per model, the largest and mean |Δ logprob| (a
//! diagnostic for numerical drift; the pass/fail checks are in tests/real_models.rs).
//!
//! `cargo run --release -p allmende-engine --example golden_diff [MODEL...]`

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic loudly

use allmende_engine::LoadedModel;
use allmende_models::{Logits, ModelOptions};
use serde_json::Value;

fn main() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/goldens");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(root.join("llamacpp-goldens.json")).unwrap()).unwrap();
    let names: Vec<String> = std::env::args().skip(1).collect();
    for (name, g) in all["models"].as_object().unwrap() {
        if !names.is_empty() && !names.contains(name) {
            continue;
        }
        let Some(path) = allmende_store::resolve(name) else {
            eprintln!("{name}: not in the cache");
            continue;
        };
        let mut lm = LoadedModel::load(&path, &ModelOptions::default()).unwrap();
        let (mut max, mut sum, mut n) = (0f64, 0f64, 0usize);
        for case in g["greedy"].as_array().unwrap() {
            let ids = |v: &Value| v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect::<Vec<_>>();
            let mut seq = ids(&case["prompt_ids"]);
            let p = seq.len();
            seq.extend(ids(&case["new_ids"]));
            let mut cache = lm.model.new_cache(seq.len());
            let nv = lm.model.n_vocab();
            let logits = lm.model.forward(&seq[..seq.len() - 1], &mut cache, Logits::All).unwrap().to_vec();
            let mut worst_step = (0usize, 0f64);
            let mut per_step = Vec::new();
            for (step, top5) in case["top5_logprobs"].as_array().unwrap().iter().enumerate() {
                let row = &logits[(p - 1 + step) * nv..(p + step) * nv];
                let m = row.iter().copied().fold(f32::MIN, f32::max) as f64;
                let lse = m + row.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln();
                let mut step_sum = 0f64;
                for e in top5.as_array().unwrap() {
                    let id = e[0].as_u64().unwrap() as usize;
                    let d = (row[id] as f64 - lse - e[1].as_f64().unwrap()).abs();
                    step_sum += d / 5.0;
                    max = max.max(d);
                    sum += d;
                    n += 1;
                    if d > worst_step.1 {
                        worst_step = (step, d);
                    }
                }
                per_step.push(format!("{step_sum:.2}"));
            }
            eprintln!("  {:?}: worst |Δ| {:.4} at step {}", &case["prompt"].as_str().unwrap()[..20.min(case["prompt"].as_str().unwrap().len())], worst_step.1, worst_step.0);
            if std::env::var("PER_STEP").is_ok() {
                eprintln!("    per step: {}", per_step.join(" "));
            }
        }
        println!("{name}: max |Δ logprob| {max:.4}, mean {:.4} over {n}", sum / n as f64);
    }
}
