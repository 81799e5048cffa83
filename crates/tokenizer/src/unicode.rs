//! Unicode helpers shared by the GGUF tokenizers: category flags, UTF-8 lengths, and the GPT-2
//! byte-to-unicode mapping.
//!
//! Reference: llama.cpp `src/unicode.cpp` (`unicode_cpt_flags_from_cpt`, `unicode_len_utf8`,
//! `unicode_byte_to_utf8_map`). The category table itself is generated (`unicode_data.rs`).

use std::sync::OnceLock;

use crate::unicode_data::{CATEGORY_RANGES, WHITESPACE};

/// `\p{N}`.
pub(crate) const FLAG_NUMBER: u8 = 0x01;
/// `\p{L}`.
pub(crate) const FLAG_LETTER: u8 = 0x02;
/// `\p{Z}` (part of the table's bit layout; no splitter tests it on its own).
#[allow(dead_code)]
pub(crate) const FLAG_SEPARATOR: u8 = 0x04;
/// `\p{M}`.
pub(crate) const FLAG_ACCENT_MARK: u8 = 0x08;
/// `\p{P}`.
pub(crate) const FLAG_PUNCTUATION: u8 = 0x10;
/// `\p{S}`.
pub(crate) const FLAG_SYMBOL: u8 = 0x20;
/// `\p{C}`.
pub(crate) const FLAG_CONTROL: u8 = 0x40;

/// Category flags of one codepoint, as llama.cpp's `unicode_cpt_flags`.
///
/// The all-zero value stands for "no codepoint" (a position outside the current piece), which the
/// custom splitters use as a sentinel exactly like llama.cpp's `unicode_cpt_flags{}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CptFlags {
    /// One `FLAG_*` bit (general category).
    pub category: u8,
    /// Matched by `\s`.
    pub whitespace: bool,
}

impl CptFlags {
    pub(crate) fn is_number(self) -> bool {
        self.category & FLAG_NUMBER != 0
    }
    pub(crate) fn is_letter(self) -> bool {
        self.category & FLAG_LETTER != 0
    }
    pub(crate) fn is_accent_mark(self) -> bool {
        self.category & FLAG_ACCENT_MARK != 0
    }
    pub(crate) fn is_punctuation(self) -> bool {
        self.category & FLAG_PUNCTUATION != 0
    }
    pub(crate) fn is_symbol(self) -> bool {
        self.category & FLAG_SYMBOL != 0
    }
    pub(crate) fn is_control(self) -> bool {
        self.category & FLAG_CONTROL != 0
    }
    /// Any flag set at all (llama.cpp `as_uint() != 0`): false only for the sentinel.
    pub(crate) fn any(self) -> bool {
        self.category != 0 || self.whitespace
    }
}

/// Flags of a codepoint.
pub(crate) fn cpt_flags(cpt: char) -> CptFlags {
    let c = cpt as u32;
    let idx = CATEGORY_RANGES.partition_point(|&(start, _)| start <= c);
    let category = if idx == 0 {
        0
    } else {
        CATEGORY_RANGES[idx - 1].1
    };
    CptFlags {
        category,
        whitespace: is_whitespace(cpt),
    }
}

/// `\s` as llama.cpp's table defines it.
pub(crate) fn is_whitespace(cpt: char) -> bool {
    WHITESPACE.binary_search(&(cpt as u32)).is_ok()
}

/// The GPT-2 byte-to-unicode tables: `byte -> char` and `char -> byte`.
struct ByteMap {
    to_char: [char; 256],
    /// Indexed by codepoint; every mapped char is below 0x144.
    to_byte: [Option<u8>; 0x144],
}

fn byte_map() -> &'static ByteMap {
    static MAP: OnceLock<ByteMap> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut to_char = ['\0'; 256];
        let mut to_byte = [None; 0x144];
        let printable = |b: u32| {
            (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
        };
        let mut n = 0u32;
        for b in 0u32..256 {
            let cpt = if printable(b) {
                b
            } else {
                n += 1;
                255 + n
            };
            // Every value is below 0x144, a valid scalar value.
            let ch = char::from_u32(cpt).unwrap_or('\u{FFFD}');
            to_char[b as usize] = ch;
            to_byte[cpt as usize] = Some(b as u8);
        }
        ByteMap { to_char, to_byte }
    })
}

/// GPT-2 byte-level encoding of one byte.
pub(crate) fn byte_to_char(b: u8) -> char {
    byte_map().to_char[b as usize]
}

/// Inverse of [`byte_to_char`]; `None` for chars outside the 256 mapped ones.
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    byte_map().to_byte.get(c as usize).copied().flatten()
}

/// Byte-level encode a string: every UTF-8 byte becomes its GPT-2 char.
pub(crate) fn byte_encode(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        out.push(byte_to_char(b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_matches_gpt2() {
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'\t'), 'ĉ');
        assert_eq!(byte_to_char(b'A'), 'A');
        assert_eq!(byte_to_char(0xAD), 'Ń');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(char_to_byte('€'), None);
    }

    #[test]
    fn flags_follow_llama_cpp_table() {
        assert!(cpt_flags('a').is_letter());
        assert!(cpt_flags('é').is_letter());
        assert!(cpt_flags('7').is_number());
        assert!(cpt_flags('½').is_number());
        assert!(cpt_flags('!').is_punctuation());
        assert!(cpt_flags('~').is_symbol());
        assert!(cpt_flags('\u{301}').is_accent_mark());
        assert!(cpt_flags('\u{0}').is_control());
        let sp = cpt_flags(' ');
        assert!(sp.whitespace && sp.category == FLAG_SEPARATOR);
        assert!(cpt_flags('\u{3000}').whitespace);
        assert!(!cpt_flags('\u{200B}').whitespace);
        assert!(cpt_flags('\u{10FFFF}').any());
        assert!(!CptFlags::default().any());
    }
}
