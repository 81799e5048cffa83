//! Python's `str()` and `repr()` for template values, as jinja2 prints them.
//!
//! jinja2 writes `{{ x }}`, `x ~ y`, `x | string` and `x | join` through Python's `str()`: `None`,
//! `True`, `1.0`, `1e-05`, `['a', 1]`, `{'k': None}`. minijinja's own Display differs (`none`, `true`,
//! `["a", 1]`), so every place a template turns a value into text goes through [`py_str`].
//! Reference: CPython `Objects/floatobject.c` (`float_repr`, short repr rules), `unicodeobject.c`
//! (`unicode_repr`, `Py_UNICODE_ISPRINTABLE`).

use minijinja::value::{Value, ValueKind};

use crate::pyobjects::{PyGenerator, PyTuple, PyView};

/// Python `str(value)`. Undefined renders as the empty string (jinja2's default `Undefined`).
pub(crate) fn py_str(value: &Value) -> String {
    let mut out = String::new();
    write_str(&mut out, value);
    out
}

/// Python `repr(value)`.
pub(crate) fn py_repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, value);
    out
}

/// Python's text of a generator holds a memory address, which no renderer can reproduce: such
/// values are refused where they would be printed. Returns the Python type name if `value` is one.
pub(crate) fn unprintable(value: &Value) -> Option<&'static str> {
    match value.kind() {
        ValueKind::Iterable => Some("generator"),
        _ if value
            .downcast_object_ref::<crate::pyobjects::BoundMethod>()
            .is_some() =>
        {
            Some("builtin_function_or_method")
        }
        _ => None,
    }
}

/// Appends Python `str(value)` to `out`.
pub(crate) fn write_str(out: &mut String, value: &Value) {
    match value.kind() {
        ValueKind::String => out.push_str(value.as_str().unwrap_or_default()),
        ValueKind::Undefined => {}
        _ => write_repr(out, value),
    }
}

/// Appends Python `repr(value)` to `out`.
pub(crate) fn write_repr(out: &mut String, value: &Value) {
    match value.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => write_number(out, value),
        ValueKind::String => write_str_repr(out, value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable
            if value.downcast_object_ref::<PyGenerator>().is_some() =>
        {
            out.push_str("<generator object>")
        }
        ValueKind::Seq if value.downcast_object_ref::<PyView>().is_some() => {
            let view = value.downcast_object_ref::<PyView>();
            out.push_str(view.map_or("dict_view", |v| v.kind));
            out.push('(');
            let items: Vec<Value> = view.map(|v| v.items.clone()).unwrap_or_default();
            write_repr(out, &Value::from(items));
            out.push(')');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let is_tuple = value.downcast_object_ref::<PyTuple>().is_some();
            out.push(if is_tuple { '(' } else { '[' });
            let mut n = 0;
            if let Ok(iter) = value.try_iter() {
                for (i, item) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(out, &item);
                    n += 1;
                }
            }
            if is_tuple && n == 1 {
                out.push(',');
            }
            out.push(if is_tuple { ')' } else { ']' });
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(iter) = value.try_iter() {
                for (i, key) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(out, &key);
                    out.push_str(": ");
                    let item = value.get_item(&key).unwrap_or(Value::UNDEFINED);
                    write_repr(out, &item);
                }
            }
            out.push('}');
        }
        // Bytes, callables, namespaces: no template in scope prints these; use minijinja's text.
        _ => out.push_str(&value.to_string()),
    }
}

/// Python text of an int or float value.
fn write_number(out: &mut String, value: &Value) {
    if value.is_integer() {
        out.push_str(&value.to_string());
    } else if let Ok(f) = f64::try_from(value.clone()) {
        out.push_str(&float_repr(f));
    } else {
        out.push_str(&value.to_string());
    }
}

/// Python `repr(float)`: shortest round-trip digits; exponent form when the decimal point
/// position is <= -4 or > 16 (so `1e-05`, `1e+16`, but `0.0001`, `1000000000000000.0`).
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e6", "-1e-5", "0e0".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let decpt = exp + 1;
    if decpt <= -4 || decpt > 16 {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{esign}{:02}", exp.abs())
    } else if decpt <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-decpt) as usize))
    } else {
        let decpt = decpt as usize;
        if decpt >= digits.len() {
            format!("{sign}{digits}{}.0", "0".repeat(decpt - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..decpt], &digits[decpt..])
        }
    }
}

/// Python `repr(str)`: single quotes unless the text has `'` and no `"`; escapes for `\\`, the
/// quote, `\t`, `\n`, `\r` and non-printable characters (`\xNN`, `\uNNNN`, `\UNNNNNNNN`).
pub(crate) fn write_str_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let cp = c as u32;
                if cp < 0x100 {
                    out.push_str(&format!("\\x{cp:02x}"));
                } else if cp < 0x10000 {
                    out.push_str(&format!("\\u{cp:04x}"));
                } else {
                    out.push_str(&format!("\\U{cp:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Approximation of Python's `str.isprintable()` for one character: false for control
/// characters, separators other than the ASCII space, the common format characters and private
/// use. (Unassigned code points, which Python also escapes, are printed as-is.)
fn is_printable(c: char) -> bool {
    let cp = c as u32;
    !matches!(cp,
        0x00..=0x1f | 0x7f..=0xa0 | 0xad
        | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x890 | 0x891 | 0x8e2 | 0x1680 | 0x180e
        | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x2064 | 0x2066..=0x206f | 0x3000
        | 0xd800..=0xf8ff | 0xfeff | 0xfff9..=0xfffb
        | 0x110bd | 0x110cd | 0x13430..=0x1343f | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a
        | 0xe0001 | 0xe0020..=0xe007f | 0xf0000..=0x10ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123.456, "123.456"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.5e300, "1.5e+300"),
            (2.0f64.powi(60), "1.152921504606847e+18"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn repr_of_values() {
        let v = Value::from_serialize(
            serde_json::json!({"a": [1, "x'y", null, true, 2.5], "b\n": "\u{7f}"}),
        );
        assert_eq!(
            py_repr(&v),
            r#"{'a': [1, "x'y", None, True, 2.5], 'b\n': '\x7f'}"#
        );
        assert_eq!(py_str(&Value::from("plain")), "plain");
        assert_eq!(py_str(&Value::UNDEFINED), "");
    }
}
