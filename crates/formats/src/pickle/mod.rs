//! Python pickles and PyTorch checkpoints, read without executing anything.
//!
//! - [`Walker`] splits a pickle (protocols 0–5, every opcode) into [`Instr`]s; lengths are
//!   checked against the remaining input, errors are typed ([`PickleError`]), nothing panics.
//! - [`audit`] runs a symbolic stack machine over a pickle and reports every global it names
//!   and every call it would make ([`Event`]), plus pickles hidden inside its string and bytes
//!   arguments ([`Nested`]). For scanners.
//! - [`read_checkpoint`] / [`open_checkpoint`] read `torch.save` state dicts (the zip format:
//!   `<prefix>/data.pkl`, `<prefix>/data/<key>`, `<prefix>/byteorder`) into an in-memory
//!   [`SafetensorsFile`]. The unpickler is restricted: only the globals of [`is_allowed`]
//!   (tensor rebuild helpers, `OrderedDict`, typed storages, dtypes, `torch.Size`,
//!   `_codecs.encode`) are accepted; any other is refused with [`PickleError::Forbidden`],
//!   naming `module.name` and the opcode's offset, before anything further is read.
//!
//! Reference for the formats: CPython `Lib/pickle.py` and `Lib/pickletools.py`; PyTorch
//! `torch/serialization.py` (`_save`, `_load`, `persistent_id`) and `torch/_utils.py`
//! (`_rebuild_tensor_v2`).

mod allow;
mod error;
mod machine;
mod opcode;
mod torch;
mod walk;

pub use allow::is_allowed;
pub use error::PickleError;
pub use machine::{Event, EventKind};
pub use opcode::Opcode;
pub use torch::{open_checkpoint, read_checkpoint};
pub use walk::{walk, Arg, Instr, Walker};

use machine::{Machine, Mode};

/// Deepest pickle-in-a-pickle the audit follows.
const MAX_NESTING: usize = 4;

/// What [`audit`] found in one pickle.
#[derive(Clone, Debug, Default)]
pub struct Audit {
    /// Globals named and calls made, in stream order.
    pub events: Vec<Event>,
    /// Pickles found inside string or bytes arguments.
    pub nested: Vec<Nested>,
    /// Offset right after STOP, or where the walk stopped on an error.
    pub end: usize,
    /// Why the walk stopped before STOP, if it did (the events before it are kept).
    pub error: Option<PickleError>,
}

impl Audit {
    /// Events naming something outside the allow-list, here and in nested pickles.
    pub fn disallowed(&self) -> Vec<&Event> {
        let mut out: Vec<&Event> = self.events.iter().filter(|e| !e.is_allowed()).collect();
        for n in &self.nested {
            out.extend(n.audit.disallowed());
        }
        out
    }
}

/// A pickle inside another pickle's string or bytes argument.
#[derive(Clone, Debug)]
pub struct Nested {
    /// Offset (in the outer pickle) of the opcode whose argument holds it.
    pub offset: usize,
    /// The inner pickle's audit (offsets relative to the argument's start).
    pub audit: Audit,
}

/// Walk and symbolically run the pickle at the start of `data`, recording globals, calls,
/// persistent ids, extension codes and out-of-band buffers, and looking for nested pickles.
/// Never fails: a malformed stream ends the audit with [`Audit::error`].
pub fn audit(data: &[u8]) -> Audit {
    audit_depth(data, 0)
}

fn audit_depth(data: &[u8], depth: usize) -> Audit {
    let mut m = Machine::new(Mode::Audit);
    let mut nested = Vec::new();
    let mut w = Walker::new(data);
    let mut error = None;
    let mut end = 0;
    for i in w.by_ref() {
        let i = match i {
            Ok(i) => i,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        end = i.offset;
        if depth < MAX_NESTING {
            if let Some(inner) = embedded_pickle(&i) {
                let a = audit_depth(&inner, depth + 1);
                // Only a stream that walks to STOP counts: random bytes that happen to start
                // with a pickle opcode usually do not.
                if a.error.is_none() {
                    nested.push(Nested {
                        offset: i.offset,
                        audit: a,
                    });
                }
            }
        }
        if let Err(e) = m.step(&i) {
            error = Some(e);
            break;
        }
    }
    if error.is_none() {
        end = w.position();
    }
    Audit {
        events: m.events,
        nested,
        end,
        error,
    }
}

/// The bytes of a string/bytes argument if they look like a pickle: a PROTO header, or a
/// protocol-0 GLOBAL line. Text is taken as Latin-1 when it can be (how protocol-2 pickles
/// carry `bytes` through `_codecs.encode`).
fn embedded_pickle(i: &Instr<'_>) -> Option<Vec<u8>> {
    use Opcode::*;
    let Arg::Bytes(b) = i.arg else {
        return None;
    };
    let bytes: Vec<u8> = match i.opcode {
        BINBYTES | SHORT_BINBYTES | BINBYTES8 | BYTEARRAY8 | BINSTRING | SHORT_BINSTRING => {
            b.to_vec()
        }
        BINUNICODE | SHORT_BINUNICODE | BINUNICODE8 => {
            let s = std::str::from_utf8(b).ok()?;
            s.chars()
                .map(|c| u8::try_from(u32::from(c)).ok())
                .collect::<Option<Vec<u8>>>()?
        }
        _ => return None,
    };
    let looks = match bytes.as_slice() {
        [0x80, p, ..] => *p <= 5 && bytes.len() >= 4,
        [b'c', rest @ ..] => rest.iter().filter(|&&c| c == b'\n').count() >= 2,
        _ => false,
    };
    looks.then_some(bytes)
}

/// Run the restricted unpickler over the pickle at the start of `data`: the machine, the id
/// of its result and the offset after its STOP.
fn load(data: &[u8]) -> Result<(Machine, machine::Id, usize), PickleError> {
    let mut m = Machine::new(Mode::Load);
    let mut w = Walker::new(data);
    for i in w.by_ref() {
        m.step(&i?)?;
    }
    match m.result {
        Some(r) => Ok((m, r, w.position())),
        None => Err(PickleError::Truncated {
            offset: w.position(),
            what: "STOP".into(),
            needed: 1,
            remaining: 0,
        }),
    }
}
