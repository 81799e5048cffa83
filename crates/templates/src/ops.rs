//! Python's binary operators on template values; `rewrite.rs` turns `a + b`, `a % b`, `a < b`,
//! `a in b`, ... into `__allmende_op('+', a, b)` and chained comparisons into `__allmende_chain`.
//!
//! Semantics that differ from minijinja's own operators and show in chat templates: floored `%`
//! and `//`, `/` by zero raises, `'%s' % x` formats, `'ab' * 3` repeats, `1 < 'a'` and `1 in 'abc'`
//! are TypeErrors, `None` is not a container, and markupsafe's `Markup + str` HTML-escapes the plain
//! operand (jinja2's `|safe` returns Markup even with autoescape off).
//! Reference: CPython `Objects/longobject.c`, `floatobject.c` (`float_divmod`), `abstract.c`;
//! markupsafe `Markup.__add__`/`__radd__`.

use std::cmp::Ordering;

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

use crate::error_marker::check_len;
use crate::format::percent_format;
use crate::pyobjects::{is_dict, PyTuple};

/// markupsafe `escape()` of plain text.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Python type name of a value, for error messages and dispatch.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::Undefined => "Undefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String if v.is_safe() => "Markup",
        ValueKind::String => "str",
        ValueKind::Seq if v.downcast_object_ref::<PyTuple>().is_some() => "tuple",
        ValueKind::Seq => "list",
        ValueKind::Map if is_dict(v) => "dict",
        ValueKind::Map => "object",
        ValueKind::Iterable => "generator",
        _ => "object",
    }
}

fn type_error(msg: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

fn zero_division(msg: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("ZeroDivisionError: {msg}"),
    )
}

/// A Python number: int (bool counts as int) or float.
#[derive(Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

fn num(v: &Value) -> Option<Num> {
    match v.kind() {
        ValueKind::Bool => Some(Num::Int(i128::from(v.is_true()))),
        ValueKind::Number if v.is_integer() => i128::try_from(v.clone()).ok().map(Num::Int),
        ValueKind::Number => f64::try_from(v.clone()).ok().map(Num::Float),
        _ => None,
    }
}

fn as_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    }
}

fn int_value(i: i128) -> Value {
    match i64::try_from(i) {
        Ok(small) => Value::from(small),
        Err(_) => Value::from(i),
    }
}

fn overflow() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        "integer result too large for this renderer",
    )
}

/// CPython `float_divmod`: (floor quotient, remainder with the divisor's sign).
fn float_divmod(vx: f64, wx: f64) -> (f64, f64) {
    let mut m = vx % wx;
    let mut div = (vx - m) / wx;
    if m != 0.0 {
        if (wx < 0.0) != (m < 0.0) {
            m += wx;
            div -= 1.0;
        }
    } else {
        m = 0.0f64.copysign(wx);
    }
    let floordiv = if div != 0.0 {
        let mut f = div.floor();
        if div - f > 0.5 {
            f += 1.0;
        }
        f
    } else {
        0.0f64.copysign(vx / wx)
    };
    (floordiv, m)
}

fn arith(op: &str, x: Num, y: Num) -> Result<Value, Error> {
    if let (Num::Int(a), Num::Int(b)) = (x, y) {
        return match op {
            "+" => a.checked_add(b).map(int_value).ok_or_else(overflow),
            "-" => a.checked_sub(b).map(int_value).ok_or_else(overflow),
            "*" => a.checked_mul(b).map(int_value).ok_or_else(overflow),
            "/" if b == 0 => Err(zero_division("division by zero")),
            "/" => Ok(Value::from(a as f64 / b as f64)),
            "//" | "%" if b == 0 => Err(zero_division("integer division or modulo by zero")),
            "//" => Ok(int_value(
                a.div_euclid(b) - i128::from(b < 0 && a.rem_euclid(b) != 0),
            )),
            "%" => {
                let r = a.rem_euclid(b);
                Ok(int_value(if b < 0 && r != 0 { r + b } else { r }))
            }
            "**" if b >= 0 => u32::try_from(b)
                .ok()
                .and_then(|e| a.checked_pow(e))
                .map(int_value)
                .ok_or_else(overflow),
            "**" if a == 0 => Err(zero_division("0.0 cannot be raised to a negative power")),
            "**" => Ok(Value::from((a as f64).powf(b as f64))),
            _ => Err(type_error(format!("unknown operator {op}"))),
        };
    }
    let (a, b) = (as_f64(x), as_f64(y));
    let r = match op {
        "+" => a + b,
        "-" => a - b,
        "*" => a * b,
        "/" if b == 0.0 => return Err(zero_division("float division by zero")),
        "/" => a / b,
        "//" if b == 0.0 => return Err(zero_division("float floor division by zero")),
        "%" if b == 0.0 => return Err(zero_division("float modulo")),
        "//" => float_divmod(a, b).0,
        "%" => float_divmod(a, b).1,
        "**" if a == 0.0 && b < 0.0 => {
            return Err(zero_division("0.0 cannot be raised to a negative power"))
        }
        "**" if a < 0.0 && b.fract() != 0.0 => {
            return Err(type_error(
                "a negative number to a fractional power is complex".into(),
            ))
        }
        "**" => a.powf(b),
        _ => return Err(type_error(format!("unknown operator {op}"))),
    };
    Ok(Value::from(r))
}

/// `a + b` on two strings, with markupsafe's escaping when one side is Markup.
fn add_str(a: &Value, b: &Value, x: &str, y: &str) -> Value {
    match (a.is_safe(), b.is_safe()) {
        (false, false) => Value::from(format!("{x}{y}")),
        (true, true) => Value::from_safe_string(format!("{x}{y}")),
        (true, false) => Value::from_safe_string(format!("{x}{}", html_escape(y))),
        (false, true) => Value::from_safe_string(format!("{}{y}", html_escape(x))),
    }
}

fn repeat(seq: &Value, times: i128) -> Result<Value, Error> {
    let n = usize::try_from(times.max(0)).map_err(|_| overflow())?;
    let unit = seq
        .as_str()
        .map_or_else(|| seq.len().unwrap_or(0), str::len);
    check_len(unit.saturating_mul(n))?;
    if let Some(s) = seq.as_str() {
        return Ok(Value::from(s.repeat(n)));
    }
    let items: Vec<Value> = seq.try_iter()?.collect();
    let out: Vec<Value> = std::iter::repeat_n(items, n).flatten().collect();
    Ok(if type_name(seq) == "tuple" {
        PyTuple::value(out)
    } else {
        Value::from(out)
    })
}

fn unsupported_operands(op: &str, a: &Value, b: &Value) -> Error {
    type_error(format!(
        "unsupported operand type(s) for {op}: '{}' and '{}'",
        type_name(a),
        type_name(b)
    ))
}

/// Python ordering of two values (`<` family); TypeError for types Python does not order.
fn py_cmp(op: &str, a: &Value, b: &Value) -> Result<Ordering, Error> {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        let ord = match (x, y) {
            (Num::Int(p), Num::Int(q)) => Some(p.cmp(&q)),
            _ => as_f64(x).partial_cmp(&as_f64(y)),
        };
        // NaN compares false every way; `Less` for `>`/`>=` and `Greater` for `<`/`<=` both give false.
        return Ok(ord.unwrap_or(if op.starts_with('<') {
            Ordering::Greater
        } else {
            Ordering::Less
        }));
    }
    let (ta, tb) = (type_name(a), type_name(b));
    let same_seq = (ta == "list" && tb == "list") || (ta == "tuple" && tb == "tuple");
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        return Ok(x.cmp(y));
    }
    if same_seq {
        let xs: Vec<Value> = a.try_iter()?.collect();
        let ys: Vec<Value> = b.try_iter()?.collect();
        for (x, y) in xs.iter().zip(ys.iter()) {
            if x != y {
                return py_cmp(op, x, y);
            }
        }
        return Ok(xs.len().cmp(&ys.len()));
    }
    Err(type_error(format!(
        "'{op}' not supported between instances of '{ta}' and '{tb}'"
    )))
}

/// Python `needle in container`.
fn py_in(needle: &Value, container: &Value) -> Result<bool, Error> {
    match container.kind() {
        ValueKind::Undefined => Ok(false),
        ValueKind::String => match needle.as_str() {
            Some(n) => Ok(container.as_str().unwrap_or_default().contains(n)),
            None => Err(type_error(format!(
                "'in <string>' requires string as left operand, not {}",
                type_name(needle)
            ))),
        },
        ValueKind::Map => Ok(container.try_iter()?.any(|k| &k == needle)),
        ValueKind::Seq | ValueKind::Iterable => Ok(container.try_iter()?.any(|x| &x == needle)),
        _ => Err(type_error(format!(
            "argument of type '{}' is not iterable",
            type_name(container)
        ))),
    }
}

/// Python `a <op> b` for the operators `rewrite.rs` hands over.
pub(crate) fn py_op(op: &str, a: Value, b: Value) -> Result<Value, Error> {
    if op == "in" {
        return py_in(&a, &b).map(Value::from);
    }
    if a.is_undefined() || (b.is_undefined() && op != "%") {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!("an undefined value was used with `{op}`"),
        ));
    }
    if matches!(op, "<" | "<=" | ">" | ">=") {
        let ord = py_cmp(op, &a, &b)?;
        return Ok(Value::from(match op {
            "<" => ord == Ordering::Less,
            "<=" => ord != Ordering::Greater,
            ">" => ord == Ordering::Greater,
            _ => ord != Ordering::Less,
        }));
    }
    if let (Some(x), Some(y)) = (num(&a), num(&b)) {
        return arith(op, x, y);
    }
    let (ta, tb) = (type_name(&a), type_name(&b));
    match op {
        "+" => {
            if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
                return Ok(add_str(&a, &b, x, y));
            }
            if a.as_str().is_some() {
                return Err(type_error(format!(
                    "can only concatenate str (not \"{tb}\") to str"
                )));
            }
            if (ta == "list" && tb == "list") || (ta == "tuple" && tb == "tuple") {
                let items: Vec<Value> = a.try_iter()?.chain(b.try_iter()?).collect();
                return Ok(if ta == "tuple" {
                    PyTuple::value(items)
                } else {
                    Value::from(items)
                });
            }
            if ta == "list" || ta == "tuple" {
                return Err(type_error(format!(
                    "can only concatenate {ta} (not \"{tb}\") to {ta}"
                )));
            }
            Err(unsupported_operands(op, &a, &b))
        }
        "*" => match (num(&a), num(&b)) {
            (None, Some(Num::Int(n))) if matches!(ta, "str" | "Markup" | "list" | "tuple") => {
                repeat(&a, n)
            }
            (Some(Num::Int(n)), None) if matches!(tb, "str" | "Markup" | "list" | "tuple") => {
                repeat(&b, n)
            }
            _ => Err(unsupported_operands(op, &a, &b)),
        },
        "%" if a.as_str().is_some() => {
            percent_format(a.as_str().unwrap_or_default(), &b).map(Value::from)
        }
        _ => Err(unsupported_operands(op, &a, &b)),
    }
}

/// Python `obj[start:stop:step]` (jinja2 compiles slices to a plain subscript, not `getitem`):
/// strings give strings, lists lists, tuples tuples; anything else is a TypeError.
pub(crate) fn py_slice(obj: Value, start: Value, stop: Value, step: Value) -> Result<Value, Error> {
    if obj.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "cannot slice an undefined value",
        ));
    }
    let idx = |v: &Value| -> Result<Option<i128>, ()> {
        match v.kind() {
            ValueKind::None | ValueKind::Undefined => Ok(None),
            _ => match num(v) {
                Some(Num::Int(i)) => Ok(Some(i)),
                _ => Err(()),
            },
        }
    };
    let (Ok(start), Ok(stop), Ok(step)) = (idx(&start), idx(&stop), idx(&step)) else {
        return Err(type_error("slice indices must be integers or None".into()));
    };
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "ValueError: slice step cannot be zero",
        ));
    }
    let items: Vec<Value> = match obj.kind() {
        ValueKind::String => obj
            .as_str()
            .unwrap_or_default()
            .chars()
            .map(Value::from)
            .collect(),
        ValueKind::Seq => obj.try_iter()?.collect(),
        _ => {
            return Err(type_error(format!(
                "'{}' object is not subscriptable",
                type_name(&obj)
            )))
        }
    };
    let len = items.len() as i128;
    // CPython PySlice_AdjustIndices.
    let adjust = |v: Option<i128>, default: i128| -> i128 {
        match v {
            None => default,
            Some(i) if i < 0 => {
                let i = i + len;
                if i < 0 {
                    if step < 0 {
                        -1
                    } else {
                        0
                    }
                } else {
                    i
                }
            }
            Some(i) if i >= len => {
                if step < 0 {
                    len - 1
                } else {
                    len
                }
            }
            Some(i) => i,
        }
    };
    let (lo, hi) = if step > 0 {
        (adjust(start, 0), adjust(stop, len))
    } else {
        (adjust(start, len - 1), adjust(stop, -1))
    };
    let mut picked = Vec::new();
    let mut i = lo;
    while (step > 0 && i < hi) || (step < 0 && i > hi) {
        if let Some(v) = usize::try_from(i).ok().and_then(|u| items.get(u)) {
            picked.push(v.clone());
        }
        i += step;
    }
    Ok(match obj.kind() {
        ValueKind::String => {
            let text: String = picked
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            if obj.is_safe() {
                Value::from_safe_string(text)
            } else {
                Value::from(text)
            }
        }
        _ if type_name(&obj) == "tuple" => PyTuple::value(picked),
        _ => Value::from(picked),
    })
}

/// A chained comparison `a op1 b op2 c ...` as Python evaluates it (all operands already evaluated).
pub(crate) fn py_chain(args: &[Value]) -> Result<Value, Error> {
    let mut i = 0;
    while i + 2 < args.len() {
        let (a, op, b) = (
            &args[i],
            args[i + 1].as_str().unwrap_or_default(),
            &args[i + 2],
        );
        let holds = match op {
            "==" => a == b,
            "!=" => a != b,
            "not in" => !py_in(a, b)?,
            _ => py_op(op, a.clone(), b.clone())?.is_true(),
        };
        if !holds {
            return Ok(Value::from(false));
        }
        i += 2;
    }
    Ok(Value::from(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(o: &str, a: impl Into<Value>, b: impl Into<Value>) -> Result<Value, Error> {
        py_op(o, a.into(), b.into())
    }

    #[test]
    fn arithmetic_like_python() {
        assert_eq!(op("+", 1, true).unwrap(), Value::from(2));
        assert_eq!(op("%", 7, -3).unwrap(), Value::from(-2));
        assert_eq!(op("%", -7, 3).unwrap(), Value::from(2));
        assert_eq!(op("//", -7, 2).unwrap(), Value::from(-4));
        assert_eq!(op("//", 7, -2).unwrap(), Value::from(-4));
        assert_eq!(op("/", 10, 4).unwrap(), Value::from(2.5));
        assert_eq!(op("%", -7.5, 2.0).unwrap(), Value::from(0.5));
        assert_eq!(op("**", 2, -1).unwrap(), Value::from(0.5));
        assert!(op("/", 1, 0).is_err());
        assert_eq!(op("*", "ab", 3).unwrap().as_str(), Some("ababab"));
        assert_eq!(op("*", 2, "x").unwrap().as_str(), Some("xx"));
    }

    #[test]
    fn strings_and_markup() {
        let m = op("+", Value::from_safe_string("'".into()), "<x>").unwrap();
        assert_eq!(m.as_str(), Some("'&lt;x&gt;"));
        assert!(m.is_safe());
        let err = op("+", "a", vec![1]).unwrap_err();
        assert!(err
            .to_string()
            .contains("can only concatenate str (not \"list\") to str"));
        assert!(op("<", 1, "a").is_err());
        assert!(op("in", 1, "abc").is_err());
        assert!(op("in", "b", ()).is_err());
        assert_eq!(op("in", "b", "abc").unwrap(), Value::from(true));
    }

    #[test]
    fn slices() {
        let sl = |o: Value, a: Value, b: Value, c: Value| py_slice(o, a, b, c).unwrap();
        let n = Value::from(());
        let s = Value::from("abcdef");
        assert_eq!(
            sl(s.clone(), Value::from(1), Value::from(-1), n.clone()).as_str(),
            Some("bcde")
        );
        assert_eq!(
            sl(s.clone(), n.clone(), n.clone(), Value::from(-2)).as_str(),
            Some("fdb")
        );
        assert_eq!(
            sl(s, Value::from(10), n.clone(), n.clone()).as_str(),
            Some("")
        );
        let l = Value::from(vec![1, 2, 3]);
        assert_eq!(sl(l, Value::from(1), n.clone(), n.clone()).len(), Some(2));
        assert!(py_slice(n.clone(), n.clone(), n.clone(), n).is_err());
    }

    #[test]
    fn chains() {
        let args = [
            Value::from(1),
            Value::from("<"),
            Value::from(2),
            Value::from("<="),
            Value::from(2),
        ];
        assert_eq!(py_chain(&args).unwrap(), Value::from(true));
        let args = [
            Value::from(3),
            Value::from("<"),
            Value::from(2),
            Value::from("<"),
            Value::from(5),
        ];
        assert_eq!(py_chain(&args).unwrap(), Value::from(false));
    }
}
