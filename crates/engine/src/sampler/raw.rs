//! Log-probabilities of the model's own distribution: `log_softmax(logits)` at temperature 1,
//! before any bias, penalty, filter or temperature of the sampler chain. This is what the
//! OpenAI API reports as `logprobs` (and llama.cpp's server without `post_sampling_probs`);
//! [`super::Sampler::logprobs`] reports the chain's final distribution instead.

use super::TokenLogprob;

/// The log-probability of `id` under `softmax(logits)`, and the `n_top` most likely tokens
/// (best first, ties to the lower id) in `top` (cleared first). Non-finite logits count as
/// impossible (`-inf`); if no logit is finite every log-probability is `-inf`.
pub fn model_logprobs(logits: &[f32], id: u32, n_top: usize, top: &mut Vec<TokenLogprob>) -> TokenLogprob {
    top.clear();
    let max = logits.iter().copied().filter(|x| x.is_finite()).fold(f32::NEG_INFINITY, f32::max);
    let lse = if max.is_finite() {
        let sum: f64 = logits.iter().filter(|x| x.is_finite()).map(|&x| f64::from(x - max).exp()).sum();
        max as f64 + sum.ln()
    } else {
        f64::INFINITY
    };
    let lp = |x: f32| if x.is_finite() { (f64::from(x) - lse) as f32 } else { f32::NEG_INFINITY };
    // The n_top best by a bounded insertion: n_top is small (OpenAI allows 20).
    let k = n_top.min(logits.len());
    if k > 0 {
        for (i, &x) in logits.iter().enumerate() {
            let x = if x.is_finite() { x } else { f32::NEG_INFINITY };
            if top.len() == k && top.last().is_some_and(|t| t.logprob >= x) {
                continue;
            }
            let at = top.iter().position(|t| t.logprob < x).unwrap_or(top.len());
            top.insert(at, TokenLogprob { id: i as u32, logprob: x });
            top.truncate(k);
        }
        for t in top.iter_mut() {
            t.logprob = lp(t.logprob);
        }
    }
    TokenLogprob { id, logprob: logits.get(id as usize).map_or(f32::NEG_INFINITY, |&x| lp(x)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_direct_log_softmax() {
        let logits = [1.0f32, 3.0, -2.0, 3.0, f32::NEG_INFINITY, 0.5];
        let z: f64 = logits.iter().filter(|x| x.is_finite()).map(|&x| f64::from(x).exp()).sum();
        let mut top = Vec::new();
        let chosen = model_logprobs(&logits, 5, 3, &mut top);
        assert!((f64::from(chosen.logprob) - (0.5 - z.ln())).abs() < 1e-6);
        let ids: Vec<u32> = top.iter().map(|t| t.id).collect();
        assert_eq!(ids, [1, 3, 0], "best first, ties to the lower id");
        assert!((f64::from(top[0].logprob) - (3.0 - z.ln())).abs() < 1e-6);
        let p: f64 = (0..logits.len()).map(|i| f64::from(model_logprobs(&logits, i as u32, 0, &mut top).logprob).exp()).sum();
        assert!((p - 1.0).abs() < 1e-6, "probabilities sum to {p}");
        assert_eq!(model_logprobs(&logits, 4, 0, &mut top).logprob, f32::NEG_INFINITY);
        assert!(top.is_empty());
        // More asked for than there are tokens: all of them.
        model_logprobs(&logits, 0, 50, &mut top);
        assert_eq!(top.len(), logits.len());
    }
}
