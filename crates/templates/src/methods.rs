//! Python methods on template values (`content.strip()`, `msg.get('x')`, `d.items()`, ...).
//!
//! jinja2 templates call the real Python `str`/`dict`/`list` methods; minijinja has none, so this is
//! its unknown-method callback. Semantics follow CPython (`Objects/unicodeobject.c`, `dictobject.c`):
//! whitespace is Python's `str.isspace` set, indices count code points, `split()` without a
//! separator splits on runs of whitespace. jinja2's `ImmutableSandboxedEnvironment` forbids methods
//! that mutate a list or dict (`append`, `pop`, `update`, ...): those fail here with the sandbox's message.

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

use crate::error_marker::{check_len, unsupported};
use crate::pyobjects::{is_dict, PyTuple, PyView};
use crate::pystr::py_repr;

/// Python `dict` methods (jinja2 looks these up before the dict's keys).
pub(crate) const DICT_METHODS: &[&str] = &[
    "clear",
    "copy",
    "fromkeys",
    "get",
    "items",
    "keys",
    "pop",
    "popitem",
    "setdefault",
    "update",
    "values",
];
/// Python `list` methods.
pub(crate) const LIST_METHODS: &[&str] = &[
    "append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove", "reverse",
    "sort",
];
/// Python `tuple` methods.
const TUPLE_METHODS: &[&str] = &["count", "index"];
/// Python `str` methods.
pub(crate) const STR_METHODS: &[&str] = &[
    "capitalize",
    "casefold",
    "center",
    "count",
    "encode",
    "endswith",
    "expandtabs",
    "find",
    "format",
    "format_map",
    "index",
    "isalnum",
    "isalpha",
    "isascii",
    "isdecimal",
    "isdigit",
    "isidentifier",
    "islower",
    "isnumeric",
    "isprintable",
    "isspace",
    "istitle",
    "isupper",
    "join",
    "ljust",
    "lower",
    "lstrip",
    "maketrans",
    "partition",
    "removeprefix",
    "removesuffix",
    "replace",
    "rfind",
    "rindex",
    "rjust",
    "rpartition",
    "rsplit",
    "rstrip",
    "split",
    "splitlines",
    "startswith",
    "strip",
    "swapcase",
    "title",
    "translate",
    "upper",
    "zfill",
];

/// Is `name` a method of some Python type a template value can be (dict, list, str)?
pub(crate) fn is_py_method_name(name: &str) -> bool {
    DICT_METHODS.contains(&name) || LIST_METHODS.contains(&name) || STR_METHODS.contains(&name)
}

/// Does `value`, as the Python object jinja2 would see, have a method `name`?
pub(crate) fn has_method(value: &Value, name: &str) -> bool {
    match value.kind() {
        ValueKind::String => STR_METHODS.contains(&name),
        ValueKind::Seq if value.downcast_object_ref::<PyTuple>().is_some() => {
            TUPLE_METHODS.contains(&name)
        }
        ValueKind::Seq => LIST_METHODS.contains(&name),
        _ if is_dict(value) => DICT_METHODS.contains(&name),
        _ => false,
    }
}

fn not_implemented(value: &Value, method: &str) -> Error {
    unsupported(format!(
        "the Python method {}.{method}() is not implemented",
        type_name(value)
    ))
}

/// Python's `str.isspace()` for one character (includes `\x1c`-`\x1f`, unlike Rust's `is_whitespace`).
pub(crate) fn py_isspace(c: char) -> bool {
    matches!(c, '\t'..='\r' | '\x1c'..='\x1f' | ' ' | '\u{85}' | '\u{a0}' | '\u{1680}'
        | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

/// Python `str.strip(chars)` / `lstrip` / `rstrip`.
pub(crate) fn py_strip<'a>(s: &'a str, chars: Option<&str>, left: bool, right: bool) -> &'a str {
    let pred = |c: char| match chars {
        Some(set) => set.contains(c),
        None => py_isspace(c),
    };
    let mut out = s;
    if left {
        out = out.trim_start_matches(pred);
    }
    if right {
        out = out.trim_end_matches(pred);
    }
    out
}

fn type_name(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::Undefined => "Undefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if value.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

fn no_method(value: &Value, method: &str) -> Error {
    Error::new(
        ErrorKind::UnknownMethod,
        format!("'{} object' has no attribute '{method}'", type_name(value)),
    )
}

fn unsafe_method(value: &Value, method: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "access to attribute '{method}' of '{}' object is unsafe.",
            type_name(value)
        ),
    )
}

fn arg_error(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// Splits `args` into positionals and keyword arguments (minijinja passes kwargs last).
fn split_args(args: &[Value]) -> (&[Value], Option<Kwargs>) {
    match args.last() {
        Some(last) => match Kwargs::try_from(last.clone()) {
            Ok(kw) => (&args[..args.len() - 1], Some(kw)),
            Err(_) => (args, None),
        },
        None => (args, None),
    }
}

/// Binds positional and keyword arguments to `names` (Python calling convention); at most
/// `names.len()` values, unknown keywords are an error.
pub(crate) fn bind(
    method: &str,
    args: &[Value],
    names: &[&str],
) -> Result<Vec<Option<Value>>, Error> {
    let (pos, kwargs) = split_args(args);
    if pos.len() > names.len() {
        return Err(arg_error(format!(
            "{method}() takes at most {} arguments ({} given)",
            names.len(),
            pos.len()
        )));
    }
    let mut out: Vec<Option<Value>> = names.iter().map(|_| None).collect();
    for (slot, v) in out.iter_mut().zip(pos) {
        *slot = Some(v.clone());
    }
    if let Some(kw) = kwargs {
        for (i, name) in names.iter().enumerate() {
            if let Some(v) = kw.get::<Option<Value>>(name)? {
                out[i] = Some(v);
            }
        }
        kw.assert_all_used()?;
    }
    Ok(out)
}

fn opt_str<'a>(method: &str, v: &'a Option<Value>) -> Result<Option<&'a str>, Error> {
    match v {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or_else(|| {
            arg_error(format!(
                "{method}() argument must be str or None, not {}",
                type_name(v)
            ))
        }),
    }
}

fn req_str<'a>(method: &str, v: &'a Option<Value>) -> Result<&'a str, Error> {
    match v {
        Some(v) => v.as_str().ok_or_else(|| {
            arg_error(format!(
                "{method}() argument must be str, not {}",
                type_name(v)
            ))
        }),
        None => Err(arg_error(format!("{method}() missing required argument"))),
    }
}

fn opt_int(method: &str, v: &Option<Value>, default: i64) -> Result<i64, Error> {
    match v {
        None => Ok(default),
        Some(v) if v.is_integer() || v.kind() == ValueKind::Bool => i64::try_from(v.clone())
            .map_err(|_| arg_error(format!("{method}(): integer argument out of range"))),
        Some(v) => Err(arg_error(format!(
            "{method}(): '{}' object cannot be interpreted as an integer",
            type_name(v)
        ))),
    }
}

/// The unknown-method callback installed on the environment.
pub(crate) fn call_method(
    _state: &State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    match value.kind() {
        ValueKind::String => str_method(value.as_str().unwrap_or_default(), value, method, args),
        ValueKind::Map => map_method(value, method, args),
        ValueKind::Seq | ValueKind::Iterable => seq_method(value, method, args),
        _ => Err(no_method(value, method)),
    }
}

fn str_method(s: &str, value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    let v = |x: String| Ok(Value::from(x));
    match method {
        "strip" | "lstrip" | "rstrip" => {
            let a = bind(method, args, &["chars"])?;
            let chars = opt_str(method, &a[0])?;
            v(py_strip(s, chars, method != "rstrip", method != "lstrip").to_string())
        }
        "split" | "rsplit" => {
            let a = bind(method, args, &["sep", "maxsplit"])?;
            let sep = opt_str(method, &a[0])?;
            let maxsplit = opt_int(method, &a[1], -1)?;
            let parts = py_split(s, sep, maxsplit, method == "rsplit")?;
            Ok(Value::from(parts))
        }
        "splitlines" => {
            let a = bind(method, args, &["keepends"])?;
            let keep = a[0].as_ref().is_some_and(|v| v.is_true());
            Ok(Value::from(py_splitlines(s, keep)))
        }
        "startswith" | "endswith" => {
            let a = bind(method, args, &["prefix"])?;
            let Some(arg) = &a[0] else {
                return Err(arg_error(format!(
                    "{method}() takes at least 1 argument (0 given)"
                )));
            };
            let candidates: Vec<Value> = match arg.kind() {
                ValueKind::String => vec![arg.clone()],
                ValueKind::Seq => arg.try_iter()?.collect(),
                _ => {
                    return Err(arg_error(format!(
                        "{method} first arg must be str or a tuple of str, not {}",
                        type_name(arg)
                    )))
                }
            };
            let mut hit = false;
            for c in &candidates {
                let c = c.as_str().ok_or_else(|| {
                    arg_error(format!(
                        "tuple for {method} must only contain str, not {}",
                        type_name(c)
                    ))
                })?;
                hit |= if method == "startswith" {
                    s.starts_with(c)
                } else {
                    s.ends_with(c)
                };
            }
            Ok(Value::from(hit))
        }
        "upper" | "lower" | "title" | "capitalize" | "swapcase" | "casefold" => {
            bind(method, args, &[])?;
            v(match method {
                "upper" => s.to_uppercase(),
                "lower" | "casefold" => s.to_lowercase(),
                "title" => py_title(s),
                "capitalize" => py_capitalize(s),
                _ => s
                    .chars()
                    .flat_map(|c| -> Vec<char> {
                        if c.is_uppercase() {
                            c.to_lowercase().collect()
                        } else {
                            c.to_uppercase().collect()
                        }
                    })
                    .collect(),
            })
        }
        "replace" => {
            let a = bind(method, args, &["old", "new", "count"])?;
            let old = req_str(method, &a[0])?;
            let new = req_str(method, &a[1])?;
            let count = opt_int(method, &a[2], -1)?;
            v(if count < 0 {
                s.replace(old, new)
            } else {
                s.replacen(old, new, count as usize)
            })
        }
        "find" | "rfind" | "index" | "rindex" | "count" => {
            let a = bind(method, args, &["sub"])?;
            let sub = req_str(method, &a[0])?;
            let byte_pos = match method {
                "find" | "index" => s.find(sub),
                "rfind" | "rindex" => s.rfind(sub),
                _ => {
                    let n = if sub.is_empty() {
                        s.chars().count() + 1
                    } else {
                        s.matches(sub).count()
                    };
                    return Ok(Value::from(n));
                }
            };
            match byte_pos {
                Some(b) => Ok(Value::from(s[..b].chars().count())),
                None if method.ends_with("find") => Ok(Value::from(-1)),
                None => Err(arg_error("substring not found")),
            }
        }
        "join" => {
            let a = bind(method, args, &["iterable"])?;
            let Some(items) = &a[0] else {
                return Err(arg_error("join() takes exactly one argument (0 given)"));
            };
            let mut out = String::new();
            for (i, item) in items.try_iter()?.enumerate() {
                let t = item.as_str().ok_or_else(|| {
                    arg_error(format!(
                        "sequence item {i}: expected str instance, {} found",
                        type_name(&item)
                    ))
                })?;
                if i > 0 {
                    out.push_str(s);
                }
                out.push_str(t);
            }
            v(out)
        }
        "format" => crate::format::str_format(s, args).map(Value::from),
        "removeprefix" | "removesuffix" => {
            let a = bind(method, args, &["affix"])?;
            let affix = req_str(method, &a[0])?;
            v(if method == "removeprefix" {
                s.strip_prefix(affix).unwrap_or(s).to_string()
            } else {
                s.strip_suffix(affix).unwrap_or(s).to_string()
            })
        }
        "partition" | "rpartition" => {
            let a = bind(method, args, &["sep"])?;
            let sep = req_str(method, &a[0])?;
            if sep.is_empty() {
                return Err(arg_error("empty separator"));
            }
            let found = if method == "partition" {
                s.find(sep)
            } else {
                s.rfind(sep)
            };
            let parts = match found {
                Some(i) => [&s[..i], sep, &s[i + sep.len()..]],
                None if method == "partition" => [s, "", ""],
                None => ["", "", s],
            };
            Ok(PyTuple::value(
                parts.iter().map(|p| Value::from(*p)).collect(),
            ))
        }
        "isdigit" | "isnumeric" | "isdecimal" | "isalpha" | "isalnum" | "isspace" | "islower"
        | "isupper" => {
            bind(method, args, &[])?;
            let nonempty = !s.is_empty();
            let r = match method {
                "isdigit" | "isnumeric" | "isdecimal" => {
                    nonempty && s.chars().all(|c| c.is_numeric())
                }
                "isalpha" => nonempty && s.chars().all(char::is_alphabetic),
                "isalnum" => nonempty && s.chars().all(char::is_alphanumeric),
                "isspace" => nonempty && s.chars().all(py_isspace),
                "islower" => {
                    s.chars().any(char::is_lowercase) && !s.chars().any(char::is_uppercase)
                }
                _ => s.chars().any(char::is_uppercase) && !s.chars().any(char::is_lowercase),
            };
            Ok(Value::from(r))
        }
        "zfill" | "ljust" | "rjust" | "center" => {
            let a = bind(method, args, &["width", "fillchar"])?;
            let width = opt_int(method, &a[0], 0)?.max(0) as usize;
            let fill = opt_str(method, &a[1])?.unwrap_or(if method == "zfill" { "0" } else { " " });
            let n = s.chars().count();
            if n >= width {
                return v(s.to_string());
            }
            check_len(width.saturating_mul(fill.len().max(1)))?;
            let pad = width - n;
            let rep = |k: usize| fill.repeat(k);
            v(match method {
                "ljust" => format!("{s}{}", rep(pad)),
                "rjust" => format!("{}{s}", rep(pad)),
                "center" => {
                    let left = pad / 2 + (pad & width & 1);
                    format!("{}{s}{}", rep(left), rep(pad - left))
                }
                _ => match s.strip_prefix(['+', '-']) {
                    Some(rest) => format!("{}{}{rest}", &s[..1], rep(pad)),
                    None => format!("{}{s}", rep(pad)),
                },
            })
        }
        _ if STR_METHODS.contains(&method) => Err(not_implemented(value, method)),
        _ => Err(no_method(value, method)),
    }
}

fn map_method(value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    match method {
        "get" => {
            let a = bind(method, args, &["key", "default"])?;
            let Some(key) = &a[0] else {
                return Err(arg_error("get expected at least 1 argument, got 0"));
            };
            let default = a[1].clone().unwrap_or(Value::from(()));
            let found = value.get_item(key)?;
            Ok(if found.is_undefined() { default } else { found })
        }
        "items" | "keys" | "values" => {
            bind(method, args, &[])?;
            let mut out = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                out.push(match method {
                    "items" => PyTuple::value(vec![key, item]),
                    "keys" => key,
                    _ => item,
                });
            }
            let kind = match method {
                "items" => "dict_items",
                "keys" => "dict_keys",
                _ => "dict_values",
            };
            Ok(PyView::value(kind, out))
        }
        "copy" => {
            bind(method, args, &[])?;
            Ok(value.clone())
        }
        "pop" | "popitem" | "update" | "setdefault" | "clear" => Err(unsafe_method(value, method)),
        "fromkeys" => Err(not_implemented(value, method)),
        _ => Err(no_method(value, method)),
    }
}

fn seq_method(value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    match method {
        "count" | "index" => {
            let a = bind(method, args, &["value"])?;
            let Some(needle) = &a[0] else {
                return Err(arg_error(format!(
                    "{method}() takes exactly one argument (0 given)"
                )));
            };
            let mut hits = value.try_iter()?.enumerate().filter(|(_, x)| x == needle);
            if method == "count" {
                Ok(Value::from(hits.count()))
            } else {
                match hits.next() {
                    Some((i, _)) => Ok(Value::from(i)),
                    None => Err(arg_error(format!("{} is not in list", py_repr(needle)))),
                }
            }
        }
        "append" | "extend" | "insert" | "pop" | "remove" | "sort" | "reverse" | "clear" => {
            Err(unsafe_method(value, method))
        }
        "copy" => Ok(Value::from(value.try_iter()?.collect::<Vec<_>>())),
        _ => Err(no_method(value, method)),
    }
}

/// Python `str.split` / `str.rsplit`.
fn py_split(
    s: &str,
    sep: Option<&str>,
    maxsplit: i64,
    from_right: bool,
) -> Result<Vec<String>, Error> {
    let limit = if maxsplit < 0 {
        usize::MAX
    } else {
        maxsplit as usize
    };
    match sep {
        Some("") => Err(arg_error("empty separator")),
        Some(sep) => {
            let parts: Vec<String> = if from_right {
                let mut p: Vec<String> = s
                    .rsplitn(limit.saturating_add(1), sep)
                    .map(str::to_string)
                    .collect();
                p.reverse();
                p
            } else {
                s.splitn(limit.saturating_add(1), sep)
                    .map(str::to_string)
                    .collect()
            };
            Ok(parts)
        }
        None => {
            // Runs of whitespace; leading/trailing whitespace yields no empty parts.
            let chars: Vec<char> = if from_right {
                s.chars().rev().collect()
            } else {
                s.chars().collect()
            };
            let mut parts: Vec<String> = Vec::new();
            let mut i = 0;
            while i < chars.len() {
                while i < chars.len() && py_isspace(chars[i]) {
                    i += 1;
                }
                if i >= chars.len() {
                    break;
                }
                if parts.len() == limit {
                    // The remainder is kept as is, whitespace at its far end included.
                    parts.push(chars[i..].iter().collect());
                    break;
                }
                let start = i;
                while i < chars.len() && !py_isspace(chars[i]) {
                    i += 1;
                }
                parts.push(chars[start..i].iter().collect());
            }
            if from_right {
                parts = parts
                    .into_iter()
                    .map(|p| p.chars().rev().collect())
                    .rev()
                    .collect();
            }
            Ok(parts)
        }
    }
}

/// Python `str.splitlines`.
pub(crate) fn py_splitlines(s: &str, keepends: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes: Vec<(usize, char)> = s.char_indices().collect();
    let mut i = 0;
    while i < bytes.len() {
        let (pos, c) = bytes[i];
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if is_break {
            let mut end = pos + c.len_utf8();
            if c == '\r' && bytes.get(i + 1).is_some_and(|(_, n)| *n == '\n') {
                end += 1;
                i += 1;
            }
            out.push(if keepends {
                s[start..end].to_string()
            } else {
                s[start..pos].to_string()
            });
            start = end;
        }
        i += 1;
    }
    if start < s.len() {
        out.push(s[start..].to_string());
    }
    out
}

/// Unicode title case of one character (Python's `str.title`/`capitalize` use it): the upper case,
/// except for digraphs and ligatures whose title case is mixed (`ǆ` -> `ǅ`, `ß` -> `Ss`, `ﬁ` -> `Fi`).
fn push_titlecase(out: &mut String, c: char) {
    let special = match c {
        '\u{1c4}'..='\u{1c6}' => "\u{1c5}",
        '\u{1c7}'..='\u{1c9}' => "\u{1c8}",
        '\u{1ca}'..='\u{1cc}' => "\u{1cb}",
        '\u{1f1}'..='\u{1f3}' => "\u{1f2}",
        'ß' => "Ss",
        '\u{fb00}' => "Ff",
        '\u{fb01}' => "Fi",
        '\u{fb02}' => "Fl",
        '\u{fb03}' => "Ffi",
        '\u{fb04}' => "Ffl",
        '\u{fb05}' | '\u{fb06}' => "St",
        '\u{587}' => "\u{535}\u{582}",
        _ => {
            out.extend(c.to_uppercase());
            return;
        }
    };
    out.push_str(special);
}

/// Python `str.title`: a cased character following an uncased one is title-cased, the rest lowered.
pub(crate) fn py_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_cased = false;
    for c in s.chars() {
        if prev_cased {
            out.extend(c.to_lowercase());
        } else {
            push_titlecase(&mut out, c);
        }
        prev_cased = c.is_lowercase() || c.is_uppercase();
    }
    out
}

/// Python `str.capitalize`: first character title-cased, the rest lower-cased.
pub(crate) fn py_capitalize(s: &str) -> String {
    let mut chars = s.chars();
    let mut out = String::with_capacity(s.len());
    if let Some(first) = chars.next() {
        push_titlecase(&mut out, first);
        out.extend(chars.flat_map(char::to_lowercase));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_matches_python() {
        assert_eq!(
            py_split("  a  b c ", None, -1, false).unwrap(),
            ["a", "b", "c"]
        );
        assert_eq!(
            py_split("  a  b c ", None, 1, false).unwrap(),
            ["a", "b c "]
        );
        assert_eq!(
            py_split("  a  b c ", None, 1, true).unwrap(),
            ["  a  b", "c"]
        );
        assert_eq!(
            py_split("a,b,,c", Some(","), -1, false).unwrap(),
            ["a", "b", "", "c"]
        );
        assert_eq!(py_split("a,b,c", Some(","), 1, true).unwrap(), ["a,b", "c"]);
        assert!(py_split("", None, -1, false).unwrap().is_empty());
        assert_eq!(py_split("", Some(","), -1, false).unwrap(), [""]);
        assert_eq!(py_splitlines("a\r\nb\n\nc", false), ["a", "b", "", "c"]);
        assert_eq!(py_title("hello wORLD's x1y"), "Hello World'S X1Y");
        assert_eq!(py_strip("\x1c hi\u{3000}", None, true, true), "hi");
    }
}
