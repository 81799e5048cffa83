//! Source preparation: makes a jinja2 chat template render under minijinja with jinja2's meaning.
//!
//! Three steps, all on the template text, before minijinja compiles it:
//! 1. lexical normalisation ([`crate::lexical`]): newlines, string-literal escapes, and the
//!    `{% generation %}` tag.
//! 2. jinja2 rejects, when compiling, a filter or test name it does not know unless the use sits in an
//!    `if` (a "soft" frame); the same check runs here on minijinja's AST so such templates fail in
//!    [`crate::ChatTemplate::new`] as they do in `from_string`.
//! 3. Operators whose minijinja meaning differs from Python's are rewritten, located by AST spans:
//!    * `a ~ b` is `str(a) + str(b)` with Python's `str()` (`None`, `True`, `['x']`), while minijinja
//!      uses its own Display (`none`, `true`, `["x"]`): operands become `(a)|__allmende_pystr`.
//!    * arithmetic (`+ - * / // % **`) and ordering/membership (`< <= > >= in`) become
//!      `__allmende_op('+', a, b)`: Python semantics (floored `%`, `'%s' % x`, `'ab' * 3`,
//!      ZeroDivisionError, TypeError on `1 < 'a'` or `1 in 'abc'`, `Markup + str` escaping: jinja2's
//!      `|safe` returns Markup even with autoescape off). Chained comparisons become `__allmende_chain`.
//!    * `obj.name(args)` becomes `__allmende_method(obj, 'name', args)` and a bare `obj.items` (any
//!      name that is a Python `dict`/`str`/`list` method) becomes `__allmende_getattr(obj, 'items')`:
//!      jinja2 looks attributes up before keys, so on a dict `x.items` is the bound method even when
//!      the dict has an `items` key (JSON schemas of array parameters do).
//!    * `(a, b)` literals become `__allmende_tuple((a, b))` so they print as tuples.
//!    * `x[a:b:c]` becomes `__allmende_slice(x, a, b, c)`: a list slice is a list (minijinja's is a
//!      lazy iterator without a length), and slicing None gives Undefined as in jinja2.
//!
//! Macros that read `varargs` or `kwargs` are refused (minijinja has neither), as is anything the
//! rewrite cannot re-parse.
//!    * `{% for x in y %}` iterates `(y)|__allmende_iter`, which fails on None as Python's `iter()`
//!      does (minijinja iterates None as empty).
//!
//! The AST comes from minijinja's `unstable_machinery` parser and is only read, never executed.
//! AST spans of postfix nodes (`x|f`, `x.a`, `x[i]`, `x()`) start at the operator, and spans
//! never include parentheses, so a node's text range is the union with its children's ranges,
//! widened with the token stream until its parentheses balance.

use minijinja::machinery::ast::{BinOpKind, CallArg, CompareOpKind, Expr, Stmt, UnaryOpKind};
use minijinja::machinery::{parse, tokenize, Token, WhitespaceConfig};
use minijinja::syntax::SyntaxConfig;

use crate::filters::{ITER_FILTER, JINJA2_FILTERS, JINJA2_TESTS, PYSTR_FILTER};
use crate::lexical;
use crate::methods::is_py_method_name;
use crate::TemplateError;

/// Name of the global that implements the `{% generation %}` call block.
pub(crate) const GENERATION_FN: &str = "__allmende_generation";
/// Global implementing Python's binary operators: `__allmende_op('+', a, b)`.
pub(crate) const OP_FN: &str = "__allmende_op";
/// Global implementing a chained comparison: `__allmende_chain(a, '<', b, '<=', c)`.
pub(crate) const CHAIN_FN: &str = "__allmende_chain";
/// Global implementing a method call with Python's lookup: `__allmende_method(obj, 'name', args...)`.
pub(crate) const METHOD_FN: &str = "__allmende_method";
/// Global implementing attribute access that can yield a bound method: `__allmende_getattr(obj, 'name')`.
pub(crate) const GETATTR_FN: &str = "__allmende_getattr";
/// Global implementing Python slicing: `__allmende_slice(obj, start, stop, step)`.
pub(crate) const SLICE_FN: &str = "__allmende_slice";
/// Global turning a parenthesised literal into a Python tuple.
pub(crate) const TUPLE_FN: &str = "__allmende_tuple";

/// jinja2's default delimiters. (`SyntaxConfig` is a unit struct unless minijinja's `custom_syntax`
/// feature is on somewhere in the build; `default()` compiles either way.)
#[allow(clippy::default_constructed_unit_structs)]
pub(crate) fn syntax() -> SyntaxConfig {
    SyntaxConfig::default()
}

pub(crate) fn ws() -> WhitespaceConfig {
    WhitespaceConfig {
        keep_trailing_newline: false,
        lstrip_blocks: true,
        trim_blocks: true,
    }
}

/// Returns the source minijinja should compile, or the error jinja2 would raise at compile time.
pub(crate) fn prepare(source: &str) -> Result<String, TemplateError> {
    let source = lexical::prepare_source(source)?;
    let ast = parse(&source, "chat_template", syntax(), ws())
        .map_err(|e| TemplateError::Syntax(e.to_string()))?;
    let parens = paren_tokens(&source)?;
    let mut walker = Walker {
        source: &source,
        parens,
        error: None,
        macro_depth: 0,
    };
    let mut edits = Vec::new();
    walker.stmt(&ast, false, &mut edits);
    if let Some(err) = walker.error {
        return Err(err);
    }
    let out = splice(&source, 0, source.len(), edits);
    // The rewritten text must still parse; anything else is a bug in the span arithmetic.
    parse(&out, "chat_template", syntax(), ws()).map_err(|e| {
        TemplateError::Unsupported(format!("internal operator rewrite failed to parse: {e}"))
    })?;
    Ok(out)
}

/// `source[start..end]` with the (non-overlapping) `edits` inside that range applied.
pub(crate) fn splice(source: &str, start: usize, end: usize, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| e.start);
    let mut out = String::with_capacity(end - start + edits.len() * 32);
    let mut last = start;
    for e in edits {
        if e.start < last || e.end > end {
            // Overlap cannot happen for AST-nested nodes; keep the text rather than corrupt it
            // (the re-parse check in `prepare` reports any resulting problem).
            continue;
        }
        out.push_str(&source[last..e.start]);
        out.push_str(&e.text);
        last = e.end;
    }
    out.push_str(&source[last..end]);
    out
}

/// A replacement of `source[start..end]`.
pub(crate) struct Edit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) text: String,
}

/// Parenthesis tokens: (start offset, end offset, +1 for `(` / -1 for `)` / 0 for anything else).
fn paren_tokens(source: &str) -> Result<Vec<(usize, usize, i32)>, TemplateError> {
    tokenize(source, false, syntax(), ws())
        .map(|t| {
            t.map(|(tok, span)| {
                let d = match tok {
                    Token::ParenOpen => 1,
                    Token::ParenClose => -1,
                    _ => 0,
                };
                (span.start_offset as usize, span.end_offset as usize, d)
            })
        })
        .collect::<Result<_, _>>()
        .map_err(|e| TemplateError::Syntax(e.to_string()))
}

struct Walker<'a> {
    source: &'a str,
    parens: Vec<(usize, usize, i32)>,
    error: Option<TemplateError>,
    /// Nesting depth of macro (and call-block) bodies being visited.
    macro_depth: usize,
}

impl Walker<'_> {
    fn line_of(&self, offset: u32) -> usize {
        let end = (offset as usize).min(self.source.len());
        self.source[..end].matches('\n').count() + 1
    }

    fn check_name(&mut self, kind: &'static str, name: &str, offset: u32, soft: bool) {
        let known = match kind {
            "filter" => JINJA2_FILTERS.contains(&name),
            _ => JINJA2_TESTS.contains(&name),
        };
        if !known && !soft && self.error.is_none() {
            self.error = Some(TemplateError::UnknownFilterOrTest {
                kind,
                name: name.to_string(),
                line: self.line_of(offset),
            });
        }
    }

    /// Union of the spans of `expr` and all its sub-expressions (before parenthesis balancing).
    fn raw_range(&self, expr: &Expr<'_>) -> (usize, usize) {
        let span = expr.span();
        // Comparison and if-expression spans start at the token before the expression (the parser
        // uses `last_span`); binary operators span exactly their operands. Use the operands only.
        let mut r = match expr {
            Expr::BinOp(_) | Expr::Compare(_) | Expr::IfExpr(_) => (usize::MAX, 0),
            _ if self.is_not_in(expr) => (usize::MAX, 0),
            _ => (span.start_offset as usize, span.end_offset as usize),
        };
        let mut add = |e: &Expr<'_>| {
            let (s, t) = self.raw_range(e);
            r.0 = r.0.min(s);
            r.1 = r.1.max(t);
        };
        let add_args = |args: &[CallArg<'_>], add: &mut dyn FnMut(&Expr<'_>)| {
            for a in args {
                match a {
                    CallArg::Pos(e)
                    | CallArg::Kwarg(_, e)
                    | CallArg::PosSplat(e)
                    | CallArg::KwargSplat(e) => add(e),
                }
            }
        };
        match expr {
            Expr::Var(_) | Expr::Const(_) => {}
            Expr::Slice(s) => {
                add(&s.expr);
                for e in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    add(e);
                }
            }
            Expr::UnaryOp(u) => add(&u.expr),
            Expr::BinOp(b) => {
                add(&b.left);
                add(&b.right);
            }
            Expr::Compare(c) => {
                add(&c.expr);
                for op in &c.ops {
                    add(&op.expr);
                }
            }
            Expr::IfExpr(i) => {
                add(&i.test_expr);
                add(&i.true_expr);
                if let Some(f) = &i.false_expr {
                    add(f);
                }
            }
            Expr::Filter(f) => {
                if let Some(e) = &f.expr {
                    add(e);
                }
                add_args(&f.args, &mut add);
            }
            Expr::Test(t) => {
                add(&t.expr);
                add_args(&t.args, &mut add);
            }
            Expr::GetAttr(g) => add(&g.expr),
            Expr::GetItem(g) => {
                add(&g.expr);
                add(&g.subscript_expr);
            }
            Expr::Call(c) => {
                add(&c.expr);
                add_args(&c.args, &mut add);
            }
            Expr::List(l) => l.items.iter().for_each(&mut add),
            Expr::Map(m) => m.keys.iter().chain(m.values.iter()).for_each(&mut add),
        }
        r
    }

    /// Is `expr` the infix `a not in b` (parsed as `not` applied to `a in b`)?
    fn is_not_in(&self, expr: &Expr<'_>) -> bool {
        let Expr::UnaryOp(u) = expr else { return false };
        let Expr::BinOp(b) = &u.expr else {
            return false;
        };
        if !matches!(u.op, UnaryOpKind::Not) || !matches!(b.op, BinOpKind::In) {
            return false;
        }
        let (_, left_end) = self.raw_range(&b.left);
        let (right_start, _) = self.raw_range(&b.right);
        left_end <= right_start
            && self.source[left_end..right_start]
                .replace(['(', ')'], " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                == ["not", "in"]
    }

    /// Byte range of `expr` in the source, children included, widened to balanced parentheses.
    fn range(&self, expr: &Expr<'_>) -> (usize, usize) {
        let (mut start, mut end) = self.raw_range(expr);
        let inside = |(s, e, _): &&(usize, usize, i32)| *s >= start && *e <= end;
        let mut depth = 0i32;
        let mut min_depth = 0i32;
        for (_, _, d) in self.parens.iter().filter(inside) {
            depth += d;
            min_depth = min_depth.min(depth);
        }
        // Unmatched `)`: take the `(` tokens right before the range.
        let mut need_open = -min_depth;
        let mut idx = self.parens.partition_point(|(s, _, _)| *s < start);
        while need_open > 0 && idx > 0 {
            idx -= 1;
            let (s, _, d) = self.parens[idx];
            if d != 1 {
                break;
            }
            start = s;
            need_open -= 1;
        }
        // Unmatched `(`: take the `)` tokens right after the range.
        let mut need_close = depth - min_depth;
        let mut idx = self.parens.partition_point(|(s, _, _)| *s < end);
        while need_close > 0 && idx < self.parens.len() {
            let (_, e, d) = self.parens[idx];
            if d != -1 {
                break;
            }
            end = e;
            need_close -= 1;
            idx += 1;
        }
        (start, end)
    }

    /// The (rewritten) source text of `expr`.
    fn text(&mut self, expr: &Expr<'_>, soft: bool) -> String {
        let (start, end) = self.range(expr);
        let mut edits = Vec::new();
        self.expr(expr, soft, &mut edits);
        splice(self.source, start, end, edits)
    }

    fn stmts(&mut self, body: &[Stmt<'_>], soft: bool, edits: &mut Vec<Edit>) {
        for s in body {
            self.stmt(s, soft, edits);
        }
    }

    /// Visits a statement. `soft` mirrors jinja2's `Frame.soft_frame`: true directly inside an `if`
    /// (not inherited by loops, macros, call/filter/set blocks, which open inner frames).
    fn stmt(&mut self, stmt: &Stmt<'_>, soft: bool, edits: &mut Vec<Edit>) {
        match stmt {
            Stmt::Template(t) => self.stmts(&t.children, soft, edits),
            Stmt::EmitExpr(e) => self.expr(&e.expr, soft, edits),
            Stmt::EmitRaw(_) | Stmt::Continue(_) | Stmt::Break(_) => {}
            Stmt::ForLoop(f) => {
                let (start, end) = self.range(&f.iter);
                let iter = self.text(&f.iter, soft);
                edits.push(Edit {
                    start,
                    end,
                    text: format!("({iter})|{ITER_FILTER}"),
                });
                if let Some(fe) = &f.filter_expr {
                    self.expr(fe, false, edits);
                }
                self.stmts(&f.body, false, edits);
                self.stmts(&f.else_body, false, edits);
            }
            Stmt::IfCond(i) => {
                self.expr(&i.expr, true, edits);
                self.stmts(&i.true_body, true, edits);
                self.stmts(&i.false_body, true, edits);
            }
            Stmt::WithBlock(w) => {
                for (_target, value) in &w.assignments {
                    self.expr(value, false, edits);
                }
                self.stmts(&w.body, false, edits);
            }
            Stmt::Set(s) => self.expr(&s.expr, soft, edits),
            Stmt::SetBlock(s) => {
                if let Some(f) = &s.filter {
                    self.expr(f, soft, edits);
                }
                self.stmts(&s.body, false, edits);
            }
            Stmt::AutoEscape(a) => {
                self.expr(&a.enabled, soft, edits);
                self.stmts(&a.body, soft, edits);
            }
            Stmt::FilterBlock(f) => {
                self.expr(&f.filter, soft, edits);
                self.stmts(&f.body, false, edits);
            }
            Stmt::Block(b) => self.stmts(&b.body, false, edits),
            Stmt::Extends(e) => self.expr(&e.name, soft, edits),
            Stmt::Include(i) => self.expr(&i.name, soft, edits),
            Stmt::Import(i) => self.expr(&i.expr, soft, edits),
            Stmt::FromImport(i) => self.expr(&i.expr, soft, edits),
            Stmt::Macro(m) => {
                for d in &m.defaults {
                    self.expr(d, soft, edits);
                }
                self.macro_depth += 1;
                self.stmts(&m.body, false, edits);
                self.macro_depth -= 1;
            }
            Stmt::CallBlock(c) => {
                self.expr(&c.call.expr, soft, edits);
                self.args(&c.call.args, soft, edits);
                self.macro_depth += 1;
                self.stmts(&c.macro_decl.body, false, edits);
                self.macro_depth -= 1;
            }
            Stmt::Do(d) => {
                // jinja2 needs the `do` extension for this tag, and transformers does not load it.
                if self.error.is_none() {
                    self.error = Some(TemplateError::Syntax(format!(
                        "Encountered unknown tag 'do' (line {}); transformers' jinja2 environment has no `do` extension",
                        self.line_of(d.span().start_offset)
                    )));
                }
            }
        }
    }

    /// Source text of one call argument, rewritten, with its `name=` / `*` / `**` prefix.
    fn arg_text(&mut self, arg: &CallArg<'_>, soft: bool) -> String {
        match arg {
            CallArg::Pos(e) => self.text(e, soft),
            CallArg::Kwarg(name, e) => format!("{name}={}", self.text(e, soft)),
            CallArg::PosSplat(e) => format!("*{}", self.text(e, soft)),
            CallArg::KwargSplat(e) => format!("**{}", self.text(e, soft)),
        }
    }

    fn args(&mut self, args: &[CallArg<'_>], soft: bool, edits: &mut Vec<Edit>) {
        for a in args {
            match a {
                CallArg::Pos(e)
                | CallArg::Kwarg(_, e)
                | CallArg::PosSplat(e)
                | CallArg::KwargSplat(e) => self.expr(e, soft, edits),
            }
        }
    }

    fn expr(&mut self, expr: &Expr<'_>, soft: bool, edits: &mut Vec<Edit>) {
        match expr {
            Expr::Var(v) if self.macro_depth > 0 && matches!(v.id, "varargs" | "kwargs") => {
                if self.error.is_none() {
                    self.error = Some(TemplateError::Unsupported(format!(
                        "a macro reads `{}` (line {}); minijinja macros have no varargs/kwargs",
                        v.id,
                        self.line_of(v.span().start_offset)
                    )));
                }
            }
            Expr::Var(_) | Expr::Const(_) => {}
            Expr::Slice(sl) => {
                let (start, end) = self.range(expr);
                let mut text = format!("{SLICE_FN}({}", self.text(&sl.expr, soft));
                for part in [&sl.start, &sl.stop, &sl.step] {
                    let part = match part {
                        Some(e) => self.text(e, soft),
                        None => "none".to_string(),
                    };
                    text.push_str(", ");
                    text.push_str(&part);
                }
                text.push(')');
                edits.push(Edit { start, end, text });
            }
            Expr::UnaryOp(u) if self.is_not_in(expr) => {
                // `a not in b`: the parser made it `not (a in b)` with `not` between the operands.
                if let Expr::BinOp(b) = &u.expr {
                    let (start, end) = self.range(expr);
                    let left = self.text(&b.left, soft);
                    let right = self.text(&b.right, soft);
                    edits.push(Edit {
                        start,
                        end,
                        text: format!("(not {OP_FN}('in', {left}, {right}))"),
                    });
                }
            }
            Expr::UnaryOp(u) => self.expr(&u.expr, soft, edits),
            Expr::BinOp(b) if matches!(b.op, BinOpKind::Concat) => {
                let (start, end) = self.range(expr);
                let left = self.text(&b.left, soft);
                let right = self.text(&b.right, soft);
                let text = format!(
                    "({} ~ {})",
                    as_text(&b.left, left),
                    as_text(&b.right, right)
                );
                edits.push(Edit { start, end, text });
            }
            Expr::BinOp(b) if py_op(&b.op).is_some() => {
                let (start, end) = self.range(expr);
                let left = self.text(&b.left, soft);
                let right = self.text(&b.right, soft);
                let op = py_op(&b.op).unwrap_or_default();
                edits.push(Edit {
                    start,
                    end,
                    text: format!("{OP_FN}('{op}', {left}, {right})"),
                });
            }
            Expr::BinOp(b) => {
                self.expr(&b.left, soft, edits);
                self.expr(&b.right, soft, edits);
            }
            Expr::Compare(c) => {
                let (start, end) = self.range(expr);
                let mut text = format!("{CHAIN_FN}({}", self.text(&c.expr, soft));
                for op in &c.ops {
                    let name = match op.op {
                        CompareOpKind::Eq => "==",
                        CompareOpKind::Ne => "!=",
                        CompareOpKind::Lt => "<",
                        CompareOpKind::Lte => "<=",
                        CompareOpKind::Gt => ">",
                        CompareOpKind::Gte => ">=",
                        CompareOpKind::In => "in",
                        CompareOpKind::NotIn => "not in",
                    };
                    let operand = self.text(&op.expr, soft);
                    text.push_str(&format!(", '{name}', {operand}"));
                }
                text.push(')');
                edits.push(Edit { start, end, text });
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr, true, edits);
                self.expr(&i.true_expr, true, edits);
                if let Some(f) = &i.false_expr {
                    self.expr(f, true, edits);
                }
            }
            Expr::Filter(f) => {
                self.check_name("filter", f.name, f.span().start_offset, soft);
                if let Some(e) = &f.expr {
                    self.expr(e, soft, edits);
                }
                self.args(&f.args, soft, edits);
            }
            Expr::Test(t) => {
                self.check_name("test", t.name, t.span().start_offset, soft);
                self.expr(&t.expr, soft, edits);
                self.args(&t.args, soft, edits);
            }
            Expr::GetAttr(g) if is_py_method_name(g.name) => {
                let (start, end) = self.range(expr);
                let obj = self.text(&g.expr, soft);
                edits.push(Edit {
                    start,
                    end,
                    text: format!("{GETATTR_FN}({obj}, '{}')", g.name),
                });
            }
            Expr::GetAttr(g) => self.expr(&g.expr, soft, edits),
            Expr::GetItem(g) => {
                self.expr(&g.expr, soft, edits);
                self.expr(&g.subscript_expr, soft, edits);
            }
            Expr::Call(c) => match &c.expr {
                Expr::GetAttr(g) if !is_self_block_call(&g.expr) => {
                    let (start, end) = self.range(expr);
                    let obj = self.text(&g.expr, soft);
                    let mut text = format!("{METHOD_FN}({obj}, '{}'", g.name);
                    for a in &c.args {
                        text.push_str(", ");
                        text.push_str(&self.arg_text(a, soft));
                    }
                    text.push(')');
                    edits.push(Edit { start, end, text });
                }
                _ => {
                    self.expr(&c.expr, soft, edits);
                    self.args(&c.args, soft, edits);
                }
            },
            Expr::List(l) if self.source[self.range(expr).0..].starts_with('(') => {
                let (start, end) = self.range(expr);
                let mut edits_inner = Vec::new();
                for e in &l.items {
                    self.expr(e, soft, &mut edits_inner);
                }
                let inner = splice(self.source, start, end, edits_inner);
                edits.push(Edit {
                    start,
                    end,
                    text: format!("{TUPLE_FN}({inner})"),
                });
            }
            Expr::List(l) => {
                for e in &l.items {
                    self.expr(e, soft, edits);
                }
            }
            Expr::Map(m) => {
                for e in m.keys.iter().chain(m.values.iter()) {
                    self.expr(e, soft, edits);
                }
            }
        }
    }
}

/// The Python operator behind a minijinja binary operator, if `__allmende_op` implements it
/// (`==`/`!=` and `and`/`or` keep minijinja's semantics, which match Python's for JSON values).
fn py_op(op: &BinOpKind) -> Option<&'static str> {
    Some(match op {
        BinOpKind::Add => "+",
        BinOpKind::Sub => "-",
        BinOpKind::Mul => "*",
        BinOpKind::Div => "/",
        BinOpKind::FloorDiv => "//",
        BinOpKind::Rem => "%",
        BinOpKind::Pow => "**",
        BinOpKind::Lt => "<",
        BinOpKind::Lte => "<=",
        BinOpKind::Gt => ">",
        BinOpKind::Gte => ">=",
        BinOpKind::In => "in",
        _ => return None,
    })
}

/// `self.block()` calls a template block; it must stay a minijinja call.
fn is_self_block_call(obj: &Expr<'_>) -> bool {
    matches!(obj, Expr::Var(v) if v.id == "self")
}

/// A `~` operand as text: string constants and nested `~` are already text; anything else goes
/// through Python `str()`.
fn as_text(operand: &Expr<'_>, text: String) -> String {
    match operand {
        Expr::Const(c) if c.value.as_str().is_some() => text,
        Expr::BinOp(b) if matches!(b.op, BinOpKind::Concat) => text,
        _ => format!("({text})|{PYSTR_FILTER}"),
    }
}

#[cfg(test)]
mod tests {
    use super::prepare;

    #[test]
    fn rewrites_operators_with_balanced_text() {
        let cases = [
            (
                "{{ a ~ b }}",
                "{{ ((a)|__allmende_pystr ~ (b)|__allmende_pystr) }}",
            ),
            (
                "{{ 'x' ~ (n or 'y') }}",
                "{{ ('x' ~ (n or 'y')|__allmende_pystr) }}",
            ),
            (
                "{{ x not in ['a', 'b'] and y }}",
                "{{ (not __allmende_op('in', x, ['a', 'b'])) and y }}",
            ),
            (
                "{% if 'r' not in (t | lower) %}{% endif %}",
                "{% if (not __allmende_op('in', 'r', t | lower)) %}{% endif %}",
            ),
            (
                "{{ (a or b).strip() }}",
                "{{ __allmende_method(a or b, 'strip') }}",
            ),
            (
                "{{ m.content[1:] }}",
                "{{ __allmende_slice(m.content, 1, none, none) }}",
            ),
            (
                "{{ spec.items }}",
                "{{ __allmende_getattr(spec, 'items') }}",
            ),
            (
                "{{ 1 < x <= 3 }}",
                "{{ __allmende_chain(1, '<', x, '<=', 3) }}",
            ),
            (
                "{% for k, v in d|items %}{% endfor %}",
                "{% for k, v in (d|items)|__allmende_iter %}{% endfor %}",
            ),
            (
                "{% set ns.items = ns.items + [1] %}",
                "{% set ns.items = __allmende_op('+', __allmende_getattr(ns, 'items'), [1]) %}",
            ),
            (
                "{% generation %}x{% endgeneration %}",
                "{% call __allmende_generation() %}x{% endcall %}",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(prepare(src).unwrap(), want, "{src}");
        }
    }

    #[test]
    fn unknown_filter_fails_outside_if_only() {
        assert!(prepare("{{ x|from_json }}").is_err());
        assert!(prepare("{% if x %}{{ x|from_json }}{% endif %}").is_ok());
        assert!(
            prepare("{% if x %}{% for y in x %}{{ y|from_json }}{% endfor %}{% endif %}").is_err()
        );
        assert!(prepare("{{ x is startingwith 'a' }}").is_err());
    }
}
