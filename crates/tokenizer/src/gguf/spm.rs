//! SentencePiece BPE (`tokenizer.ggml.model = llama`): start from UTF-8 characters and keep
//! merging the adjacent pair whose concatenation is the highest-scoring token.
//!
//! Reference: llama.cpp `src/llama-vocab.cpp` (`llm_tokenizer_spm_session`). Ties between equal
//! scores go to the leftmost pair. A final symbol that is not a token is emitted as byte tokens
//! (`<0xXX>`). llama.cpp's `rev_merge` re-segmentation only triggers for symbols that are not
//! tokens, and every merged symbol is a token, so it reduces to this byte fallback for valid UTF-8.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::vocab::Vocab;
use crate::error::Result;

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bigram {}

impl Ord for Bigram {
    /// Max-heap order: the highest score, then the leftmost pair, is the greatest.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .partial_cmp(&other.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Tokenize whitespace-escaped text (spaces already replaced by `▁`), appending ids to `out`.
pub(crate) fn tokenize(vocab: &Vocab, text: &str, out: &mut Vec<u32>) -> Result<()> {
    let n_chars = text.chars().count();
    let mut symbols: Vec<Symbol> = text
        .char_indices()
        .enumerate()
        .map(|(i, (start, c))| Symbol {
            start,
            len: c.len_utf8(),
            prev: i.checked_sub(1),
            next: (i + 1 < n_chars).then_some(i + 1),
        })
        .collect();
    let mut heap = BinaryHeap::new();
    for i in 1..symbols.len() {
        push_bigram(vocab, text, &symbols, i - 1, i, &mut heap);
    }
    while let Some(b) = heap.pop() {
        let (l, r) = (symbols[b.left], symbols[b.right]);
        if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
            continue;
        }
        symbols[b.left].len += r.len;
        symbols[b.right].len = 0;
        symbols[b.left].next = r.next;
        if let Some(nx) = r.next {
            symbols[nx].prev = Some(b.left);
        }
        if let Some(pv) = symbols[b.left].prev {
            push_bigram(vocab, text, &symbols, pv, b.left, &mut heap);
        }
        if let Some(nx) = symbols[b.left].next {
            push_bigram(vocab, text, &symbols, b.left, nx, &mut heap);
        }
    }
    let mut i = if symbols.is_empty() { None } else { Some(0) };
    while let Some(idx) = i {
        let sym = symbols[idx];
        let piece = &text[sym.start..sym.start + sym.len];
        match vocab.text_to_token(piece) {
            Some(id) => out.push(id),
            None => {
                for &b in piece.as_bytes() {
                    out.push(vocab.byte_to_token(b)?);
                }
            }
        }
        i = sym.next;
    }
    Ok(())
}

fn push_bigram(
    vocab: &Vocab,
    text: &str,
    symbols: &[Symbol],
    left: usize,
    right: usize,
    heap: &mut BinaryHeap<Bigram>,
) {
    let (l, r) = (symbols[left], symbols[right]);
    let size = l.len + r.len;
    let Some(id) = vocab.text_to_token(&text[l.start..l.start + size]) else {
        return;
    };
    heap.push(Bigram {
        score: vocab.scores[id as usize],
        left,
        right,
        size,
    });
}
