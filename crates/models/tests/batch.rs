//! Batch invariance: `Model::forward_batch` gives every sequence exactly (bit for bit) the
//! logits `Model::forward` gives it alone, whatever else shares the pass: prompts of different
//! lengths and positions, decode steps, and several sequences at once, on several
//! architectures, quantized and float weights, f16 and f32 caches, one and two threads.

use std::path::PathBuf;

use allmende_models::{BatchSeq, KvType, Logits, Model, ModelError, ModelOptions};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf").join(name)
}

fn load(file: &str, threads: usize, kv: KvType) -> Model {
    Model::load(fixture(file), &ModelOptions { n_threads: threads, n_batch: 64, kv_type: Some(kv) }).unwrap()
}

/// A deterministic prompt of `n` ids below `n_vocab`.
fn prompt(seed: u32, n: usize, n_vocab: usize) -> Vec<u32> {
    (0..n as u32).map(|i| (seed * 7919 + i * 104_729 + 13) % n_vocab as u32).collect()
}

/// Logits of `prompt` then each of `steps` as decode tokens, alone: [prompt last] + one per step.
fn alone(model: &mut Model, prompt: &[u32], steps: &[u32]) -> Vec<Vec<f32>> {
    let mut cache = model.new_cache(128);
    let mut out = vec![model.forward(prompt, &mut cache, Logits::Last).unwrap().to_vec()];
    for &t in steps {
        out.push(model.forward(&[t], &mut cache, Logits::Last).unwrap().to_vec());
    }
    out
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn batched_sequences_match_each_alone_bit_for_bit() {
    let files = ["tiny-llama-gqa-q8_0.gguf", "tiny-llama-gqa-f16.gguf", "tiny-gemma3-f32.gguf", "tiny-qwen2-f32.gguf", "tiny-mixtral-f32.gguf"];
    for file in files {
        for (threads, kv) in [(1, KvType::F16), (2, KvType::F32)] {
            let mut model = load(file, threads, kv);
            let nv = model.n_vocab();
            // Three sequences: prompts of 9, 17 and 2 tokens, then 5, 4 and 3 decode steps.
            let prompts = [prompt(1, 9, nv), prompt(2, 17, nv), prompt(3, 2, nv)];
            let steps: Vec<Vec<u32>> = (0..3u32).map(|s| prompt(10 + s, 5 - s as usize, nv)).collect();
            let want: Vec<Vec<Vec<f32>>> = (0..3).map(|i| alone(&mut model, &prompts[i], &steps[i])).collect();

            let mut caches: Vec<_> = (0..3).map(|_| model.new_cache(128)).collect();
            // Step 0: sequence 0's prompt alone; step 1: sequence 1's prompt with sequence 0's
            // first decode token; step 2: sequence 2's prompt with two decode tokens; then
            // decode steps of all three together.
            let mut got: Vec<Vec<Vec<f32>>> = vec![Vec::new(); 3];
            let mut next = [0usize; 3]; // decode steps done per sequence
            let schedule: [&[(usize, bool)]; 6] = [
                &[(0, false)],
                &[(1, false), (0, true)],
                &[(0, true), (2, false), (1, true)],
                &[(2, true), (1, true), (0, true)],
                &[(0, true), (1, true), (2, true)],
                &[(2, true), (1, true), (0, true)],
            ];
            for step in schedule {
                let mut seqs = Vec::new();
                let mut order = Vec::new();
                for (cache_i, cache) in caches.iter_mut().enumerate() {
                    let Some(&(_, decode)) = step.iter().find(|(i, _)| *i == cache_i) else { continue };
                    let tokens: &[u32] = if decode {
                        let k = next[cache_i];
                        next[cache_i] += 1;
                        &steps[cache_i][k..k + 1]
                    } else {
                        &prompts[cache_i]
                    };
                    order.push(cache_i);
                    seqs.push(BatchSeq { tokens, cache, logits: Logits::Last, decode });
                }
                let logits = model.forward_batch(&mut seqs).unwrap().to_vec();
                for (row, &i) in order.iter().enumerate() {
                    got[i].push(logits[row * nv..(row + 1) * nv].to_vec());
                }
            }
            for i in 0..3 {
                assert_eq!(got[i].len(), want[i].len(), "{file}: sequence {i} steps");
                for (k, (g, w)) in got[i].iter().zip(&want[i]).enumerate() {
                    assert_eq!(bits(g), bits(w), "{file} threads {threads} {kv:?}: sequence {i} step {k} differs from alone");
                }
            }
        }
    }
}

#[test]
fn all_logits_of_a_batched_prompt_match_forward() {
    let mut model = load("tiny-llama-gqa-q8_0.gguf", 2, KvType::F16);
    let nv = model.n_vocab();
    let (p1, p2) = (prompt(5, 11, nv), prompt(6, 3, nv));
    let mut c = model.new_cache(64);
    let want1 = model.forward(&p1, &mut c, Logits::All).unwrap().to_vec();
    let mut c = model.new_cache(64);
    let want2 = model.forward(&p2, &mut c, Logits::Last).unwrap().to_vec();
    let (mut c1, mut c2) = (model.new_cache(64), model.new_cache(64));
    let got = model
        .forward_batch(&mut [
            BatchSeq { tokens: &p1, cache: &mut c1, logits: Logits::All, decode: false },
            BatchSeq { tokens: &p2, cache: &mut c2, logits: Logits::Last, decode: false },
        ])
        .unwrap()
        .to_vec();
    assert_eq!(got.len(), 12 * nv);
    assert_eq!(bits(&got[..11 * nv]), bits(&want1));
    assert_eq!(bits(&got[11 * nv..]), bits(&want2));
    assert_eq!((c1.len(), c2.len()), (11, 3));
}

#[test]
fn a_batch_is_checked_before_anything_runs() {
    let mut model = load("tiny-llama-gqa-q8_0.gguf", 1, KvType::F16);
    let nv = model.n_vocab();
    let big = prompt(1, 40, nv);
    let (mut c1, mut c2) = (model.new_cache(128), model.new_cache(128));
    let err = model
        .forward_batch(&mut [
            BatchSeq { tokens: &big, cache: &mut c1, logits: Logits::Last, decode: false },
            BatchSeq { tokens: &big, cache: &mut c2, logits: Logits::Last, decode: false },
        ])
        .unwrap_err();
    assert!(matches!(err, ModelError::BatchTooLarge { n_tokens: 80, n_batch: 64 }), "{err}");
    let bad = [nv as u32 + 5];
    let ok = prompt(2, 3, nv);
    let err = model
        .forward_batch(&mut [
            BatchSeq { tokens: &ok, cache: &mut c1, logits: Logits::Last, decode: false },
            BatchSeq { tokens: &bad, cache: &mut c2, logits: Logits::Last, decode: true },
        ])
        .unwrap_err();
    assert!(matches!(err, ModelError::TokenOutOfRange { .. }), "{err}");
    // Nothing ran: both caches are still empty.
    assert_eq!((c1.len(), c2.len()), (0, 0));
}
