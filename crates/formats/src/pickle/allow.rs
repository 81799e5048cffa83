//! The allow-list: the only globals a PyTorch state-dict pickle needs.
//!
//! `torch.save` of a state dict references the tensor-rebuild helpers of `torch._utils`,
//! `collections.OrderedDict`, the typed storage classes (inside persistent ids) and, for some
//! protocols and versions, dtypes, `torch.Size` and `_codecs.encode` (how protocol-2 pickles
//! spell `bytes`). Everything else is refused by the loader and flagged by the scanner.

use crate::safetensors::Dtype;

/// Storage class names of `torch` and the element type of each.
pub(crate) const STORAGES: [(&str, Dtype); 10] = [
    ("FloatStorage", Dtype::F32),
    ("HalfStorage", Dtype::F16),
    ("BFloat16Storage", Dtype::BF16),
    ("DoubleStorage", Dtype::F64),
    ("LongStorage", Dtype::I64),
    ("IntStorage", Dtype::I32),
    ("ShortStorage", Dtype::I16),
    ("CharStorage", Dtype::I8),
    ("ByteStorage", Dtype::U8),
    ("BoolStorage", Dtype::Bool),
];

const DTYPES: [&str; 13] = [
    "float32", "float", "float16", "half", "bfloat16", "float64", "double", "int64", "long",
    "int32", "int", "int8", "uint8",
];

/// True when `module.name` is a global the restricted unpickler accepts.
pub fn is_allowed(module: &str, name: &str) -> bool {
    match module {
        "torch._utils" => matches!(
            name,
            "_rebuild_tensor_v2"
                | "_rebuild_tensor"
                | "_rebuild_parameter"
                | "_rebuild_parameter_with_state"
        ),
        "collections" => name == "OrderedDict",
        "torch" => name == "Size" || storage_dtype(name).is_some() || DTYPES.contains(&name),
        "_codecs" => name == "encode",
        _ => false,
    }
}

/// The element type of the `torch.<name>` storage class.
pub(crate) fn storage_dtype(name: &str) -> Option<Dtype> {
    STORAGES.iter().find(|s| s.0 == name).map(|s| s.1)
}
