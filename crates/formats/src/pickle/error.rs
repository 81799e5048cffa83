//! Errors of the pickle walker, the restricted unpickler and the PyTorch checkpoint reader.
//!
//! Every variant that comes from a place in the pickle stream carries the byte offset of the
//! opcode, so a refusal can be matched against `python -m pickletools` output.

/// What went wrong reading a pickle or a PyTorch checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PickleError {
    /// The stream ends inside an opcode's argument (or before STOP).
    #[error(
        "pickle truncated at offset {offset}: {what} needs {needed} bytes, {remaining} remain"
    )]
    Truncated {
        /// Offset of the opcode.
        offset: usize,
        /// What was being read.
        what: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes left from the argument's start.
        remaining: u64,
    },

    /// A byte that is no pickle opcode.
    #[error("pickle offset {offset}: byte 0x{byte:02x} is not a pickle opcode")]
    UnknownOpcode {
        /// Offset of the byte.
        offset: usize,
        /// The byte.
        byte: u8,
    },

    /// An argument that does not have its opcode's form (bad number text, bad quoting, ...).
    #[error("pickle offset {offset}: {opcode}: {message}")]
    BadArgument {
        /// Offset of the opcode.
        offset: usize,
        /// The opcode's name.
        opcode: &'static str,
        /// What is wrong.
        message: String,
    },

    /// An opcode that needs more stack items (or a MARK) than there are.
    #[error("pickle offset {offset}: {opcode} on a stack that lacks {what}")]
    StackUnderflow {
        /// Offset of the opcode.
        offset: usize,
        /// The opcode's name.
        opcode: &'static str,
        /// What was missing (`an item`, `a MARK`).
        what: &'static str,
    },

    /// A memo lookup of a key never stored.
    #[error("pickle offset {offset}: {opcode} of memo key {key}, which was never stored")]
    MemoMissing {
        /// Offset of the opcode.
        offset: usize,
        /// The opcode's name.
        opcode: &'static str,
        /// The key.
        key: u64,
    },

    /// A resource limit of the reader (stack, memo, object count, nesting).
    #[error("pickle offset {offset}: more than {limit} {what}")]
    Limit {
        /// Offset of the opcode.
        offset: usize,
        /// Which limit.
        what: &'static str,
        /// The limit.
        limit: usize,
    },

    /// A reference to a callable or class outside the allow-list: refused, never resolved.
    #[error(
        "pickle offset {offset}: {opcode} refers to `{callable}`, which is not on the allow-list \
         of tensor-rebuilding callables; refusing to load"
    )]
    Forbidden {
        /// Offset of the opcode.
        offset: usize,
        /// The opcode's name.
        opcode: &'static str,
        /// `module.name`.
        callable: String,
    },

    /// A construct the restricted unpickler does not model (extension codes, out-of-band
    /// buffers, calls with unexpected arguments).
    #[error("pickle offset {offset}: {opcode}: {message}")]
    Unsupported {
        /// Offset of the opcode.
        offset: usize,
        /// The opcode's name.
        opcode: &'static str,
        /// What is not supported.
        message: String,
    },

    /// The unpickled object is not a PyTorch state dict this reader can turn into tensors,
    /// or the archive around it is malformed.
    #[error("PyTorch checkpoint: {message}")]
    Checkpoint {
        /// What is wrong.
        message: String,
    },
}

impl PickleError {
    /// Offset in the pickle stream, where the error has one.
    pub fn offset(&self) -> Option<usize> {
        use PickleError::*;
        match self {
            Truncated { offset, .. }
            | UnknownOpcode { offset, .. }
            | BadArgument { offset, .. }
            | StackUnderflow { offset, .. }
            | MemoMissing { offset, .. }
            | Limit { offset, .. }
            | Forbidden { offset, .. }
            | Unsupported { offset, .. } => Some(*offset),
            Checkpoint { .. } => None,
        }
    }

    /// The same error with its offset moved by `base` (a pickle that starts `base` bytes into
    /// a larger stream).
    pub(crate) fn shifted(mut self, base: usize) -> PickleError {
        use PickleError::*;
        match &mut self {
            Truncated { offset, .. }
            | UnknownOpcode { offset, .. }
            | BadArgument { offset, .. }
            | StackUnderflow { offset, .. }
            | MemoMissing { offset, .. }
            | Limit { offset, .. }
            | Forbidden { offset, .. }
            | Unsupported { offset, .. } => *offset += base,
            Checkpoint { .. } => {}
        }
        self
    }

    pub(crate) fn checkpoint(message: impl Into<String>) -> PickleError {
        PickleError::Checkpoint {
            message: message.into(),
        }
    }
}
