//! The pickle opcodes of protocols 0 to 5 and the shape of each one's inline argument.
//!
//! Reference: CPython `Lib/pickletools.py` (the opcode table with argument descriptors) and
//! `Lib/pickle.py`. Only facts about the format are used: byte values, argument encodings,
//! the protocol that introduced each opcode.

/// How an opcode's argument is encoded right after the opcode byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgKind {
    /// No inline argument.
    None,
    /// Unsigned little-endian integer of 1, 2, 4 or 8 bytes.
    Uint(usize),
    /// Signed 4-byte little-endian integer (BININT).
    Int4,
    /// Big-endian IEEE double (BINFLOAT).
    Float8,
    /// One text line ending in `\n`.
    Line,
    /// Two text lines (module and name).
    TwoLines,
    /// Byte string with an unsigned length prefix of 1, 4 or 8 bytes.
    Counted(usize),
    /// Byte string with a signed 4-byte length prefix (BINSTRING, LONG4).
    CountedSigned4,
}

macro_rules! opcodes {
    ($($name:ident = $byte:literal, $text:literal, $arg:expr, $proto:literal;)*) => {
        /// A pickle opcode.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(missing_docs, non_camel_case_types, clippy::upper_case_acronyms)]
        pub enum Opcode {
            $($name,)*
        }

        impl Opcode {
            /// The opcode for `byte`, if it is one.
            pub const fn from_byte(byte: u8) -> Option<Opcode> {
                match byte {
                    $($byte => Option::Some(Opcode::$name),)*
                    _ => Option::None,
                }
            }

            /// The byte that encodes this opcode.
            pub const fn byte(self) -> u8 {
                match self {
                    $(Opcode::$name => $byte,)*
                }
            }

            /// The name `pickletools` uses (`GLOBAL`, `STACK_GLOBAL`, ...).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Opcode::$name => $text,)*
                }
            }

            /// The protocol that introduced this opcode.
            pub const fn protocol(self) -> u8 {
                match self {
                    $(Opcode::$name => $proto,)*
                }
            }

            pub(crate) const fn arg_kind(self) -> ArgKind {
                match self {
                    $(Opcode::$name => $arg,)*
                }
            }
        }
    };
}

use ArgKind::*;

opcodes! {
    MARK = b'(', "MARK", None, 0;
    STOP = b'.', "STOP", None, 0;
    POP = b'0', "POP", None, 0;
    POP_MARK = b'1', "POP_MARK", None, 1;
    DUP = b'2', "DUP", None, 0;
    FLOAT = b'F', "FLOAT", Line, 0;
    INT = b'I', "INT", Line, 0;
    BININT = b'J', "BININT", Int4, 1;
    BININT1 = b'K', "BININT1", Uint(1), 1;
    LONG = b'L', "LONG", Line, 0;
    BININT2 = b'M', "BININT2", Uint(2), 1;
    NONE = b'N', "NONE", None, 0;
    PERSID = b'P', "PERSID", Line, 0;
    BINPERSID = b'Q', "BINPERSID", None, 1;
    REDUCE = b'R', "REDUCE", None, 0;
    STRING = b'S', "STRING", Line, 0;
    BINSTRING = b'T', "BINSTRING", CountedSigned4, 1;
    SHORT_BINSTRING = b'U', "SHORT_BINSTRING", Counted(1), 1;
    UNICODE = b'V', "UNICODE", Line, 0;
    BINUNICODE = b'X', "BINUNICODE", Counted(4), 1;
    APPEND = b'a', "APPEND", None, 0;
    BUILD = b'b', "BUILD", None, 0;
    GLOBAL = b'c', "GLOBAL", TwoLines, 0;
    DICT = b'd', "DICT", None, 0;
    EMPTY_DICT = b'}', "EMPTY_DICT", None, 1;
    APPENDS = b'e', "APPENDS", None, 1;
    GET = b'g', "GET", Line, 0;
    BINGET = b'h', "BINGET", Uint(1), 1;
    INST = b'i', "INST", TwoLines, 0;
    LONG_BINGET = b'j', "LONG_BINGET", Uint(4), 1;
    LIST = b'l', "LIST", None, 0;
    EMPTY_LIST = b']', "EMPTY_LIST", None, 1;
    OBJ = b'o', "OBJ", None, 1;
    PUT = b'p', "PUT", Line, 0;
    BINPUT = b'q', "BINPUT", Uint(1), 1;
    LONG_BINPUT = b'r', "LONG_BINPUT", Uint(4), 1;
    SETITEM = b's', "SETITEM", None, 0;
    TUPLE = b't', "TUPLE", None, 0;
    EMPTY_TUPLE = b')', "EMPTY_TUPLE", None, 1;
    SETITEMS = b'u', "SETITEMS", None, 1;
    BINFLOAT = b'G', "BINFLOAT", Float8, 1;
    PROTO = 0x80, "PROTO", Uint(1), 2;
    NEWOBJ = 0x81, "NEWOBJ", None, 2;
    EXT1 = 0x82, "EXT1", Uint(1), 2;
    EXT2 = 0x83, "EXT2", Uint(2), 2;
    EXT4 = 0x84, "EXT4", Uint(4), 2;
    TUPLE1 = 0x85, "TUPLE1", None, 2;
    TUPLE2 = 0x86, "TUPLE2", None, 2;
    TUPLE3 = 0x87, "TUPLE3", None, 2;
    NEWTRUE = 0x88, "NEWTRUE", None, 2;
    NEWFALSE = 0x89, "NEWFALSE", None, 2;
    LONG1 = 0x8a, "LONG1", Counted(1), 2;
    LONG4 = 0x8b, "LONG4", CountedSigned4, 2;
    BINBYTES = b'B', "BINBYTES", Counted(4), 3;
    SHORT_BINBYTES = b'C', "SHORT_BINBYTES", Counted(1), 3;
    SHORT_BINUNICODE = 0x8c, "SHORT_BINUNICODE", Counted(1), 4;
    BINUNICODE8 = 0x8d, "BINUNICODE8", Counted(8), 4;
    BINBYTES8 = 0x8e, "BINBYTES8", Counted(8), 4;
    EMPTY_SET = 0x8f, "EMPTY_SET", None, 4;
    ADDITEMS = 0x90, "ADDITEMS", None, 4;
    FROZENSET = 0x91, "FROZENSET", None, 4;
    NEWOBJ_EX = 0x92, "NEWOBJ_EX", None, 4;
    STACK_GLOBAL = 0x93, "STACK_GLOBAL", None, 4;
    MEMOIZE = 0x94, "MEMOIZE", None, 4;
    FRAME = 0x95, "FRAME", Uint(8), 4;
    BYTEARRAY8 = 0x96, "BYTEARRAY8", Counted(8), 5;
    NEXT_BUFFER = 0x97, "NEXT_BUFFER", None, 5;
    READONLY_BUFFER = 0x98, "READONLY_BUFFER", None, 5;
}

impl std::fmt::Display for Opcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
