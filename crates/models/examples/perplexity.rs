//! Perplexity of a GGUF model on a text file, computed as llama.cpp's `llama-perplexity` does:
//! tokenize the whole text (BOS added if the vocabulary says so), cut it into chunks of
//! `n_ctx` tokens, replace each chunk's first token by BOS when the model adds one, and score
//! the second half of every chunk. Prints the running perplexity after each chunk, like
//! llama.cpp. A manual tool for comparing with llama.cpp's numbers on real models.
//!
//! `cargo run --release -p allmende-models --example perplexity -- MODEL.gguf TEXT [N_CTX] [MAX_CHUNKS]`

use allmende_formats::GgufFile;
use allmende_models::{Logits, Model, ModelOptions};
use allmende_tokenizer::{GgufVocab, Tokenizer};

fn vocab(f: &GgufFile) -> Result<GgufVocab, Box<dyn std::error::Error>> {
    let id = |k: &str| f.get_opt::<u32>(&format!("tokenizer.ggml.{k}"));
    let flag = |k: &str| f.get_opt::<bool>(&format!("tokenizer.ggml.{k}"));
    Ok(GgufVocab {
        model: f.get_str("tokenizer.ggml.model")?.to_string(),
        pre: f.get_opt::<&str>("tokenizer.ggml.pre")?.map(str::to_string),
        tokens: f.get_str_array("tokenizer.ggml.tokens")?.to_vec(),
        scores: f.get_opt::<Vec<f32>>("tokenizer.ggml.scores")?,
        token_types: f.get_opt::<Vec<i32>>("tokenizer.ggml.token_type")?,
        merges: f.get_opt::<&[String]>("tokenizer.ggml.merges")?.map(<[String]>::to_vec),
        bos_id: id("bos_token_id")?,
        eos_id: id("eos_token_id")?,
        eot_id: id("eot_token_id")?,
        eom_id: id("eom_token_id")?,
        unk_id: id("unknown_token_id")?,
        sep_id: id("seperator_token_id")?,
        pad_id: id("padding_token_id")?,
        add_bos: flag("add_bos_token")?,
        add_eos: flag("add_eos_token")?,
        add_space_prefix: flag("add_space_prefix")?,
        model_name: f.get_opt::<&str>("general.name")?.map(str::to_string),
        architecture: f.get_opt::<&str>("general.architecture")?.map(str::to_string),
        ..GgufVocab::default()
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        return Err("usage: perplexity MODEL.gguf TEXT [N_CTX] [MAX_CHUNKS]".into());
    }
    let n_ctx: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(512);
    let max_chunks: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(usize::MAX);
    let file = GgufFile::open(&args[0])?;
    let tok = Tokenizer::from_gguf_vocab(vocab(&file)?)?;
    let mut model = Model::from_gguf(&file, &ModelOptions::default())?;
    let text = std::fs::read_to_string(&args[1])?;
    let tokens = tok.encode(&text, true, false)?;
    let n_chunk = (tokens.len() / n_ctx).min(max_chunks);
    println!("{} tokens, {n_chunk} chunks of {n_ctx}", tokens.len());
    let first = n_ctx / 2;
    let (mut nll, mut count) = (0f64, 0usize);
    let nv = model.n_vocab();
    for c in 0..n_chunk {
        let mut chunk = tokens[c * n_ctx..(c + 1) * n_ctx].to_vec();
        if tok.add_bos() {
            if let Some(bos) = tok.bos_id() {
                chunk[0] = bos;
            }
        }
        let mut cache = model.new_cache(n_ctx);
        let logits = model.forward(&chunk, &mut cache, Logits::All)?;
        for j in first..n_ctx - 1 {
            let row = &logits[j * nv..(j + 1) * nv];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let lse = row.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln() + max;
            nll += lse - row[tokens[c * n_ctx + j + 1] as usize] as f64;
            count += 1;
        }
        println!("[{}] {:.4}", c + 1, (nll / count as f64).exp());
    }
    Ok(())
}
