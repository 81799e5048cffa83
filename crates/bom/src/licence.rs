//! How a licence is written in CycloneDX 1.6. The schema accepts `{"license": {"id": ...}}` only
//! for ids in its SPDX enumeration, so the id is looked up there (case-insensitively, since SPDX
//! ids are case-insensitive and the hub writes `apache-2.0`) and written in its canonical case.
//! A well-formed SPDX expression goes into `{"expression": ...}`; anything else (hub ids such as
//! `gemma` or `llama3.1`, `other`) becomes a named licence, and an unknown licence is left out.

use std::cmp::Ordering;

use serde_json::{json, Value};

use crate::model::LicenceInfo;
use crate::spdx_ids::SPDX_IDS;
use crate::url::safe_url;

/// Nesting depth past which a parenthesised expression is refused (it is then a named licence).
const MAX_DEPTH: usize = 32;

/// The form a licence takes in the BOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenceForm {
    /// Nothing known: no `licenses` field.
    Unknown,
    /// A listed SPDX id, in canonical case: `{"license": {"id": ...}}`.
    SpdxId(String),
    /// A well-formed SPDX expression, canonically spaced with upper-case operators:
    /// `{"expression": ...}`.
    Expression(String),
    /// Any other licence, by name: `{"license": {"name": ...}}`.
    Named(String),
}

/// Which form `info` takes.
pub fn classify(info: &LicenceInfo) -> LicenceForm {
    let id = info.id.trim();
    if id.is_empty() || id.eq_ignore_ascii_case("unknown") || id.eq_ignore_ascii_case("NOASSERTION")
    {
        return match info.name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => LicenceForm::Named(name.to_string()),
            _ => LicenceForm::Unknown,
        };
    }
    if let Some(canonical) = spdx_id(id) {
        return LicenceForm::SpdxId(canonical.to_string());
    }
    if let Some(expr) = spdx_expression(id) {
        return LicenceForm::Expression(expr);
    }
    let name = match info.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => name,
        _ => id,
    };
    LicenceForm::Named(name.to_string())
}

/// The `licenses` array for `info`, or `None` when the licence is unknown.
pub(crate) fn licenses_json(info: &LicenceInfo) -> Option<Value> {
    let url = info.url.as_deref().and_then(safe_url);
    let licence = match classify(info) {
        LicenceForm::Unknown => return None,
        LicenceForm::Expression(expr) => return Some(json!([{ "expression": expr }])),
        LicenceForm::SpdxId(id) => json!({ "id": id }),
        LicenceForm::Named(name) => json!({ "name": name }),
    };
    let mut licence = licence;
    if let (Some(url), Some(obj)) = (url, licence.as_object_mut()) {
        obj.insert("url".to_string(), Value::String(url.to_string()));
    }
    Some(json!([{ "license": licence }]))
}

/// The canonical spelling of `id` if the schema's SPDX enumeration lists it (ignoring case).
pub fn spdx_id(id: &str) -> Option<&'static str> {
    SPDX_IDS
        .binary_search_by(|probe| cmp_ignore_ascii_case(probe, id))
        .ok()
        .and_then(|i| SPDX_IDS.get(i).copied())
}

/// Compare as if both were ASCII-lowercased (the order the id table is sorted in).
fn cmp_ignore_ascii_case(a: &str, b: &str) -> Ordering {
    let a = a.bytes().map(|c| c.to_ascii_lowercase());
    let b = b.bytes().map(|c| c.to_ascii_lowercase());
    a.cmp(b)
}

/// `text` rewritten canonically if it is a well-formed SPDX licence expression (SPDX 2.3
/// annex D): listed ids (optionally with `+`), `LicenseRef-`/`DocumentRef-...:LicenseRef-`
/// references, `WITH` a listed exception, `AND`, `OR` (upper or lower case), parentheses.
pub fn spdx_expression(text: &str) -> Option<String> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens: &tokens,
        pos: 0,
        out: Vec::new(),
    };
    parser.expr(0)?;
    if parser.pos != tokens.len() {
        return None;
    }
    let mut s = String::new();
    for (i, tok) in parser.out.iter().enumerate() {
        let after_open = i > 0 && parser.out[i - 1] == "(";
        if i > 0 && !after_open && tok != ")" {
            s.push(' ');
        }
        s.push_str(tok);
    }
    Some(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Open,
    Close,
    Word(&'a str),
}

fn tokenize(text: &str) -> Option<Vec<Token<'_>>> {
    let mut tokens = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let boundary = c.is_ascii_whitespace() || c == '(' || c == ')';
        if boundary {
            if let Some(s) = start.take() {
                tokens.push(Token::Word(&text[s..i]));
            }
            match c {
                '(' => tokens.push(Token::Open),
                ')' => tokens.push(Token::Close),
                _ => {}
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        tokens.push(Token::Word(&text[s..]));
    }
    (!tokens.is_empty()).then_some(tokens)
}

/// Recursive descent over `expr := term (OR term)*`, `term := factor (AND factor)*`,
/// `factor := '(' expr ')' | simple [WITH exception]`, writing canonical tokens to `out`.
struct Parser<'t, 'a> {
    tokens: &'t [Token<'a>],
    pos: usize,
    out: Vec<String>,
}

impl Parser<'_, '_> {
    fn peek_operator(&self, op: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(w)) if is_operator(w, op))
    }

    fn expr(&mut self, depth: usize) -> Option<()> {
        self.term(depth)?;
        while self.peek_operator("OR") {
            self.pos += 1;
            self.out.push("OR".to_string());
            self.term(depth)?;
        }
        Some(())
    }

    fn term(&mut self, depth: usize) -> Option<()> {
        self.factor(depth)?;
        while self.peek_operator("AND") {
            self.pos += 1;
            self.out.push("AND".to_string());
            self.factor(depth)?;
        }
        Some(())
    }

    fn factor(&mut self, depth: usize) -> Option<()> {
        match *self.tokens.get(self.pos)? {
            Token::Open => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                self.out.push("(".to_string());
                self.expr(depth + 1)?;
                if self.tokens.get(self.pos) != Some(&Token::Close) {
                    return None;
                }
                self.pos += 1;
                self.out.push(")".to_string());
                Some(())
            }
            Token::Close => None,
            Token::Word(w) => {
                self.out.push(simple(w)?);
                self.pos += 1;
                if self.peek_operator("WITH") {
                    self.pos += 1;
                    let Some(Token::Word(exception)) = self.tokens.get(self.pos) else {
                        return None;
                    };
                    self.out.push("WITH".to_string());
                    self.out.push(spdx_id(exception)?.to_string());
                    self.pos += 1;
                }
                Some(())
            }
        }
    }
}

/// `AND`/`and` etc.: SPDX allows the operators all upper or all lower case.
fn is_operator(word: &str, op: &str) -> bool {
    word == op || word == op.to_ascii_lowercase()
}

/// A simple expression in canonical form: `ID`, `ID+`, `LicenseRef-x`, `DocumentRef-x:LicenseRef-y`.
fn simple(word: &str) -> Option<String> {
    if ["AND", "OR", "WITH"].iter().any(|op| is_operator(word, op)) {
        return None;
    }
    if let Some((doc, lic)) = word.split_once(':') {
        let doc_ok = doc.strip_prefix("DocumentRef-").is_some_and(is_idstring);
        let lic_ok = lic.strip_prefix("LicenseRef-").is_some_and(is_idstring);
        return (doc_ok && lic_ok).then(|| word.to_string());
    }
    if word.strip_prefix("LicenseRef-").is_some_and(is_idstring) {
        return Some(word.to_string());
    }
    if let Some(id) = spdx_id(word) {
        return Some(id.to_string());
    }
    let base = word.strip_suffix('+')?;
    spdx_id(base).map(|id| format!("{id}+"))
}

/// SPDX `idstring`: one or more of letters, digits, `-`, `.`.
fn is_idstring(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> LicenceInfo {
        LicenceInfo {
            id: id.to_string(),
            ..LicenceInfo::default()
        }
    }

    #[test]
    fn table_is_sorted_and_unique_ignoring_case() {
        for pair in SPDX_IDS.windows(2) {
            assert_eq!(
                cmp_ignore_ascii_case(pair[0], pair[1]),
                Ordering::Less,
                "{pair:?}"
            );
        }
        assert_eq!(SPDX_IDS.len(), 811);
    }

    #[test]
    fn ids_found_in_canonical_case() {
        assert_eq!(spdx_id("apache-2.0"), Some("Apache-2.0"));
        assert_eq!(spdx_id("MIT"), Some("MIT"));
        assert_eq!(spdx_id("cc-by-nc-4.0"), Some("CC-BY-NC-4.0"));
        assert_eq!(spdx_id("0bsd"), Some("0BSD"));
        assert_eq!(spdx_id("zpl-2.1"), Some("ZPL-2.1"));
        assert_eq!(spdx_id("gemma"), None);
        assert_eq!(spdx_id("llama3.1"), None);
        assert_eq!(spdx_id(""), None);
    }

    #[test]
    fn expressions() {
        assert_eq!(
            spdx_expression("MIT OR Apache-2.0").unwrap(),
            "MIT OR Apache-2.0"
        );
        assert_eq!(
            spdx_expression("( mit and apache-2.0 )or  gpl-2.0-only with classpath-exception-2.0")
                .unwrap(),
            "(MIT AND Apache-2.0) OR GPL-2.0-only WITH Classpath-exception-2.0"
        );
        assert_eq!(
            spdx_expression("LicenseRef-gemma").unwrap(),
            "LicenseRef-gemma"
        );
        assert_eq!(
            spdx_expression("DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2").unwrap(),
            "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2"
        );
        assert_eq!(spdx_expression("LGPL-2.1+").unwrap(), "LGPL-2.1+");
        assert_eq!(spdx_expression("EPL-1.0+").unwrap(), "EPL-1.0+");
        for bad in [
            "",
            "gemma",
            "MIT OR",
            "OR MIT",
            "MIT Apache-2.0",
            "(MIT",
            "MIT)",
            "()",
            "MIT WITH",
            "MIT WITH gemma",
            "MIT And Apache-2.0",
            "LicenseRef-",
            "LicenseRef-a_b",
            "MIT AND llama3.1",
        ] {
            assert_eq!(spdx_expression(bad), None, "{bad}");
        }
        let deep = format!("{}MIT{}", "(".repeat(40), ")".repeat(40));
        assert_eq!(spdx_expression(&deep), None);
        let ok = format!("{}MIT{}", "(".repeat(5), ")".repeat(5));
        assert_eq!(spdx_expression(&ok).unwrap(), "(((((MIT)))))");
    }

    #[test]
    fn forms() {
        assert_eq!(
            classify(&info("apache-2.0")),
            LicenceForm::SpdxId("Apache-2.0".into())
        );
        assert_eq!(
            classify(&info("MIT OR Apache-2.0")),
            LicenceForm::Expression("MIT OR Apache-2.0".into())
        );
        assert_eq!(classify(&info("gemma")), LicenceForm::Named("gemma".into()));
        assert_eq!(classify(&info("other")), LicenceForm::Named("other".into()));
        assert_eq!(classify(&info("unknown")), LicenceForm::Unknown);
        assert_eq!(classify(&info("  ")), LicenceForm::Unknown);
        let named = LicenceInfo {
            id: "llama3.1".into(),
            name: Some("Llama 3.1 Community License".into()),
            url: None,
        };
        assert_eq!(
            classify(&named),
            LicenceForm::Named("Llama 3.1 Community License".into())
        );
        let only_name = LicenceInfo {
            id: "unknown".into(),
            name: Some("Acme Model Licence".into()),
            url: None,
        };
        assert_eq!(
            classify(&only_name),
            LicenceForm::Named("Acme Model Licence".into())
        );
    }

    #[test]
    fn json_forms() {
        let gemma = LicenceInfo {
            id: "gemma".into(),
            name: Some("Gemma Terms of Use".into()),
            url: Some("https://ai.google.dev/gemma/terms".into()),
        };
        assert_eq!(
            licenses_json(&gemma).unwrap(),
            json!([{"license": {"name": "Gemma Terms of Use", "url": "https://ai.google.dev/gemma/terms"}}])
        );
        assert_eq!(
            licenses_json(&info("APACHE-2.0")).unwrap(),
            json!([{"license": {"id": "Apache-2.0"}}])
        );
        assert_eq!(
            licenses_json(&info("mit or apache-2.0")).unwrap(),
            json!([{"expression": "MIT OR Apache-2.0"}])
        );
        assert_eq!(licenses_json(&info("unknown")), None);
        let bad_url = LicenceInfo {
            id: "MIT".into(),
            name: None,
            url: Some("javascript:alert(1)".into()),
        };
        assert_eq!(
            licenses_json(&bad_url).unwrap(),
            json!([{"license": {"id": "MIT"}}])
        );
    }
}
