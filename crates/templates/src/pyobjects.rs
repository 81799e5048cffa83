//! Python container types that templates can observe: tuples, generators and dict views.
//!
//! * `PyTuple`: what `dict.items()`/`|items` yield; unpacks like a list, prints as `('a', 1)`.
//! * `PyGenerator`: what jinja2's `map`, `select`, `selectattr`, `reject`, `rejectattr`, `unique`,
//!   `items`, `batch`, `slice` and `reverse` (of a list) return. Always truthy, no `len()`, not
//!   JSON-serializable, and consumed by iteration (a second loop over the same generator is empty),
//!   exactly as a Python generator; printing one would show a memory address, so it is refused.
//! * `PyView`: `dict.items()`/`keys()`/`values()`; has a length, prints as `dict_items([...])`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};

/// An immutable sequence that prints with parentheses.
#[derive(Debug)]
pub(crate) struct PyTuple(pub(crate) Vec<Value>);

impl PyTuple {
    /// Wraps `items` as a tuple value.
    pub(crate) fn value(items: Vec<Value>) -> Value {
        Value::from_object(PyTuple(items))
    }
}

fn index(items: &[Value], key: &Value) -> Option<Value> {
    let idx = i64::try_from(key.clone()).ok()?;
    let len = items.len() as i64;
    let idx = if idx < 0 { idx + len } else { idx };
    if (0..len).contains(&idx) {
        items.get(idx as usize).cloned()
    } else {
        None
    }
}

impl Object for PyTuple {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        index(&self.0, key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.len())
    }
}

/// A one-shot iterator over already computed items.
#[derive(Debug)]
pub(crate) struct PyGenerator {
    items: Mutex<VecDeque<Value>>,
}

impl PyGenerator {
    /// A generator that will yield `items` once.
    pub(crate) fn value(items: Vec<Value>) -> Value {
        Value::from_object(PyGenerator {
            items: Mutex::new(items.into()),
        })
    }
}

struct Drain(Arc<PyGenerator>);

impl Iterator for Drain {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        self.0.items.lock().ok()?.pop_front()
    }
}

impl Object for PyGenerator {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Iterable
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Iter(Box::new(Drain(Arc::clone(self))))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        None
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }
}

/// `dict_items`, `dict_keys` or `dict_values`.
#[derive(Debug)]
pub(crate) struct PyView {
    /// Python type name, e.g. `dict_items`.
    pub(crate) kind: &'static str,
    pub(crate) items: Vec<Value>,
}

impl PyView {
    /// A view value of `kind` over `items`.
    pub(crate) fn value(kind: &'static str, items: Vec<Value>) -> Value {
        Value::from_object(PyView { kind, items })
    }
}

impl Object for PyView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        index(&self.items, key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.items.len())
    }
}

/// A Python bound method (`d.items` without the call): callable, truthy, defined, and printed by
/// Python with a memory address (so refused when printed).
#[derive(Debug)]
pub(crate) struct BoundMethod {
    pub(crate) obj: Value,
    pub(crate) name: String,
}

impl Object for BoundMethod {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn call(
        self: &Arc<Self>,
        state: &minijinja::State<'_, '_>,
        args: &[Value],
    ) -> Result<Value, minijinja::Error> {
        crate::methods::call_method(state, &self.obj, &self.name, args)
    }
}

/// Is `value` a Python `dict` (a JSON object or a dict built by the template)? Namespaces, loop
/// objects and views are maps to minijinja but not dicts to Python.
pub(crate) fn is_dict(value: &Value) -> bool {
    value
        .downcast_object_ref::<indexmap::IndexMap<Value, Value>>()
        .is_some()
}
