//! [`JsonState`]: the incremental recognizer, one byte at a time.
//!
//! A state is a small set of *threads*; each thread is a stack of frames (open object, key being
//! written, array, string, number, literal, value about to start). A value whose schema has several
//! alternatives (`anyOf`, `type` lists, "any value") forks one thread per alternative that can start with
//! the byte seen; threads that refuse a byte die; equal threads merge. The state refuses a byte when no
//! thread survives it.
//!
//! Invariant: every thread can still be completed to a valid document. Each transition only opens a
//! value that fits under the depth bound (see `grammar.rs`), only starts a key that an unused property
//! (or a free key) can complete, only accepts a number byte that leaves room for a digit, and so on, so a
//! loop that only feeds accepted bytes never gets stuck short of a finished document.
//!
//! Numbers and literals that may still grow (`12` → `123`) end when a byte arrives that they cannot
//! take; that byte is then fed to the enclosing frame.

use std::sync::Arc;

use super::grammar::{JsonGrammar, LiteralSet, Node, NodeId, ObjectNode};
use super::string::{Scan, StrScan};
use super::{MAX_NUMBER_LEN, MAX_THREADS};

/// The recognizer's state after the bytes accepted so far. Cloning copies a few small vectors (one
/// frame per open container, usually one thread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonState {
    /// [`JsonGrammar::id`] of the grammar this state belongs to.
    grammar: u64,
    threads: Vec<Thread>,
    /// A non-whitespace byte has been accepted.
    started: bool,
    /// Every thread has finished its document.
    complete: bool,
    /// Some thread holds a whole document (a root number may still grow, so not necessarily complete).
    can_end: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Thread {
    frames: Vec<Frame>,
    /// Open objects and arrays.
    depth: u8,
    /// Consecutive whitespace bytes in the current gap.
    ws: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Frame {
    /// A value of this node starts with the next non-whitespace byte.
    Value(NodeId),
    Object(ObjFrame),
    /// A key being written; the object it belongs to is the frame below.
    Key(KeyFrame),
    Array {
        node: NodeId,
        /// Whether an item has been written (`false`: right after `[`).
        after_value: bool,
        count: u32,
    },
    Str {
        node: NodeId,
        scan: StrScan,
    },
    Num {
        integer: bool,
        phase: NumPhase,
        len: u8,
    },
    /// Matching the literal texts `lo..hi` of a [`Node::Literals`], `pos` bytes in.
    Lit {
        node: NodeId,
        lo: u32,
        hi: u32,
        pos: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ObjFrame {
    node: NodeId,
    phase: ObjPhase,
    /// Required properties written so far.
    n_req: u32,
    used: Used,
    /// Hashes of the free (non-property) keys written so far.
    free: Option<Arc<Vec<u64>>>,
    /// Schema of the value after the key just written.
    pending: NodeId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjPhase {
    AfterOpen,
    AfterComma,
    InKey,
    AfterKey,
    AfterValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyFrame {
    /// Properties whose canonical key text starts with the bytes so far (`lo == hi`: none).
    lo: u32,
    hi: u32,
    pos: u32,
    scan: StrScan,
    /// Free keys are allowed (the object has `additionalProperties` that fits here).
    free: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumPhase {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    /// One exponent digit.
    ExpDigit,
    /// Two exponent digits: the most we allow (see [`NumPhase::next`]).
    ExpDigits2,
}

impl NumPhase {
    fn accepting(self) -> bool {
        matches!(
            self,
            Self::Zero | Self::Int | Self::Frac | Self::ExpDigit | Self::ExpDigits2
        )
    }

    /// The phase after byte `b`. The exponent has at most two digits, so that with at most
    /// [`MAX_NUMBER_LEN`] bytes the value stays far inside the `f64` range: serde_json refuses numbers
    /// that overflow to infinity (`1e999`).
    fn next(self, b: u8, integer: bool) -> Option<Self> {
        let digit = b.is_ascii_digit();
        let frac_ok = !integer;
        match self {
            Self::Minus if b == b'0' => Some(Self::Zero),
            Self::Minus if digit => Some(Self::Int),
            Self::Zero | Self::Int if b == b'.' && frac_ok => Some(Self::Dot),
            Self::Zero | Self::Int | Self::Frac if (b == b'e' || b == b'E') && frac_ok => {
                Some(Self::Exp)
            }
            Self::Int if digit => Some(Self::Int),
            Self::Dot | Self::Frac if digit => Some(Self::Frac),
            Self::Exp if b == b'+' || b == b'-' => Some(Self::ExpSign),
            Self::Exp | Self::ExpSign if digit => Some(Self::ExpDigit),
            Self::ExpDigit if digit => Some(Self::ExpDigits2),
            _ => None,
        }
    }
}

/// Set of property indices already written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Used {
    small: u64,
    /// Indices from 64 on, shared until written (clones of a state are cheap).
    large: Option<Arc<Vec<u64>>>,
}

impl Used {
    fn get(&self, i: usize) -> bool {
        if i < 64 {
            return self.small >> i & 1 == 1;
        }
        let k = i - 64;
        self.large
            .as_ref()
            .and_then(|v| v.get(k / 64))
            .is_some_and(|w| w >> (k % 64) & 1 == 1)
    }

    fn set(&mut self, i: usize) {
        if i < 64 {
            self.small |= 1 << i;
            return;
        }
        let k = i - 64;
        let v = Arc::make_mut(self.large.get_or_insert_with(Default::default));
        if v.len() <= k / 64 {
            v.resize(k / 64 + 1, 0);
        }
        v[k / 64] |= 1 << (k % 64);
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl JsonState {
    /// The state before any output: the grammar's root value is expected.
    pub fn new(g: &JsonGrammar) -> Self {
        Self {
            grammar: g.id,
            threads: vec![Thread {
                frames: vec![Frame::Value(g.root)],
                depth: 0,
                ws: 0,
            }],
            started: false,
            complete: false,
            can_end: false,
        }
    }

    /// The state after `text`, or `None` if the output so far followed by `text` is no longer a prefix of
    /// a valid document. `g` must be the grammar this state was made from (else `None`).
    pub fn advance(&self, g: &JsonGrammar, text: &str) -> Option<JsonState> {
        self.advance_bytes(g, text.as_bytes())
    }

    /// As [`Self::advance`], for raw token bytes (which may end inside a UTF-8 character).
    pub fn advance_bytes(&self, g: &JsonGrammar, bytes: &[u8]) -> Option<JsonState> {
        if self.grammar != g.id {
            return None;
        }
        let mut cur = self.threads.clone();
        let mut next = Vec::with_capacity(cur.len());
        for &b in bytes {
            for th in cur.drain(..) {
                step(g, th, b, &mut next);
            }
            if next.is_empty() {
                return None;
            }
            if next.len() > 1 {
                dedup(&mut next);
            }
            std::mem::swap(&mut cur, &mut next);
        }
        let complete = cur.iter().all(|t| t.frames.is_empty());
        let can_end = cur.iter().any(|t| thread_can_end(g, t));
        Some(JsonState {
            grammar: self.grammar,
            threads: cur,
            started: self.started || bytes.iter().any(|&b| !is_ws(b)),
            complete,
            can_end,
        })
    }

    /// A whole valid document has been produced and nothing but whitespace may follow: the caller should
    /// end generation.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The output so far is a whole valid document, though it might still grow (a root-level number
    /// `12` may become `123`); an end-of-generation token is acceptable now.
    pub fn can_end(&self) -> bool {
        self.can_end
    }

    /// Nothing but (bounded) whitespace has been accepted yet.
    pub fn is_empty_start(&self) -> bool {
        !self.started
    }

    /// Number of alternatives being followed (1 unless an `anyOf` is still ambiguous).
    pub fn n_threads(&self) -> usize {
        self.threads.len()
    }

    /// Which first bytes of a token the state accepts (bit `b` of word `b / 64`): a token whose first
    /// byte is not accepted is refused without cloning the state.
    pub fn first_byte_mask(&self, g: &JsonGrammar) -> [u64; 4] {
        let mut mask = [0u64; 4];
        for b in 0..=255u8 {
            if self.advance_bytes(g, &[b]).is_some() {
                mask[usize::from(b / 64)] |= 1 << (b % 64);
            }
        }
        mask
    }
}

fn thread_can_end(g: &JsonGrammar, t: &Thread) -> bool {
    match t.frames.as_slice() {
        [] => true,
        [Frame::Num { phase, .. }] => phase.accepting(),
        [Frame::Lit { node, lo, pos, .. }] => match g.node(*node) {
            Node::Literals(l) => l
                .texts
                .get(*lo as usize)
                .is_some_and(|t| t.len() == *pos as usize),
            _ => false,
        },
        _ => false,
    }
}

/// Removes later duplicates and keeps at most [`MAX_THREADS`], first ones first.
fn dedup(v: &mut Vec<Thread>) {
    let mut i = 1;
    while i < v.len() {
        if v[..i].contains(&v[i]) {
            v.remove(i);
        } else {
            i += 1;
        }
    }
    v.truncate(MAX_THREADS);
}

/// Feeds byte `b` to thread `th`; the surviving threads (none, one, or several when a value forks) go to
/// `out`.
fn step(g: &JsonGrammar, mut th: Thread, b: u8, out: &mut Vec<Thread>) {
    let ws = is_ws(b);
    if !ws {
        th.ws = 0;
    }
    // Whitespace in a gap between tokens: counted against the bound.
    macro_rules! gap {
        () => {{
            if th.ws < g.max_ws {
                th.ws += 1;
                out.push(th);
            }
            return;
        }};
    }
    // Loops only when a number or literal ends and `b` goes to the frame below.
    loop {
        let depth = th.depth;
        let Some(top) = th.frames.last_mut() else {
            if ws {
                gap!();
            }
            return;
        };
        match top {
            Frame::Value(node) => {
                if ws {
                    gap!();
                }
                let node = *node;
                th.frames.pop();
                start_value(g, th, node, b, out);
                return;
            }
            Frame::Object(o) => {
                if ws && o.phase != ObjPhase::InKey {
                    gap!();
                }
                if step_object(g, &mut th, b) {
                    out.push(th);
                }
                return;
            }
            Frame::Key(_) => {
                if step_key(g, &mut th, b) {
                    out.push(th);
                }
                return;
            }
            Frame::Array {
                node,
                after_value,
                count,
            } => {
                if ws {
                    gap!();
                }
                let Node::Array(a) = g.node(*node) else {
                    return;
                };
                if b == b']' {
                    if *count >= a.min {
                        th.frames.pop();
                        th.depth -= 1;
                        out.push(th);
                    }
                    return;
                }
                if *after_value {
                    // Items fitted when the first one was opened, at this same depth.
                    if b == b',' && *count < a.max {
                        *count += 1;
                        let items = a.items;
                        th.frames.push(Frame::Value(items));
                        out.push(th);
                    }
                    return;
                }
                if a.max == 0 || !g.fits(depth, a.items) {
                    return;
                }
                *after_value = true;
                *count = 1;
                let items = a.items;
                th.frames.push(Frame::Value(items));
                // `b` starts the first item.
            }
            Frame::Str { node, scan } => {
                let (min, max) = match g.node(*node) {
                    Node::String { min, max } => (*min, *max),
                    _ => (0, u32::MAX),
                };
                match scan.feed(b, max) {
                    Scan::Reject => return,
                    Scan::Content => {}
                    Scan::Close => {
                        if scan.len < min {
                            return;
                        }
                        th.frames.pop();
                    }
                }
                out.push(th);
                return;
            }
            Frame::Num {
                integer,
                phase,
                len,
            } => match phase.next(b, *integer) {
                Some(next) => {
                    let new_len = *len + 1;
                    // A phase that still needs a digit must leave room for one.
                    let room = if next.accepting() {
                        new_len <= MAX_NUMBER_LEN
                    } else {
                        new_len < MAX_NUMBER_LEN
                    };
                    if room {
                        *phase = next;
                        *len = new_len;
                        out.push(th);
                    }
                    return;
                }
                None => {
                    if !phase.accepting() {
                        return;
                    }
                    th.frames.pop();
                }
            },
            Frame::Lit { node, lo, hi, pos } => {
                let Node::Literals(l) = g.node(*node) else {
                    return;
                };
                let (nlo, nhi) = narrow(&l.texts, *lo as usize, *hi as usize, *pos as usize, b);
                if nlo < nhi {
                    *lo = nlo as u32;
                    *hi = nhi as u32;
                    *pos += 1;
                    if nhi - nlo == 1 && l.texts[nlo].len() == *pos as usize {
                        th.frames.pop();
                    }
                    out.push(th);
                    return;
                }
                if l.texts[*lo as usize].len() != *pos as usize {
                    return;
                }
                th.frames.pop();
            }
        }
    }
}

/// The first byte `b` of a value of `node`: forks one thread per alternative that can start with it.
fn start_value(g: &JsonGrammar, th: Thread, node: NodeId, b: u8, out: &mut Vec<Thread>) {
    let depth = th.depth;
    let mut matching = g
        .alts(node)
        .iter()
        .copied()
        .filter(|&a| g.fits(depth, a) && starts(g.node(a), b))
        .peekable();
    while let Some(a) = matching.next() {
        let t = if matching.peek().is_some() {
            th.clone()
        } else {
            return open(g, th, a, b, out);
        };
        open(g, t, a, b, out);
    }
}

/// Whether a value of concrete node `n` can start with `b`.
fn starts(n: &Node, b: u8) -> bool {
    match n {
        Node::Object(_) => b == b'{',
        Node::Array(_) => b == b'[',
        Node::String { .. } => b == b'"',
        Node::Number { .. } => b == b'-' || b.is_ascii_digit(),
        Node::Literals(l) => {
            let i = l.texts.partition_point(|t| t[0] < b);
            l.texts.get(i).is_some_and(|t| t[0] == b)
        }
        Node::Union(_) => false,
    }
}

/// Opens a value of concrete node `a` with its first byte `b` (already checked by [`starts`]).
fn open(g: &JsonGrammar, mut th: Thread, a: NodeId, b: u8, out: &mut Vec<Thread>) {
    let frame = match g.node(a) {
        Node::Object(_) => {
            th.depth += 1;
            Frame::Object(ObjFrame {
                node: a,
                phase: ObjPhase::AfterOpen,
                n_req: 0,
                used: Used::default(),
                free: None,
                pending: a,
            })
        }
        Node::Array(_) => {
            th.depth += 1;
            Frame::Array {
                node: a,
                after_value: false,
                count: 0,
            }
        }
        Node::String { .. } => Frame::Str {
            node: a,
            scan: StrScan::new(false),
        },
        Node::Number { integer } => {
            let phase = match b {
                b'-' => NumPhase::Minus,
                b'0' => NumPhase::Zero,
                _ => NumPhase::Int,
            };
            Frame::Num {
                integer: *integer,
                phase,
                len: 1,
            }
        }
        Node::Literals(l) => {
            let LiteralSet { texts, .. } = l;
            let (lo, hi) = narrow(texts, 0, texts.len(), 0, b);
            if lo == hi {
                return;
            }
            if hi - lo == 1 && texts[lo].len() == 1 {
                // A one-byte literal (`0`..`9`) is finished at once.
                out.push(th);
                return;
            }
            Frame::Lit {
                node: a,
                lo: lo as u32,
                hi: hi as u32,
                pos: 1,
            }
        }
        Node::Union(_) => return,
    };
    th.frames.push(frame);
    out.push(th);
}

/// The sub-range of `texts[lo..hi]` (which share their first `pos` bytes) whose byte `pos` is `b`.
fn narrow(texts: &[Box<[u8]>], lo: usize, hi: usize, pos: usize, b: u8) -> (usize, usize) {
    let r = &texts[lo..hi];
    let a = r.partition_point(|t| t.len() <= pos || t[pos] < b);
    let z = r.partition_point(|t| t.len() <= pos || t[pos] <= b);
    (lo + a, lo + z)
}

/// Whether an object can take one more key here: a free key, or an unused property that fits.
fn can_start_key(g: &JsonGrammar, on: &ObjectNode, used: &Used, depth: u8) -> bool {
    on.additional.is_some_and(|a| g.fits(depth, a))
        || on
            .values
            .iter()
            .enumerate()
            .any(|(i, &v)| !used.get(i) && g.fits(depth, v))
}

/// A structural byte inside an object (not in a key or value). Returns whether the thread lives.
fn step_object(g: &JsonGrammar, th: &mut Thread, b: u8) -> bool {
    let depth = th.depth;
    let Some(Frame::Object(o)) = th.frames.last_mut() else {
        return false;
    };
    let Node::Object(on) = g.node(o.node) else {
        return false;
    };
    match (o.phase, b) {
        (ObjPhase::AfterOpen | ObjPhase::AfterValue, b'}') => {
            if o.n_req != on.n_required {
                return false;
            }
            th.frames.pop();
            th.depth -= 1;
            true
        }
        (ObjPhase::AfterOpen | ObjPhase::AfterComma, b'"') => {
            if !can_start_key(g, on, &o.used, depth) {
                return false;
            }
            o.phase = ObjPhase::InKey;
            let free = on.additional.is_some_and(|a| g.fits(depth, a));
            th.frames.push(Frame::Key(KeyFrame {
                lo: 0,
                hi: on.keys.len() as u32,
                pos: 0,
                scan: StrScan::new(free),
                free,
            }));
            true
        }
        (ObjPhase::AfterValue, b',') => {
            if !can_start_key(g, on, &o.used, depth) {
                return false;
            }
            o.phase = ObjPhase::AfterComma;
            true
        }
        (ObjPhase::AfterKey, b':') => {
            o.phase = ObjPhase::AfterValue;
            let v = o.pending;
            th.frames.push(Frame::Value(v));
            true
        }
        _ => false,
    }
}

/// A byte of a key. Returns whether the thread lives.
fn step_key(g: &JsonGrammar, th: &mut Thread, b: u8) -> bool {
    let depth = th.depth;
    let n = th.frames.len();
    if n < 2 {
        return false;
    }
    let (below, top) = th.frames.split_at_mut(n - 1);
    let (Frame::Object(o), Frame::Key(k)) = (&mut below[n - 2], &mut top[0]) else {
        return false;
    };
    let Node::Object(on) = g.node(o.node) else {
        return false;
    };
    match k.scan.feed(b, u32::MAX) {
        Scan::Reject => false,
        Scan::Content => {
            if k.lo < k.hi {
                let (lo, hi) = narrow(&on.keys, k.lo as usize, k.hi as usize, k.pos as usize, b);
                k.lo = lo as u32;
                k.hi = hi as u32;
            }
            k.pos += 1;
            k.free
                || (k.lo as usize..k.hi as usize)
                    .any(|i| !o.used.get(i) && g.fits(depth, on.values[i]))
        }
        Scan::Close => {
            let lo = k.lo as usize;
            if k.lo < k.hi && on.keys[lo].len() == k.pos as usize {
                // A property, spelled canonically.
                if o.used.get(lo) || !g.fits(depth, on.values[lo]) {
                    return false;
                }
                o.used.set(lo);
                if on.required[lo] {
                    o.n_req += 1;
                }
                o.pending = on.values[lo];
            } else {
                let Some(additional) = on.additional.filter(|_| k.free) else {
                    return false;
                };
                let h = k.scan.hash;
                // A property spelled another way (or, rarely, a hash collision: the key goes on).
                if on.key_hash.contains(&h) || o.free.as_ref().is_some_and(|f| f.contains(&h)) {
                    return false;
                }
                Arc::make_mut(o.free.get_or_insert_with(Default::default)).push(h);
                o.pending = additional;
            }
            o.phase = ObjPhase::AfterKey;
            th.frames.pop();
            true
        }
    }
}
