//! Greedy decoding from token ids with no tokenizer: loads a model (GGUF file or HF folder),
//! prefills the given ids and prints the next `N` greedy ids, one per line, with the time per
//! step. For manual checks against llama.cpp on real models.
//!
//! `cargo run --release -p allmende-models --example greedy -- MODEL N ID [ID...]`

use std::time::Instant;

use allmende_models::{Logits, Model, ModelOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        return Err("usage: greedy MODEL N ID [ID...]".into());
    }
    let n: usize = args[1].parse()?;
    let ids: Vec<u32> = args[2..].iter().map(|s| s.parse()).collect::<Result<_, _>>()?;
    let t0 = Instant::now();
    let mut model = Model::load(&args[0], &ModelOptions::default())?;
    eprintln!("loaded {} in {:.2?}: {:?}", model.spec().arch, t0.elapsed(), (model.spec().n_layer, model.spec().n_embd));
    let mut cache = model.new_cache(ids.len() + n + 1);
    let t0 = Instant::now();
    let mut logits = model.forward(&ids, &mut cache, Logits::Last)?.to_vec();
    eprintln!("prefill {} tokens: {:.2?}", ids.len(), t0.elapsed());
    for _ in 0..n {
        let (next, best) = logits.iter().enumerate().fold((0, f32::NEG_INFINITY), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
        println!("{next}\t{best:.4}");
        let t0 = Instant::now();
        logits = model.forward(&[next as u32], &mut cache, Logits::Last)?.to_vec();
        eprintln!("  step {:.2?}", t0.elapsed());
    }
    Ok(())
}
