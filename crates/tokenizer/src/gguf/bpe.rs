//! Byte-level BPE (`tokenizer.ggml.model = gpt2`): pre-tokenize, then merge adjacent symbols by
//! merge rank, lowest rank first.
//!
//! Reference: llama.cpp `src/llama-vocab.cpp` (`llm_tokenizer_bpe_session::tokenize`). Ties between
//! equal ranks go to the leftmost pair; a symbol that is not a token after merging is emitted as
//! its single-byte tokens (non-ASCII bytes have none and are dropped, as in llama.cpp).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::vocab::Vocab;
use crate::error::Result;

/// A symbol: a byte range of the word, linked to its neighbours.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge; stale when either side changed length since it was queued.
#[derive(PartialEq, Eq)]
struct Bigram {
    rank: u32,
    left: usize,
    right: usize,
    left_len: usize,
    right_len: usize,
}

impl Ord for Bigram {
    /// Max-heap order: the lowest rank, then the leftmost pair, is the greatest.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .rank
            .cmp(&self.rank)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Tokenize one raw-text fragment, appending ids to `out`.
pub(crate) fn tokenize(vocab: &Vocab, text: &str, out: &mut Vec<u32>) -> Result<()> {
    let Some(pre) = &vocab.pre else {
        return Ok(());
    };
    let mut key = String::new();
    let mut symbols: Vec<Symbol> = Vec::new();
    let mut heap = BinaryHeap::new();
    for word in pre.split(text)? {
        symbols.clear();
        heap.clear();
        if vocab.ignore_merges && vocab.text_to_token(&word).is_some() {
            symbols.push(Symbol {
                start: 0,
                len: word.len(),
                prev: None,
                next: None,
            });
        } else {
            let n_chars = word.chars().count();
            for (i, (start, c)) in word.char_indices().enumerate() {
                symbols.push(Symbol {
                    start,
                    len: c.len_utf8(),
                    prev: i.checked_sub(1),
                    next: (i + 1 < n_chars).then_some(i + 1),
                });
            }
        }
        for i in 1..symbols.len() {
            push_bigram(vocab, &word, &symbols, i - 1, i, &mut key, &mut heap);
        }
        while let Some(b) = heap.pop() {
            let (l, r) = (symbols[b.left], symbols[b.right]);
            if l.len == 0 || r.len == 0 || l.len != b.left_len || r.len != b.right_len {
                continue;
            }
            symbols[b.left].len += r.len;
            symbols[b.right].len = 0;
            symbols[b.left].next = r.next;
            if let Some(nx) = r.next {
                symbols[nx].prev = Some(b.left);
            }
            if let Some(pv) = symbols[b.left].prev {
                push_bigram(vocab, &word, &symbols, pv, b.left, &mut key, &mut heap);
            }
            if let Some(nx) = symbols[b.left].next {
                push_bigram(vocab, &word, &symbols, b.left, nx, &mut key, &mut heap);
            }
        }
        for sym in symbols.iter().filter(|s| s.len > 0) {
            let piece = &word[sym.start..sym.start + sym.len];
            match vocab.text_to_token(piece) {
                Some(id) => out.push(id),
                None => {
                    for &b in piece.as_bytes() {
                        if b < 0x80 {
                            if let Some(id) = std::str::from_utf8(&[b])
                                .ok()
                                .and_then(|s| vocab.text_to_token(s))
                            {
                                out.push(id);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn push_bigram(
    vocab: &Vocab,
    word: &str,
    symbols: &[Symbol],
    left: usize,
    right: usize,
    key: &mut String,
    heap: &mut BinaryHeap<Bigram>,
) {
    let (l, r) = (symbols[left], symbols[right]);
    key.clear();
    key.push_str(&word[l.start..l.start + l.len]);
    key.push(' ');
    key.push_str(&word[r.start..r.start + r.len]);
    if let Some(&rank) = vocab.bpe_ranks.get(key.as_str()) {
        heap.push(Bigram {
            rank,
            left,
            right,
            left_len: l.len,
            right_len: r.len,
        });
    }
}
