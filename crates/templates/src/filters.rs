//! Filters and tests with jinja2 3.1.6 semantics, registered under jinja2's names only.
//!
//! Where minijinja's builtin already behaves as jinja2 does (`map`, `selectattr`, `unique`, ...), it
//! is reused; where it differs it is replaced: text conversion goes through Python `str()`
//! ([`crate::pystr`]), whitespace is Python's, `default` takes `boolean=`, `indent` follows
//! `splitlines`, `title` splits words the way jinja2's regex does, `tojson` is transformers'.
//! jinja2 filters that no template in scope needs are registered as stubs that fail with
//! [`crate::TemplateError::Unsupported`] when reached. Reference: jinja2 `filters.py`, `tests.py`.

use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use std::borrow::Cow;

use minijinja::{filters as mf, tests as mt, Environment, Error, ErrorKind, State};

use crate::error_marker::{check_len, unsupported};
use crate::methods::{bind, py_capitalize, py_splitlines, py_strip};
use crate::pyjson::tojson_filter;
use crate::pyobjects::{is_dict, PyGenerator, PyTuple};
use crate::pystr::{py_str, unprintable};

/// jinja2's builtin filter names (`jinja2.filters.FILTERS`), all of which a template may name.
pub(crate) const JINJA2_FILTERS: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "capitalize",
    "center",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "filesizeformat",
    "first",
    "float",
    "forceescape",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "random",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "string",
    "striptags",
    "sum",
    "title",
    "tojson",
    "trim",
    "truncate",
    "unique",
    "upper",
    "urlencode",
    "urlize",
    "wordcount",
    "wordwrap",
    "xmlattr",
];

/// jinja2's builtin test names (`jinja2.tests.TESTS`).
pub(crate) const JINJA2_TESTS: &[&str] = &[
    "!=",
    "<",
    "<=",
    "==",
    ">",
    ">=",
    "boolean",
    "callable",
    "defined",
    "divisibleby",
    "eq",
    "equalto",
    "escaped",
    "even",
    "false",
    "filter",
    "float",
    "ge",
    "greaterthan",
    "gt",
    "in",
    "integer",
    "iterable",
    "le",
    "lessthan",
    "lower",
    "lt",
    "mapping",
    "ne",
    "none",
    "number",
    "odd",
    "sameas",
    "sequence",
    "string",
    "test",
    "true",
    "undefined",
    "upper",
];

/// Internal filter the `~` rewrite wraps operands in (see `rewrite.rs`): Python `str()`.
pub(crate) const PYSTR_FILTER: &str = "__allmende_pystr";
/// Internal filter wrapped around `for` iterables (see `rewrite.rs`): fails where Python's `iter()` does.
pub(crate) const ITER_FILTER: &str = "__allmende_iter";

/// Registers every jinja2 filter and test on an empty environment.
pub(crate) fn register(env: &mut Environment<'static>) {
    // Reused from minijinja where the result is the same as jinja2's; inputs Python cannot
    // iterate (None, numbers) fail as in Python instead of iterating as empty.
    env.add_filter("abs", mf::abs);
    env.add_filter("attr", mf::attr);
    env.add_filter("float", do_float);
    env.add_filter("int", do_int);
    env.add_filter("round", do_round);
    env.add_filter("e", mf::escape);
    env.add_filter("escape", mf::escape);
    env.add_filter("dictsort", |v: &Value, kw: Kwargs| {
        iterable(v)?;
        let pairs = mf::dictsort(v, kw)?;
        let tuples: Result<Vec<Value>, Error> = pairs
            .try_iter()?
            .map(|p| Ok(PyTuple::value(p.try_iter()?.collect())))
            .collect();
        Ok(Value::from(tuples?))
    });
    env.add_filter("first", |v: &Value| {
        iterable(v)?;
        if v.is_undefined() {
            return Ok(Value::UNDEFINED);
        }
        mf::first(v)
    });
    env.add_filter("groupby", |v: Value, attr: Option<&str>, kw: Kwargs| {
        iterable(&v)?;
        mf::groupby(v, attr, kw)
    });
    env.add_filter("list", |state: &State, v: Value| {
        iterable(&v)?;
        mf::list(state, v)
    });
    env.add_filter("max", |state: &State, v: Value| {
        iterable(&v)?;
        mf::max(state, v)
    });
    env.add_filter("min", |state: &State, v: Value| {
        iterable(&v)?;
        mf::min(state, v)
    });
    env.add_filter("sort", |state: &State, v: Value, kw: Kwargs| {
        iterable(&v)?;
        mf::sort(state, v, kw)
    });
    env.add_filter("sum", |state: &State, v: Value| {
        iterable(&v)?;
        mf::sum(state, v)
    });
    // jinja2 returns generators from these; map/select/reject(attr) yield nothing for a falsy input
    // (`if value:` in `select_or_reject` and `do_map`).
    env.add_filter("map", |state: &State, v: Value, args: Rest<Value>| {
        if !v.is_true() {
            return Ok(PyGenerator::value(Vec::new()));
        }
        mf::map(state, v, args).map(PyGenerator::value)
    });
    env.add_filter(
        "select",
        |state: &State, v: Value, test: Option<Cow<'_, str>>, args: Rest<Value>| {
            if !v.is_true() {
                return Ok(PyGenerator::value(Vec::new()));
            }
            mf::select(state, v, test, args).map(PyGenerator::value)
        },
    );
    env.add_filter(
        "reject",
        |state: &State, v: Value, test: Option<Cow<'_, str>>, args: Rest<Value>| {
            if !v.is_true() {
                return Ok(PyGenerator::value(Vec::new()));
            }
            mf::reject(state, v, test, args).map(PyGenerator::value)
        },
    );
    env.add_filter(
        "selectattr",
        |state: &State,
         v: Value,
         attr: Cow<'_, str>,
         test: Option<Cow<'_, str>>,
         args: Rest<Value>| {
            if !v.is_true() {
                return Ok(PyGenerator::value(Vec::new()));
            }
            mf::selectattr(state, v, attr, test, args).map(PyGenerator::value)
        },
    );
    env.add_filter(
        "rejectattr",
        |state: &State,
         v: Value,
         attr: Cow<'_, str>,
         test: Option<Cow<'_, str>>,
         args: Rest<Value>| {
            if !v.is_true() {
                return Ok(PyGenerator::value(Vec::new()));
            }
            mf::rejectattr(state, v, attr, test, args).map(PyGenerator::value)
        },
    );
    env.add_filter("unique", |state: &State, v: Value, kw: Kwargs| {
        iterable(&v)?;
        mf::unique(state, v, kw).and_then(to_generator)
    });
    env.add_filter(
        "batch",
        |state: &State, v: Value, n: usize, fill: Option<Value>| {
            iterable(&v)?;
            mf::batch(state, v, n, fill).and_then(to_generator)
        },
    );
    env.add_filter(
        "slice",
        |state: &State, v: Value, n: usize, fill: Option<Value>| {
            iterable(&v)?;
            mf::slice(state, v, n, fill).and_then(to_generator)
        },
    );
    env.add_filter("reverse", reverse);

    // Python-semantics replacements.
    env.add_filter("tojson", |v: &Value, args: Rest<Value>, kwargs: Kwargs| {
        tojson_filter(v, &args, kwargs)
    });
    env.add_filter("string", |v: &Value| {
        printable_str(v).map(|s| keep_safety(v, s))
    });
    env.add_filter(PYSTR_FILTER, printable_str);
    env.add_filter(ITER_FILTER, for_iterable);
    // `safe` makes a markupsafe Markup (see ops.rs); the str methods behind upper/lower/
    // capitalize/title/trim/string keep a Markup a Markup.
    env.add_filter("safe", |v: &Value| Value::from_safe_string(py_str(v)));
    env.add_filter("upper", |v: &Value| {
        keep_safety(v, py_str(v).to_uppercase())
    });
    env.add_filter("lower", |v: &Value| {
        keep_safety(v, py_str(v).to_lowercase())
    });
    env.add_filter("capitalize", |v: &Value| {
        keep_safety(v, py_capitalize(&py_str(v)))
    });
    env.add_filter("title", |v: &Value| keep_safety(v, jinja_title(&py_str(v))));
    env.add_filter("trim", |v: &Value, chars: Option<Value>| {
        keep_safety(v, trim(v, chars))
    });
    env.add_filter("join", join);
    env.add_filter("replace", replace);
    env.add_filter("length", length);
    env.add_filter("count", length);
    env.add_filter("default", default);
    env.add_filter("d", default);
    env.add_filter("indent", indent);
    env.add_filter("items", items);
    env.add_filter("last", last);
    env.add_filter("wordcount", |v: &Value| {
        py_str(v).split_whitespace().count()
    });
    env.add_filter(
        "center",
        |v: &Value, width: Option<i64>| -> Result<String, Error> {
            let s = py_str(v);
            let width = usize::try_from(width.unwrap_or(80).max(0)).unwrap_or(usize::MAX);
            let n = s.chars().count();
            if n >= width {
                return Ok(s);
            }
            check_len(width)?;
            let pad = width - n;
            let left = pad / 2 + (pad & width & 1);
            Ok(format!("{}{s}{}", " ".repeat(left), " ".repeat(pad - left)))
        },
    );
    for name in [
        "filesizeformat",
        "forceescape",
        "format",
        "pprint",
        "random",
        "striptags",
        "truncate",
        "urlencode",
        "urlize",
        "wordwrap",
        "xmlattr",
    ] {
        env.add_filter(name, move |_: Rest<Value>| -> Result<Value, Error> {
            Err(unsupported(format!(
                "the jinja2 filter `{name}` is not implemented"
            )))
        });
    }

    register_tests(env);
}

fn register_tests(env: &mut Environment<'static>) {
    env.add_test("defined", mt::is_defined);
    env.add_test("undefined", mt::is_undefined);
    env.add_test("none", mt::is_none);
    env.add_test("boolean", mt::is_boolean);
    env.add_test("true", mt::is_true);
    env.add_test("false", mt::is_false);
    env.add_test("integer", mt::is_integer);
    env.add_test("float", mt::is_float);
    env.add_test("string", mt::is_string);
    env.add_test("mapping", is_dict);
    env.add_test("odd", mt::is_odd);
    env.add_test("even", mt::is_even);
    env.add_test("divisibleby", mt::is_divisibleby);
    env.add_test("sameas", mt::is_sameas);
    env.add_test("escaped", mt::is_safe);
    env.add_test("filter", mt::is_filter);
    env.add_test("test", mt::is_test);
    env.add_test("in", mt::is_in);
    for name in ["==", "eq", "equalto"] {
        env.add_test(name, mt::is_eq);
    }
    for name in ["!=", "ne"] {
        env.add_test(name, mt::is_ne);
    }
    for name in ["<", "lt", "lessthan"] {
        env.add_test(name, mt::is_lt);
    }
    for name in ["<=", "le"] {
        env.add_test(name, mt::is_le);
    }
    for name in [">", "gt", "greaterthan"] {
        env.add_test(name, mt::is_gt);
    }
    for name in [">=", "ge"] {
        env.add_test(name, mt::is_ge);
    }
    // Python: bool is a Number; str, list, dict and Undefined have len() and __getitem__.
    env.add_test("number", |v: &Value| {
        matches!(v.kind(), ValueKind::Number | ValueKind::Bool)
    });
    env.add_test("sequence", |v: &Value| {
        matches!(
            v.kind(),
            ValueKind::String | ValueKind::Seq | ValueKind::Map | ValueKind::Undefined
        )
    });
    env.add_test("iterable", |v: &Value| {
        matches!(
            v.kind(),
            ValueKind::String
                | ValueKind::Seq
                | ValueKind::Map
                | ValueKind::Iterable
                | ValueKind::Undefined
        )
    });
    env.add_test("callable", |v: &Value| v.kind() == ValueKind::Plain);
    env.add_test("lower", |v: &Value| {
        let s = py_str(v);
        s.chars().any(char::is_lowercase) && !s.chars().any(char::is_uppercase)
    });
    env.add_test("upper", |v: &Value| {
        let s = py_str(v);
        s.chars().any(char::is_uppercase) && !s.chars().any(char::is_lowercase)
    });
}

/// Fails as Python does for values that cannot be iterated (None, bools, numbers).
pub(crate) fn iterable(v: &Value) -> Result<(), Error> {
    match v.kind() {
        ValueKind::None | ValueKind::Bool | ValueKind::Number => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("'{}' object is not iterable", py_type(v)),
        )),
        _ => Ok(()),
    }
}

/// The iterable of a `for` loop: fails as Python's `iter()` does, and turns a generator into a
/// list so `loop.length`/`loop.last`/`loop.revindex` work (jinja2's LoopContext looks ahead).
fn for_iterable(v: Value) -> Result<Value, Error> {
    iterable(&v)?;
    if v.kind() == ValueKind::Iterable {
        return Ok(Value::from(v.try_iter()?.collect::<Vec<_>>()));
    }
    Ok(v)
}

/// Python type name of a scalar, for error messages.
fn py_type(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        _ => "object",
    }
}

/// Python `str(v)`, refusing values whose text Python would print with a memory address.
fn printable_str(v: &Value) -> Result<String, Error> {
    if let Some(ty) = unprintable(v) {
        return Err(unsupported(format!(
            "printing a Python {ty} object (its text is a memory address)"
        )));
    }
    Ok(py_str(v))
}

/// Re-wraps a list result as a generator.
fn to_generator(v: Value) -> Result<Value, Error> {
    Ok(PyGenerator::value(v.try_iter()?.collect()))
}

/// `reverse`: a reversed string for text, a reversed iterator for lists and dicts, a list for
/// iterators (jinja2 `do_reverse`).
fn reverse(v: &Value) -> Result<Value, Error> {
    match v.kind() {
        ValueKind::String => Ok(Value::from(
            v.as_str()
                .unwrap_or_default()
                .chars()
                .rev()
                .collect::<String>(),
        )),
        ValueKind::Undefined => Ok(PyGenerator::value(Vec::new())),
        ValueKind::Seq | ValueKind::Map => {
            let mut items: Vec<Value> = v.try_iter()?.collect();
            items.reverse();
            Ok(PyGenerator::value(items))
        }
        ValueKind::Iterable => {
            let mut items: Vec<Value> = v.try_iter()?.collect();
            items.reverse();
            Ok(Value::from(items))
        }
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "argument to reversed() must be a sequence, not {}",
                py_type(v)
            ),
        )),
    }
}

/// Python `int(text, base)` for a string: surrounding whitespace, a sign, `_` between digits.
fn parse_py_int(text: &str, base: u32) -> Option<i128> {
    let t = py_strip(text, None, true, true);
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let digits = match base {
        16 => digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"))
            .unwrap_or(digits),
        8 => digits
            .strip_prefix("0o")
            .or_else(|| digits.strip_prefix("0O"))
            .unwrap_or(digits),
        2 => digits
            .strip_prefix("0b")
            .or_else(|| digits.strip_prefix("0B"))
            .unwrap_or(digits),
        _ => digits,
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let n = i128::from_str_radix(&digits.replace('_', ""), base).ok()?;
    Some(if neg { -n } else { n })
}

/// Python `float(text)`: surrounding whitespace, `_` between digits, `inf`/`nan`.
fn parse_py_float(text: &str) -> Option<f64> {
    let t = py_strip(text, None, true, true);
    if t.is_empty() || t.contains("__") || t.starts_with('_') || t.ends_with('_') {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if !matches!(unsigned, "inf" | "infinity" | "nan")
        && !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
    {
        return None;
    }
    lower.replace('_', "").parse::<f64>().ok()
}

/// Python `float(value)` for a template value, or None where Python raises.
fn py_float(v: &Value) -> Option<f64> {
    match v.kind() {
        ValueKind::Bool => Some(f64::from(u8::from(v.is_true()))),
        ValueKind::Number => f64::try_from(v.clone()).ok(),
        ValueKind::String => parse_py_float(v.as_str().unwrap_or_default()),
        _ => None,
    }
}

/// jinja2 `do_int(value, default=0, base=10)`: `int(value)`, else `int(float(value))`, else default.
fn do_int(v: &Value, args: Rest<Value>) -> Result<Value, Error> {
    let a = bind("int", &args, &["default", "base"])?;
    let default = a[0].clone().unwrap_or(Value::from(0));
    let base = match &a[1] {
        Some(b) => Some(u32::try_from(b.clone())?),
        None => None,
    };
    let direct = match v.kind() {
        ValueKind::String => parse_py_int(v.as_str().unwrap_or_default(), base.unwrap_or(10)),
        ValueKind::Bool => Some(i128::from(v.is_true())),
        ValueKind::Number if v.is_integer() => i128::try_from(v.clone()).ok(),
        _ => None,
    };
    let n = direct.or_else(|| {
        py_float(v)
            .filter(|f| f.is_finite())
            .map(|f| f.trunc() as i128)
    });
    Ok(match n {
        Some(n) => i64::try_from(n)
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(n)),
        None => default,
    })
}

/// jinja2 `do_float(value, default=0.0)`.
fn do_float(v: &Value, args: Rest<Value>) -> Result<Value, Error> {
    let a = bind("float", &args, &["default"])?;
    Ok(py_float(v)
        .map(Value::from)
        .unwrap_or_else(|| a[0].clone().unwrap_or(Value::from(0.0))))
}

/// jinja2 `do_round(value, precision=0, method='common')`; `common` is Python's `round`, which
/// rounds the exact binary value half-to-even.
fn do_round(v: &Value, args: Rest<Value>) -> Result<Value, Error> {
    let a = bind("round", &args, &["precision", "method"])?;
    let precision = match &a[0] {
        Some(p) => i32::try_from(p.clone())?,
        None => 0,
    };
    let method_value = a[1].clone().unwrap_or(Value::from("common"));
    let method = method_value.as_str().unwrap_or_default();
    if !matches!(method, "common" | "floor" | "ceil") {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "method must be common, ceil or floor",
        ));
    }
    if method == "common" && v.is_integer() && precision >= 0 {
        return Ok(v.clone());
    }
    let x = py_float(v)
        .filter(|_| matches!(v.kind(), ValueKind::Number | ValueKind::Bool))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("type {} doesn't define __round__ method", v.kind()),
            )
        })?;
    let scale = 10f64.powi(precision);
    let r = match method {
        "floor" => (x * scale).floor() / scale,
        "ceil" => (x * scale).ceil() / scale,
        _ if precision >= 0 && x.is_finite() => format!("{:.*}", precision as usize, x)
            .parse::<f64>()
            .unwrap_or(x),
        _ => (x * scale).round_ties_even() / scale,
    };
    Ok(Value::from(r))
}

/// jinja2 `do_title`: words begin after runs of `-`, whitespace, `(`, `{`, `[`, `<`.
fn jinja_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_word_start = true;
    for c in s.chars() {
        let sep = c == '-' || c.is_whitespace() || matches!(c, '(' | '{' | '[' | '<');
        if sep {
            out.push(c);
            at_word_start = true;
        } else if at_word_start {
            out.extend(c.to_uppercase());
            at_word_start = false;
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// `trim(value, chars=None)` = `str(value).strip(chars)`.
fn trim(v: &Value, chars: Option<Value>) -> String {
    let s = py_str(v);
    let chars = chars.filter(|c| !c.is_none()).map(|c| py_str(&c));
    py_strip(&s, chars.as_deref(), true, true).to_string()
}

/// `out` as a Markup if `src` was one, else as plain text.
fn keep_safety(src: &Value, out: String) -> Value {
    if src.is_safe() {
        Value::from_safe_string(out)
    } else {
        Value::from(out)
    }
}

/// `join(value, d='', attribute=None)` = `str(d).join(map(str, value))`.
fn join(v: &Value, d: Option<Value>, kwargs: Kwargs) -> Result<String, Error> {
    let attribute: Option<Value> = kwargs.get("attribute")?;
    let d: Option<Value> = match d {
        Some(d) => Some(d),
        None => kwargs.get("d")?,
    };
    kwargs.assert_all_used()?;
    let sep = d.map(|d| py_str(&d)).unwrap_or_default();
    iterable(v)?;
    let mut out = String::new();
    if v.is_undefined() {
        return Ok(out);
    }
    for (i, item) in v.try_iter()?.enumerate() {
        if i > 0 {
            out.push_str(&sep);
        }
        let item = match &attribute {
            Some(attr) => item.get_item(attr)?,
            None => item,
        };
        out.push_str(&py_str(&item));
    }
    Ok(out)
}

/// `replace(s, old, new, count=None)` on `str(s)`.
fn replace(v: &Value, old: &Value, new: &Value, count: Option<i64>) -> String {
    let s = py_str(v);
    let (old, new) = (py_str(old), py_str(new));
    match count {
        Some(n) if n >= 0 => s.replacen(&old, &new, n as usize),
        _ => s.replace(&old, &new),
    }
}

/// `length`/`count`: Python `len()`; Undefined has length 0.
fn length(v: &Value) -> Result<usize, Error> {
    if v.is_undefined() {
        return Ok(0);
    }
    match v.kind() {
        ValueKind::String => Ok(v.as_str().unwrap_or_default().chars().count()),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => mf::length(v),
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("object of type '{}' has no len()", v.kind()),
        )),
    }
}

/// `default(value, default_value='', boolean=False)`.
fn default(v: &Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let mut default_value = args.first().cloned();
    let mut boolean = args.get(1).cloned();
    if args.len() > 2 {
        return Err(Error::from(ErrorKind::TooManyArguments));
    }
    if let Some(x) = kwargs.get::<Option<Value>>("default_value")? {
        default_value = Some(x);
    }
    if let Some(x) = kwargs.get::<Option<Value>>("boolean")? {
        boolean = Some(x);
    }
    kwargs.assert_all_used()?;
    let boolean = boolean.is_some_and(|b| b.is_true());
    if v.is_undefined() || (boolean && !v.is_true()) {
        Ok(default_value.unwrap_or_else(|| Value::from("")))
    } else {
        Ok(v.clone())
    }
}

/// jinja2 3.1 `indent(s, width=4, first=False, blank=False)`, built on `str.splitlines()`.
fn indent(v: &Value, args: Rest<Value>, kwargs: Kwargs) -> Result<String, Error> {
    let get = |i: usize, name: &str| -> Result<Option<Value>, Error> {
        match args.get(i) {
            Some(x) => Ok(Some(x.clone())),
            None => kwargs.get::<Option<Value>>(name),
        }
    };
    let width = get(0, "width")?;
    let first = get(1, "first")?.is_some_and(|x| x.is_true());
    let blank = get(2, "blank")?.is_some_and(|x| x.is_true());
    kwargs.assert_all_used()?;
    let indention = match &width {
        Some(w) if w.kind() == ValueKind::String => w.as_str().unwrap_or_default().to_string(),
        Some(w) => {
            let n =
                usize::try_from(i64::try_from(w.clone()).unwrap_or(4).max(0)).unwrap_or(usize::MAX);
            check_len(n)?;
            " ".repeat(n)
        }
        None => "    ".to_string(),
    };
    let mut s = py_str(v);
    s.push('\n');
    let lines = py_splitlines(&s, false);
    let mut rv = if blank {
        lines.join(&format!("\n{indention}"))
    } else {
        let mut it = lines.into_iter();
        let mut rv = it.next().unwrap_or_default();
        let rest: Vec<String> = it
            .map(|line| {
                if line.is_empty() {
                    line
                } else {
                    format!("{indention}{line}")
                }
            })
            .collect();
        if !rest.is_empty() {
            rv.push('\n');
            rv.push_str(&rest.join("\n"));
        }
        rv
    };
    if first {
        rv.insert_str(0, &indention);
    }
    Ok(rv)
}

/// `items(value)`: `(key, value)` tuples of a mapping; Undefined gives nothing.
fn items(v: &Value) -> Result<Value, Error> {
    if v.is_undefined() {
        return Ok(PyGenerator::value(Vec::new()));
    }
    if v.kind() != ValueKind::Map {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("Can only get item pairs from a mapping, not {}", v.kind()),
        ));
    }
    let mut out = Vec::new();
    for key in v.try_iter()? {
        let item = v.get_item(&key)?;
        out.push(PyTuple::value(vec![key, item]));
    }
    Ok(PyGenerator::value(out))
}

/// `last(seq)`: last element (last key of a dict, last char of a string); Undefined if empty.
fn last(v: &Value) -> Result<Value, Error> {
    match v.kind() {
        ValueKind::String => Ok(v
            .as_str()
            .unwrap_or_default()
            .chars()
            .next_back()
            .map_or(Value::UNDEFINED, Value::from)),
        ValueKind::Seq | ValueKind::Map => Ok(v.try_iter()?.last().unwrap_or(Value::UNDEFINED)),
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("'{}' object is not reversible", v.kind()),
        )),
    }
}
