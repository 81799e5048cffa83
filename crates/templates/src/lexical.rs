//! Lexical normalisation of a chat template's source, as jinja2's lexer sees it.
//!
//! * Newlines: jinja2 turns every `\r\n` and `\r` in the source into `\n` (its `newline_re`), so
//!   a template saved with CRLF line endings still renders `\n`.
//! * String literals: jinja2 decodes them with Python's `unicode-escape` codec (`\x41`, `\101`,
//!   `\u00e9`, `\U0001F600`, `\a`, `\v`, backslash-newline; unknown escapes such as `\d` stay
//!   as written), which differs from minijinja's JSON-like unescaping (`\/`, `\U`, octal above
//!   255). Every literal with a backslash is decoded here the Python way and re-written in a form
//!   minijinja reads back verbatim. `\N{NAME}` escapes are refused.
//! * transformers' `{% generation %}...{% endgeneration %}` tag (its `AssistantTracker` extension, a
//!   call block that renders its body unchanged) becomes `{% call __allmende_generation() %}...
//!   {% endcall %}`, which has the same scoping and output.
//!
//! Tokens are found with minijinja's own tokenizer, so text, comments and raw blocks are untouched.
//! Reference: jinja2 `lexer.py` (`newline_re`, `tokeniter`, string handling); CPython
//! `Objects/unicodeobject.c` (`_PyUnicode_DecodeUnicodeEscapeInternal`).

use minijinja::machinery::{tokenize, Span, Token};

use crate::rewrite::{splice, syntax, ws, Edit, GENERATION_FN};
use crate::TemplateError;

/// Applies all lexical normalisations.
pub(crate) fn prepare_source(source: &str) -> Result<String, TemplateError> {
    let source = source.replace("\r\n", "\n").replace('\r', "\n");
    let tokens: Vec<(Token<'_>, Span)> = tokenize(&source, false, syntax(), ws())
        .collect::<Result<_, _>>()
        .map_err(|e| TemplateError::Syntax(e.to_string()))?;
    let mut edits = Vec::new();
    for (i, (token, span)) in tokens.iter().enumerate() {
        let (start, end) = (span.start_offset as usize, span.end_offset as usize);
        match token {
            Token::Str(_) | Token::String(_) => {
                let raw = &source[start..end];
                if raw.len() >= 2 && raw[1..raw.len() - 1].contains('\\') {
                    let value = python_unescape(&raw[1..raw.len() - 1])
                        .map_err(TemplateError::Unsupported)?;
                    edits.push(Edit {
                        start,
                        end,
                        text: quote(&value),
                    });
                }
            }
            Token::Ident(name @ ("generation" | "endgeneration"))
                if matches!(tokens.get(i.wrapping_sub(1)), Some((Token::BlockStart, _)))
                    && matches!(tokens.get(i + 1), Some((Token::BlockEnd, _))) =>
            {
                let text = if *name == "generation" {
                    format!("call {GENERATION_FN}()")
                } else {
                    "endcall".to_string()
                };
                edits.push(Edit { start, end, text });
            }
            _ => {}
        }
    }
    Ok(splice(&source, 0, source.len(), edits))
}

/// A double-quoted literal that minijinja unescapes to exactly `value`.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn hex_escape(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    n: usize,
    what: &str,
) -> Result<char, String> {
    let digits: String = (0..n)
        .filter_map(|_| chars.next_if(char::is_ascii_hexdigit))
        .collect();
    if digits.len() != n {
        return Err(format!("truncated \\{what} escape in a string literal"));
    }
    let cp = u32::from_str_radix(&digits, 16).map_err(|e| e.to_string())?;
    char::from_u32(cp).ok_or_else(|| {
        format!("string literal escape \\{what}{digits} is not a Unicode scalar value")
    })
}

/// jinja2's decoding of a string literal's body:
/// `body.encode("ascii", "backslashreplace").decode("unicode-escape")`.
pub(crate) fn python_unescape(body: &str) -> Result<String, String> {
    // backslashreplace: non-ASCII characters become escapes first (so `\é` decodes to `\xe9`).
    let mut ascii = String::with_capacity(body.len());
    for c in body.chars() {
        match c as u32 {
            0..=0x7f => ascii.push(c),
            cp @ 0x80..=0xff => ascii.push_str(&format!("\\x{cp:02x}")),
            cp @ 0x100..=0xffff => ascii.push_str(&format!("\\u{cp:04x}")),
            cp => ascii.push_str(&format!("\\U{cp:08x}")),
        }
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = ascii.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(d) = chars.next() else {
            return Err("string literal ends with a lone backslash".into());
        };
        match d {
            '\n' => {}
            '\\' | '\'' | '"' => out.push(d),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '0'..='7' => {
                let mut v = d.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(x) => {
                            v = v * 8 + x;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v).ok_or("octal escape out of range")?);
            }
            'x' => out.push(hex_escape(&mut chars, 2, "x")?),
            'u' => out.push(hex_escape(&mut chars, 4, "u")?),
            'U' => out.push(hex_escape(&mut chars, 8, "U")?),
            'N' => return Err("\\N{...} escapes in string literals are not implemented".into()),
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_like_python() {
        assert_eq!(
            python_unescape(r"\x41\d\s\101\u00e9\U0001F600\/\a").unwrap(),
            "A\\d\\sAé😀\\/\u{7}"
        );
        assert_eq!(python_unescape("a\\\nb").unwrap(), "ab");
        assert!(python_unescape(r"\x4").is_err());
        assert_eq!(python_unescape("é\\é").unwrap(), "é\\xe9");
        assert!(python_unescape(r"\N{BULLET}").is_err());
    }

    #[test]
    fn normalises_source() {
        assert_eq!(
            prepare_source("a\r\nb\r{{ 'x\\ty' }}").unwrap(),
            "a\nb\n{{ \"x\ty\" }}"
        );
        assert_eq!(
            prepare_source("{%- generation -%}x{% endgeneration %}{{ 'generation' }}").unwrap(),
            "{%- call __allmende_generation() -%}x{% endcall %}{{ 'generation' }}"
        );
    }
}
