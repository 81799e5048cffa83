//! Byte-by-byte scanner for the inside of a JSON string (after the opening quote).
//!
//! Validates escapes (`\" \\ \/ \b \f \n \r \t \uXXXX`), refuses raw control characters, and checks
//! UTF-8 one byte at a time (a token may end in the middle of a character; overlong forms and encoded
//! surrogates are refused as their first wrong byte arrives). `\uXXXX` surrogates must come in
//! high-low pairs, because serde_json refuses lone ones; a lone low surrogate is refused at its second
//! hex digit and a high one not followed by `\u` + low surrogate at the first wrong byte, so no accepted
//! prefix is a dead end.
//!
//! The scanner counts code points (for `minLength`/`maxLength`) and can hash the unescaped bytes (for
//! duplicate free keys).

use super::grammar::key_hash_step;

/// Where the scanner is inside an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    /// Not in an escape.
    None,
    /// After `\`.
    Backslash,
    /// After `\u` and `n` hex digits with value `val` so far.
    Hex { n: u8, val: u16 },
    /// After a high surrogate `hi`: `\` must follow.
    LowBackslash { hi: u16 },
    /// After a high surrogate and `\`: `u` must follow.
    LowU { hi: u16 },
    /// Hex digits of the low surrogate.
    LowHex { hi: u16, n: u8, val: u16 },
}

/// What one byte did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// Part of the string's content.
    Content,
    /// The closing quote.
    Close,
    /// Not allowed here.
    Reject,
}

/// State of the scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StrScan {
    esc: Esc,
    /// Continuation bytes still expected for the current UTF-8 character.
    need: u8,
    /// Allowed range of the next continuation byte (narrower than 80..=BF right after some leads).
    lo: u8,
    hi: u8,
    /// Code points so far.
    pub len: u32,
    /// Hash of the unescaped bytes so far (only kept up to date when `hashing`).
    pub hash: u64,
    hashing: bool,
}

impl StrScan {
    /// A scanner right after the opening quote; `hashing` keeps [`Self::hash`] up to date.
    pub fn new(hashing: bool) -> Self {
        Self {
            esc: Esc::None,
            need: 0,
            lo: 0x80,
            hi: 0xBF,
            len: 0,
            hash: super::grammar::KEY_HASH_START,
            hashing,
        }
    }

    /// Feeds one byte. `max` is the most code points allowed; a character that would exceed it is
    /// refused at its first byte. The caller checks `minLength` on [`Scan::Close`].
    pub fn feed(&mut self, b: u8, max: u32) -> Scan {
        match self.esc {
            Esc::None => {}
            Esc::Backslash => {
                let c = match b {
                    b'"' | b'\\' | b'/' => b,
                    b'b' => 0x08,
                    b'f' => 0x0C,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        self.esc = Esc::Hex { n: 0, val: 0 };
                        return Scan::Content;
                    }
                    _ => return Scan::Reject,
                };
                self.esc = Esc::None;
                self.hash_byte(c);
                return Scan::Content;
            }
            Esc::Hex { n, val } => {
                let Some(d) = hex(b) else { return Scan::Reject };
                let val = (val << 4) | d;
                // After two digits the value's top byte is known: DC..DF is a lone low surrogate.
                if n == 1 && (0xDC..=0xDF).contains(&val) {
                    return Scan::Reject;
                }
                if n < 3 {
                    self.esc = Esc::Hex { n: n + 1, val };
                } else if (0xD800..=0xDBFF).contains(&val) {
                    self.esc = Esc::LowBackslash { hi: val };
                } else {
                    self.esc = Esc::None;
                    self.hash_char(u32::from(val));
                }
                return Scan::Content;
            }
            Esc::LowBackslash { hi } => {
                if b != b'\\' {
                    return Scan::Reject;
                }
                self.esc = Esc::LowU { hi };
                return Scan::Content;
            }
            Esc::LowU { hi } => {
                if b != b'u' {
                    return Scan::Reject;
                }
                self.esc = Esc::LowHex { hi, n: 0, val: 0 };
                return Scan::Content;
            }
            Esc::LowHex { hi, n, val } => {
                let Some(d) = hex(b) else { return Scan::Reject };
                let val = (val << 4) | d;
                let ok = match n {
                    0 => val == 0xD,
                    1 => (0xDC..=0xDF).contains(&val),
                    _ => true,
                };
                if !ok {
                    return Scan::Reject;
                }
                if n < 3 {
                    self.esc = Esc::LowHex { hi, n: n + 1, val };
                } else {
                    self.esc = Esc::None;
                    let c = 0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(val) - 0xDC00);
                    self.hash_char(c);
                }
                return Scan::Content;
            }
        }
        if self.need > 0 {
            if b < self.lo || b > self.hi {
                return Scan::Reject;
            }
            self.need -= 1;
            self.lo = 0x80;
            self.hi = 0xBF;
            self.hash_byte(b);
            return Scan::Content;
        }
        // A new character starts.
        if b == b'"' {
            return Scan::Close;
        }
        let (need, lo, hi) = match b {
            0x00..=0x1F => return Scan::Reject,
            0x20..=0x7F => (0, 0x80, 0xBF),
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return Scan::Reject,
        };
        if self.len >= max {
            return Scan::Reject;
        }
        self.len += 1;
        if b == b'\\' {
            self.esc = Esc::Backslash;
            return Scan::Content;
        }
        self.need = need;
        self.lo = lo;
        self.hi = hi;
        self.hash_byte(b);
        Scan::Content
    }

    fn hash_byte(&mut self, b: u8) {
        if self.hashing {
            self.hash = key_hash_step(self.hash, b);
        }
    }

    fn hash_char(&mut self, c: u32) {
        if self.hashing {
            // Escapes decode to scalar values (surrogates were paired above), so this always succeeds.
            if let Some(ch) = char::from_u32(c) {
                let mut buf = [0u8; 4];
                for &b in ch.encode_utf8(&mut buf).as_bytes() {
                    self.hash = key_hash_step(self.hash, b);
                }
            }
        }
    }
}

fn hex(b: u8) -> Option<u16> {
    match b {
        b'0'..=b'9' => Some(u16::from(b - b'0')),
        b'a'..=b'f' => Some(u16::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u16::from(b - b'A' + 10)),
        _ => None,
    }
}
