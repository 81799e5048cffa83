//! Python string formatting for templates: `str.format` (`'<tool_call{}>'.format(tag)`) and the
//! `%` operator (`'%s: %d' % (name, n)`).
//!
//! `str.format`: automatic (`{}`) and manual (`{0}`) numbering, keyword fields (`{name}`), attribute
//! and index lookups (`{0.name}`, `{0[key]}`), `!s`/`!r` conversions and `{{`/`}}` escapes.
//! `%`: conversions `s r a d i u f F x X o c %`, flags `- 0 + space #`, width, precision, `%(key)s`.
//! Anything else (a `str.format` spec after `:`, `%e`/`%g`) is refused with a clear error rather
//! than approximated. Reference: CPython `Objects/stringlib/unicode_format.h`, `unicodeobject.c`
//! (`PyUnicode_Format`).

use minijinja::value::{Kwargs, Value};
use minijinja::{Error, ErrorKind};

use crate::error_marker::{check_len, unsupported};
use crate::pyobjects::{is_dict, PyTuple};
use crate::pystr::{py_repr, py_str};

fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// `template.format(*args, **kwargs)`.
pub(crate) fn str_format(template: &str, args: &[Value]) -> Result<String, Error> {
    let (pos, kwargs) = match args.last().map(|v| Kwargs::try_from(v.clone())) {
        Some(Ok(kw)) => (&args[..args.len() - 1], Some(kw)),
        _ => (args, None),
    };
    let mut out = String::new();
    let mut auto_idx = 0usize;
    let mut manual = false;
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().is_some_and(|(_, n)| *n == '{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().is_some_and(|(_, n)| *n == '}') => {
                chars.next();
                out.push('}');
            }
            '}' => return Err(err("Single '}' encountered in format string")),
            '{' => {
                let start = i + 1;
                let mut end = None;
                for (j, d) in chars.by_ref() {
                    if d == '}' {
                        end = Some(j);
                        break;
                    }
                    if d == '{' {
                        return Err(unsupported(
                            "nested str.format replacement fields are not implemented".into(),
                        ));
                    }
                }
                let end = end.ok_or_else(|| err("Single '{' encountered in format string"))?;
                let field = &template[start..end];
                let (field, spec) = match field.split_once(':') {
                    Some((f, s)) => (f, Some(s)),
                    None => (field, None),
                };
                if spec.is_some_and(|s| !s.is_empty()) {
                    return Err(unsupported(format!(
                        "the str.format spec `{{{field}:{}}}` is not implemented",
                        spec.unwrap_or("")
                    )));
                }
                let (field, conv) = match field.split_once('!') {
                    Some((f, c)) => (f, Some(c)),
                    None => (field, None),
                };
                // First component: index or name; then `.attr` / `[key]` lookups.
                let head_end = field.find(['.', '[']).unwrap_or(field.len());
                let head = &field[..head_end];
                let mut value = if head.is_empty() {
                    if manual {
                        return Err(err("cannot switch from manual field specification to automatic field numbering"));
                    }
                    let v = pos.get(auto_idx).cloned().ok_or_else(|| {
                        err(format!(
                            "Replacement index {auto_idx} out of range for positional args tuple"
                        ))
                    })?;
                    auto_idx += 1;
                    v
                } else if let Ok(n) = head.parse::<usize>() {
                    if auto_idx > 0 {
                        return Err(err("cannot switch from automatic field numbering to manual field specification"));
                    }
                    manual = true;
                    pos.get(n).cloned().ok_or_else(|| {
                        err(format!(
                            "Replacement index {n} out of range for positional args tuple"
                        ))
                    })?
                } else {
                    kwargs
                        .as_ref()
                        .and_then(|kw| kw.peek::<Value>(head).ok())
                        .ok_or_else(|| err(format!("KeyError: '{head}'")))?
                };
                let mut rest = &field[head_end..];
                while !rest.is_empty() {
                    if let Some(r) = rest.strip_prefix('.') {
                        let n = r.find(['.', '[']).unwrap_or(r.len());
                        value = value.get_attr(&r[..n])?;
                        rest = &r[n..];
                    } else if let Some(r) = rest.strip_prefix('[') {
                        let n = r
                            .find(']')
                            .ok_or_else(|| err("Missing ']' in format string"))?;
                        let key = &r[..n];
                        value = match key.parse::<i64>() {
                            Ok(k) => value.get_item(&Value::from(k))?,
                            Err(_) => value.get_item(&Value::from(key))?,
                        };
                        rest = &r[n + 1..];
                    } else {
                        return Err(err(
                            "Only '.' or '[' may follow ']' in format field specifier",
                        ));
                    }
                }
                match conv {
                    None | Some("s") => out.push_str(&py_str(&value)),
                    Some("r") => out.push_str(&py_repr(&value)),
                    Some(other) => {
                        return Err(err(format!("Unknown conversion specifier {other}")))
                    }
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Python `template % args`.
pub(crate) fn percent_format(template: &str, args: &Value) -> Result<String, Error> {
    let positional: Vec<Value> = if args.downcast_object_ref::<PyTuple>().is_some() {
        args.try_iter()?.collect()
    } else {
        vec![args.clone()]
    };
    let mapping = is_dict(args);
    let mut next = 0usize;
    let mut out = String::new();
    let chars: Vec<char> = template.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        let mut value: Option<Value> = None;
        if chars.get(i) == Some(&'(') {
            let close = chars[i..]
                .iter()
                .position(|c| *c == ')')
                .ok_or_else(|| err("incomplete format key"))?;
            let key: String = chars[i + 1..i + close].iter().collect();
            if !mapping {
                return Err(err("format requires a mapping"));
            }
            value = Some(args.get_item(&Value::from(key.as_str()))?).filter(|v| !v.is_undefined());
            if value.is_none() {
                return Err(err(format!("KeyError: '{key}'")));
            }
            i += close + 1;
        }
        let mut flags = String::new();
        while let Some(c) = chars.get(i).filter(|c| "-0+ #".contains(**c)) {
            flags.push(*c);
            i += 1;
        }
        let take_num = |i: &mut usize| -> Option<usize> {
            let start = *i;
            while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
                *i += 1;
            }
            chars[start..*i].iter().collect::<String>().parse().ok()
        };
        let width = take_num(&mut i);
        if let Some(w) = width {
            check_len(w)?;
        }
        let precision = if chars.get(i) == Some(&'.') {
            i += 1;
            Some(take_num(&mut i).unwrap_or(0))
        } else {
            None
        };
        if let Some(p) = precision {
            check_len(p)?;
        }
        let conv = *chars.get(i).ok_or_else(|| err("incomplete format"))?;
        i += 1;
        if conv == '%' {
            out.push('%');
            continue;
        }
        let arg = match value.take() {
            Some(v) => v,
            None => {
                let v = positional
                    .get(next)
                    .cloned()
                    .ok_or_else(|| err("not enough arguments for format string"))?;
                next += 1;
                v
            }
        };
        let num_arg = |what: &str| -> Result<f64, Error> {
            match arg.kind() {
                minijinja::value::ValueKind::Number | minijinja::value::ValueKind::Bool => {
                    f64::try_from(arg.clone()).or_else(|_| Ok(f64::from(u8::from(arg.is_true()))))
                }
                _ => Err(err(format!(
                    "%{what} format: a real number is required, not {}",
                    arg.kind()
                ))),
            }
        };
        let (sign_ok, body) = match conv {
            's' => (false, py_str(&arg)),
            'r' | 'a' => (false, py_repr(&arg)),
            'c' => (
                false,
                match arg.as_str() {
                    Some(s) if s.chars().count() == 1 => s.to_string(),
                    _ => {
                        let n = num_arg("c")? as u32;
                        char::from_u32(n)
                            .map(String::from)
                            .ok_or_else(|| err("%c arg not in range"))?
                    }
                },
            ),
            'd' | 'i' | 'u' => (true, format!("{}", num_arg("d")?.trunc() as i128)),
            'x' => (true, format!("{:x}", num_arg("x")? as i128)),
            'X' => (true, format!("{:X}", num_arg("X")? as i128)),
            'o' => (true, format!("{:o}", num_arg("o")? as i128)),
            'f' | 'F' => (
                true,
                format!("{:.*}", precision.unwrap_or(6), num_arg("f")?),
            ),
            other => {
                return Err(unsupported(format!(
                    "the `%{other}` conversion of the % operator is not implemented"
                )))
            }
        };
        let mut body = if conv == 's' || conv == 'r' || conv == 'a' {
            match precision {
                Some(p) => body.chars().take(p).collect(),
                None => body,
            }
        } else {
            body
        };
        if sign_ok {
            let neg = body.starts_with('-');
            let digits = body.trim_start_matches('-').to_string();
            let prefix = match conv {
                'x' if flags.contains('#') => "0x",
                'X' if flags.contains('#') => "0X",
                'o' if flags.contains('#') => "0o",
                _ => "",
            };
            let sign = if neg {
                "-"
            } else if flags.contains('+') {
                "+"
            } else if flags.contains(' ') {
                " "
            } else {
                ""
            };
            let head = format!("{sign}{prefix}");
            let w = width.unwrap_or(0);
            let len = head.chars().count() + digits.chars().count();
            body = if flags.contains('0') && !flags.contains('-') && len < w {
                format!("{head}{}{digits}", "0".repeat(w - len))
            } else {
                format!("{head}{digits}")
            };
        }
        let len = body.chars().count();
        match width {
            Some(w) if len < w && flags.contains('-') => body.push_str(&" ".repeat(w - len)),
            Some(w) if len < w => body.insert_str(0, &" ".repeat(w - len)),
            _ => {}
        }
        out.push_str(&body);
    }
    if !mapping && next < positional.len() {
        return Err(err("not all arguments converted during string formatting"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python() {
        assert_eq!(str_format("<a{}>", &[Value::from("X")]).unwrap(), "<aX>");
        assert_eq!(
            str_format("{1}{0}{{}}", &[Value::from(1), Value::from(())]).unwrap(),
            "None1{}"
        );
        assert_eq!(str_format("{!r}", &[Value::from("q")]).unwrap(), "'q'");
        assert!(str_format("{:>4}", &[Value::from(1)]).is_err());
    }

    #[test]
    fn percent_like_python() {
        let t = PyTuple::value(vec![Value::from("a"), Value::from(3), Value::from(2.5)]);
        assert_eq!(
            percent_format("%s-%03d|%.2f|%%|", &t).unwrap(),
            "a-003|2.50|%|"
        );
        assert_eq!(
            percent_format(
                "[%-4s][%5.1f]",
                &PyTuple::value(vec![Value::from("ab"), Value::from(2.25)])
            )
            .unwrap(),
            "[ab  ][  2.2]"
        );
        assert!(percent_format("%s %s", &Value::from("x")).is_err());
        assert_eq!(percent_format("%r", &Value::from("x")).unwrap(), "'x'");
    }
}
