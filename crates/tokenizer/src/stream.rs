//! Streaming detokenization: feed token ids one at a time, get back only text that is final.
//!
//! Text is held back while it (a) ends inside an incomplete UTF-8 sequence (or, for
//! `tokenizer.json` decoders that already replaced it, ends with U+FFFD), or (b) ends with a space
//! that a space clean-up (llama.cpp `clean_spaces`, WordPiece `cleanup`) could still remove once
//! the next token arrives. Every chunk is cut from a decode of a window of recent ids, so decoder
//! effects that depend on context (a stripped leading space, clean-ups) come out as in a decode of
//! the whole sequence: the concatenation of all chunks plus [`StreamDecoder::finish`] equals
//! [`Tokenizer::decode`] of all ids.
//!
//! The window slides forward (to keep each step O(window)) only when the shorter window decodes
//! to text that ends with everything not yet emitted and still has [`CONTEXT`] bytes before it.

use crate::error::Result;
use crate::Tokenizer;

/// Slide the window once it holds this many ids.
const SLIDE_AT: usize = 64;
/// Ids kept when sliding.
const KEEP: usize = 16;
/// Bytes of already emitted text the new window must still decode before the unemitted tail.
const CONTEXT: usize = 8;
/// What may follow a space that a clean-up removes: llama.cpp `clean_spaces` (`?!.,`, `' `, `'s`,
/// `'m`, `'re`, `'ve`) and the WordPiece decoder's `cleanup` (adds `n't`).
const CLEANED_AFTER_SPACE: &[&[u8]] = &[
    b"?", b"!", b".", b",", b"' ", b"'s", b"'m", b"'re", b"'ve", b"n't",
];

/// Incremental detokenizer created by [`Tokenizer::stream_decoder`].
pub struct StreamDecoder<'a> {
    tok: &'a Tokenizer,
    skip_special: bool,
    /// The current window of ids.
    ids: Vec<u32>,
    /// Decode of `ids`.
    text: Vec<u8>,
    /// Bytes of `text` already returned.
    emitted: usize,
}

impl<'a> StreamDecoder<'a> {
    pub(crate) fn new(tok: &'a Tokenizer, skip_special: bool) -> Self {
        Self {
            tok,
            skip_special,
            ids: Vec::new(),
            text: Vec::new(),
            emitted: 0,
        }
    }

    /// Add one id; returns the text that became final (often empty while a character is split
    /// across tokens). An id outside the vocabulary is an error and is not kept.
    pub fn push(&mut self, id: u32) -> Result<String> {
        self.ids.push(id);
        self.text = match self.tok.decode_bytes(&self.ids, self.skip_special) {
            Ok(text) => text,
            Err(e) => {
                // Forget the bad id so later pushes still work.
                self.ids.pop();
                return Err(e);
            }
        };
        let stable = self.stable_len();
        let out = if stable > self.emitted {
            let s = String::from_utf8_lossy(&self.text[self.emitted..stable]).into_owned();
            self.emitted = stable;
            s
        } else {
            String::new()
        };
        self.maybe_slide()?;
        Ok(out)
    }

    /// Return everything still held back (incomplete UTF-8 becomes U+FFFD) and reset.
    pub fn finish(&mut self) -> String {
        let out = match self.text.get(self.emitted..) {
            Some(rest) => String::from_utf8_lossy(rest).into_owned(),
            None => String::new(),
        };
        self.ids.clear();
        self.text.clear();
        self.emitted = 0;
        out
    }

    /// End of the part of `text` that no further id can change.
    fn stable_len(&self) -> usize {
        let text = &self.text;
        let mut end = text.len();
        // Drop a trailing incomplete UTF-8 sequence (invalid sequences in the middle are final).
        let mut pos = self.emitted.min(end);
        loop {
            match std::str::from_utf8(&text[pos..end]) {
                Ok(_) => break,
                Err(e) => match e.error_len() {
                    Some(n) => pos += e.valid_up_to() + n,
                    None => {
                        end = pos + e.valid_up_to();
                        break;
                    }
                },
            }
        }
        // tokenizer.json decoders turn an incomplete tail into U+FFFD already.
        while end >= 3 && &text[end - 3..end] == "\u{FFFD}".as_bytes() && self.tok.is_hf() {
            end -= 3;
        }
        if self.tok.decode_cleans_spaces() {
            end = hold_cleanable_space(&text[..end]);
        }
        end.max(self.emitted)
    }

    fn maybe_slide(&mut self) -> Result<()> {
        if self.ids.len() < SLIDE_AT {
            return Ok(());
        }
        let q = self.ids.len() - KEEP;
        let tail = self.tok.decode_bytes(&self.ids[q..], self.skip_special)?;
        let unemitted = &self.text[self.emitted.min(self.text.len())..];
        if tail.ends_with(unemitted) && tail.len() >= unemitted.len() + CONTEXT {
            self.emitted = tail.len() - unemitted.len();
            self.ids.drain(..q);
            self.text = tail;
        }
        Ok(())
    }
}

/// Cut `text` before the earliest space whose fate is still open: the text after it is a proper
/// prefix (possibly empty) of something a clean-up removes the space for. Spaces further back are
/// decided, because every clean-up rule looks at most three bytes past the space.
fn hold_cleanable_space(text: &[u8]) -> usize {
    let from = text.len().saturating_sub(4);
    for p in from..text.len() {
        if text[p] == b' ' {
            let after = &text[p + 1..];
            if CLEANED_AFTER_SPACE
                .iter()
                .any(|pat| pat.len() > after.len() && pat.starts_with(after))
            {
                return p;
            }
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::{hold_cleanable_space, SLIDE_AT};
    use crate::{GgufVocab, Tokenizer};

    #[test]
    fn window_stays_bounded_and_output_matches() {
        let tokens = [
            "<unk>",
            "<s>",
            "</s>",
            "\u{2581}",
            "a",
            "\u{2581}a",
            "<0xC3>",
            "<0xA9>",
        ];
        let vocab = GgufVocab {
            model: "llama".into(),
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            token_types: Some(vec![2, 3, 3, 1, 1, 1, 6, 6]),
            ..GgufVocab::default()
        };
        let tok = Tokenizer::from_gguf_vocab(vocab).unwrap();
        let ids: Vec<u32> = (0..1000)
            .flat_map(|i| if i % 7 == 0 { vec![6, 7] } else { vec![5] })
            .collect();
        let mut dec = tok.stream_decoder(false);
        let mut out = String::new();
        for &id in &ids {
            out += &dec.push(id).unwrap();
            assert!(
                dec.ids.len() <= SLIDE_AT,
                "window grew to {}",
                dec.ids.len()
            );
        }
        out += &dec.finish();
        assert_eq!(out, tok.decode(&ids, false).unwrap());
        assert!(out.starts_with("é a a a a a aé a"), "{out:.20}");
    }

    #[test]
    fn only_undecided_spaces_are_held() {
        assert_eq!(hold_cleanable_space(b" this"), 5);
        assert_eq!(hold_cleanable_space(b"word "), 4);
        assert_eq!(hold_cleanable_space(b"word '"), 4);
        assert_eq!(hold_cleanable_space(b"word 'r"), 4);
        assert_eq!(hold_cleanable_space(b"word 're"), 8);
        assert_eq!(hold_cleanable_space(b"do n'"), 2);
        assert_eq!(hold_cleanable_space(b"a 'x"), 4);
        assert_eq!(hold_cleanable_space(b""), 0);
    }
}
