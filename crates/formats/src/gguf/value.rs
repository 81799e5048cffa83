//! GGUF metadata values: the thirteen value types of the GGUF specification, typed arrays
//! (nested arrays included), and the conversions the typed getters use.
//!
//! Reference: ggml/docs/gguf.md (`gguf_metadata_value_type`), ggml/src/gguf.cpp.
//! Integer getters accept any integer type whose value fits the requested type (GGUF writers
//! disagree on u32 versus i32 versus u64 for the same key); float getters accept f32 and f64.

/// The type id of a metadata value as stored in a GGUF file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum GgufValueType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl GgufValueType {
    /// The type with id `id`, or `None` outside the specification.
    pub fn from_id(id: u32) -> Option<GgufValueType> {
        use GgufValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// The id stored in the file.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// The fewest bytes one value of this type can occupy in a file (strings: the length
    /// field; arrays: element type plus count). Used to bound counts before allocating.
    pub fn min_size(self) -> u64 {
        use GgufValueType::*;
        match self {
            U8 | I8 | Bool => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | String => 8,
            Array => 12,
        }
    }

    /// Lower-case name (`u32`, `string`, `array`, ...).
    pub fn name(self) -> &'static str {
        use GgufValueType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "string",
            Array => "array",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }
}

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum GgufValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(GgufArray),
}

/// A metadata array: homogeneous, stored typed. Nested arrays carry their own element type.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum GgufArray {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    String(Vec<String>),
    Array(Vec<GgufArray>),
}

impl GgufValue {
    /// The value's type id.
    pub fn value_type(&self) -> GgufValueType {
        use GgufValue as V;
        use GgufValueType as T;
        match self {
            V::U8(_) => T::U8,
            V::I8(_) => T::I8,
            V::U16(_) => T::U16,
            V::I16(_) => T::I16,
            V::U32(_) => T::U32,
            V::I32(_) => T::I32,
            V::U64(_) => T::U64,
            V::I64(_) => T::I64,
            V::F32(_) => T::F32,
            V::F64(_) => T::F64,
            V::Bool(_) => T::Bool,
            V::String(_) => T::String,
            V::Array(_) => T::Array,
        }
    }

    /// A short description for error messages: `u32`, `string`, `array<i32>[512]`.
    pub fn type_description(&self) -> String {
        match self {
            GgufValue::Array(a) => a.type_description(),
            v => v.value_type().name().to_string(),
        }
    }

    /// The value as an `i128` if it is an integer of any width.
    pub fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            GgufValue::U8(v) => v.into(),
            GgufValue::I8(v) => v.into(),
            GgufValue::U16(v) => v.into(),
            GgufValue::I16(v) => v.into(),
            GgufValue::U32(v) => v.into(),
            GgufValue::I32(v) => v.into(),
            GgufValue::U64(v) => v.into(),
            GgufValue::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// The value as `f64` if it is an f32 or f64.
    pub fn as_float(&self) -> Option<f64> {
        match *self {
            GgufValue::F32(v) => Some(v.into()),
            GgufValue::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The bool, if this is a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            GgufValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The array, if this is an array.
    pub fn as_array(&self) -> Option<&GgufArray> {
        match self {
            GgufValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

impl GgufArray {
    /// The element type.
    pub fn element_type(&self) -> GgufValueType {
        use GgufArray as A;
        use GgufValueType as T;
        match self {
            A::U8(_) => T::U8,
            A::I8(_) => T::I8,
            A::U16(_) => T::U16,
            A::I16(_) => T::I16,
            A::U32(_) => T::U32,
            A::I32(_) => T::I32,
            A::U64(_) => T::U64,
            A::I64(_) => T::I64,
            A::F32(_) => T::F32,
            A::F64(_) => T::F64,
            A::Bool(_) => T::Bool,
            A::String(_) => T::String,
            A::Array(_) => T::Array,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        use GgufArray as A;
        match self {
            A::U8(v) => v.len(),
            A::I8(v) => v.len(),
            A::U16(v) => v.len(),
            A::I16(v) => v.len(),
            A::U32(v) => v.len(),
            A::I32(v) => v.len(),
            A::U64(v) => v.len(),
            A::I64(v) => v.len(),
            A::F32(v) => v.len(),
            A::F64(v) => v.len(),
            A::Bool(v) => v.len(),
            A::String(v) => v.len(),
            A::Array(v) => v.len(),
        }
    }

    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `array<i32>[512]`.
    pub fn type_description(&self) -> String {
        format!("array<{}>[{}]", self.element_type().name(), self.len())
    }

    /// Every element as `i128` if the elements are integers of any width.
    pub fn integers(&self) -> Option<Vec<i128>> {
        use GgufArray as A;
        fn widen<T: Copy + Into<i128>>(v: &[T]) -> Vec<i128> {
            v.iter().map(|&x| x.into()).collect()
        }
        Some(match self {
            A::U8(v) => widen(v),
            A::I8(v) => widen(v),
            A::U16(v) => widen(v),
            A::I16(v) => widen(v),
            A::U32(v) => widen(v),
            A::I32(v) => widen(v),
            A::U64(v) => widen(v),
            A::I64(v) => widen(v),
            _ => return None,
        })
    }

    /// The strings, if this is an array of strings.
    pub fn strings(&self) -> Option<&[String]> {
        match self {
            GgufArray::String(v) => Some(v),
            _ => None,
        }
    }
}

/// Types a metadata value can be read as with [`crate::gguf::GgufFile::get`].
///
/// `from_gguf` returns `None` when the value has a different type or does not fit.
pub trait FromGguf<'a>: Sized {
    /// What the caller asked for, for error messages.
    const EXPECTED: &'static str;
    /// Convert, or `None` if the value cannot be represented as `Self`.
    fn from_gguf(value: &'a GgufValue) -> Option<Self>;
}

macro_rules! int_from_gguf {
    ($($t:ty),*) => {$(
        impl<'a> FromGguf<'a> for $t {
            const EXPECTED: &'static str = concat!("an integer that fits in ", stringify!($t));
            fn from_gguf(value: &'a GgufValue) -> Option<Self> {
                value.as_integer().and_then(|v| <$t>::try_from(v).ok())
            }
        }
    )*};
}
int_from_gguf!(u8, i8, u16, i16, u32, i32, u64, i64, usize);

impl<'a> FromGguf<'a> for f32 {
    const EXPECTED: &'static str = "f32 or f64";
    fn from_gguf(value: &'a GgufValue) -> Option<Self> {
        // f64 values are narrowed: GGUF writers store hyper-parameters in either width.
        value.as_float().map(|v| v as f32)
    }
}

impl<'a> FromGguf<'a> for f64 {
    const EXPECTED: &'static str = "f32 or f64";
    fn from_gguf(value: &'a GgufValue) -> Option<Self> {
        value.as_float()
    }
}

impl<'a> FromGguf<'a> for bool {
    const EXPECTED: &'static str = "bool";
    fn from_gguf(value: &'a GgufValue) -> Option<Self> {
        value.as_bool()
    }
}

impl<'a> FromGguf<'a> for &'a str {
    const EXPECTED: &'static str = "string";
    fn from_gguf(value: &'a GgufValue) -> Option<Self> {
        value.as_str()
    }
}

impl<'a> FromGguf<'a> for &'a GgufArray {
    const EXPECTED: &'static str = "array";
    fn from_gguf(value: &'a GgufValue) -> Option<Self> {
        value.as_array()
    }
}

impl<'a> FromGguf<'a> for &'a [String] {
    const EXPECTED: &'static str = "array of strings";
    fn from_gguf(value: &'a GgufValue) -> Option<Self> {
        value.as_array().and_then(GgufArray::strings)
    }
}

impl<'a> FromGguf<'a> for Vec<&'a str> {
    const EXPECTED: &'static str = "array of strings";
    fn from_gguf(value: &'a GgufValue) -> Option<Self> {
        <&[String]>::from_gguf(value).map(|v| v.iter().map(String::as_str).collect())
    }
}

macro_rules! int_vec_from_gguf {
    ($($t:ty),*) => {$(
        impl<'a> FromGguf<'a> for Vec<$t> {
            const EXPECTED: &'static str = concat!("array of integers that fit in ", stringify!($t));
            fn from_gguf(value: &'a GgufValue) -> Option<Self> {
                let ints = value.as_array()?.integers()?;
                ints.into_iter().map(|v| <$t>::try_from(v).ok()).collect()
            }
        }
    )*};
}
int_vec_from_gguf!(u8, i8, u16, i16, u32, i32, u64, i64, usize);

impl<'a> FromGguf<'a> for Vec<f32> {
    const EXPECTED: &'static str = "array of f32 or f64";
    fn from_gguf(value: &'a GgufValue) -> Option<Self> {
        match value.as_array()? {
            GgufArray::F32(v) => Some(v.clone()),
            GgufArray::F64(v) => Some(v.iter().map(|&x| x as f32).collect()),
            _ => None,
        }
    }
}

impl<'a> FromGguf<'a> for Vec<f64> {
    const EXPECTED: &'static str = "array of f32 or f64";
    fn from_gguf(value: &'a GgufValue) -> Option<Self> {
        match value.as_array()? {
            GgufArray::F32(v) => Some(v.iter().map(|&x| x.into()).collect()),
            GgufArray::F64(v) => Some(v.clone()),
            _ => None,
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for GgufValue {
            fn from(x: $t) -> GgufValue { GgufValue::$v(x) }
        }
        impl From<Vec<$t>> for GgufArray {
            fn from(x: Vec<$t>) -> GgufArray { GgufArray::$v(x) }
        }
        impl From<Vec<$t>> for GgufValue {
            fn from(x: Vec<$t>) -> GgufValue { GgufValue::Array(GgufArray::$v(x)) }
        }
    )*};
}
value_from!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, u64 => U64,
    i64 => I64, f32 => F32, f64 => F64, bool => Bool, String => String);

impl From<&str> for GgufValue {
    fn from(x: &str) -> GgufValue {
        GgufValue::String(x.to_string())
    }
}

impl From<Vec<&str>> for GgufValue {
    fn from(x: Vec<&str>) -> GgufValue {
        GgufValue::Array(GgufArray::String(
            x.into_iter().map(str::to_string).collect(),
        ))
    }
}

impl From<GgufArray> for GgufValue {
    fn from(x: GgufArray) -> GgufValue {
        GgufValue::Array(x)
    }
}

impl From<Vec<GgufArray>> for GgufValue {
    fn from(x: Vec<GgufArray>) -> GgufValue {
        GgufValue::Array(GgufArray::Array(x))
    }
}
