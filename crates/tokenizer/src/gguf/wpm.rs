//! WordPiece (`tokenizer.ggml.model = bert`): BERT-style normalization and splitting, then
//! greedy longest-match of each word against the vocabulary.
//!
//! Reference: llama.cpp `src/llama-vocab.cpp` (`llm_tokenizer_wpm_session`). GGUF BERT vocabularies
//! store word-initial pieces with a `▁` prefix and continuation pieces without the `##`, so each
//! word is matched as `▁word`. A word that cannot be fully matched becomes the unknown token.
//! Accent stripping maps every codepoint to the first codepoint of its NFD form, as llama.cpp.

use unicode_normalization::char::decompose_canonical;

use super::vocab::Vocab;
use crate::unicode::cpt_flags;

/// Tokenize one raw-text fragment, appending ids to `out`.
pub(crate) fn tokenize(vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
    for word in preprocess(vocab, text) {
        if word.is_empty() {
            continue;
        }
        let word1 = format!("\u{2581}{word}");
        let bytes = word1.as_bytes();
        let n = bytes.len();
        let before = out.len();
        let mut i = 0;
        while i < n {
            let mut matched = None;
            let mut j = n.min(i + vocab.max_token_len + 1);
            while j > i {
                if let Some(id) = std::str::from_utf8(&bytes[i..j])
                    .ok()
                    .and_then(|s| vocab.text_to_token(s))
                {
                    matched = Some((id, j));
                    break;
                }
                j -= 1;
            }
            match matched {
                Some((id, end)) => {
                    out.push(id);
                    i = end;
                }
                None => {
                    out.truncate(before);
                    break;
                }
            }
        }
        if out.len() == before {
            out.extend(vocab.special.unk);
        }
    }
}

/// Lowercase / strip accents, drop control characters, split on whitespace, and make every
/// punctuation mark, ASCII symbol and CJK ideograph a word of its own.
fn preprocess(vocab: &Vocab, text: &str) -> Vec<String> {
    let mut words = vec![String::new()];
    for c in text.chars() {
        let c = if vocab.strip_accents { first_nfd(c) } else { c };
        let flags = cpt_flags(c);
        if flags.whitespace {
            if !words.last().is_some_and(String::is_empty) {
                words.push(String::new());
            }
            continue;
        }
        if c == '\0' || c == '\u{FFFD}' || flags.is_control() {
            continue;
        }
        if vocab.strip_accents && flags.is_accent_mark() {
            continue;
        }
        let lc = if vocab.lowercase {
            c.to_lowercase().next().unwrap_or(c)
        } else {
            c
        };
        if flags.is_punctuation()
            || ((c as u32) < 0x7F && flags.is_symbol())
            || is_chinese_char(c as u32)
        {
            if !words.last().is_some_and(String::is_empty) {
                words.push(String::new());
            }
            if let Some(w) = words.last_mut() {
                w.push(lc);
            }
            words.push(String::new());
        } else if let Some(w) = words.last_mut() {
            w.push(lc);
        }
    }
    if words.last().is_some_and(String::is_empty) {
        words.pop();
    }
    words
}

/// First codepoint of the canonical decomposition (llama.cpp `unicode_cpts_normalize_nfd`).
fn first_nfd(c: char) -> char {
    let mut first = None;
    decompose_canonical(c, |d| {
        if first.is_none() {
            first = Some(d);
        }
    });
    first.unwrap_or(c)
}

/// CJK ideograph ranges as llama.cpp (and HF's BERT) define them.
fn is_chinese_char(c: u32) -> bool {
    (0x4E00..=0x9FFF).contains(&c)
        || (0x3400..=0x4DBF).contains(&c)
        || (0x20000..=0x2A6DF).contains(&c)
        || (0x2A700..=0x2B73F).contains(&c)
        || (0x2B740..=0x2B81F).contains(&c)
        || (0x2B920..=0x2CEAF).contains(&c)
        || (0xF900..=0xFAFF).contains(&c)
        || (0x2F800..=0x2FA1F).contains(&c)
}
