//! JSON helpers shared by the safetensors and Hugging Face readers: a top-level object read
//! in file order with duplicate keys reported (serde_json's `Map` silently keeps the last one).

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::FormatError;

/// A JSON object's entries in file order; `duplicate` is the first key seen twice, if any.
pub(crate) struct OrderedObject {
    pub entries: Vec<(String, Value)>,
    pub duplicate: Option<String>,
}

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
                let mut entries: Vec<(String, Value)> = Vec::new();
                let mut seen = std::collections::HashSet::new();
                let mut duplicate = None;
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    if !seen.insert(k.clone()) && duplicate.is_none() {
                        duplicate = Some(k.clone());
                    }
                    entries.push((k, v));
                }
                Ok(OrderedObject { entries, duplicate })
            }
        }
        d.deserialize_map(V)
    }
}

/// Parse `bytes` as one JSON object, keeping order and reporting duplicate keys.
pub(crate) fn ordered_object(bytes: &[u8], what: &str) -> Result<OrderedObject, FormatError> {
    serde_json::from_slice(bytes).map_err(|e| FormatError::InvalidJson {
        what: what.to_string(),
        message: e.to_string(),
    })
}

/// Parse `bytes` as any JSON value.
pub(crate) fn value(bytes: &[u8], what: &str) -> Result<Value, FormatError> {
    serde_json::from_slice(bytes).map_err(|e| FormatError::InvalidJson {
        what: what.to_string(),
        message: e.to_string(),
    })
}
