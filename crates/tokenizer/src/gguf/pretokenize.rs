//! Pre-tokenization for byte-level BPE vocabularies: split text into words with a chain of
//! regexes, then byte-level encode every word.
//!
//! Reference: llama.cpp `src/unicode.cpp` (`unicode_regex_split` and the custom GPT-2 / LLaMA-3
//! splitters). The behaviour follows llama.cpp rather than the original Python regexes:
//! - the regexes run one after another, each on the pieces the previous one produced; both the
//!   matches and the text between them become pieces;
//! - the GPT-2 and LLaMA-3 patterns use hand-written splitters (identical results, no regex);
//! - any other pattern that uses `\p{..}` runs on a "collapsed" text in which every non-ASCII
//!   codepoint is replaced by one representative char of its category (and `\p{..}` in the pattern
//!   by that char plus the ASCII members llama.cpp lists), so quirks such as `~` not being `\p{S}`
//!   carry over; patterns without categories run on the text with non-ASCII whitespace replaced by
//!   U+000B, as llama.cpp's `std::wregex` path does.

use fancy_regex::Regex;

use crate::error::{Result, TokenizerError};
use crate::unicode::{
    byte_encode, cpt_flags, CptFlags, FLAG_ACCENT_MARK, FLAG_LETTER, FLAG_NUMBER, FLAG_PUNCTUATION,
    FLAG_SYMBOL,
};

/// The GPT-2 pattern; llama.cpp replaces it with a hand-written splitter.
pub(crate) const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// The LLaMA-3 pattern (case-insensitive contractions spelled out); hand-written splitter too.
pub(crate) const LLAMA3_PATTERN: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// The original LLaMA-3 pattern with `(?i:..)`, also routed to the hand-written splitter.
const LLAMA3_PATTERN_CI: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Category names llama.cpp collapses, with the flag each stands for.
const CATEGORIES: &[(&str, u8)] = &[
    (r"\p{N}", FLAG_NUMBER),
    (r"\p{L}", FLAG_LETTER),
    (r"\p{P}", FLAG_PUNCTUATION),
    (r"\p{M}", FLAG_ACCENT_MARK),
    (r"\p{S}", FLAG_SYMBOL),
    (r"\p{Lu}", FLAG_LETTER),
    (r"\p{Ll}", FLAG_LETTER),
    (r"\p{Lt}", FLAG_LETTER),
    (r"\p{Lm}", FLAG_LETTER),
    (r"\p{Lo}", FLAG_LETTER),
];

/// Representative char of a category in the collapsed text (llama.cpp uses bytes 0xD0..0xD5).
fn category_char(flag: u8) -> char {
    match flag {
        FLAG_NUMBER => '\u{D1}',
        FLAG_LETTER => '\u{D2}',
        FLAG_PUNCTUATION => '\u{D3}',
        FLAG_ACCENT_MARK => '\u{D4}',
        FLAG_SYMBOL => '\u{D5}',
        _ => '\u{D0}',
    }
}

/// The ASCII members llama.cpp adds next to a category's representative char.
fn category_ascii(flag: u8) -> &'static str {
    match flag {
        FLAG_NUMBER => "0-9",
        FLAG_LETTER => "A-Za-z",
        FLAG_PUNCTUATION => r"!-#%-*,-/:-;?-@\[-\]_\{\}",
        FLAG_SYMBOL => r"\$\+<->\^`\|",
        _ => "",
    }
}

/// One stage of the split chain.
enum Stage {
    Gpt2,
    Llama3,
    Regex { re: Regex, collapsed: bool },
}

/// A compiled pre-tokenizer: the regex chain plus whether words are byte-level encoded.
pub(crate) struct PreTokenizer {
    stages: Vec<Stage>,
    byte_encode: bool,
}

impl PreTokenizer {
    /// Compile a chain of patterns, written as in llama.cpp's `llm_tokenizer_bpe`.
    pub(crate) fn new(patterns: &[&str], byte_encode: bool) -> Result<Self> {
        let mut stages = Vec::with_capacity(patterns.len());
        for &p in patterns {
            let stage = if p == GPT2_PATTERN {
                Stage::Gpt2
            } else if p == LLAMA3_PATTERN || p == LLAMA3_PATTERN_CI {
                Stage::Llama3
            } else {
                let collapsed = CATEGORIES.iter().any(|(name, _)| p.contains(name));
                let source = if collapsed {
                    collapse_pattern(p)
                } else {
                    p.to_string()
                };
                let re = Regex::new(&source).map_err(|e| TokenizerError::Regex {
                    pattern: source.clone(),
                    message: e.to_string(),
                })?;
                Stage::Regex { re, collapsed }
            };
            stages.push(stage);
        }
        Ok(Self {
            stages,
            byte_encode,
        })
    }

    /// Split `text` into words (byte-level encoded when the vocabulary is byte-level).
    pub(crate) fn split(&self, text: &str) -> Result<Vec<String>> {
        let cpts: Vec<char> = text.chars().collect();
        let mut offsets = vec![cpts.len()];
        let mut collapsed: Option<Vec<char>> = None;
        let mut wide: Option<Vec<char>> = None;
        for stage in &self.stages {
            offsets = match stage {
                Stage::Gpt2 => split_gpt2(&cpts, &offsets),
                Stage::Llama3 => split_llama3(&cpts, &offsets),
                Stage::Regex {
                    re,
                    collapsed: true,
                } => {
                    let view = collapsed.get_or_insert_with(|| collapse_text(&cpts));
                    split_regex(re, view, &offsets)?
                }
                Stage::Regex {
                    re,
                    collapsed: false,
                } => {
                    let view = wide.get_or_insert_with(|| widen_text(&cpts));
                    split_regex(re, view, &offsets)?
                }
            };
        }
        let mut words = Vec::with_capacity(offsets.len());
        let mut start = 0;
        for len in offsets {
            let word: String = cpts[start..start + len].iter().collect();
            start += len;
            if self.byte_encode {
                let mut enc = String::with_capacity(word.len() * 2);
                byte_encode(&word, &mut enc);
                words.push(enc);
            } else {
                words.push(word);
            }
        }
        Ok(words)
    }
}

/// llama.cpp's collapsed text: ASCII stays, non-ASCII whitespace becomes U+000B, everything else
/// becomes its category's representative char.
fn collapse_text(cpts: &[char]) -> Vec<char> {
    cpts.iter()
        .map(|&c| {
            if (c as u32) < 128 {
                c
            } else {
                let f = cpt_flags(c);
                if f.whitespace {
                    '\u{0B}'
                } else {
                    category_char(f.category)
                }
            }
        })
        .collect()
}

/// Text for category-free patterns: non-ASCII whitespace becomes U+000B.
fn widen_text(cpts: &[char]) -> Vec<char> {
    cpts.iter()
        .map(|&c| {
            if (c as u32) > 0x7F && cpt_flags(c).whitespace {
                '\u{0B}'
            } else {
                c
            }
        })
        .collect()
}

/// Rewrite `\p{..}` categories the way llama.cpp does: `[rep ascii]`, or `rep ascii` inside `[..]`.
fn collapse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 32);
    let mut inside = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '[' && (i == 0 || chars[i - 1] != '\\') {
            out.push('[');
            inside = true;
            i += 1;
            continue;
        }
        if inside && c == ']' && chars[i - 1] != '\\' {
            out.push(']');
            inside = false;
            i += 1;
            continue;
        }
        if c == '\\' && i + 3 < chars.len() && chars[i + 1] == 'p' && chars[i + 2] == '{' {
            if let Some(close) = chars[i + 3..]
                .iter()
                .position(|&x| x == '}')
                .map(|p| p + i + 3)
            {
                let name: String = chars[i..=close].iter().collect();
                if close <= i + 10 {
                    if let Some(&(_, flag)) = CATEGORIES.iter().find(|(n, _)| *n == name) {
                        if !inside {
                            out.push('[');
                        }
                        out.push(category_char(flag));
                        out.push_str(category_ascii(flag));
                        if !inside {
                            out.push(']');
                        }
                        i = close + 1;
                        continue;
                    }
                }
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Run a regex over every piece: matches and the gaps between them become pieces.
fn split_regex(re: &Regex, view: &[char], offsets: &[usize]) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(offsets.len());
    let mut start = 0;
    let mut piece = String::new();
    let mut char_at_byte: Vec<usize> = Vec::new();
    for &len in offsets {
        piece.clear();
        char_at_byte.clear();
        for (i, &c) in view[start..start + len].iter().enumerate() {
            for _ in 0..c.len_utf8() {
                char_at_byte.push(i);
            }
            piece.push(c);
        }
        char_at_byte.push(len);
        let mut last = 0usize;
        for m in re.find_iter(&piece) {
            let m = m.map_err(|e| TokenizerError::Regex {
                pattern: re.as_str().to_string(),
                message: e.to_string(),
            })?;
            let (ms, me) = (char_at_byte[m.start()], char_at_byte[m.end()]);
            if ms > last {
                out.push(ms - last);
            }
            if me > ms {
                out.push(me - ms);
            }
            last = me;
        }
        if last < len {
            out.push(len - last);
        }
        start += len;
    }
    Ok(out)
}

/// Positions of one piece: `cpt(pos)`/`flags(pos)` return the sentinel outside `[ini, end)`.
struct Piece<'a> {
    cpts: &'a [char],
    ini: usize,
    end: usize,
}

impl Piece<'_> {
    fn cpt(&self, pos: usize) -> Option<char> {
        (self.ini <= pos && pos < self.end).then(|| self.cpts[pos])
    }
    fn flags(&self, pos: usize) -> CptFlags {
        self.cpt(pos).map(cpt_flags).unwrap_or_default()
    }
    /// Count whitespace from `pos`; also the end of the last `\r`/`\n` among them (0 if none).
    fn whitespace_run(&self, pos: usize) -> (usize, usize) {
        let (mut n, mut last_rn) = (0, 0);
        while self.flags(pos + n).whitespace {
            if matches!(self.cpt(pos + n), Some('\r' | '\n')) {
                last_rn = pos + n + 1;
            }
            n += 1;
        }
        (n, last_rn)
    }
}

fn is_contraction_1(c: Option<char>) -> bool {
    matches!(c, Some('s' | 't' | 'm' | 'd'))
}

fn is_contraction_2(a: Option<char>, b: Option<char>) -> bool {
    matches!(
        (a, b),
        (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l'))
    )
}

fn lower(c: Option<char>) -> Option<char> {
    c.map(|c| c.to_lowercase().next().unwrap_or(c))
}

/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
fn split_gpt2(cpts: &[char], offsets: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len());
    let mut start = 0;
    for &len in offsets {
        let p = Piece {
            cpts,
            ini: start,
            end: start + len,
        };
        start += len;
        let mut pos = p.ini;
        while pos < p.end {
            let from = pos;
            let cpt = cpts[pos];
            let flags = p.flags(pos);
            if cpt == '\'' && pos + 1 < p.end {
                let next = p.cpt(pos + 1);
                if is_contraction_1(next) {
                    pos += 2;
                } else if pos + 2 < p.end && is_contraction_2(next, p.cpt(pos + 2)) {
                    pos += 3;
                }
                if pos != from {
                    out.push(pos - from);
                    continue;
                }
            }
            let space = usize::from(cpt == ' ');
            let mut f2 = if cpt == ' ' { p.flags(pos + 1) } else { flags };
            if f2.is_letter() {
                pos += space;
                while f2.is_letter() {
                    pos += 1;
                    f2 = p.flags(pos);
                }
            } else if f2.is_number() {
                pos += space;
                while f2.is_number() {
                    pos += 1;
                    f2 = p.flags(pos);
                }
            } else if !(f2.whitespace || f2.is_letter() || f2.is_number()) && f2.any() {
                pos += space;
                while !(f2.whitespace || f2.is_letter() || f2.is_number()) && f2.any() {
                    pos += 1;
                    f2 = p.flags(pos);
                }
            } else {
                let (n_ws, _) = p.whitespace_run(pos);
                if n_ws > 1 && p.cpt(pos + n_ws).is_some() {
                    pos += n_ws - 1; // \s+(?!\S): leave the last space to the next word
                } else if n_ws > 0 {
                    pos += n_ws;
                } else {
                    pos += 1;
                }
            }
            if pos > from {
                out.push(pos - from);
            }
        }
    }
    out
}

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
fn split_llama3(cpts: &[char], offsets: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len());
    let mut start = 0;
    for &len in offsets {
        let p = Piece {
            cpts,
            ini: start,
            end: start + len,
        };
        start += len;
        let mut pos = p.ini;
        while pos < p.end {
            let from = pos;
            let cpt = cpts[pos];
            let flags = p.flags(pos);
            if cpt == '\'' && pos + 1 < p.end {
                let next = lower(p.cpt(pos + 1));
                if is_contraction_1(next) {
                    pos += 2;
                } else if pos + 2 < p.end && is_contraction_2(next, lower(p.cpt(pos + 2))) {
                    pos += 3;
                }
                if pos != from {
                    out.push(pos - from);
                    continue;
                }
            }
            if !(cpt == '\r' || cpt == '\n' || flags.is_number())
                && (flags.is_letter() || p.flags(pos + 1).is_letter())
            {
                pos += 1;
                while p.flags(pos).is_letter() {
                    pos += 1;
                }
                out.push(pos - from);
                continue;
            }
            if flags.is_number() {
                let mut ini = pos;
                while p.flags(pos).is_number() {
                    pos += 1;
                    if pos - ini >= 3 {
                        out.push(pos - ini);
                        ini = pos;
                    }
                }
                if pos > ini {
                    out.push(pos - ini);
                }
                continue;
            }
            let mut f2 = if cpt == ' ' { p.flags(pos + 1) } else { flags };
            // llama.cpp tests `flags` (not `f2`) for "any" here, so a lone trailing space enters.
            if !(f2.whitespace || f2.is_letter() || f2.is_number()) && flags.any() {
                pos += usize::from(cpt == ' ');
                while !(f2.whitespace || f2.is_letter() || f2.is_number()) && f2.any() {
                    pos += 1;
                    f2 = p.flags(pos);
                }
                while matches!(p.cpt(pos), Some('\r' | '\n')) {
                    pos += 1;
                }
            } else {
                let (n_ws, last_rn) = p.whitespace_run(pos);
                if last_rn > 0 {
                    pos = last_rn;
                } else if n_ws > 1 && p.cpt(pos + n_ws).is_some() {
                    pos += n_ws - 1;
                } else if n_ws > 0 {
                    pos += n_ws;
                } else {
                    pos += 1;
                }
            }
            if pos > from {
                out.push(pos - from);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(patterns: &[&str], text: &str) -> Vec<String> {
        PreTokenizer::new(patterns, false)
            .unwrap()
            .split(text)
            .unwrap()
    }

    #[test]
    fn gpt2_splitter_matches_the_regex_semantics() {
        assert_eq!(
            words(&[GPT2_PATTERN], "Hello world's  3.14 !!x"),
            ["Hello", " world", "'s", " ", " 3", ".", "14", " !!", "x"]
        );
        assert_eq!(words(&[GPT2_PATTERN], "a   \n"), ["a", "   \n"]);
    }

    #[test]
    fn llama3_splitter_groups_digits_by_three_and_newlines() {
        assert_eq!(
            words(&[LLAMA3_PATTERN], "x 1234567 I'M\n\n  y"),
            ["x", " ", "123", "456", "7", " I", "'M", "\n\n", " ", " y"]
        );
    }

    #[test]
    fn collapsed_pattern_rewrites_categories() {
        assert_eq!(collapse_pattern(r"\p{N}"), "[\u{D1}0-9]");
        assert_eq!(collapse_pattern(r"[^\s\p{L}]"), "[^\\s\u{D2}A-Za-z]");
    }

    #[test]
    fn generic_regex_stage_keeps_gaps_as_pieces() {
        // starcoder: digits split one by one before the GPT-2 pattern.
        assert_eq!(
            words(&[r"\p{N}", GPT2_PATTERN], "ab12 c"),
            ["ab", "1", "2", " c"]
        );
        // qwen2-style pattern on non-ASCII letters goes through the collapsed text.
        let qwen = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
        assert_eq!(
            words(&[qwen], "Äpfel 12 ~~"),
            ["Äpfel", " ", "1", "2", " ~~"]
        );
    }

    #[test]
    fn byte_encoding_maps_every_byte() {
        let w = PreTokenizer::new(&[GPT2_PATTERN], true)
            .unwrap()
            .split(" é")
            .unwrap();
        assert_eq!(w, ["ĠÃ©"]);
    }
}
