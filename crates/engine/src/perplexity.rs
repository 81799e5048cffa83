//! Perplexity of a token sequence, computed exactly as llama.cpp's `perplexity` tool does, so
//! our figures compare with its figures.
//!
//! The text's tokens are cut into chunks of `n_ctx`. Each chunk is evaluated from an empty
//! context; when the model adds a BOS token, the chunk's first token is replaced by BOS. Only the
//! second half of each chunk is scored (positions `n_ctx/2 .. n_ctx-1` predicting the next
//! token), so every scored token sees at least `n_ctx/2` tokens of context. The running
//! perplexity after each chunk is `exp(mean NLL)` over all tokens scored so far.
//!
//! Reference: llama.cpp `tools/perplexity/perplexity.cpp` (`perplexity()`, `process_logits`).

/// Result of [`perplexity`].
#[derive(Clone, Debug, PartialEq)]
pub struct Perplexity {
    /// Final perplexity over all scored tokens.
    pub ppl: f64,
    /// Running perplexity after each chunk (llama.cpp prints these as `[1]14.23,[2]...`).
    pub chunk_ppl: Vec<f64>,
    /// Tokens scored in all.
    pub n_scored: usize,
    /// Chunk size in tokens.
    pub n_ctx: usize,
    /// Standard error of the perplexity estimate (llama.cpp's `+/-` figure).
    pub ppl_err: f64,
}

/// Why perplexity cannot be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PerplexityError {
    /// Fewer than `2 * n_ctx` tokens: not even one chunk (llama.cpp refuses the same way).
    #[error("the text has {n_tokens} tokens; perplexity with --ctx {n_ctx} needs at least {} (use a longer text or a smaller --ctx)", 2 * n_ctx)]
    TooShort {
        /// Tokens in the text.
        n_tokens: usize,
        /// Chunk size asked for.
        n_ctx: usize,
    },
    /// A chunk size below 2 leaves nothing to score.
    #[error("--ctx {0} is too small (at least 2)")]
    CtxTooSmall(usize),
    /// The evaluation callback failed or returned the wrong number of logits.
    #[error("evaluating chunk {chunk}: {message}")]
    Eval {
        /// Chunk index (0-based).
        chunk: usize,
        /// What went wrong.
        message: String,
    },
}

/// Computes perplexity over `tokens` in chunks of `n_ctx`.
///
/// `eval(chunk)` must evaluate `chunk` (exactly `n_ctx` tokens) from an empty context and return
/// the logits of every position, `[n_ctx][n_vocab]` row-major. `bos` is the BOS id when the
/// model adds one (it replaces each chunk's first token), `None` otherwise. `on_chunk(i, ppl)`
/// sees the running perplexity after each chunk (for progress output).
pub fn perplexity<E: std::fmt::Display>(
    tokens: &[u32],
    n_ctx: usize,
    n_vocab: usize,
    bos: Option<u32>,
    mut eval: impl FnMut(&[u32]) -> Result<Vec<f32>, E>,
    mut on_chunk: impl FnMut(usize, f64),
) -> Result<Perplexity, PerplexityError> {
    if n_ctx < 2 {
        return Err(PerplexityError::CtxTooSmall(n_ctx));
    }
    if tokens.len() < 2 * n_ctx {
        return Err(PerplexityError::TooShort { n_tokens: tokens.len(), n_ctx });
    }
    let n_chunk = tokens.len() / n_ctx;
    let first = n_ctx / 2;
    let mut nll = 0f64;
    let mut nll2 = 0f64;
    let mut count = 0usize;
    let mut chunk_ppl = Vec::with_capacity(n_chunk);
    let mut chunk = vec![0u32; n_ctx];
    for i in 0..n_chunk {
        let start = i * n_ctx;
        chunk.copy_from_slice(&tokens[start..start + n_ctx]);
        if let Some(b) = bos {
            chunk[0] = b;
        }
        let logits = eval(&chunk).map_err(|e| PerplexityError::Eval { chunk: i, message: e.to_string() })?;
        if logits.len() != n_ctx * n_vocab {
            return Err(PerplexityError::Eval {
                chunk: i,
                message: format!("got {} logits, expected {n_ctx} x {n_vocab}", logits.len()),
            });
        }
        for j in first..n_ctx - 1 {
            let row = &logits[j * n_vocab..(j + 1) * n_vocab];
            let target = tokens[start + j + 1] as usize;
            let lp = log_softmax_at(row, target);
            nll -= lp;
            nll2 += lp * lp;
            count += 1;
        }
        let ppl = (nll / count as f64).exp();
        chunk_ppl.push(ppl);
        on_chunk(i, ppl);
    }
    let mean = nll / count as f64;
    let mean2 = nll2 / count as f64;
    let ppl = mean.exp();
    let ppl_err = if count > 1 { ppl * ((mean2 - mean * mean).max(0.0) / (count - 1) as f64).sqrt() } else { 0.0 };
    Ok(Perplexity { ppl, chunk_ppl, n_scored: count, n_ctx, ppl_err })
}

/// `log softmax(row)[target]`, accumulated in f64 as llama.cpp does.
fn log_softmax_at(row: &[f32], target: usize) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
    (row.get(target).copied().unwrap_or(f32::NEG_INFINITY) - max) as f64 - sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_logits_give_vocab_size() {
        let tokens: Vec<u32> = (0..40).map(|i| i % 7).collect();
        let r = perplexity(&tokens, 8, 7, Some(0), |c: &[u32]| Ok::<_, String>(vec![0.0; c.len() * 7]), |_, _| {}).unwrap();
        assert!((r.ppl - 7.0).abs() < 1e-9);
        // 40 tokens -> 5 chunks of 8, each scoring positions 4..7 (3 tokens).
        assert_eq!(r.chunk_ppl.len(), 5);
        assert_eq!(r.n_scored, 15);
    }

    #[test]
    fn scores_the_second_half_against_the_next_token() {
        // The fake model is right (all mass on the true next token) only at the positions that
        // must be scored, and wrong everywhere else: perplexity is 1 only if the indexing is right.
        let n_vocab = 5;
        let n_ctx = 6;
        let tokens: Vec<u32> = (0..12).map(|i| (i * 3 % 5) as u32).collect();
        let mut chunk_index = 0;
        let mut seen_first = Vec::new();
        let r = perplexity(
            &tokens,
            n_ctx,
            n_vocab,
            Some(4),
            |c: &[u32]| {
                seen_first.push(c[0]);
                let mut l = vec![-30.0f32; c.len() * n_vocab];
                for j in 0..c.len() {
                    let truth = tokens.get(chunk_index * n_ctx + j + 1).copied().unwrap_or(0) as usize;
                    let scored = (n_ctx / 2..n_ctx - 1).contains(&j);
                    let pick = if scored { truth } else { (truth + 1) % n_vocab };
                    l[j * n_vocab + pick] = 0.0;
                }
                chunk_index += 1;
                Ok::<_, String>(l)
            },
            |_, _| {},
        )
        .unwrap();
        assert_eq!(seen_first, vec![4, 4], "BOS replaces each chunk's first token");
        assert_eq!(r.n_scored, 4, "positions 3 and 4 of each of the 2 chunks");
        assert!(r.ppl < 1.0001, "{}", r.ppl);
    }

    #[test]
    fn refuses_short_text() {
        let e = perplexity(&[1, 2, 3], 2, 4, None, |_: &[u32]| Ok::<_, String>(vec![]), |_, _| {}).unwrap_err();
        assert!(matches!(e, PerplexityError::TooShort { n_tokens: 3, n_ctx: 2 }));
    }

    #[test]
    fn known_distribution() {
        // logits [ln 1, ln 3] -> p = [0.25, 0.75]; always target 1 -> ppl = 4/3.
        let tokens = vec![1u32; 8];
        let r = perplexity(&tokens, 4, 2, None, |c: &[u32]| {
            Ok::<_, String>(c.iter().flat_map(|_| [0.0f32, 3f32.ln()]).collect())
        }, |_, _| {})
        .unwrap();
        assert!((r.ppl - 4.0 / 3.0).abs() < 1e-6, "{}", r.ppl);
    }
}
