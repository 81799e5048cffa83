//! SPDX licence expressions: `MIT`, `Apache-2.0 OR MIT`, `(MIT AND BSD-3-Clause)`,
//! `GPL-2.0-or-later WITH Classpath-exception-2.0`, `GPL-2.0+`. Precedence is SPDX's:
//! `WITH` binds tightest, then `AND`, then `OR`. Operators are accepted in any case (the hub and
//! model cards are not strict about it) and `/` is read as `OR` (an old Cargo habit).
//! Known ids are rewritten to their canonical spelling; unknown ids are kept as written.

use std::fmt;

use crate::table::canonical_id;

/// Longest expression parsed; anything longer is not a licence expression.
pub const MAX_EXPRESSION_LEN: usize = 1024;
/// Deepest parenthesis nesting accepted (recursion bound for hostile input).
const MAX_DEPTH: usize = 32;

/// A parsed licence expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// One licence id, optionally with an exception (`X WITH Y`).
    Id {
        /// The licence id, canonical if known.
        id: String,
        /// The exception id after `WITH`, if any.
        exception: Option<String>,
    },
    /// All of these apply.
    And(Vec<Expr>),
    /// The licensee may choose any one of these.
    Or(Vec<Expr>),
}

/// Why a string is not a licence expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// Nothing to parse.
    #[error("empty licence expression")]
    Empty,
    /// Longer than [`MAX_EXPRESSION_LEN`] or nested deeper than the parser allows.
    #[error("licence expression too long or too deeply nested")]
    TooComplex,
    /// A token that is neither an id, an operator nor a parenthesis.
    #[error("`{0}` is not a licence id")]
    BadToken(String),
    /// The tokens do not form an expression (missing operand, unbalanced parentheses, …).
    #[error("malformed licence expression: {0}")]
    Malformed(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    And,
    Or,
    With,
    Id(String),
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+' | ':' | '_')
}

fn tokenize(s: &str) -> Result<Vec<Tok>, ExprError> {
    let mut toks = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' {
            toks.push(Tok::Open);
            chars.next();
        } else if c == ')' {
            toks.push(Tok::Close);
            chars.next();
        } else if c == '/' {
            toks.push(Tok::Or);
            chars.next();
        } else if is_id_char(c) {
            let mut end = i;
            while let Some(&(j, d)) = chars.peek() {
                if !is_id_char(d) {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
            let word = &s[i..end];
            toks.push(match word.to_ascii_uppercase().as_str() {
                "AND" => Tok::And,
                "OR" => Tok::Or,
                "WITH" => Tok::With,
                _ => Tok::Id(word.to_string()),
            });
        } else {
            let bad: String = s[i..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .take(32)
                .collect();
            return Err(ExprError::BadToken(bad));
        }
    }
    Ok(toks)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(flatten(parts, false))
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut parts = vec![self.with()?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            parts.push(self.with()?);
        }
        Ok(flatten(parts, true))
    }

    fn with(&mut self) -> Result<Expr, ExprError> {
        let atom = self.atom()?;
        if self.peek() != Some(&Tok::With) {
            return Ok(atom);
        }
        self.pos += 1;
        let exception = match self.toks.get(self.pos) {
            Some(Tok::Id(e)) => e.clone(),
            _ => {
                return Err(ExprError::Malformed(
                    "WITH must be followed by an exception id".into(),
                ))
            }
        };
        self.pos += 1;
        match atom {
            Expr::Id {
                id,
                exception: None,
            } => Ok(Expr::Id {
                id,
                exception: Some(exception),
            }),
            _ => Err(ExprError::Malformed(
                "WITH applies to a single licence id".into(),
            )),
        }
    }

    fn atom(&mut self) -> Result<Expr, ExprError> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Id(id)) => {
                self.pos += 1;
                Ok(Expr::Id {
                    id: canonical_spelling(&id),
                    exception: None,
                })
            }
            Some(Tok::Open) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(ExprError::TooComplex);
                }
                self.pos += 1;
                let inner = self.or()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(ExprError::Malformed("missing `)`".into()));
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(inner)
            }
            Some(t) => Err(ExprError::Malformed(format!("unexpected {t:?}"))),
            None => Err(ExprError::Malformed("missing licence id".into())),
        }
    }
}

/// Canonical spelling of an id: the table's for known ids (incl. `X+` aliases), else as written.
fn canonical_spelling(id: &str) -> String {
    canonical_id(id)
        .map(str::to_string)
        .unwrap_or_else(|| id.to_string())
}

fn flatten(parts: Vec<Expr>, and: bool) -> Expr {
    if parts.len() == 1 {
        return parts.into_iter().next().unwrap_or(Expr::Or(Vec::new()));
    }
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match (p, and) {
            (Expr::And(inner), true) | (Expr::Or(inner), false) => out.extend(inner),
            (p, _) => out.push(p),
        }
    }
    if and {
        Expr::And(out)
    } else {
        Expr::Or(out)
    }
}

/// Parse an SPDX-style licence expression.
pub fn parse_expression(s: &str) -> Result<Expr, ExprError> {
    if s.len() > MAX_EXPRESSION_LEN {
        return Err(ExprError::TooComplex);
    }
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Err(ExprError::Empty);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(ExprError::Malformed(format!(
            "unexpected {:?}",
            p.toks[p.pos]
        )));
    }
    Ok(e)
}

impl Expr {
    /// A single licence id without exception.
    pub fn id(id: &str) -> Expr {
        Expr::Id {
            id: canonical_spelling(id),
            exception: None,
        }
    }

    /// The licence ids in the expression, in order, without exceptions (duplicates kept once).
    pub fn leaves(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Id { id, .. } => {
                if !out.iter().any(|o| o.eq_ignore_ascii_case(id)) {
                    out.push(id);
                }
            }
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.collect(out)),
        }
    }

    /// True when the expression is a single id (with or without exception).
    pub fn is_single(&self) -> bool {
        matches!(self, Expr::Id { .. })
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Id {
                id,
                exception: None,
            } => f.write_str(id),
            Expr::Id {
                id,
                exception: Some(e),
            } => write!(f, "{id} WITH {e}"),
            Expr::And(v) => {
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" AND ")?;
                    }
                    // OR binds looser than AND: keep its parentheses.
                    if matches!(e, Expr::Or(_)) {
                        write!(f, "({e})")?;
                    } else {
                        write!(f, "{e}")?;
                    }
                }
                Ok(())
            }
            Expr::Or(v) => {
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" OR ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}
