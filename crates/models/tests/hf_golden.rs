//! Golden tests: every Hugging Face fixture under `tests/fixtures/hf/` (tiny random models made
//! by transformers 5.24, see the fixture README upstream) against transformers' own outputs in
//! `reference.safetensors`:
//! * logits at every position and every hidden state (`output_hidden_states`) for the prompts
//!   len1 / len7 / len33, within atol 1e-4 + rtol 1e-4 (the README's suggested tolerance: thread
//!   counts alone move transformers' outputs by up to 9e-6); the first diverging hidden state
//!   is named on failure;
//! * greedy decoding, teacher-forced through the KV cache with the reference's generated tokens,
//!   against `P.greedy_step_logits`: logits within tolerance and the same argmax wherever the
//!   reference's top-1/top-2 margin exceeds twice our error;
//! * decode through the KV cache one token at a time, and prefill in small chunks, give the
//!   logits of a single full prefill.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use allmende_models::{Logits, Model, ModelOptions, Tap};
use common::{argmax, close, fixture, max_diff, Reference, PROMPTS};

const ATOL: f32 = 1e-4;
const RTOL: f32 = 1e-4;

fn load(name: &str, opts: ModelOptions) -> Model {
    Model::load(fixture(&format!("hf/{name}")), &opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn reference(name: &str) -> Reference {
    Reference::open(fixture(&format!("hf/{name}/reference.safetensors")))
}

/// Logits and hidden states of every prompt.
fn check_logits_and_hidden(name: &str) {
    let mut model = load(name, ModelOptions { n_threads: 2, n_batch: 64, kv_type: None });
    let r = reference(name);
    let n_layer = model.spec().n_layer;
    for p in PROMPTS {
        let ids = r.ids(&format!("{p}.input_ids"));
        let mut cache = model.new_cache(64);
        let mut hidden: Vec<Option<Vec<f32>>> = vec![None; n_layer + 1];
        let mut tap = |t: Tap, h: &[f32]| {
            if let Some(i) = t.hf_index(n_layer) {
                hidden[i] = Some(h.to_vec());
            }
        };
        let logits = model.forward_tapped(&ids, &mut cache, Logits::All, Some(&mut tap)).unwrap().to_vec();
        for (i, h) in hidden.iter().enumerate() {
            let (shape, want) = r.f32(&format!("{p}.hidden_states.{i}"));
            let got = h.as_ref().unwrap_or_else(|| panic!("{name} {p}: no tap for hidden_states.{i}"));
            assert_eq!(shape, vec![ids.len(), model.spec().n_embd]);
            let (d, at) = max_diff(got, &want);
            assert!(
                close(got, &want, ATOL, RTOL),
                "{name} {p}: first diverging hidden state is hidden_states.{i} (of 0..={n_layer}): max |Δ| {d:e} at token {} dim {}",
                at / model.spec().n_embd,
                at % model.spec().n_embd
            );
        }
        let (shape, want) = r.f32(&format!("{p}.logits"));
        assert_eq!(shape, vec![ids.len(), model.n_vocab()]);
        let (d, at) = max_diff(&logits, &want);
        assert!(close(&logits, &want, ATOL, RTOL), "{name} {p}: logits max |Δ| {d:e} at position {}", at / model.n_vocab());
    }
}

/// Teacher-forced greedy decoding through the KV cache.
fn check_greedy(name: &str) {
    let mut model = load(name, ModelOptions { n_threads: 1, n_batch: 64, kv_type: None });
    let r = reference(name);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture(&format!("hf/{name}/reference.json"))).unwrap()).unwrap();
    for (pi, p) in PROMPTS.iter().enumerate() {
        let ids = r.ids(&format!("{p}.input_ids"));
        let new: Vec<u32> = serde_json::from_value(json["prompts"][pi]["greedy"]["new_tokens"].clone()).unwrap();
        let (shape, steps) = r.f32(&format!("{p}.greedy_step_logits"));
        let nv = model.n_vocab();
        assert_eq!(shape, vec![new.len(), nv]);
        let mut cache = model.new_cache(64);
        let mut logits = model.forward(&ids, &mut cache, Logits::Last).unwrap().to_vec();
        let mut checked = 0;
        for (step, &tok) in new.iter().enumerate() {
            let want = &steps[step * nv..(step + 1) * nv];
            let (err, _) = max_diff(&logits, want);
            assert!(close(&logits, want, ATOL, RTOL), "{name} {p} step {step}: logits max |Δ| {err:e}");
            assert_eq!(argmax(want), tok as usize, "{name} {p} step {step}: reference argmax is not its token");
            if common::top_margin(want) > 2.0 * err {
                assert_eq!(argmax(&logits), tok as usize, "{name} {p} step {step}: greedy token differs");
                checked += 1;
            }
            logits = model.forward(&[tok], &mut cache, Logits::Last).unwrap().to_vec();
        }
        assert!(checked >= new.len() - 1, "{name} {p}: only {checked} of {} steps had a clear margin", new.len());
    }
}

/// Prefill once vs. decode one token at a time vs. prefill in chunks of 5.
fn check_cache_paths(name: &str) {
    let r = reference(name);
    let ids = r.ids("len33.input_ids");
    let mut model = load(name, ModelOptions { n_threads: 2, n_batch: 64, kv_type: None });
    let nv = model.n_vocab();
    let mut cache = model.new_cache(40);
    let full = model.forward(&ids, &mut cache, Logits::All).unwrap().to_vec();
    assert_eq!(cache.len(), ids.len());

    // Prefill 3 tokens, then one token per call.
    let mut cache = model.new_cache(40);
    let mut stepwise = model.forward(&ids[..3], &mut cache, Logits::All).unwrap().to_vec();
    for &t in &ids[3..] {
        stepwise.extend_from_slice(model.forward(&[t], &mut cache, Logits::Last).unwrap());
    }
    let (d, at) = max_diff(&stepwise, &full);
    assert!(d <= 1e-5, "{name}: decode vs prefill max |Δ| {d:e} at position {}", at / nv);

    // n_batch 5: the 33 tokens go through in 7 chunks.
    let mut small = load(name, ModelOptions { n_threads: 1, n_batch: 5, kv_type: None });
    let mut cache = small.new_cache(40);
    let chunked = small.forward(&ids, &mut cache, Logits::All).unwrap().to_vec();
    let (d, at) = max_diff(&chunked, &full);
    assert!(d <= 1e-5, "{name}: chunked prefill vs prefill max |Δ| {d:e} at position {}", at / nv);
    let last = small.forward(&ids[..9], &mut small.new_cache(40), Logits::Last).unwrap().to_vec();
    assert_eq!(last.len(), nv);
    let (d, _) = max_diff(&last, &full[8 * nv..9 * nv]);
    assert!(d <= 1e-5, "{name}: Logits::Last over chunks max |Δ| {d:e}");

    // Truncating the cache and re-running the tail gives the same logits again.
    let mut cache = model.new_cache(40);
    model.forward(&ids, &mut cache, Logits::Last).unwrap();
    cache.truncate(20);
    let tail = model.forward(&ids[20..], &mut cache, Logits::All).unwrap().to_vec();
    let (d, _) = max_diff(&tail, &full[20 * nv..]);
    assert!(d <= 1e-5, "{name}: after truncate max |Δ| {d:e}");
}

macro_rules! fixture_tests {
    ($($module:ident => $name:literal),* $(,)?) => {
        /// Every fixture folder these tests cover.
        const FIXTURES: &[&str] = &[$($name),*];
        $(
            mod $module {
                #[test]
                fn logits_and_hidden_states() {
                    super::check_logits_and_hidden($name);
                }
                #[test]
                fn greedy_teacher_forced() {
                    super::check_greedy($name);
                }
                #[test]
                fn kv_cache_paths() {
                    super::check_cache_paths($name);
                }
            }
        )*
    };
}

fixture_tests! {
    llama_gqa => "llama-gqa",
    llama3_rope => "llama3-rope",
    mistral_swa => "mistral-swa",
    mixtral_moe => "mixtral-moe",
    falcon_new_arch => "falcon-new-arch",
    falcon_mqa => "falcon-mqa",
    falcon_rw_alibi => "falcon-rw-alibi",
    gemma2 => "gemma2",
    gemma3_text => "gemma3-text",
    qwen2 => "qwen2",
    phi3 => "phi3",
}

#[test]
fn every_fixture_folder_is_tested() {
    let mut dirs: Vec<String> = std::fs::read_dir(fixture("hf"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut listed: Vec<String> = FIXTURES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(dirs, listed);
}
