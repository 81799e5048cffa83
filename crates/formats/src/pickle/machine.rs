//! The restricted unpickler: a stack machine over [`Instr`]s that builds inert values in an
//! arena and never calls anything.
//!
//! Python objects are [`Node`]s in one arena; the stack and the memo hold indices, so GET/DUP
//! share instead of copying (no "billion laughs") and in-place updates (SETITEMS after a PUT)
//! are seen through the memo as in CPython. The few callables a state dict needs are modelled
//! (see [`Machine::call`]); in [`Mode::Load`] every other global is refused where it is named,
//! in [`Mode::Audit`] it is recorded as an [`Event`] and stands for an opaque object.

use std::collections::HashMap;

use super::allow::{is_allowed, storage_dtype};
use super::walk::{Arg, Instr};
use super::{Opcode, PickleError};
use crate::safetensors::Dtype;

/// Index of a node in the arena.
pub(crate) type Id = u32;

/// Most nodes (objects) one pickle may create: a state dict needs a few dozen per tensor,
/// so this allows ~100k tensors while bounding memory to a few hundred MiB.
const MAX_NODES: usize = 1 << 22;
/// Deepest stack.
const MAX_STACK: usize = 1 << 20;
/// Most nested MARKs.
const MAX_MARKS: usize = 1 << 16;
/// Most memo entries.
const MAX_MEMO: usize = 1 << 22;
/// Most dimensions of a tensor.
const MAX_DIMS: usize = 64;

/// A tensor as `_rebuild_tensor_v2` describes it (all counts in elements).
#[derive(Clone, Debug)]
pub(crate) struct TensorRef {
    pub storage: Id,
    pub offset: u64,
    pub size: Vec<u64>,
    pub stride: Vec<u64>,
}

/// An inert Python value. Some payloads (booleans, floats, bytes) are only kept for `Debug`
/// output: no state dict needs their values.
#[derive(Clone, Debug)]
#[allow(dead_code)]
pub(crate) enum Node {
    None,
    Bool(bool),
    Int(i64),
    /// An integer beyond 64 bits (value not kept).
    BigInt,
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Set(Vec<Id>),
    Global {
        module: String,
        name: String,
    },
    /// A typed storage named by a persistent id.
    Storage {
        dtype: Dtype,
        key: String,
        numel: u64,
    },
    Tensor(TensorRef),
    /// Audit mode: the result of a call the machine does not model; `class` when known.
    Object {
        class: Option<String>,
    },
}

/// How the machine treats globals outside the allow-list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Refuse them with [`PickleError::Forbidden`].
    Load,
    /// Record them and go on.
    Audit,
}

/// Something security-relevant the audit saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// GLOBAL, STACK_GLOBAL or INST named `module.name`.
    Import {
        /// The module.
        module: String,
        /// The attribute.
        name: String,
    },
    /// REDUCE, NEWOBJ, NEWOBJ_EX, OBJ, INST call, or BUILD on an object of a class: the
    /// callable or class as `module.name`, `None` when it was computed (not a plain global).
    Call {
        /// `module.name`, when known.
        callable: Option<String>,
    },
    /// EXT1/EXT2/EXT4: a callable from the copyreg extension registry, unknown here.
    Extension {
        /// The extension code.
        code: i64,
    },
    /// PERSID/BINPERSID: an object the loader's `persistent_load` resolves.
    PersistentId,
    /// NEXT_BUFFER/READONLY_BUFFER: out-of-band data.
    Buffer,
}

/// One [`EventKind`] at the offset of its opcode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Offset of the opcode in the pickle.
    pub offset: usize,
    /// The opcode.
    pub opcode: Opcode,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// True when the event names only allow-listed globals (or is a persistent id, which
    /// PyTorch checkpoints use for every storage).
    pub fn is_allowed(&self) -> bool {
        match &self.kind {
            EventKind::Import { module, name } => is_allowed(module, name),
            EventKind::Call { callable: Some(c) } => {
                c.rsplit_once('.').is_some_and(|(m, n)| is_allowed(m, n))
            }
            EventKind::PersistentId => true,
            EventKind::Call { callable: None }
            | EventKind::Extension { .. }
            | EventKind::Buffer => false,
        }
    }
}

/// The machine's state.
#[derive(Debug)]
pub(crate) struct Machine {
    mode: Mode,
    pub nodes: Vec<Node>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
    pub events: Vec<Event>,
    /// The value STOP returned.
    pub result: Option<Id>,
}

fn bad(i: &Instr<'_>, message: impl Into<String>) -> PickleError {
    PickleError::BadArgument {
        offset: i.offset,
        opcode: i.opcode.name(),
        message: message.into(),
    }
}

fn unsupported(i: &Instr<'_>, message: impl Into<String>) -> PickleError {
    PickleError::Unsupported {
        offset: i.offset,
        opcode: i.opcode.name(),
        message: message.into(),
    }
}

/// Text of a GLOBAL/INST line or a STACK_GLOBAL string.
fn text(i: &Instr<'_>, b: &[u8]) -> Result<String, PickleError> {
    String::from_utf8(b.to_vec()).map_err(|_| bad(i, "module or name is not UTF-8"))
}

/// Bytes as a Python 2 `str` decodes: UTF-8 when valid, else Latin-1.
fn latin1_or_utf8(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => b.iter().map(|&c| char::from(c)).collect(),
    }
}

/// Little-endian two's-complement integer of LONG1/LONG4.
fn long_bytes(b: &[u8]) -> Node {
    if b.is_empty() {
        return Node::Int(0);
    }
    if b.len() > 8 {
        return Node::BigInt;
    }
    let mut a = if b[b.len() - 1] & 0x80 != 0 {
        [0xffu8; 8]
    } else {
        [0u8; 8]
    };
    a[..b.len()].copy_from_slice(b);
    Node::Int(i64::from_le_bytes(a))
}

/// Decimal integer text (INT, LONG), beyond i64 as [`Node::BigInt`].
fn int_text(i: &Instr<'_>, line: &[u8]) -> Result<Node, PickleError> {
    let s = std::str::from_utf8(line)
        .map_err(|_| bad(i, "not ASCII"))?
        .trim();
    let s = s.strip_suffix('L').unwrap_or(s);
    if let Ok(v) = s.parse::<i64>() {
        return Ok(Node::Int(v));
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        return Ok(Node::BigInt);
    }
    Err(bad(i, format!("`{}` is not an integer", s.escape_debug())))
}

/// Body of a protocol-0 STRING (a quoted Python literal) with the common escapes undone.
fn quoted(i: &Instr<'_>, line: &[u8]) -> Result<Vec<u8>, PickleError> {
    let quoted_ok = matches!(line, [q @ (b'\'' | b'"'), .., last] if last == q);
    if !quoted_ok {
        return Err(bad(i, "string is not quoted"));
    }
    let body = &line[1..line.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut k = 0;
    while k < body.len() {
        let c = body[k];
        k += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = body.get(k) else {
            return Err(bad(i, "string ends in a backslash"));
        };
        k += 1;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'0' => out.push(0),
            b'x' => {
                let h = body
                    .get(k..k + 2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| bad(i, "bad \\x escape"))?;
                out.push(h);
                k += 2;
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Protocol-0 UNICODE (`raw-unicode-escape`): `\uXXXX` and `\UXXXXXXXX`, other bytes Latin-1.
fn raw_unicode(i: &Instr<'_>, line: &[u8]) -> Result<String, PickleError> {
    let mut out = String::with_capacity(line.len());
    let mut k = 0;
    while k < line.len() {
        let c = line[k];
        let n = match (c, line.get(k + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            _ => {
                out.push(char::from(c));
                k += 1;
                continue;
            }
        };
        let ch = line
            .get(k + 2..k + 2 + n)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
            .ok_or_else(|| bad(i, "bad \\u escape"))?;
        out.push(ch);
        k += 2 + n;
    }
    Ok(out)
}

impl Machine {
    pub(crate) fn new(mode: Mode) -> Machine {
        Machine {
            mode,
            nodes: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            events: Vec::new(),
            result: None,
        }
    }

    pub(crate) fn node(&self, id: Id) -> &Node {
        // Ids only come from `alloc`, so they are always in range.
        &self.nodes[id as usize]
    }

    fn alloc(&mut self, i: &Instr<'_>, n: Node) -> Result<Id, PickleError> {
        if self.nodes.len() >= MAX_NODES {
            return Err(PickleError::Limit {
                offset: i.offset,
                what: "objects",
                limit: MAX_NODES,
            });
        }
        self.nodes.push(n);
        Ok((self.nodes.len() - 1) as Id)
    }

    fn push_id(&mut self, i: &Instr<'_>, id: Id) -> Result<(), PickleError> {
        if self.stack.len() >= MAX_STACK {
            return Err(PickleError::Limit {
                offset: i.offset,
                what: "stack items",
                limit: MAX_STACK,
            });
        }
        self.stack.push(id);
        Ok(())
    }

    fn push(&mut self, i: &Instr<'_>, n: Node) -> Result<(), PickleError> {
        let id = self.alloc(i, n)?;
        self.push_id(i, id)
    }

    /// Bottom of the current mark frame.
    fn base(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self, i: &Instr<'_>) -> Result<Id, PickleError> {
        if self.stack.len() <= self.base() {
            return Err(PickleError::StackUnderflow {
                offset: i.offset,
                opcode: i.opcode.name(),
                what: "an item",
            });
        }
        self.stack.pop().ok_or(PickleError::StackUnderflow {
            offset: i.offset,
            opcode: i.opcode.name(),
            what: "an item",
        })
    }

    fn top(&self, i: &Instr<'_>) -> Result<Id, PickleError> {
        if self.stack.len() <= self.base() {
            return Err(PickleError::StackUnderflow {
                offset: i.offset,
                opcode: i.opcode.name(),
                what: "an item",
            });
        }
        self.stack
            .last()
            .copied()
            .ok_or(PickleError::StackUnderflow {
                offset: i.offset,
                opcode: i.opcode.name(),
                what: "an item",
            })
    }

    /// Everything above the last MARK, removing the mark.
    fn pop_mark(&mut self, i: &Instr<'_>) -> Result<Vec<Id>, PickleError> {
        let Some(m) = self.marks.pop() else {
            return Err(PickleError::StackUnderflow {
                offset: i.offset,
                opcode: i.opcode.name(),
                what: "a MARK",
            });
        };
        Ok(self.stack.split_off(m.min(self.stack.len())))
    }

    fn memo_put(&mut self, i: &Instr<'_>, key: u64) -> Result<(), PickleError> {
        let top = self.top(i)?;
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&key) {
            return Err(PickleError::Limit {
                offset: i.offset,
                what: "memo entries",
                limit: MAX_MEMO,
            });
        }
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, i: &Instr<'_>, key: u64) -> Result<(), PickleError> {
        let id = *self.memo.get(&key).ok_or(PickleError::MemoMissing {
            offset: i.offset,
            opcode: i.opcode.name(),
            key,
        })?;
        self.push_id(i, id)
    }

    fn event(&mut self, i: &Instr<'_>, kind: EventKind) {
        if self.mode == Mode::Audit {
            self.events.push(Event {
                offset: i.offset,
                opcode: i.opcode,
                kind,
            });
        }
    }

    /// A global named by GLOBAL, STACK_GLOBAL or INST: recorded, refused in load mode.
    fn global(&mut self, i: &Instr<'_>, module: String, name: String) -> Result<Id, PickleError> {
        self.event(
            i,
            EventKind::Import {
                module: module.clone(),
                name: name.clone(),
            },
        );
        if self.mode == Mode::Load && !is_allowed(&module, &name) {
            return Err(PickleError::Forbidden {
                offset: i.offset,
                opcode: i.opcode.name(),
                callable: format!("{module}.{name}"),
            });
        }
        self.alloc(i, Node::Global { module, name })
    }

    fn global_name(&self, id: Id) -> Option<String> {
        match self.node(id) {
            Node::Global { module, name } => Some(format!("{module}.{name}")),
            _ => None,
        }
    }

    /// Call `callable(*args)` (REDUCE, NEWOBJ, OBJ, INST): modelled for allow-listed
    /// callables; anything else is an error in load mode and an opaque object in audit mode.
    fn call(&mut self, i: &Instr<'_>, callable: Id, args: Vec<Id>) -> Result<(), PickleError> {
        let name = self.global_name(callable);
        self.event(
            i,
            EventKind::Call {
                callable: name.clone(),
            },
        );
        match self.model_call(i, callable, &args) {
            Ok(n) => self.push(i, n),
            Err(e) if self.mode == Mode::Load => Err(e),
            Err(_) => self.push(i, Node::Object { class: name }),
        }
    }

    fn model_call(
        &mut self,
        i: &Instr<'_>,
        callable: Id,
        args: &[Id],
    ) -> Result<Node, PickleError> {
        let (module, name) = match self.node(callable) {
            Node::Global { module, name } => (module.clone(), name.clone()),
            _ => {
                return Err(unsupported(
                    i,
                    "call of a computed callable (not a plain global)",
                ))
            }
        };
        if !is_allowed(&module, &name) {
            return Err(PickleError::Forbidden {
                offset: i.offset,
                opcode: i.opcode.name(),
                callable: format!("{module}.{name}"),
            });
        }
        let wrong = || unsupported(i, format!("`{module}.{name}` with unexpected arguments"));
        match (module.as_str(), name.as_str()) {
            ("collections", "OrderedDict") => match args {
                [] => Ok(Node::Dict(Vec::new())),
                [a] => match self.node(*a) {
                    Node::List(v) | Node::Tuple(v) if v.is_empty() => Ok(Node::Dict(Vec::new())),
                    _ => Err(wrong()),
                },
                _ => Err(wrong()),
            },
            ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => {
                let (storage, offset, size, stride) = match args {
                    [s, o, z, t, ..] => (*s, *o, *z, *t),
                    _ => return Err(wrong()),
                };
                if !matches!(self.node(storage), Node::Storage { .. }) {
                    return Err(unsupported(
                        i,
                        "tensor storage is not a persistent-id storage",
                    ));
                }
                let offset = self.uint(offset).ok_or_else(wrong)?;
                let size = self.uints(size).ok_or_else(wrong)?;
                let stride = self.uints(stride).ok_or_else(wrong)?;
                if size.len() != stride.len() || size.len() > MAX_DIMS {
                    return Err(wrong());
                }
                Ok(Node::Tensor(TensorRef {
                    storage,
                    offset,
                    size,
                    stride,
                }))
            }
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
                match args.first().map(|&a| self.node(a)) {
                    Some(t @ Node::Tensor(_)) => Ok(t.clone()),
                    _ => Err(wrong()),
                }
            }
            ("torch", "Size") => match args {
                [a] => match self.node(*a) {
                    t @ Node::Tuple(_) => Ok(t.clone()),
                    _ => Err(wrong()),
                },
                _ => Err(wrong()),
            },
            ("_codecs", "encode") => match args {
                [s, enc] => match (self.node(*s), self.node(*enc)) {
                    (Node::Str(s), Node::Str(e)) if e == "latin1" || e == "latin-1" => s
                        .chars()
                        .map(|c| u8::try_from(u32::from(c)).ok())
                        .collect::<Option<Vec<u8>>>()
                        .map(Node::Bytes)
                        .ok_or_else(wrong),
                    _ => Err(wrong()),
                },
                _ => Err(wrong()),
            },
            _ => Err(unsupported(
                i,
                format!("`{module}.{name}` is not callable here"),
            )),
        }
    }

    fn uint(&self, id: Id) -> Option<u64> {
        match self.node(id) {
            Node::Int(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    fn uints(&self, id: Id) -> Option<Vec<u64>> {
        match self.node(id) {
            Node::Tuple(v) | Node::List(v) => v.iter().map(|&x| self.uint(x)).collect(),
            _ => None,
        }
    }

    /// `persistent_load(pid)` for `('storage', torch.XStorage, key, location, numel, ...)`.
    fn persistent(&mut self, i: &Instr<'_>, pid: Id) -> Result<(), PickleError> {
        self.event(i, EventKind::PersistentId);
        match self.storage(i, pid) {
            Ok(n) => self.push(i, n),
            Err(e) if self.mode == Mode::Load => Err(e),
            Err(_) => self.push(i, Node::Object { class: None }),
        }
    }

    fn storage(&self, i: &Instr<'_>, pid: Id) -> Result<Node, PickleError> {
        let wrong = |m: &str| unsupported(i, format!("persistent id {m}"));
        let Node::Tuple(t) = self.node(pid) else {
            return Err(wrong("is not a tuple"));
        };
        let [tag, ty, key, _location, numel, ..] = t[..] else {
            return Err(wrong("has fewer than 5 fields"));
        };
        if !matches!(self.node(tag), Node::Str(s) if s == "storage") {
            return Err(wrong("is not a ('storage', ...) tuple"));
        }
        let dtype = match self.node(ty) {
            Node::Global { module, name } if module == "torch" => storage_dtype(name),
            _ => None,
        }
        .ok_or_else(|| wrong("names no typed torch storage class"))?;
        let key = match self.node(key) {
            Node::Str(s) => s.clone(),
            Node::Int(v) => v.to_string(),
            _ => return Err(wrong("has a key that is not a string")),
        };
        let numel = self
            .uint(numel)
            .ok_or_else(|| wrong("has a bad element count"))?;
        // Legacy checkpoints add `view_metadata`: a view into a larger storage (torch < 0.4).
        if let Some(&view) = t.get(5) {
            if !matches!(self.node(view), Node::None) {
                return Err(wrong(
                    "describes a storage view (torch < 0.4), not supported",
                ));
            }
        }
        Ok(Node::Storage { dtype, key, numel })
    }

    /// Execute one instruction.
    pub(crate) fn step(&mut self, i: &Instr<'_>) -> Result<(), PickleError> {
        use Opcode::*;
        match (i.opcode, i.arg) {
            (PROTO, Arg::Int(p)) => {
                if p > 5 {
                    return Err(bad(i, format!("protocol {p} is newer than 5")));
                }
            }
            (FRAME, _) => {}
            (STOP, _) => {
                let r = self.pop(i)?;
                self.result = Some(r);
            }
            (MARK, _) => {
                if self.marks.len() >= MAX_MARKS {
                    return Err(PickleError::Limit {
                        offset: i.offset,
                        what: "nested MARKs",
                        limit: MAX_MARKS,
                    });
                }
                self.marks.push(self.stack.len());
            }
            (POP, _) => {
                if self.stack.len() > self.base() {
                    self.pop(i)?;
                } else {
                    self.pop_mark(i)?;
                }
            }
            (POP_MARK, _) => {
                self.pop_mark(i)?;
            }
            (DUP, _) => {
                let t = self.top(i)?;
                self.push_id(i, t)?;
            }
            (NONE, _) => self.push(i, Node::None)?,
            (NEWTRUE, _) => self.push(i, Node::Bool(true))?,
            (NEWFALSE, _) => self.push(i, Node::Bool(false))?,
            (BININT | BININT1 | BININT2, Arg::Int(v)) => self.push(i, Node::Int(v))?,
            (INT, Arg::Line(l)) => {
                let n = match l {
                    b"01" => Node::Bool(true),
                    b"00" => Node::Bool(false),
                    _ => int_text(i, l)?,
                };
                self.push(i, n)?;
            }
            (LONG, Arg::Line(l)) => {
                let n = int_text(i, l)?;
                self.push(i, n)?;
            }
            (LONG1 | LONG4, Arg::Bytes(b)) => self.push(i, long_bytes(b))?,
            (FLOAT, Arg::Line(l)) => {
                let v = std::str::from_utf8(l)
                    .ok()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .ok_or_else(|| bad(i, "not a float"))?;
                self.push(i, Node::Float(v))?;
            }
            (BINFLOAT, Arg::Float(v)) => self.push(i, Node::Float(v))?,
            (STRING, Arg::Line(l)) => {
                let b = quoted(i, l)?;
                self.push(i, Node::Str(latin1_or_utf8(&b)))?;
            }
            (BINSTRING | SHORT_BINSTRING, Arg::Bytes(b)) => {
                self.push(i, Node::Str(latin1_or_utf8(b)))?
            }
            (UNICODE, Arg::Line(l)) => {
                let s = raw_unicode(i, l)?;
                self.push(i, Node::Str(s))?;
            }
            (BINUNICODE | SHORT_BINUNICODE | BINUNICODE8, Arg::Bytes(b)) => {
                let s = std::str::from_utf8(b).map_err(|_| bad(i, "string is not UTF-8"))?;
                self.push(i, Node::Str(s.to_string()))?;
            }
            (BINBYTES | SHORT_BINBYTES | BINBYTES8 | BYTEARRAY8, Arg::Bytes(b)) => {
                self.push(i, Node::Bytes(b.to_vec()))?
            }
            (EMPTY_TUPLE, _) => self.push(i, Node::Tuple(Vec::new()))?,
            (TUPLE1 | TUPLE2 | TUPLE3, _) => {
                let n = match i.opcode {
                    TUPLE1 => 1,
                    TUPLE2 => 2,
                    _ => 3,
                };
                let mut v = vec![0; n];
                for slot in v.iter_mut().rev() {
                    *slot = self.pop(i)?;
                }
                self.push(i, Node::Tuple(v))?;
            }
            (TUPLE, _) => {
                let v = self.pop_mark(i)?;
                self.push(i, Node::Tuple(v))?;
            }
            (EMPTY_LIST, _) => self.push(i, Node::List(Vec::new()))?,
            (LIST, _) => {
                let v = self.pop_mark(i)?;
                self.push(i, Node::List(v))?;
            }
            (EMPTY_DICT, _) => self.push(i, Node::Dict(Vec::new()))?,
            (DICT, _) => {
                let v = self.pop_mark(i)?;
                if v.len() % 2 != 0 {
                    return Err(bad(i, "odd number of items"));
                }
                let pairs = v.chunks_exact(2).map(|p| (p[0], p[1])).collect();
                self.push(i, Node::Dict(pairs))?;
            }
            (EMPTY_SET, _) => self.push(i, Node::Set(Vec::new()))?,
            (FROZENSET, _) => {
                let v = self.pop_mark(i)?;
                self.push(i, Node::Set(v))?;
            }
            (APPEND, _) => {
                let v = self.pop(i)?;
                self.extend(i, vec![v])?;
            }
            (APPENDS, _) => {
                let v = self.pop_mark(i)?;
                self.extend(i, v)?;
            }
            (ADDITEMS, _) => {
                let v = self.pop_mark(i)?;
                self.extend(i, v)?;
            }
            (SETITEM, _) => {
                let v = self.pop(i)?;
                let k = self.pop(i)?;
                self.set_items(i, vec![k, v])?;
            }
            (SETITEMS, _) => {
                let v = self.pop_mark(i)?;
                if v.len() % 2 != 0 {
                    return Err(bad(i, "odd number of items"));
                }
                self.set_items(i, v)?;
            }
            (PUT, Arg::Line(l)) => {
                let k = std::str::from_utf8(l)
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .ok_or_else(|| bad(i, "memo key is not a number"))?;
                self.memo_put(i, k)?;
            }
            (BINPUT | LONG_BINPUT, Arg::Int(k)) => self.memo_put(i, k as u64)?,
            (MEMOIZE, _) => {
                let k = self.memo.len() as u64;
                self.memo_put(i, k)?;
            }
            (GET, Arg::Line(l)) => {
                let k = std::str::from_utf8(l)
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .ok_or_else(|| bad(i, "memo key is not a number"))?;
                self.memo_get(i, k)?;
            }
            (BINGET | LONG_BINGET, Arg::Int(k)) => self.memo_get(i, k as u64)?,
            (GLOBAL, Arg::Lines(m, n)) => {
                let (m, n) = (text(i, m)?, text(i, n)?);
                let id = self.global(i, m, n)?;
                self.push_id(i, id)?;
            }
            (STACK_GLOBAL, _) => {
                let n = self.pop(i)?;
                let m = self.pop(i)?;
                let (Node::Str(m), Node::Str(n)) = (self.node(m), self.node(n)) else {
                    return Err(bad(i, "module and name are not both strings"));
                };
                let (m, n) = (m.clone(), n.clone());
                let id = self.global(i, m, n)?;
                self.push_id(i, id)?;
            }
            (INST, Arg::Lines(m, n)) => {
                let (m, n) = (text(i, m)?, text(i, n)?);
                let args = self.pop_mark(i)?;
                let cls = self.global(i, m, n)?;
                self.call(i, cls, args)?;
            }
            (OBJ, _) => {
                let mut v = self.pop_mark(i)?;
                if v.is_empty() {
                    return Err(PickleError::StackUnderflow {
                        offset: i.offset,
                        opcode: i.opcode.name(),
                        what: "a class",
                    });
                }
                let cls = v.remove(0);
                self.call(i, cls, v)?;
            }
            (REDUCE | NEWOBJ, _) => {
                let args = self.pop(i)?;
                let f = self.pop(i)?;
                let args = match self.node(args) {
                    Node::Tuple(v) => v.clone(),
                    _ if self.mode == Mode::Audit => Vec::new(),
                    _ => return Err(unsupported(i, "arguments are not a tuple")),
                };
                self.call(i, f, args)?;
            }
            (NEWOBJ_EX, _) => {
                let kwargs = self.pop(i)?;
                let args = self.pop(i)?;
                let f = self.pop(i)?;
                let args = match (self.node(args), self.node(kwargs)) {
                    (Node::Tuple(v), Node::Dict(kw)) if kw.is_empty() => v.clone(),
                    _ if self.mode == Mode::Audit => Vec::new(),
                    _ => return Err(unsupported(i, "keyword arguments are not supported")),
                };
                self.call(i, f, args)?;
            }
            (BUILD, _) => {
                let _state = self.pop(i)?;
                let obj = self.top(i)?;
                match self.node(obj) {
                    // An OrderedDict's `__dict__` (`_metadata` of a state dict) or a tensor's
                    // Python attributes: dropped, nothing is called.
                    Node::Dict(_) | Node::Tensor(_) => {}
                    Node::Object { class } => {
                        let callable = class.clone();
                        self.event(i, EventKind::Call { callable });
                    }
                    _ if self.mode == Mode::Audit => {
                        self.event(i, EventKind::Call { callable: None })
                    }
                    _ => {
                        return Err(unsupported(
                            i,
                            "BUILD on an object that is not a dict or tensor",
                        ))
                    }
                }
            }
            (PERSID, Arg::Line(l)) => {
                self.event(i, EventKind::PersistentId);
                if self.mode == Mode::Load {
                    return Err(unsupported(i, "text persistent ids are not PyTorch's"));
                }
                let _ = l;
                self.push(i, Node::Object { class: None })?;
            }
            (BINPERSID, _) => {
                let pid = self.pop(i)?;
                self.persistent(i, pid)?;
            }
            (EXT1 | EXT2 | EXT4, Arg::Int(code)) => {
                self.event(i, EventKind::Extension { code });
                if self.mode == Mode::Load {
                    return Err(unsupported(
                        i,
                        format!(
                            "extension code {code} (copyreg registry) names an unknown callable"
                        ),
                    ));
                }
                self.push(
                    i,
                    Node::Global {
                        module: "copyreg".into(),
                        name: format!("<extension {code}>"),
                    },
                )?;
            }
            (NEXT_BUFFER, _) => {
                self.event(i, EventKind::Buffer);
                if self.mode == Mode::Load {
                    return Err(unsupported(i, "out-of-band buffers are not supported"));
                }
                self.push(i, Node::Object { class: None })?;
            }
            (READONLY_BUFFER, _) => {
                self.top(i)?;
            }
            (op, arg) => {
                // The walker pairs each opcode with its argument kind, so this is unreachable
                // for walker output; report it instead of panicking.
                return Err(bad(i, format!("{op} with argument {arg:?}")));
            }
        }
        Ok(())
    }

    /// APPEND/APPENDS/ADDITEMS on the object below the items.
    fn extend(&mut self, i: &Instr<'_>, items: Vec<Id>) -> Result<(), PickleError> {
        let target = self.top(i)?;
        match &mut self.nodes[target as usize] {
            Node::List(v) | Node::Set(v) => {
                v.extend(items);
                Ok(())
            }
            _ if self.mode == Mode::Audit => Ok(()),
            _ => Err(unsupported(
                i,
                "append to an object that is not a list or set",
            )),
        }
    }

    /// SETITEM/SETITEMS on the dict below the items.
    fn set_items(&mut self, i: &Instr<'_>, kv: Vec<Id>) -> Result<(), PickleError> {
        let target = self.top(i)?;
        match &mut self.nodes[target as usize] {
            Node::Dict(v) => {
                v.extend(kv.chunks_exact(2).map(|p| (p[0], p[1])));
                Ok(())
            }
            _ if self.mode == Mode::Audit => Ok(()),
            _ => Err(unsupported(
                i,
                "item assignment on an object that is not a dict",
            )),
        }
    }
}
