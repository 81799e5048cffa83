//! Detokenization of GGUF vocabularies: per-token pieces and whole-sequence decoding.
//!
//! Reference: llama.cpp `src/llama-vocab.cpp` (`token_to_piece`, `llama_decode_text`,
//! `detokenize` with its `clean_spaces` passes).

use super::vocab::{attr, Vocab, VocabType};
use crate::error::{Result, TokenizerError};
use crate::unicode::char_to_byte;

impl Vocab {
    /// Render one token with `special = true` (the cache content), appending to `out`.
    pub(crate) fn piece_uncached(&self, id: u32, out: &mut Vec<u8>) {
        let text = self.tokens[id as usize].as_str();
        let a = self.attrs[id as usize];
        if a & (attr::UNKNOWN | attr::CONTROL | attr::USER_DEFINED) != 0 {
            out.extend_from_slice(text.as_bytes());
        } else if a & attr::NORMAL != 0 {
            match self.typ {
                VocabType::Spm | VocabType::Wpm => {
                    out.extend_from_slice(text.replace('\u{2581}', " ").as_bytes())
                }
                VocabType::Bpe => decode_byte_level(text, out),
            }
        } else if a & attr::BYTE != 0 && self.typ != VocabType::Wpm {
            if let Some(b) = text.get(3..5).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
            }
        }
    }

    /// llama.cpp `token_to_piece`: control and unknown tokens render empty unless `special`;
    /// `lstrip` drops one leading space.
    pub(crate) fn token_to_piece(&self, id: u32, lstrip: bool, special: bool) -> Result<&[u8]> {
        let a = *self
            .attrs
            .get(id as usize)
            .ok_or(TokenizerError::TokenOutOfRange {
                id,
                vocab_size: self.n_tokens(),
            })?;
        if !special && a & (attr::UNKNOWN | attr::CONTROL) != 0 {
            return Ok(&[]);
        }
        let piece = self.cached_piece(id);
        Ok(if lstrip && piece.first() == Some(&b' ') {
            &piece[1..]
        } else {
            piece
        })
    }

    /// llama.cpp `detokenize(remove_special, unparse_special)`, returning raw bytes.
    pub(crate) fn detokenize(
        &self,
        ids: &[u32],
        remove_special: bool,
        unparse_special: bool,
    ) -> Result<Vec<u8>> {
        let mut ids = ids;
        let mut remove_space = self.add_space_prefix;
        if remove_special && self.add_bos && !ids.is_empty() && Some(ids[0]) == self.special.bos {
            remove_space = false;
            ids = &ids[1..];
        }
        if remove_special
            && self.add_eos
            && !ids.is_empty()
            && Some(ids[ids.len() - 1]) == self.special.eos
        {
            ids = &ids[..ids.len() - 1];
        }
        let mut text = Vec::new();
        for &id in ids {
            text.extend_from_slice(self.token_to_piece(id, remove_space, unparse_special)?);
            remove_space = false;
        }
        if self.clean_spaces {
            clean_spaces(&mut text);
        }
        Ok(text)
    }
}

/// Byte-level BPE token text back to bytes; chars outside the byte map become llama.cpp's
/// `[UNK_BYTE_0x..]` marker.
fn decode_byte_level(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        match char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(text.as_bytes());
                out.push(b']');
            }
        }
    }
}

/// llama.cpp's three clean-up passes: drop the space before `?!.,`, turn `" ' "` into `"'"`, and
/// drop the space before the contractions `'s 'm 're 've`.
pub(crate) fn clean_spaces(text: &mut Vec<u8>) {
    // Pass 1: " ?", " !", " .", " ,".
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    for (i, &x) in text.iter().enumerate() {
        if i > 0 && text[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            out.pop();
        }
        out.push(x);
    }
    // Pass 2: a single apostrophe between spaces loses both spaces. llama.cpp marks the dropped
    // following space with NUL, which the next comparison sees instead of a space.
    let src = std::mem::take(&mut out);
    let mut prev: Option<u8> = None;
    let mut i = 0;
    while i < src.len() {
        let x = src[i];
        if i > 0 && x == b'\'' && i + 1 < src.len() && prev == Some(b' ') && src[i + 1] == b' ' {
            out.pop();
            out.push(x);
            prev = Some(0);
            i += 2;
            continue;
        }
        out.push(x);
        prev = Some(x);
        i += 1;
    }
    // Pass 3: " 's", " 'm", " 're", " 've" (" 't", " 'd", " 'll" keep their space).
    let src = std::mem::take(&mut out);
    for (i, &x) in src.iter().enumerate() {
        if i > 0 && src[i - 1] == b' ' && x == b'\'' && i + 1 < src.len() {
            let x1 = src[i + 1];
            let drop = match x1 {
                b's' | b'm' => true,
                b'r' | b'v' => i + 2 < src.len() && src[i + 2] == b'e',
                _ => false,
            };
            if drop {
                out.pop();
            }
        }
        out.push(x);
    }
    *text = out;
}

#[cfg(test)]
mod tests {
    use super::clean_spaces;

    fn clean(s: &str) -> String {
        let mut v = s.as_bytes().to_vec();
        clean_spaces(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn clean_spaces_follows_llama_cpp() {
        assert_eq!(clean("Hello , world !"), "Hello, world!");
        assert_eq!(clean("a ' b"), "a'b");
        assert_eq!(clean("it 's I 'm we 're you 've"), "it's I'm we're you've");
        assert_eq!(clean("don 't I 'd we 'll"), "don 't I 'd we 'll");
        assert_eq!(clean(" ,x"), ",x");
        assert_eq!(clean("x '"), "x '");
    }
}
