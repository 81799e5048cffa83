//! Writes a synthetic, TinyLlama-shaped 1.1B llama GGUF with random weights, for benchmarks
//! (bench/compare.sh): same shapes, tensor names, metadata and quantization mix as a real
//! TinyLlama-1.1B file, so llama.cpp and allmende read exactly as many bytes per token.
//!
//! ```text
//! cargo run --release -p allmende --example make_synthetic_gguf -- OUT.gguf q4_0|q4_k_m [--seed N] [--threads N]
//! ```
//!
//! * Shape: 22 layers, n_embd 2048, n_ff 5632, 32 heads, 4 KV heads (head_dim 64), vocab 32000,
//!   RoPE θ 10000, context 2048, untied output (TinyLlama-1.1B's `config.json`).
//! * Weights: N(0, 0.02) from a seeded SplitMix64 stream per row (deterministic for any thread
//!   count); norm scales are 1.0 and stay F32.
//! * Types follow llama.cpp's `llama_tensor_get_type` (src/llama-quant.cpp) for the file type:
//!   `q4_0`: every matrix Q4_0 except `output.weight` in Q6_K; `q4_k_m`: Q4_K, with
//!   `output.weight` and, in the layers where `use_more_bits(i, n)` holds
//!   (i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2), `attn_v` and `ffn_down` in Q6_K.
//! * Tokenizer: a SentencePiece (`tokenizer.ggml.model = llama`) vocabulary of dummy pieces:
//!   `<unk>`, `<s>`, `</s>`, the 256 byte tokens `<0xXX>`, then `▁`, printable ASCII, `▁`+char,
//!   and lowercase pairs and triples (with and without `▁`), scored so shorter pieces merge first.
//!   Text therefore tokenizes into real pieces in both llama.cpp and allmende.

use std::path::PathBuf;
use std::time::Instant;

use allmende_formats::{GgufArray, GgufWriter};
use allmende_kernels::GgmlType;
use anyhow::{bail, Context, Result};

/// Model hyper-parameters of the file.
#[derive(Clone, Copy, Debug)]
struct Shape {
    n_layer: usize,
    n_embd: usize,
    n_ff: usize,
    n_head: usize,
    n_head_kv: usize,
    n_vocab: usize,
    n_ctx: usize,
}

/// TinyLlama-1.1B (`TinyLlama/TinyLlama-1.1B-Chat-v1.0` config.json).
const TINYLLAMA: Shape =
    Shape { n_layer: 22, n_embd: 2048, n_ff: 5632, n_head: 32, n_head_kv: 4, n_vocab: 32000, n_ctx: 2048 };

/// Weight standard deviation.
const STD: f32 = 0.02;

/// The quantization mix (llama.cpp file type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mix {
    /// `LLAMA_FTYPE_MOSTLY_Q4_0` (general.file_type 2).
    Q4_0,
    /// `LLAMA_FTYPE_MOSTLY_Q4_K_M` (general.file_type 15).
    Q4KM,
}

impl Mix {
    fn parse(s: &str) -> Result<Mix> {
        match s.to_ascii_lowercase().as_str() {
            "q4_0" => Ok(Mix::Q4_0),
            "q4_k_m" => Ok(Mix::Q4KM),
            other => bail!("unknown quantization mix {other:?} (expected q4_0 or q4_k_m)"),
        }
    }

    fn file_type(self) -> u32 {
        match self {
            Mix::Q4_0 => 2,
            Mix::Q4KM => 15,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mix::Q4_0 => "Q4_0",
            Mix::Q4KM => "Q4_K_M",
        }
    }
}

/// What a tensor is, for the type rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    TokenEmbd,
    Output,
    AttnQ,
    AttnK,
    AttnV,
    AttnOut,
    FfnGate,
    FfnUp,
    FfnDown,
}

/// llama.cpp's `use_more_bits` (layers that get more bits in the `_M` mixes).
fn use_more_bits(i_layer: usize, n_layer: usize) -> bool {
    i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer as isize - (n_layer / 8) as isize) % 3 == 2
}

/// The GGML type llama-quantize would give this matrix (llama.cpp `llama_tensor_get_type` for a
/// llama-arch model with an untied output, no imatrix, no overrides).
fn tensor_type(mix: Mix, role: Role, layer: usize, n_layer: usize) -> GgmlType {
    match mix {
        Mix::Q4_0 => match role {
            Role::Output => GgmlType::Q6_K,
            _ => GgmlType::Q4_0,
        },
        Mix::Q4KM => match role {
            Role::Output => GgmlType::Q6_K,
            Role::AttnV | Role::FfnDown if use_more_bits(layer, n_layer) => GgmlType::Q6_K,
            _ => GgmlType::Q4_K,
        },
    }
}

/// SplitMix64: a tiny, good-enough PRNG, seeded per row so the output is independent of threads.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn next_unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Fill `out` with N(0, std) samples (Box-Muller).
    fn fill_normal(&mut self, out: &mut [f32], std: f32) {
        for pair in out.chunks_mut(2) {
            let r = (-2.0 * self.next_unit().ln()).sqrt();
            let theta = 2.0 * std::f64::consts::PI * self.next_unit();
            pair[0] = (r * theta.cos()) as f32 * std;
            if let Some(x) = pair.get_mut(1) {
                *x = (r * theta.sin()) as f32 * std;
            }
        }
    }
}

/// Seed of row `row` of tensor number `tensor`.
fn row_seed(seed: u64, tensor: usize, row: usize) -> u64 {
    let mut s = SplitMix64(seed ^ ((tensor as u64) << 40) ^ row as u64);
    s.next_u64()
}

/// A random `rows × cols` matrix quantized to `ty` (rows in parallel on `threads` threads).
fn random_matrix(ty: GgmlType, cols: usize, rows: usize, seed: u64, tensor: usize, threads: usize) -> Result<Vec<u8>> {
    let row_bytes = ty.row_bytes(cols).with_context(|| format!("{cols} is not a multiple of {ty}'s block size"))?;
    let mut data = vec![0u8; row_bytes * rows];
    let rows_per_thread = rows.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for (chunk_index, chunk) in data.chunks_mut(rows_per_thread * row_bytes).enumerate() {
            scope.spawn(move || {
                let mut src = vec![0f32; cols];
                for (i, dst) in chunk.chunks_mut(row_bytes).enumerate() {
                    let row = chunk_index * rows_per_thread + i;
                    SplitMix64(row_seed(seed, tensor, row)).fill_normal(&mut src, STD);
                    allmende_kernels::quantize_row(ty, &src, dst);
                }
            });
        }
    });
    Ok(data)
}

/// Token pieces, scores and types of the dummy SentencePiece vocabulary (`n_vocab` ≥ 259).
fn build_vocab(n_vocab: usize) -> Result<(Vec<String>, Vec<f32>, Vec<i32>)> {
    if n_vocab < 259 {
        bail!("vocabulary of {n_vocab} tokens cannot hold <unk>, <s>, </s> and the 256 byte tokens");
    }
    let mut pieces: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    let mut types: Vec<i32> = vec![2, 3, 3];
    for b in 0..=255u8 {
        pieces.push(format!("<0x{b:02X}>"));
        types.push(6);
    }
    let space = '\u{2581}';
    let mut normal: Vec<String> = vec![space.to_string()];
    let printable: Vec<char> = (33u8..=126).map(char::from).collect();
    normal.extend(printable.iter().map(|c| c.to_string()));
    normal.extend(printable.iter().map(|c| format!("{space}{c}")));
    let lower: Vec<char> = ('a'..='z').collect();
    for &a in &lower {
        for &b in &lower {
            normal.push(format!("{a}{b}"));
            normal.push(format!("{space}{a}{b}"));
        }
    }
    'triples: for &a in &lower {
        for &b in &lower {
            for &c in &lower {
                if pieces.len() + normal.len() >= n_vocab {
                    break 'triples;
                }
                normal.push(format!("{a}{b}{c}"));
                normal.push(format!("{space}{a}{b}{c}"));
            }
        }
    }
    normal.truncate(n_vocab - pieces.len());
    let first_normal = pieces.len();
    pieces.extend(normal);
    types.resize(pieces.len(), 1);
    while pieces.len() < n_vocab {
        pieces.push(format!("<unused{}>", pieces.len()));
        types.push(5);
    }
    let scores = (0..n_vocab).map(|i| if i < first_normal { 0.0 } else { -((i - first_normal) as f32) }).collect();
    Ok((pieces, scores, types))
}

/// The whole file, in llama.cpp's convert order (token_embd, blocks, output_norm, output).
fn build(shape: Shape, mix: Mix, seed: u64, threads: usize) -> Result<GgufWriter> {
    let Shape { n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab, n_ctx } = shape;
    let head_dim = n_embd / n_head;
    let n_embd_kv = head_dim * n_head_kv;
    let mut w = GgufWriter::new();
    w.set("general.architecture", "llama")
        .set("general.name", format!("TinyLlama-shaped 1.1B synthetic {}", mix.name()))
        .set("general.file_type", mix.file_type())
        .set("general.quantization_version", 2u32)
        .set("llama.context_length", n_ctx as u32)
        .set("llama.embedding_length", n_embd as u32)
        .set("llama.block_count", n_layer as u32)
        .set("llama.feed_forward_length", n_ff as u32)
        .set("llama.rope.dimension_count", head_dim as u32)
        .set("llama.attention.head_count", n_head as u32)
        .set("llama.attention.head_count_kv", n_head_kv as u32)
        .set("llama.attention.layer_norm_rms_epsilon", 1e-5f32)
        .set("llama.rope.freq_base", 10000.0f32)
        .set("llama.vocab_size", n_vocab as u32);
    let (tokens, scores, types) = build_vocab(n_vocab)?;
    w.set("tokenizer.ggml.model", "llama")
        .set("tokenizer.ggml.tokens", GgufArray::String(tokens))
        .set("tokenizer.ggml.scores", scores)
        .set("tokenizer.ggml.token_type", types)
        .set("tokenizer.ggml.bos_token_id", 1u32)
        .set("tokenizer.ggml.eos_token_id", 2u32)
        .set("tokenizer.ggml.unknown_token_id", 0u32)
        .set("tokenizer.ggml.add_bos_token", true)
        .set("tokenizer.ggml.add_eos_token", false);

    let mut index = 0usize;
    let mut add_matrix = |w: &mut GgufWriter, name: String, role: Role, layer: usize, cols: usize, rows: usize| {
        let ty = tensor_type(mix, role, layer, n_layer);
        let data = random_matrix(ty, cols, rows, seed, index, threads)?;
        index += 1;
        w.add_tensor(name, ty, &[cols, rows], data)?;
        anyhow::Ok(())
    };
    let ones = |n: usize| -> Vec<u8> { (0..n).flat_map(|_| 1.0f32.to_le_bytes()).collect() };

    add_matrix(&mut w, "token_embd.weight".into(), Role::TokenEmbd, 0, n_embd, n_vocab)?;
    for l in 0..n_layer {
        let b = |s: &str| format!("blk.{l}.{s}.weight");
        w.add_tensor(b("attn_norm"), GgmlType::F32, &[n_embd], ones(n_embd))?;
        add_matrix(&mut w, b("attn_q"), Role::AttnQ, l, n_embd, n_embd)?;
        add_matrix(&mut w, b("attn_k"), Role::AttnK, l, n_embd, n_embd_kv)?;
        add_matrix(&mut w, b("attn_v"), Role::AttnV, l, n_embd, n_embd_kv)?;
        add_matrix(&mut w, b("attn_output"), Role::AttnOut, l, n_embd, n_embd)?;
        w.add_tensor(b("ffn_norm"), GgmlType::F32, &[n_embd], ones(n_embd))?;
        add_matrix(&mut w, b("ffn_gate"), Role::FfnGate, l, n_embd, n_ff)?;
        add_matrix(&mut w, b("ffn_up"), Role::FfnUp, l, n_embd, n_ff)?;
        add_matrix(&mut w, b("ffn_down"), Role::FfnDown, l, n_ff, n_embd)?;
    }
    w.add_tensor("output_norm.weight", GgmlType::F32, &[n_embd], ones(n_embd))?;
    add_matrix(&mut w, "output.weight".into(), Role::Output, n_layer, n_embd, n_vocab)?;
    Ok(w)
}

fn main() -> Result<()> {
    let usage = "usage: make_synthetic_gguf OUT.gguf q4_0|q4_k_m [--seed N] [--threads N]";
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let mut seed = 42u64;
    let mut threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seed" => seed = args.next().context(usage)?.parse().context("--seed")?,
            "--threads" => threads = args.next().context(usage)?.parse().context("--threads")?,
            "-h" | "--help" => {
                println!("{usage}");
                return Ok(());
            }
            _ => positional.push(a),
        }
    }
    let [out, mix] = positional.as_slice() else { bail!("{usage}") };
    let out = PathBuf::from(out);
    let mix = Mix::parse(mix)?;
    let start = Instant::now();
    let w = build(TINYLLAMA, mix, seed, threads)?;
    let tmp = out.with_extension("gguf.partial");
    w.write_to_path(&tmp)?;
    std::fs::rename(&tmp, &out).with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))?;
    let size = std::fs::metadata(&out)?.len();
    eprintln!(
        "wrote {} ({} bytes, {:.1} MiB, {}) in {:.1}s",
        out.display(),
        size,
        size as f64 / 1048576.0,
        mix.name(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use allmende_formats::GgufFile;

    #[test]
    fn q4_k_m_layers_match_llama_quantize() {
        // For 22 layers llama.cpp's use_more_bits picks 0,1 (first eighth), 19..21 (last eighth)
        // and every third layer from 4.
        let picked: Vec<usize> = (0..22).filter(|&i| use_more_bits(i, 22)).collect();
        assert_eq!(picked, vec![0, 1, 4, 7, 10, 13, 16, 19, 20, 21]);
        assert_eq!(tensor_type(Mix::Q4KM, Role::AttnV, 4, 22), GgmlType::Q6_K);
        assert_eq!(tensor_type(Mix::Q4KM, Role::AttnV, 5, 22), GgmlType::Q4_K);
        assert_eq!(tensor_type(Mix::Q4KM, Role::FfnDown, 21, 22), GgmlType::Q6_K);
        assert_eq!(tensor_type(Mix::Q4KM, Role::FfnUp, 0, 22), GgmlType::Q4_K);
        assert_eq!(tensor_type(Mix::Q4KM, Role::TokenEmbd, 0, 22), GgmlType::Q4_K);
        assert_eq!(tensor_type(Mix::Q4KM, Role::Output, 22, 22), GgmlType::Q6_K);
        assert_eq!(tensor_type(Mix::Q4_0, Role::Output, 22, 22), GgmlType::Q6_K);
        assert_eq!(tensor_type(Mix::Q4_0, Role::FfnDown, 0, 22), GgmlType::Q4_0);
    }

    #[test]
    fn full_size_file_is_tinyllama_sized() {
        // Bytes of the matrices alone, from the type rules: these match the sizes of
        // llama-quantize's TinyLlama-1.1B files (Q4_0 ≈ 606 MiB, Q4_K_M ≈ 636 MiB).
        let s = TINYLLAMA;
        let kv = s.n_embd / s.n_head * s.n_head_kv;
        let size = |mix: Mix| -> usize {
            let m = |role, l, cols: usize, rows: usize| tensor_type(mix, role, l, s.n_layer).row_bytes(cols).unwrap() * rows;
            let mut total = m(Role::TokenEmbd, 0, s.n_embd, s.n_vocab) + m(Role::Output, 0, s.n_embd, s.n_vocab);
            for l in 0..s.n_layer {
                total += m(Role::AttnQ, l, s.n_embd, s.n_embd) + m(Role::AttnK, l, s.n_embd, kv);
                total += m(Role::AttnV, l, s.n_embd, kv) + m(Role::AttnOut, l, s.n_embd, s.n_embd);
                total += 2 * m(Role::FfnUp, l, s.n_embd, s.n_ff) + m(Role::FfnDown, l, s.n_ff, s.n_embd);
            }
            total
        };
        assert_eq!(size(Mix::Q4_0), 635_621_376);
        assert_eq!(size(Mix::Q4KM), 666_710_016);
    }

    #[test]
    fn vocab_has_specials_bytes_and_unique_pieces() {
        let (pieces, scores, types) = build_vocab(32000).unwrap();
        assert_eq!(pieces.len(), 32000);
        assert_eq!((pieces[0].as_str(), pieces[1].as_str(), pieces[2].as_str()), ("<unk>", "<s>", "</s>"));
        assert_eq!(pieces[3 + 0x0a], "<0x0A>");
        assert_eq!(types[3 + 0x0a], 6);
        assert_eq!(pieces[259], "\u{2581}");
        assert_eq!(scores[259], 0.0);
        assert_eq!(scores[260], -1.0);
        assert!(types.iter().all(|&t| t != 5), "32000 pieces fit without padding");
        let unique: std::collections::HashSet<&String> = pieces.iter().collect();
        assert_eq!(unique.len(), 32000);
    }

    #[test]
    fn small_file_round_trips_and_loads() {
        let shape = Shape { n_layer: 2, n_embd: 256, n_ff: 512, n_head: 4, n_head_kv: 2, n_vocab: 600, n_ctx: 128 };
        let dir = std::env::temp_dir().join(format!("allmende-synthetic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("small.gguf");
        build(shape, Mix::Q4KM, 7, 2).unwrap().write_to_path(&path).unwrap();
        let bytes_a = std::fs::read(&path).unwrap();
        // Deterministic whatever the thread count.
        let again = build(shape, Mix::Q4KM, 7, 1).unwrap().to_bytes().unwrap();
        assert_eq!(bytes_a, again);

        let file = GgufFile::open(&path).unwrap();
        assert_eq!(file.get_usize("llama.block_count").unwrap(), 2);
        let types: Vec<(String, GgmlType)> = file.tensors().iter().map(|t| (t.name.clone(), t.ggml_type)).collect();
        let ty = |n: &str| types.iter().find(|(name, _)| name == n).unwrap().1;
        assert_eq!(types.len(), 1 + 9 * 2 + 2);
        assert_eq!(ty("token_embd.weight"), GgmlType::Q4_K);
        // With 2 layers, use_more_bits holds for layer 1 only (1 >= 7·2/8).
        assert_eq!(ty("blk.0.attn_v.weight"), GgmlType::Q4_K);
        assert_eq!(ty("blk.1.attn_v.weight"), GgmlType::Q6_K);
        assert_eq!(ty("blk.0.ffn_down.weight"), GgmlType::Q4_K);
        assert_eq!(ty("blk.0.attn_q.weight"), GgmlType::Q4_K);
        assert_eq!(ty("blk.1.ffn_down.weight"), GgmlType::Q6_K);
        assert_eq!(ty("blk.1.attn_norm.weight"), GgmlType::F32);
        assert_eq!(ty("output.weight"), GgmlType::Q6_K);

        let opts = allmende_models::ModelOptions { n_threads: 1, ..Default::default() };
        let mut model = allmende_models::Model::load(&path, &opts).unwrap();
        assert_eq!(model.n_vocab(), 600);
        let mut cache = model.new_cache(8);
        let logits = model.forward(&[1, 300, 301], &mut cache, allmende_models::Logits::Last).unwrap();
        assert_eq!(logits.len(), 600);
        assert!(logits.iter().all(|x| x.is_finite()));
        assert!(logits.iter().any(|&x| x != logits[0]), "random weights give varied logits");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
