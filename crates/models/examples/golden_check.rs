//! Teacher-forced check of real GGUF models against llama.cpp's greedy goldens
//! (`llamacpp-goldens.json`: prompt ids, greedy ids, top-5 log-probabilities per step). Prints,
//! per model and prompt, the largest log-probability difference over the golden top-5 and the
//! steps whose argmax differs (with llama.cpp's top-1 margin there). A manual tool; the golden
//! tests of real models live with the CLI.
//!
//! `cargo run --release -p allmende-models --example golden_check -- GOLDENS.json MODELS_DIR`
//! (`MODELS_DIR/<name>/<file>` as the goldens name them).

use std::path::Path;

use allmende_models::{Logits, Model, ModelOptions};
use serde_json::Value;

fn log_softmax(x: &[f32]) -> Vec<f64> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = x.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln() + max;
    x.iter().map(|&v| v as f64 - lse).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 {
        return Err("usage: golden_check GOLDENS.json MODELS_DIR".into());
    }
    let goldens: Value = serde_json::from_slice(&std::fs::read(&args[0])?)?;
    let models = goldens["models"].as_object().ok_or("no models")?;
    for (name, m) in models {
        let path = Path::new(&args[1]).join(name).join(m["file"].as_str().ok_or("file")?);
        if !path.exists() {
            println!("{name}: {} missing, skipped", path.display());
            continue;
        }
        let mut model = if std::env::var("DEQUANT").is_ok() {
            // Every weight dequantised to F32: the f32-activation ideal the quantized run approximates.
            let file = allmende_formats::GgufFile::open(&path)?;
            let spec = allmende_models::spec_from_gguf(&file)?;
            let mut tensors = allmende_models::tensors::from_gguf(&file)?;
            for (name, t) in tensors.iter_mut() {
                let v = t.to_f32(name)?;
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                *t = allmende_models::tensors::RawTensor {
                    ty: allmende_kernels::GgmlType::F32,
                    shape: t.shape.clone(),
                    data: allmende_tensor::ByteView::from_vec(bytes),
                };
            }
            Model::from_tensors(spec, &tensors, &ModelOptions::default())?
        } else {
            Model::load(&path, &ModelOptions::default())?
        };
        for g in m["greedy"].as_array().ok_or("greedy")? {
            let prompt: Vec<u32> = serde_json::from_value(g["prompt_ids"].clone())?;
            let new: Vec<u32> = serde_json::from_value(g["new_ids"].clone())?;
            let mut cache = model.new_cache(prompt.len() + new.len() + 1);
            let mut logits = model.forward(&prompt, &mut cache, Logits::Last)?.to_vec();
            let (mut worst, mut mismatches) = (0f64, Vec::new());
            for (step, &tok) in new.iter().enumerate() {
                let lp = log_softmax(&logits);
                for pair in g["top5_logprobs"][step].as_array().ok_or("top5")? {
                    let id = pair[0].as_u64().ok_or("id")? as usize;
                    let want = pair[1].as_f64().ok_or("lp")?;
                    worst = worst.max((lp[id] - want).abs());
                    if std::env::var("VERBOSE").is_ok() && step < 3 {
                        println!("  step {step} id {id}: ours {:.4} llama.cpp {want:.4}", lp[id]);
                    }
                }
                let ours = lp.iter().enumerate().fold((0, f64::NEG_INFINITY), |a, (i, &v)| if v > a.1 { (i, v) } else { a }).0;
                if ours != tok as usize {
                    mismatches.push((step, ours, tok, g["top1_margin"][step].as_f64().unwrap_or(f64::NAN)));
                }
                logits = model.forward(&[tok], &mut cache, Logits::Last)?.to_vec();
            }
            println!(
                "{name} {:?}: max |Δ logprob| over top-5 {worst:.4}; argmax mismatches (step, ours, llama.cpp, margin): {mismatches:?}",
                g["prompt"].as_str().unwrap_or("").chars().take(30).collect::<String>()
            );
        }
    }
    Ok(())
}
