//! Chain-level tests of [`Sampler`]: stage order, determinism, the statistical check of temperature sampling
//! against the softmax, penalties through `accept`, logprobs, and error paths.

use super::*;

fn params(f: impl FnOnce(&mut SamplingParams)) -> SamplingParams {
    let mut p = SamplingParams::default();
    f(&mut p);
    p
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|x| x / z).collect()
}

/// Draws `n` tokens and returns the observed frequency of each id.
fn frequencies(s: &mut Sampler, logits: &[f32], n: usize) -> Vec<f64> {
    let mut counts = vec![0usize; logits.len()];
    for _ in 0..n {
        counts[s.sample(logits).unwrap() as usize] += 1;
    }
    counts.iter().map(|&c| c as f64 / n as f64).collect()
}

/// Asserts observed frequencies match `want` (chi-square with a 0.1% critical value, and per-bucket 4.5σ).
fn assert_follows(freq: &[f64], want: &[f64], n: usize) {
    let mut chi2 = 0.0;
    let mut dof = 0usize;
    for (i, (&f, &p)) in freq.iter().zip(want).enumerate() {
        if p == 0.0 {
            assert_eq!(f, 0.0, "token {i} has probability 0 but was drawn");
            continue;
        }
        let sd = (p * (1.0 - p) / n as f64).sqrt();
        assert!(
            (f - p).abs() <= 4.5 * sd + 1e-12,
            "token {i}: freq {f:.4} vs p {p:.4} (sd {sd:.4})"
        );
        chi2 += n as f64 * (f - p).powi(2) / p;
        dof += 1;
    }
    // 0.1% critical values of chi-square for dof-1 = 1..=7 degrees of freedom.
    let crit = [10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32];
    assert!(
        chi2 < crit[dof - 2],
        "chi2 = {chi2:.2} with {} dof",
        dof - 1
    );
}

#[test]
fn default_chain_order() {
    let s = Sampler::new(SamplingParams::default(), 10).unwrap();
    assert_eq!(
        s.stage_names(),
        vec!["top-k", "top-p", "min-p", "temperature", "dist"]
    );
    let s = Sampler::new(
        params(|p| {
            p.logit_bias.insert(3, 1.0);
            p.repeat_penalty = 1.1;
        }),
        10,
    )
    .unwrap();
    assert_eq!(
        s.stage_names(),
        vec![
            "logit-bias",
            "penalties",
            "top-k",
            "top-p",
            "min-p",
            "temperature",
            "dist"
        ]
    );
    let s = Sampler::new(params(|p| p.presence_penalty = 0.5), 10).unwrap();
    assert_eq!(s.stage_names()[0], "penalties");
    let s = Sampler::new(params(|p| p.presence_penalty = 0.5), 10).unwrap();
    assert!(s.seed().is_some());
    let s = Sampler::new(SamplingParams::greedy(), 10).unwrap();
    assert_eq!(s.stage_names(), vec!["greedy"]);
    assert_eq!(s.seed(), None);
    let s = Sampler::new(
        params(|p| (p.top_k, p.top_p, p.min_p, p.temperature) = (0, 1.0, 0.0, 1.0)),
        10,
    )
    .unwrap();
    assert_eq!(s.stage_names(), vec!["dist"]);
}

#[test]
fn logit_bias_is_applied_before_penalties() {
    let mut s = Sampler::new(
        params(|p| {
            p.temperature = 0.0;
            p.repeat_penalty = 2.0;
            p.logit_bias.insert(0, 1.0);
        }),
        2,
    )
    .unwrap();
    s.accept(0).unwrap();
    assert_eq!(s.sample(&[1.0, 1.2]).unwrap(), 1);
    // bias first: (1 + 1) / 2 = 1.0; penalties first would give 1/2 + 1 = 1.5.
    assert_eq!(s.candidates().as_slice()[0].logit, 1.0);
}

#[test]
fn greedy_picks_argmax_lowest_id_and_applies_penalties() {
    let mut s = Sampler::new(
        params(|p| (p.temperature, p.repeat_penalty) = (0.0, 2.0)),
        4,
    )
    .unwrap();
    assert_eq!(s.sample(&[1.0, 3.0, 3.0, 2.0]).unwrap(), 1);
    s.accept(1).unwrap();
    // 3.0 / 2 = 1.5 for id 1 -> id 2 wins.
    assert_eq!(s.sample(&[1.0, 3.0, 3.0, 2.0]).unwrap(), 2);
    s.accept(2).unwrap();
    assert_eq!(s.sample(&[1.0, 3.0, 3.0, 2.0]).unwrap(), 3);
    s.reset();
    assert_eq!(s.sample(&[1.0, 3.0, 3.0, 2.0]).unwrap(), 1);
}

#[test]
fn negative_temperature_is_greedy() {
    let mut s = Sampler::new(params(|p| p.temperature = -0.5), 3).unwrap();
    assert_eq!(s.stage_names(), vec!["greedy"]);
    assert_eq!(s.sample(&[0.0, 5.0, 1.0]).unwrap(), 1);
}

#[test]
fn seeded_sampling_is_deterministic() {
    let run = |seed: u64| {
        let mut s = Sampler::new(
            params(|p| {
                p.seed = Some(seed);
                p.temperature = 1.2;
                p.top_k = 0;
                p.top_p = 0.98;
                p.min_p = 0.01;
                p.repeat_penalty = 1.1;
                p.frequency_penalty = 0.1;
            }),
            50,
        )
        .unwrap();
        let mut out = Vec::new();
        for step in 0..200u32 {
            let logits: Vec<f32> = (0..50u32)
                .map(|i| ((i * 31 + step * 17) % 23) as f32 / 7.0)
                .collect();
            let t = s.sample(&logits).unwrap();
            s.accept(t).unwrap();
            out.push(t);
        }
        out
    };
    let a = run(1234);
    assert_eq!(a, run(1234));
    assert_ne!(a, run(1235));
    // Many distinct tokens were drawn, so this really is random sampling.
    let mut distinct = a.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 10, "{}", distinct.len());
}

#[test]
fn reset_replays_the_same_stream() {
    let logits: Vec<f32> = (0..20).map(|i| (i % 5) as f32 * 0.3).collect();
    let mut s = Sampler::new(params(|p| p.seed = None), 20).unwrap();
    let a: Vec<u32> = (0..50).map(|_| s.sample(&logits).unwrap()).collect();
    s.reset();
    let b: Vec<u32> = (0..50).map(|_| s.sample(&logits).unwrap()).collect();
    assert_eq!(a, b);
}

#[test]
fn temperature_sampling_follows_softmax() {
    let logits = [1.0f32, 2.0, 0.5, 3.0, -1.0, 0.0];
    for t in [0.7f32, 1.0, 1.5] {
        let mut s = Sampler::new(
            params(|p| {
                (p.top_k, p.top_p, p.min_p, p.temperature, p.seed) = (0, 1.0, 0.0, t, Some(42))
            }),
            6,
        )
        .unwrap();
        let n = 20_000;
        let freq = frequencies(&mut s, &logits, n);
        let want = softmax(
            &logits
                .iter()
                .map(|&l| l as f64 / t as f64)
                .collect::<Vec<_>>(),
        );
        assert_follows(&freq, &want, n);
    }
}

#[test]
fn filtered_chain_follows_renormalised_softmax() {
    // top-k 3 keeps ids 3, 1, 0; then temperature 0.5 over those three.
    let logits = [1.0f32, 2.0, 0.5, 3.0, -1.0, 0.0];
    let mut s = Sampler::new(
        params(|p| {
            (p.top_k, p.top_p, p.min_p, p.temperature, p.seed) = (3, 1.0, 0.0, 0.5, Some(7))
        }),
        6,
    )
    .unwrap();
    let n = 20_000;
    let freq = frequencies(&mut s, &logits, n);
    let kept = softmax(&[2.0, 4.0, 6.0]);
    let want = [kept[0], kept[1], 0.0, kept[2], 0.0, 0.0];
    assert_follows(&freq, &want, n);

    // min-p 0.3 at t=1: p ∝ e^{l}; p_max = e^3; keeps l >= 3 + ln 0.3 = 1.796 -> ids 1, 3.
    let mut s = Sampler::new(
        params(|p| {
            (p.top_k, p.top_p, p.min_p, p.temperature, p.seed) = (0, 1.0, 0.3, 1.0, Some(9))
        }),
        6,
    )
    .unwrap();
    let freq = frequencies(&mut s, &logits, n);
    let kept = softmax(&[2.0, 3.0]);
    assert_follows(&freq, &[0.0, kept[0], 0.0, kept[1], 0.0, 0.0], n);
}

#[test]
fn banned_tokens_are_never_drawn_and_all_banned_is_an_error() {
    let logits = [5.0f32, 1.0, 1.0];
    let mut s = Sampler::new(params(|p| _ = p.logit_bias.insert(0, f32::NEG_INFINITY)), 3).unwrap();
    for _ in 0..500 {
        assert_ne!(s.sample(&logits).unwrap(), 0);
    }
    let mut s = Sampler::new(
        params(|p| {
            p.logit_bias = [
                (0, f32::NEG_INFINITY),
                (1, f32::NEG_INFINITY),
                (2, f32::NEG_INFINITY),
            ]
            .into()
        }),
        3,
    )
    .unwrap();
    assert!(matches!(s.sample(&logits), Err(EngineError::AllMasked)));
    let mut g = Sampler::new(SamplingParams::greedy(), 2).unwrap();
    assert!(matches!(
        g.sample(&[f32::NAN, f32::NEG_INFINITY]),
        Err(EngineError::AllMasked)
    ));
}

#[test]
fn error_paths() {
    assert!(matches!(
        Sampler::new(SamplingParams::default(), 0),
        Err(EngineError::EmptyVocab)
    ));
    assert!(matches!(
        Sampler::new(params(|p| p.top_p = 0.0), 4),
        Err(EngineError::InvalidParam { name: "top_p", .. })
    ));
    let mut s = Sampler::new(SamplingParams::default(), 4).unwrap();
    assert!(matches!(
        s.sample(&[0.0; 3]),
        Err(EngineError::LogitsLength {
            expected: 4,
            got: 3
        })
    ));
    assert!(matches!(
        s.accept(4),
        Err(EngineError::TokenOutOfRange {
            token: 4,
            n_vocab: 4
        })
    ));
    let mut top = Vec::new();
    assert!(matches!(
        s.logprobs(2, &mut top),
        Err(EngineError::NothingSampled)
    ));
    let mut empty = Sampler::with_stages(4, Window::Off, vec![Box::new(TopK { k: 2 })]).unwrap();
    assert!(matches!(
        empty.sample(&[0.0; 4]),
        Err(EngineError::NoSelection)
    ));
}

#[test]
fn sampling_does_not_reallocate_the_buffer() {
    let n = 3000;
    let mut s = Sampler::new(params(|p| (p.top_k, p.repeat_penalty) = (0, 1.3)), n).unwrap();
    let logits: Vec<f32> = (0..n).map(|i| (i % 97) as f32 / 10.0).collect();
    s.sample(&logits).unwrap();
    let ptr = s.candidates().as_slice().as_ptr();
    for _ in 0..50 {
        let t = s.sample(&logits).unwrap();
        s.accept(t).unwrap();
        assert_eq!(s.candidates().as_slice().as_ptr(), ptr);
    }
}

#[test]
fn logprobs_of_final_distribution() {
    // Greedy: softmax(t=1) over all tokens.
    let logits = [0.0f32, 2.0f32.ln(), 5.0f32.ln(), 2.0f32.ln()]; // weights 1, 2, 5, 2
    let mut s = Sampler::new(SamplingParams::greedy(), 4).unwrap();
    assert_eq!(s.sample(&logits).unwrap(), 2);
    let mut top = Vec::new();
    let chosen = s.logprobs(3, &mut top).unwrap();
    assert_eq!(chosen.id, 2);
    assert!((chosen.logprob - 0.5f32.ln()).abs() < 1e-6);
    let ids: Vec<u32> = top.iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![2, 1, 3]);
    assert!((top[1].logprob - 0.2f32.ln()).abs() < 1e-6);
    assert!((top[2].logprob - 0.2f32.ln()).abs() < 1e-6);

    // Sampling with top-k 2 and t = 0.5: final distribution over ids 2 and 1 with weights 25 : 4.
    let mut s = Sampler::new(
        params(|p| {
            (p.top_k, p.top_p, p.min_p, p.temperature, p.seed) = (2, 1.0, 0.0, 0.5, Some(3))
        }),
        4,
    )
    .unwrap();
    let id = s.sample(&logits).unwrap();
    let chosen = s.logprobs(10, &mut top).unwrap();
    assert_eq!(chosen.id, id);
    assert_eq!(top.len(), 2);
    assert_eq!((top[0].id, top[1].id), (2, 1));
    assert!((top[0].logprob - (25.0f32 / 29.0).ln()).abs() < 1e-5);
    assert!((top[1].logprob - (4.0f32 / 29.0).ln()).abs() < 1e-5);
}
