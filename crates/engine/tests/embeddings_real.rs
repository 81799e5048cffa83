//! all-MiniLM-L6-v2 (fetched by `allmende pull all-minilm-l6-v2` into the cache) through the
//! [`Embedder`]:
//!
//! * cosine("A man is eating food.", "A man is eating a piece of bread.") is 0.7553, the value
//!   sentence-transformers documents for this model;
//! * vectors have 384 values and unit length (the model's `Normalize` module);
//! * text is tokenized as BERT's post-processor says (`[CLS] ... [SEP]`) and not padded;
//! * a batch gives the same vectors as one text at a time;
//! * an input over `max_seq_length` (256 tokens) is [`EmbedError::InputTooLong`], one of exactly
//!   256 tokens is fine.
//!
//! A model that is not in the cache fails the test with the command that fetches it: these
//! tests never pass silently. Timings are printed (`--nocapture`), never asserted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic loudly

use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use allmende_engine::embed::{EmbedError, Embedder};

const NAME: &str = "all-minilm-l6-v2";

/// The encoder uses every core; tests run one at a time so that printed timings mean something.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn embedder() -> &'static Embedder {
    static E: OnceLock<Embedder> = OnceLock::new();
    E.get_or_init(|| {
        let path = allmende_store::resolve(NAME).unwrap_or_else(|| {
            panic!("model `{NAME}` is not in the cache; fetch it with `allmende pull {NAME}` (cargo run -p allmende -- pull {NAME})")
        });
        let t = Instant::now();
        let e = Embedder::load(&path).unwrap_or_else(|err| panic!("loading {}: {err}", path.display()));
        eprintln!("loaded {} in {:.0} ms", path.display(), t.elapsed().as_secs_f64() * 1e3);
        e
    })
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let na: f64 = a.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn documented_cosine_similarity() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let e = embedder();
    let out = e.embed_counted(&["A man is eating food.", "A man is eating a piece of bread."]).unwrap();
    let cos = cosine(&out.vectors[0], &out.vectors[1]);
    eprintln!("cosine = {cos:.6}");
    assert!((cos - 0.7553).abs() <= 0.0005, "cosine {cos}, sentence-transformers documents 0.7553");
    // [CLS] a man is eating food . [SEP]  /  [CLS] a man is eating a piece of bread . [SEP]
    assert_eq!(out.token_counts, vec![8, 11]);
    assert_eq!(out.prompt_tokens(), 19);
}

#[test]
fn vectors_are_384_long_and_unit_norm() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let e = embedder();
    assert_eq!((e.dim(), e.max_tokens()), (384, 256));
    let v = e.embed(&["The quick brown fox jumps over the lazy dog.", "", "ünïcödé ✓ 東京"]).unwrap();
    for (i, v) in v.iter().enumerate() {
        assert_eq!(v.len(), 384);
        let norm = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "input {i}: norm {norm}");
        assert!(v.iter().all(|x| x.is_finite()));
    }
    assert!(e.embed(&[]).unwrap().is_empty());
}

#[test]
fn tokens_get_cls_and_sep_and_no_padding() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let e = embedder();
    // Ids from the model's vocabulary: [CLS]=101, a man is eating food . , [SEP]=102.
    assert_eq!(e.tokenize("A man is eating food.").unwrap(), vec![101, 1037, 2158, 2003, 5983, 2833, 1012, 102]);
    assert_eq!(e.tokenize("").unwrap(), vec![101, 102]);
    // tokenizer.json pads and truncates to 128; both must be off.
    let long = "hello ".repeat(200);
    assert_eq!(e.tokenize(&long).unwrap().len(), 202);
}

#[test]
fn batch_equals_one_by_one() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let e = embedder();
    let long = "Sentence embeddings map text to vectors so that similar meanings lie close together. ".repeat(6);
    let texts = [
        "A man is eating food.",
        "Someone in a gorilla costume is playing a set of drums.",
        long.as_str(),
        "",
        "A cheetah is running behind its prey.",
        "Two men pushed carts through the woods.",
    ];
    let batch = e.embed(&texts).unwrap();
    for (i, t) in texts.iter().enumerate() {
        let single = e.embed(&[t]).unwrap().remove(0);
        let d = batch[i].iter().zip(&single).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(d <= 1e-6, "input {i}: batch and single differ by {d:e}");
    }
}

#[test]
fn over_long_input_is_an_error() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let e = embedder();
    // "hello" is one token: n words + [CLS] + [SEP].
    let fits = "hello ".repeat(254);
    let over = "hello ".repeat(255);
    let out = e.embed_counted(&[&fits]).unwrap();
    assert_eq!(out.token_counts, vec![256]);
    match e.embed(&["short", &over]) {
        Err(EmbedError::InputTooLong { index, tokens, max }) => {
            assert_eq!((index, tokens, max), (1, 257, 256));
            let msg = EmbedError::InputTooLong { index, tokens, max }.to_string();
            assert!(msg.contains("257") && msg.contains("256"), "{msg}");
        }
        other => panic!("expected InputTooLong, got {other:?}"),
    }
}

#[test]
fn timings() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let e = embedder();
    let one = "The old lighthouse keeper watched storms roll across the bay.";
    e.embed(&[one]).unwrap(); // warm-up
    let n = 5;
    let t = Instant::now();
    for _ in 0..n {
        e.embed(&[one]).unwrap();
    }
    let single_ms = t.elapsed().as_secs_f64() * 1e3 / n as f64;
    let texts: Vec<String> = (0..32).map(|i| format!("{one} Sentence number {i} of the batch.")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let t = Instant::now();
    let out = e.embed_counted(&refs).unwrap();
    let batch_ms = t.elapsed().as_secs_f64() * 1e3;
    eprintln!(
        "one 10-word sentence ({} tokens): {single_ms:.2} ms; batch of 32 ({} tokens): {batch_ms:.1} ms ({:.2} ms/sentence), {} threads",
        e.tokenize(one).unwrap().len(),
        out.prompt_tokens(),
        batch_ms / 32.0,
        e.encoder().n_threads()
    );
    assert_eq!(out.vectors.len(), 32);
}

// The server shares one Embedder between request handlers.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<Embedder>();
};
