//! [`pick_token`]: sampling under the JSON constraint, and [`TokenTable`], the vocabulary's bytes.
//!
//! The caller's sampler (e.g. `|l| sampler.sample(l)` over a [`crate::Sampler`]) draws from the logits;
//! a token the recognizer refuses gets `-inf` in a scratch copy and the sampler draws again. After the
//! first refusal every token whose first byte the state cannot take is masked in one pass (a cheap,
//! exact filter: such a token can never be accepted), and if at most a few thousand tokens are left, each
//! of them is checked in full, so the next draw cannot miss; otherwise later draws rarely do. After [`MAX_TRIES`]
//! draws (or when the sampler finds everything masked) the tokens are scanned in descending order of
//! their raw logit and the first acceptable one is taken. Everything is deterministic given the
//! sampler's RNG.
//!
//! The scan ignores the sampler's own filters (a `logit_bias` ban, top-k), since it only runs when
//! sampling under them failed; it picks the model's most likely acceptable token.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::grammar::JsonGrammar;
use super::state::JsonState;
use crate::error::EngineError;

/// Draws before [`pick_token`] falls back to scanning the vocabulary.
pub const MAX_TRIES: usize = 32;

/// After the first refusal, when at most this many tokens pass the first-byte filter, each is checked
/// exactly (a few hundred nanoseconds each) instead of leaving them to further draws.
const EXACT_CHECK_LIMIT: usize = 4096;

/// The bytes each token appends to the output, built once per vocabulary.
#[derive(Debug, Clone, Default)]
pub struct TokenTable {
    bytes: Vec<u8>,
    /// Token `i` is `bytes[start[i]..start[i + 1]]`.
    start: Vec<u32>,
    /// Tokens that produce no text (control tokens, or an empty piece): refused by the constraint.
    silent: Vec<bool>,
}

impl TokenTable {
    /// Builds the table from `piece(id)` for `id in 0..n_vocab`: the token's bytes as the detokenizer
    /// emits them (they may be part of a UTF-8 character), or `None` for control tokens. Panic-free for
    /// any input; total size is limited to 4 GiB by the `u32` offsets (more is truncated to nothing).
    pub fn new(n_vocab: usize, mut piece: impl FnMut(u32) -> Option<Vec<u8>>) -> Self {
        let mut t = Self {
            bytes: Vec::new(),
            start: Vec::with_capacity(n_vocab + 1),
            silent: Vec::with_capacity(n_vocab),
        };
        t.start.push(0);
        for id in 0..n_vocab {
            let p = piece(id as u32).unwrap_or_default();
            let fits = u32::try_from(t.bytes.len() + p.len()).is_ok();
            if fits {
                t.bytes.extend_from_slice(&p);
            }
            t.silent.push(p.is_empty() || !fits);
            t.start.push(t.bytes.len() as u32);
        }
        t
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.silent.len()
    }

    /// Whether the table has no tokens.
    pub fn is_empty(&self) -> bool {
        self.silent.is_empty()
    }

    /// The bytes of token `id`; `None` for tokens without text and ids out of range.
    pub fn bytes(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        if *self.silent.get(i)? {
            return None;
        }
        Some(&self.bytes[self.start[i] as usize..self.start[i + 1] as usize])
    }
}

/// What to do with this step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Emit token `id`; `state` is the recognizer after it.
    Token {
        /// The token.
        id: u32,
        /// The state after the token.
        state: JsonState,
    },
    /// The document is finished: emit `id` (one of the end-of-generation ids; `None` if `eog` was
    /// empty) and stop generating.
    End {
        /// The end-of-generation token to emit.
        id: Option<u32>,
    },
    /// No token of the vocabulary can continue the document (the vocabulary cannot spell what the
    /// schema needs next): stop with an error.
    Stuck,
}

/// Picks the next token under the JSON constraint; see the module docs.
///
/// - `logits`: this step's logits (one per token).
/// - `sample`: the caller's sampler, called on a masked copy of the logits; it must return an id below
///   `logits.len()`. [`EngineError::AllMasked`] from it means "nothing left" and leads to the scan;
///   other errors are returned.
/// - `eog`: end-of-generation ids; one is chosen (highest logit) as soon as the document is complete,
///   and a sampled one is accepted when the document could end here ([`JsonState::can_end`]).
/// - `scratch`: a buffer reused between steps.
///
/// Tokens without text are refused. A token is accepted when [`JsonState::advance_bytes`] accepts its
/// bytes.
pub fn pick_token(
    logits: &[f32],
    mut sample: impl FnMut(&[f32]) -> Result<u32, EngineError>,
    table: &TokenTable,
    g: &JsonGrammar,
    state: &JsonState,
    eog: &[u32],
    scratch: &mut Vec<f32>,
) -> Result<Choice, EngineError> {
    if state.is_complete() {
        return Ok(Choice::End {
            id: best_eog(logits, eog),
        });
    }
    let try_token = |id: u32| -> Option<Choice> {
        if eog.contains(&id) {
            return state.can_end().then_some(Choice::End { id: Some(id) });
        }
        let state = state.advance_bytes(g, table.bytes(id)?)?;
        Some(Choice::Token { id, state })
    };
    let acceptable = |id: u32| -> bool {
        if eog.contains(&id) {
            return state.can_end();
        }
        table
            .bytes(id)
            .is_some_and(|b| state.advance_bytes(g, b).is_some())
    };
    scratch.clear();
    scratch.extend_from_slice(logits);
    let mut mask: Option<[u64; 4]> = None;
    for _ in 0..MAX_TRIES {
        let id = match sample(scratch) {
            Ok(id) => id,
            Err(EngineError::AllMasked) => break,
            Err(e) => return Err(e),
        };
        if let Some(c) = try_token(id) {
            return Ok(c);
        }
        if let Some(l) = scratch.get_mut(id as usize) {
            *l = f32::NEG_INFINITY;
        }
        if mask.is_none() {
            let m = state.first_byte_mask(g);
            let mut live = 0usize;
            for (i, l) in scratch.iter_mut().enumerate() {
                if !first_ok(&m, table, state, eog, i as u32) {
                    *l = f32::NEG_INFINITY;
                } else if *l > f32::NEG_INFINITY {
                    live += 1;
                }
            }
            // Few tokens left (e.g. inside a key, where only a few first letters fit): check them
            // exactly, so the next draw is certain to be acceptable.
            if live <= EXACT_CHECK_LIMIT {
                for (i, l) in scratch.iter_mut().enumerate() {
                    if *l > f32::NEG_INFINITY && !acceptable(i as u32) {
                        *l = f32::NEG_INFINITY;
                    }
                }
            }
            mask = Some(m);
        }
    }
    // Scan in descending raw-logit order (ties: lower id first).
    let m = mask.unwrap_or_else(|| state.first_byte_mask(g));
    let cands: Vec<Cand> = logits
        .iter()
        .enumerate()
        .filter(|(i, l)| !l.is_nan() && first_ok(&m, table, state, eog, *i as u32))
        .map(|(i, &l)| Cand(l, i as u32))
        .collect();
    let mut heap = BinaryHeap::from(cands);
    while let Some(Cand(_, id)) = heap.pop() {
        if let Some(c) = try_token(id) {
            return Ok(c);
        }
    }
    Ok(Choice::Stuck)
}

/// Whether token `id` passes the first-byte filter (EOG ids pass when the document can end).
fn first_ok(mask: &[u64; 4], table: &TokenTable, state: &JsonState, eog: &[u32], id: u32) -> bool {
    if eog.contains(&id) {
        return state.can_end();
    }
    match table.bytes(id) {
        Some(b) => mask[usize::from(b[0] / 64)] >> (b[0] % 64) & 1 == 1,
        None => false,
    }
}

/// The end-of-generation id with the highest logit (ties: the first listed).
fn best_eog(logits: &[f32], eog: &[u32]) -> Option<u32> {
    let logit = |id: u32| {
        logits
            .get(id as usize)
            .copied()
            .filter(|l| !l.is_nan())
            .unwrap_or(f32::NEG_INFINITY)
    };
    eog.iter()
        .copied()
        .reduce(|best, id| if logit(id) > logit(best) { id } else { best })
}

/// A candidate in the scan: larger logit first, then lower id.
#[derive(Debug, Clone, Copy)]
struct Cand(f32, u32);

impl PartialEq for Cand {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Cand {}

impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cand {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
    }
}
