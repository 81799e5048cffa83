//! `allmende bench`: prompt-processing (`ppN`) and generation (`tgN`) speed, measured the way
//! llama-bench measures it, so the two tools' tables compare directly.
//!
//! * `ppN`: N random tokens evaluated from an empty context, in batches of up to 512.
//! * `tgN`: N tokens decoded one at a time from an empty context, each a random token (the
//!   sampler is not timed, as in llama-bench).
//! * `-d D` (as llama-bench's `--n-depth`): before every run, D random tokens are evaluated
//!   untimed, so the test measures speed with D tokens already in the KV cache (attention
//!   reads them); the test is then named `ppN@dD` / `tgN@dD`.
//! * Per thread count: one untimed warm-up run of each test, then `-r` timed runs; the figure
//!   is the mean ± sample standard deviation of the per-run tokens/s.

use std::time::Instant;

use allmende_models::{KvType, Logits, Model, ModelOptions};
use anyhow::Result;
use serde_json::json;

use crate::args::BenchArgs;

/// `allmende bench MODEL -p 512 -n 128 -t 1,2 -r 5 [--json]`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let path = super::store::resolve_model(&args.model)?;
    let model_name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| args.model.clone());
    let size = model_bytes(&path);
    let threads = if args.threads.is_empty() {
        vec![std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)]
    } else {
        args.threads.clone()
    };
    let reps = args.reps.max(1);
    if !args.json {
        println!("| model | size | threads | test | t/s |");
        println!("| --- | ---: | ---: | ---: | ---: |");
    }
    for &t in &threads {
        let kv_type = match args.kv_type.as_deref() {
            Some("f16") => Some(KvType::F16),
            Some("f32") => Some(KvType::F32),
            _ => None,
        };
        let opts = ModelOptions { n_threads: t, kv_type, ..ModelOptions::default() };
        let mut model = Model::load(&path, &opts).map_err(|e| super::about_path(&path, e))?;
        let n_vocab = model.n_vocab() as u64;
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next_token = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n_vocab) as u32
        };
        let tests: Vec<(String, usize, bool)> = args
            .n_prompt
            .iter()
            .filter(|&&n| n > 0)
            .map(|&n| (format!("pp{n}"), n, true))
            .chain(args.n_gen.iter().filter(|&&n| n > 0).map(|&n| (format!("tg{n}"), n, false)))
            .collect();
        let depths = if args.n_depth.is_empty() { vec![0] } else { args.n_depth.clone() };
        // Beyond the training context a model's numbers mean nothing (and a typo such as an extra
        // zero would allocate a huge cache): refuse before any test runs, as llama-bench does.
        let n_ctx = model.spec().n_ctx_train;
        for &depth in &depths {
            for (test, n, _) in &tests {
                let positions = depth.saturating_add(*n);
                if n_ctx > 0 && positions > n_ctx {
                    anyhow::bail!(
                        "{} needs {positions} positions, more than the model's context of {n_ctx} (lower -d, -p or -n)",
                        test_name(test, depth)
                    );
                }
            }
        }
        for (depth, (test, n, is_prompt)) in depths.iter().flat_map(|&d| tests.iter().map(move |t| (d, t.clone()))) {
            let name = test_name(&test, depth);
            let mut cache = model.new_cache(depth.saturating_add(n).max(1));
            let mut samples = Vec::with_capacity(reps);
            for rep in 0..=reps {
                cache.clear();
                if depth > 0 {
                    let context: Vec<u32> = (0..depth).map(|_| next_token()).collect();
                    model.forward(&context, &mut cache, Logits::Last)?;
                }
                let tokens: Vec<u32> = (0..n).map(|_| next_token()).collect();
                let start = Instant::now();
                if is_prompt {
                    model.forward(&tokens, &mut cache, Logits::Last)?;
                } else {
                    for tok in &tokens {
                        model.forward(std::slice::from_ref(tok), &mut cache, Logits::Last)?;
                    }
                }
                let secs = start.elapsed().as_secs_f64();
                if rep > 0 {
                    samples.push(n as f64 / secs);
                }
            }
            let (avg, sd) = mean_stddev(&samples);
            if args.json {
                println!(
                    "{}",
                    json!({
                        "model": model_name,
                        "model_size": size,
                        "model_n_params": null,
                        "test": name,
                        "n_prompt": if is_prompt { n } else { 0 },
                        "n_gen": if is_prompt { 0 } else { n },
                        "n_depth": depth,
                        "threads": t,
                        "isa": allmende_kernels::isa_name(),
                        "avg_ts": avg,
                        "stddev_ts": sd,
                        "samples_ts": samples,
                    })
                );
            } else {
                println!("| {model_name} | {:.1} MiB | {t} | {name} | {avg:.2} ± {sd:.2} |", size as f64 / 1048576.0);
            }
        }
    }
    Ok(())
}

/// `tgN` / `ppN`, with `@dD` when the test runs at depth D.
fn test_name(test: &str, depth: usize) -> String {
    if depth > 0 {
        format!("{test}@d{depth}")
    } else {
        test.to_string()
    }
}

fn mean_stddev(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 { xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

fn model_bytes(path: &std::path::Path) -> u64 {
    if path.is_dir() {
        std::fs::read_dir(path)
            .map(|rd| rd.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
            .unwrap_or(0)
    } else {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }
}
