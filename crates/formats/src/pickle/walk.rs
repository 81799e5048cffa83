//! The opcode walker: splits a pickle stream into instructions without executing anything.
//!
//! Every length is checked against the bytes that remain before anything is sliced, so a
//! hostile length can neither panic nor allocate. The walker ends after STOP; running out of
//! input before STOP is [`PickleError::Truncated`].

use super::opcode::{ArgKind, Opcode};
use super::PickleError;

/// An opcode's inline argument, borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arg<'a> {
    /// No argument.
    None,
    /// An integer (BININT*, PROTO, FRAME, EXT*, BINGET/BINPUT and their long forms).
    Int(i64),
    /// BINFLOAT's value.
    Float(f64),
    /// A text line without its `\n` (INT, LONG, FLOAT, STRING, UNICODE, PERSID, GET, PUT).
    Line(&'a [u8]),
    /// Module and name lines of GLOBAL and INST.
    Lines(&'a [u8], &'a [u8]),
    /// A counted byte string (strings, bytes, LONG1/LONG4 digits).
    Bytes(&'a [u8]),
}

/// One instruction of a pickle stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Instr<'a> {
    /// Offset of the opcode byte in the input.
    pub offset: usize,
    /// The opcode.
    pub opcode: Opcode,
    /// Its argument.
    pub arg: Arg<'a>,
}

/// Iterator over the instructions of one pickle, up to and including STOP.
#[derive(Clone, Debug)]
pub struct Walker<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Walker<'a> {
    /// Walk the pickle at the start of `data`.
    pub fn new(data: &'a [u8]) -> Walker<'a> {
        Walker {
            data,
            pos: 0,
            done: false,
        }
    }

    /// Offset of the next opcode; after STOP, the first byte after the pickle.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn truncated(&self, offset: usize, what: String, needed: u64, from: usize) -> PickleError {
        PickleError::Truncated {
            offset,
            what,
            needed,
            remaining: self.data.len().saturating_sub(from) as u64,
        }
    }

    /// `n` bytes at the cursor.
    fn take(&mut self, offset: usize, op: Opcode, n: u64) -> Result<&'a [u8], PickleError> {
        let rest = self.data.len() - self.pos;
        if n > rest as u64 {
            return Err(self.truncated(offset, format!("{op} argument"), n, self.pos));
        }
        let s = &self.data[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn uint(&mut self, offset: usize, op: Opcode, n: usize) -> Result<u64, PickleError> {
        let b = self.take(offset, op, n as u64)?;
        Ok(b.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    }

    fn line(&mut self, offset: usize, op: Opcode) -> Result<&'a [u8], PickleError> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => Err(self.truncated(
                offset,
                format!("{op} line (no newline)"),
                rest.len() as u64 + 1,
                self.pos,
            )),
        }
    }

    fn read_arg(&mut self, offset: usize, op: Opcode) -> Result<Arg<'a>, PickleError> {
        Ok(match op.arg_kind() {
            ArgKind::None => Arg::None,
            ArgKind::Uint(n) => {
                let v = self.uint(offset, op, n)?;
                let v = i64::try_from(v).map_err(|_| PickleError::BadArgument {
                    offset,
                    opcode: op.name(),
                    message: format!("{v} does not fit in 63 bits"),
                })?;
                if op == Opcode::FRAME {
                    let rest = self.data.len() - self.pos;
                    if v as u64 > rest as u64 {
                        return Err(self.truncated(offset, "FRAME".into(), v as u64, self.pos));
                    }
                }
                Arg::Int(v)
            }
            ArgKind::Int4 => {
                let v = self.uint(offset, op, 4)? as u32;
                Arg::Int(i64::from(v as i32))
            }
            ArgKind::Float8 => {
                let b = self.take(offset, op, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Arg::Float(f64::from_be_bytes(a))
            }
            ArgKind::Line => Arg::Line(self.line(offset, op)?),
            ArgKind::TwoLines => {
                let m = self.line(offset, op)?;
                let n = self.line(offset, op)?;
                Arg::Lines(m, n)
            }
            ArgKind::Counted(w) => {
                let n = self.uint(offset, op, w)?;
                Arg::Bytes(self.take(offset, op, n)?)
            }
            ArgKind::CountedSigned4 => {
                let n = self.uint(offset, op, 4)? as u32 as i32;
                if n < 0 {
                    return Err(PickleError::BadArgument {
                        offset,
                        opcode: op.name(),
                        message: format!("negative length {n}"),
                    });
                }
                Arg::Bytes(self.take(offset, op, n as u64)?)
            }
        })
    }
}

impl<'a> Iterator for Walker<'a> {
    type Item = Result<Instr<'a>, PickleError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let offset = self.pos;
        let Some(&byte) = self.data.get(offset) else {
            self.done = true;
            return Some(Err(self.truncated(offset, "STOP".into(), 1, offset)));
        };
        let Some(opcode) = Opcode::from_byte(byte) else {
            self.done = true;
            return Some(Err(PickleError::UnknownOpcode { offset, byte }));
        };
        self.pos += 1;
        match self.read_arg(offset, opcode) {
            Ok(arg) => {
                if opcode == Opcode::STOP {
                    self.done = true;
                }
                Some(Ok(Instr {
                    offset,
                    opcode,
                    arg,
                }))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Walk one whole pickle: its instructions (ending with STOP) and the offset after STOP.
pub fn walk(data: &[u8]) -> Result<(Vec<Instr<'_>>, usize), PickleError> {
    let mut w = Walker::new(data);
    let mut out = Vec::new();
    for i in w.by_ref() {
        out.push(i?);
    }
    Ok((out, w.position()))
}
