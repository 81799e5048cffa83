//! A/B timing of the decoder with a chosen KV cache type: prefill `P` random tokens, then decode
//! `N` tokens one at a time, `R` times, and print tokens/s of each phase (mean over the runs)
//! plus the cache size and the process's peak resident memory. For comparing cache types and
//! decoder changes on real models; `allmende bench` is the user-facing benchmark.
//!
//! On a shared machine wall time is noisy; the `cpu` figures divide by the calling thread's own
//! run time (Linux `/proc/thread-self/schedstat`), which with one thread is the compute time
//! alone, undisturbed by waiting for a core.
//!
//! `cargo run --release -p allmende-models --example decode_bench -- MODEL f16|f32 THREADS P N R`

use std::time::Instant;

use allmende_models::{KvType, Logits, Model, ModelOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 6 {
        return Err("usage: decode_bench MODEL f16|f32 THREADS P N R".into());
    }
    let kv = match args[1].as_str() {
        "f16" => KvType::F16,
        "f32" => KvType::F32,
        other => return Err(format!("cache type `{other}`: f16 or f32").into()),
    };
    let (threads, p, n, reps): (usize, usize, usize, usize) =
        (args[2].parse()?, args[3].parse()?, args[4].parse()?, args[5].parse()?);
    let opts = ModelOptions { n_threads: threads, kv_type: Some(kv), ..ModelOptions::default() };
    let mut model = Model::load(&args[0], &opts)?;
    let n_vocab = model.n_vocab() as u64;
    let mut cache = model.new_cache(p + n + 1);
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n_vocab) as u32
    };
    let (mut pp, mut tg, mut pp_cpu, mut tg_cpu) = (0f64, 0f64, 0f64, 0f64);
    for rep in 0..=reps {
        cache.clear();
        let prompt: Vec<u32> = (0..p.max(1)).map(|_| next()).collect();
        let (t0, c0) = (Instant::now(), thread_cpu_s());
        model.forward(&prompt, &mut cache, Logits::Last)?;
        let (t_pp, c_pp) = (t0.elapsed().as_secs_f64(), thread_cpu_s() - c0);
        let (t0, c0) = (Instant::now(), thread_cpu_s());
        for _ in 0..n {
            model.forward(&[next()], &mut cache, Logits::Last)?;
        }
        let (t_tg, c_tg) = (t0.elapsed().as_secs_f64(), thread_cpu_s() - c0);
        if rep > 0 {
            let k = reps as f64;
            pp += prompt.len() as f64 / t_pp / k;
            tg += n as f64 / t_tg / k;
            pp_cpu += prompt.len() as f64 / c_pp / k;
            tg_cpu += n as f64 / c_tg / k;
        }
    }
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string()))
        .unwrap_or_else(|| "?".into());
    println!(
        "{kv} cache ({:.1} MiB) threads {threads}: pp{p} {pp:.1} tok/s (cpu {pp_cpu:.1}), tg{n} {tg:.1} tok/s (cpu {tg_cpu:.1}), peak RSS {peak} kB",
        cache.size_bytes() as f64 / 1048576.0
    );
    Ok(())
}

/// Run time of the calling thread in seconds (0 where `/proc` does not say).
fn thread_cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()))
        .map_or(0.0, |ns| ns / 1e9)
}
