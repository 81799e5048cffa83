//! Chat-template checks (Jinja, as shipped in GGUF metadata, `tokenizer_config.json`,
//! `chat_template.json` and `chat_template.jinja`).
//!
//! Only the code inside `{{ }}` and `{% %}` is looked at (text outside is literal output).
//! Flagged, with the line: attribute access to dunder or private names (`__class__`,
//! `__globals__`, `__subclasses__`, `__init__`, `__builtins__`, `mro`) in names or strings,
//! `self`, attribute access on the global helpers (`cycler`, `joiner`, `namespace`, `lipsum`,
//! `range`, `dict`), names of host facilities (`os`, `subprocess`, `import`, `eval`, ...),
//! template loading (`include`, `import`, `from`, `extends`), the `attr` filter, and DoS
//! shapes (very long templates, deeply nested loops, huge numeric literals).

use crate::report::{Finding, Severity};

/// Longest template accepted without a warning (real ones are a few KiB to ~40 KiB).
const MAX_LEN: usize = 256 << 10;
/// Loop nesting from which a template is flagged.
const MAX_LOOP_DEPTH: usize = 4;
/// Largest numeric literal accepted without a warning (`range(10**9)`, `'x' * 10**9`).
const MAX_LITERAL: f64 = 1e6;

const HOST_NAMES: [&str; 9] = [
    "os",
    "subprocess",
    "import",
    "eval",
    "exec",
    "compile",
    "globals",
    "builtins",
    "getattr",
];
/// Attributes that only make sense on modules, frames and functions.
const HOST_ATTRS: [&str; 8] = [
    "popen",
    "system",
    "spawn",
    "load_module",
    "f_globals",
    "gi_frame",
    "cr_frame",
    "tb_frame",
];
const GLOBAL_HELPERS: [&str; 6] = ["cycler", "joiner", "namespace", "lipsum", "range", "dict"];
const LOADING: [&str; 4] = ["include", "import", "from", "extends"];

#[derive(Debug, PartialEq)]
enum Tok<'a> {
    Ident(&'a str),
    Str(String),
    Num(f64),
    Punct(u8),
}

/// A Jinja code region: `{{ }}` (expression) or `{% %}` (statement), with its byte offset.
struct Region<'a> {
    statement: bool,
    code: &'a str,
    offset: usize,
}

/// Check `text` (a template from `source`, e.g. "metadata `tokenizer.chat_template`");
/// findings go to `out`.
pub fn check_template(text: &str, source: &str, out: &mut Vec<Finding>) {
    let line_of = |off: usize| text[..off.min(text.len())].matches('\n').count() + 1;
    if text.len() > MAX_LEN {
        out.push(Finding::new(
            Severity::Warning,
            "template.length",
            format!(
                "{source}: chat template is {} bytes (more than {MAX_LEN}); rendering cost grows with it",
                text.len()
            ),
        ));
    }
    let mut depth = 0usize;
    let mut depth_flagged = false;
    for r in regions(text) {
        let toks = tokenize(r.code);
        let line = line_of(r.offset);
        let mut flag = |sev: Severity, code: &str, msg: String| {
            out.push(
                Finding::new(sev, code, format!("{source}, line {line}: {msg}"))
                    .at(r.offset as u64)
                    .on_line(line),
            );
        };
        if r.statement {
            match toks.first() {
                Some(Tok::Ident("for")) => {
                    depth += 1;
                    if depth >= MAX_LOOP_DEPTH && !depth_flagged {
                        depth_flagged = true;
                        flag(
                            Severity::Warning,
                            "template.nested-loops",
                            format!("loops nested {depth} deep (rendering cost is the product of their lengths)"),
                        );
                    }
                }
                Some(Tok::Ident("endfor")) => depth = depth.saturating_sub(1),
                Some(Tok::Ident(w)) if LOADING.contains(w) => flag(
                    Severity::Danger,
                    "template.include",
                    format!("`{{% {w} %}}` loads another template"),
                ),
                _ => {}
            }
        }
        for (k, t) in toks.iter().enumerate() {
            let after_dot = k > 0 && toks[k - 1] == Tok::Punct(b'.');
            let before_dot = toks.get(k + 1) == Some(&Tok::Punct(b'.'));
            match t {
                Tok::Ident(id) if is_dunder(id) => flag(
                    Severity::Danger,
                    "template.dunder",
                    format!("access to `{id}` (Python internals, a sandbox-escape gadget)"),
                ),
                Tok::Ident(id) if after_dot && id.starts_with('_') => flag(
                    Severity::Warning,
                    "template.private-attr",
                    format!("access to private attribute `{id}`"),
                ),
                Tok::Ident("mro") if after_dot => flag(
                    Severity::Danger,
                    "template.dunder",
                    "access to `mro` (class hierarchy walk)".into(),
                ),
                Tok::Ident("self") if !after_dot => flag(
                    Severity::Danger,
                    "template.self",
                    "use of `self` (the template's own context object)".into(),
                ),
                Tok::Ident(id) if !after_dot && before_dot && GLOBAL_HELPERS.contains(id) => {
                    let attr = match toks.get(k + 2) {
                        Some(Tok::Ident(a)) => *a,
                        _ => "?",
                    };
                    flag(
                        Severity::Danger,
                        "template.global-attr",
                        format!("attribute `{attr}` of the global helper `{id}`"),
                    )
                }
                Tok::Ident(id) if HOST_ATTRS.contains(id) && after_dot => flag(
                    Severity::Danger,
                    "template.host-access",
                    format!("attribute `{id}` (of a module, frame or function)"),
                ),
                Tok::Ident(id) if HOST_NAMES.contains(id) && !after_dot => flag(
                    Severity::Danger,
                    "template.host-access",
                    format!("name `{id}` (host facilities are never needed to format a chat)"),
                ),
                Tok::Ident("attr") if k > 0 && toks[k - 1] == Tok::Punct(b'|') => flag(
                    Severity::Warning,
                    "template.attr-filter",
                    "`|attr(...)` filter (reaches attributes by computed name)".into(),
                ),
                Tok::Str(s) if has_dunder(s) => flag(
                    Severity::Danger,
                    "template.dunder",
                    format!("string `{}` names Python internals", s.escape_debug()),
                ),
                Tok::Num(v) if v.abs() > MAX_LITERAL => flag(
                    Severity::Warning,
                    "template.large-literal",
                    format!(
                        "numeric literal {v} (loops or repetition of that size stall rendering)"
                    ),
                ),
                _ => {}
            }
        }
    }
}

/// `__x__`.
fn is_dunder(id: &str) -> bool {
    id.len() > 4 && id.starts_with("__") && id.ends_with("__")
}

/// A `__name__` anywhere in a string.
fn has_dunder(s: &str) -> bool {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w.len() > 4 && w.contains("__") && (w.starts_with("__") || w.ends_with("__")))
}

/// The code regions of a template, skipping comments and `{% raw %}` blocks.
fn regions(text: &str) -> Vec<Region<'_>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_raw = false;
    while i + 1 < b.len() {
        if b[i] != b'{' || !matches!(b[i + 1], b'{' | b'%' | b'#') {
            i += 1;
            continue;
        }
        let close: &[u8] = match b[i + 1] {
            b'{' => b"}}",
            b'%' => b"%}",
            _ => b"#}",
        };
        let start = i + 2;
        let end = find(b, start, close).unwrap_or(b.len());
        let code = text.get(start..end).unwrap_or("");
        let code = code.trim_matches(|c: char| c == '-' || c == '+' || c == '~');
        i = (end + 2).min(b.len());
        if b[start - 1] == b'#' {
            continue;
        }
        let statement = b[start - 1] == b'%';
        let first = code.split_whitespace().next().unwrap_or("");
        if in_raw {
            if statement && first == "endraw" {
                in_raw = false;
            }
            continue;
        }
        if statement && first == "raw" {
            in_raw = true;
            continue;
        }
        out.push(Region {
            statement,
            code,
            offset: start - 2,
        });
    }
    out
}

fn find(hay: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| p + from)
}

/// Identifiers, string literals (escapes undone), numbers and single punctuation bytes.
fn tokenize(code: &str) -> Vec<Tok<'_>> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(&code[s..i]));
        } else if c.is_ascii_digit() {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            let lit: String = code[s..i].chars().filter(|&c| c != '_').collect();
            // `1.2.3` or `0x10` parse as nothing numeric: not a literal worth flagging.
            if let Ok(v) = lit.parse::<f64>() {
                out.push(Tok::Num(v));
            }
        } else if c == b'\'' || c == b'"' {
            let mut s = String::new();
            i += 1;
            let mut chars = code[i..].char_indices();
            let mut consumed = code.len() - i;
            while let Some((k, ch)) = chars.next() {
                if ch == char::from(c) {
                    consumed = k + 1;
                    break;
                }
                if ch == '\\' {
                    if let Some((_, e)) = chars.next() {
                        s.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    }
                    continue;
                }
                s.push(ch);
            }
            i += consumed;
            out.push(Tok::Str(s));
        } else {
            out.push(Tok::Punct(c));
            // Skip the rest of a multi-byte UTF-8 character.
            i += 1;
            while i < b.len() && (b[i] & 0xc0) == 0x80 {
                i += 1;
            }
        }
    }
    out
}
