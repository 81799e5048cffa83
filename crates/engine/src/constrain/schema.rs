//! Compiles a JSON schema (the subset OpenAI structured outputs accepts) into a [`JsonGrammar`].
//!
//! # Supported
//!
//! | keyword | meaning here |
//! |---|---|
//! | `type` | `object`, `array`, `string`, `number`, `integer`, `boolean`, `null`, or a list of them |
//! | `properties`, `required` | declared keys, in any order, each at most once; required ones before `}` |
//! | `additionalProperties` | `false` (OpenAI strict mode), `true`/absent (any other key, any value), or a schema |
//! | `items`, `minItems`, `maxItems` | one schema for every item; bounds on the count |
//! | `minLength`, `maxLength` | bounds on a string's length in code points |
//! | `enum`, `const` | exact values (written in serde_json's compact form); `type` filters them |
//! | `anyOf` | any branch (no sibling validation keywords) |
//! | `allOf` with one entry | that entry |
//! | `$ref` | local only: `#`, `#/$defs/X`, `#/definitions/X`, any local JSON pointer; recursion allowed |
//! | `$defs`, `definitions` | holders for `$ref` targets, compiled only when referenced |
//! | `title`, `description`, `default`, `examples`, `$comment`, `deprecated`, `readOnly`, `writeOnly`, `$schema`, `$id` (root only), `x-*` | annotations, ignored |
//!
//! Without `type`, the type is inferred from the keywords present (`properties` → object, `items` →
//! array, `minLength` → string, `enum`/`const` → their values, none → any value). The schema's root may be
//! any type (OpenAI requires an object; the server may check that itself).
//!
//! # Refused
//!
//! Every other keyword gives a [`SchemaError`] naming its JSON pointer: validation keywords we do not
//! enforce ([`SchemaError::Unsupported`]: `pattern`, `format`, `minimum`, `maximum`, `exclusiveMinimum`,
//! `exclusiveMaximum`, `multipleOf`, `oneOf`, `not`, `if`/`then`/`else`, `allOf` with more than one
//! entry, `patternProperties`, `propertyNames`, `minProperties`, `maxProperties`, `dependentRequired`,
//! `dependentSchemas`, `uniqueItems`, `contains`, `prefixItems`, `unevaluated*`, `items` as an array, ...)
//! and keywords outside JSON Schema ([`SchemaError::UnknownKeyword`], e.g. a typo like `requried`).
//! Ignoring them would let output through that the client's validator rejects.
//!
//! # Bounds (hostile input)
//!
//! Subschemas nest at most [`MAX_SCHEMA_DEPTH`] deep (counting `$ref` hops; each `$ref` target is
//! compiled once, so recursion costs nothing), at most 16 384 compiled nodes, at most 1 MiB of `enum`/
//! `const` text. Nothing recurses on the input beyond that depth (at the bound the compiler uses under
//! 512 KiB of stack in a debug build, far less in release), and `enum`/`const` values are measured
//! without recursion before serde_json writes them.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::error::SchemaError;
use super::grammar::{
    key_hash, ArrayNode, Builder, FinishError, JsonGrammar, LiteralSet, Node, NodeId, ObjectNode,
    UNSAT,
};
use super::MAX_DOC_DEPTH;

/// Most nested subschemas the compiler follows.
pub const MAX_SCHEMA_DEPTH: usize = 64;
/// Most bytes of `enum`/`const` text in one schema.
const MAX_LITERAL_BYTES: usize = 1 << 20;

/// Keywords that only annotate.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$schema",
];

/// JSON Schema keywords whose constraints we do not enforce.
const UNSUPPORTED: &[&str] = &[
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "allOf",
    "patternProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "prefixItems",
    "additionalItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "$dynamicRef",
    "$dynamicAnchor",
    "$recursiveRef",
    "$recursiveAnchor",
    "$anchor",
    "$id",
    "$vocabulary",
    "contentEncoding",
    "contentMediaType",
    "contentSchema",
];

/// Validation keywords this compiler understands.
const SUPPORTED: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "enum",
    "const",
    "anyOf",
    "$ref",
];

const OBJECT_KEYWORDS: &[&str] = &["properties", "required", "additionalProperties"];
const ARRAY_KEYWORDS: &[&str] = &["items", "minItems", "maxItems"];
const STRING_KEYWORDS: &[&str] = &["minLength", "maxLength"];

/// The JSON types, as bits.
const T_OBJECT: u8 = 1;
const T_ARRAY: u8 = 2;
const T_STRING: u8 = 4;
const T_NUMBER: u8 = 8;
const T_INTEGER: u8 = 16;
const T_BOOLEAN: u8 = 32;
const T_NULL: u8 = 64;
const T_ALL: u8 = 127;

/// Compiles `schema`; see the module docs.
pub(crate) fn compile(schema: &Value) -> Result<JsonGrammar, SchemaError> {
    let mut c = Compiler {
        root: schema,
        b: Builder::default(),
        refs: HashMap::new(),
        path: Vec::new(),
        depth: 0,
        literal_bytes: 0,
        any: None,
    };
    let root = c.reference("", "")?;
    c.b.finish(root).map_err(|e| match e {
        FinishError::Unsatisfiable => SchemaError::Unsatisfiable {
            pointer: String::new(),
            detail: format!(
                ": every alternative needs a value that cannot exist or nests deeper than {MAX_DOC_DEPTH} levels"
            ),
        },
        FinishError::TooLarge => SchemaError::TooLarge {
            pointer: String::new(),
            what: "alternatives after expanding anyOf and $ref",
            limit: 1 << 20,
        },
    })
}

struct Compiler<'a> {
    root: &'a Value,
    b: Builder,
    /// Compiled `$ref` targets by (decoded) JSON pointer; a target is entered here before it is
    /// compiled, so a cycle finds its own placeholder.
    refs: HashMap<String, NodeId>,
    /// Unescaped segments of the JSON pointer of the subschema being compiled.
    path: Vec<String>,
    depth: usize,
    literal_bytes: usize,
    /// The "any value" node, built on first use.
    any: Option<NodeId>,
}

impl<'a> Compiler<'a> {
    fn pointer(&self) -> String {
        pointer_of(&self.path)
    }

    fn pointer_to(&self, keyword: &str) -> String {
        let mut p = self.pointer();
        p.push('/');
        p.push_str(&escape_segment(keyword));
        p
    }

    fn invalid(&self, keyword: &str, reason: impl Into<String>) -> SchemaError {
        SchemaError::Invalid {
            pointer: self.pointer_to(keyword),
            reason: reason.into(),
        }
    }

    fn push(&mut self, node: Node) -> Result<NodeId, SchemaError> {
        let p = self.pointer();
        self.b.push(node, &p)
    }

    /// Compiles the subschema at `segment` below the current one (or `segments` for nested holders).
    fn sub(&mut self, segments: &[&str], v: &'a Value) -> Result<NodeId, SchemaError> {
        for s in segments {
            self.path.push((*s).to_string());
        }
        let r = self.schema(v);
        for _ in segments {
            self.path.pop();
        }
        r
    }

    /// Compiles one subschema (an object or a boolean).
    fn schema(&mut self, v: &'a Value) -> Result<NodeId, SchemaError> {
        if self.depth >= MAX_SCHEMA_DEPTH {
            return Err(SchemaError::TooDeep {
                pointer: self.pointer(),
                limit: MAX_SCHEMA_DEPTH,
            });
        }
        self.depth += 1;
        let r = match v {
            Value::Bool(true) => self.any(),
            Value::Bool(false) => self.push(Node::Union(Vec::new())),
            Value::Object(m) => self.object_schema(m),
            _ => Err(SchemaError::Invalid {
                pointer: self.pointer(),
                reason: "a schema must be an object or a boolean".into(),
            }),
        };
        self.depth -= 1;
        r
    }

    /// The node for "any JSON value" (objects with any keys, arrays of anything, all scalars).
    fn any(&mut self) -> Result<NodeId, SchemaError> {
        if let Some(a) = self.any {
            return Ok(a);
        }
        let any = self.push(Node::Union(Vec::new()))?;
        self.any = Some(any);
        let object = self.push(Node::Object(ObjectNode {
            additional: Some(any),
            ..ObjectNode::default()
        }))?;
        let array = self.push(Node::Array(ArrayNode {
            items: any,
            min: 0,
            max: u32::MAX,
        }))?;
        let string = self.push(Node::String {
            min: 0,
            max: u32::MAX,
        })?;
        let number = self.push(Node::Number { integer: false })?;
        let words = self.push(Node::Literals(LiteralSet {
            texts: ["false", "null", "true"]
                .iter()
                .map(|t| t.as_bytes().into())
                .collect(),
            depth: 0,
        }))?;
        self.b.nodes[any as usize] = Node::Union(vec![object, array, string, number, words]);
        Ok(any)
    }

    /// Compiles the target of a local reference (decoded JSON pointer `ptr`), once.
    fn reference(&mut self, ptr: &str, written: &str) -> Result<NodeId, SchemaError> {
        if let Some(&id) = self.refs.get(ptr) {
            return Ok(id);
        }
        let Some(target) = self.root.pointer(ptr) else {
            return Err(SchemaError::BadRef {
                pointer: self.pointer_to("$ref"),
                reference: written.to_string(),
                reason: "it points to nothing in this schema",
            });
        };
        let placeholder = self.push(Node::Union(Vec::new()))?;
        self.refs.insert(ptr.to_string(), placeholder);
        let saved = std::mem::replace(&mut self.path, split_pointer(ptr));
        let r = self.schema(target);
        self.path = saved;
        let id = r?;
        self.b.nodes[placeholder as usize] = Node::Union(vec![id]);
        Ok(placeholder)
    }

    /// A schema object. Kept small: the compiler recurses through here, and debug builds give every
    /// local its own stack slot, so the non-recursive work lives in helpers.
    fn object_schema(&mut self, m: &'a Map<String, Value>) -> Result<NodeId, SchemaError> {
        let plain = self.check_keywords(m)?;
        if let Some(r) = m.get("$ref") {
            return self.ref_keyword(r);
        }
        if let Some(v) = m.get("allOf") {
            return self.all_of(v);
        }
        if let Some(v) = m.get("anyOf") {
            return self.any_of(v);
        }
        let types = self.schema_types(m)?;
        if m.contains_key("enum") || m.contains_key("const") {
            return self.literals(m, types);
        }
        if types == T_ALL && plain {
            return self.any();
        }
        let mut ids = Vec::new();
        if types & T_OBJECT != 0 {
            ids.push(self.object(m)?);
        }
        if types & T_ARRAY != 0 {
            ids.push(self.array(m)?);
        }
        self.scalars(m, types, &mut ids)?;
        match ids.as_slice() {
            [one] => Ok(*one),
            _ => self.push(Node::Union(ids)),
        }
    }

    /// Refuses unknown and unsupported keywords and bad combinations; returns whether the schema has
    /// no validation keyword at all.
    #[inline(never)]
    fn check_keywords(&self, m: &Map<String, Value>) -> Result<bool, SchemaError> {
        let mut validation: Vec<&str> = Vec::new();
        for (k, v) in m {
            let k = k.as_str();
            if ANNOTATIONS.contains(&k) || k.starts_with("x-") {
                continue;
            }
            if k == "$id" && self.path.is_empty() {
                continue;
            }
            if k == "$defs" || k == "definitions" {
                if !v.is_object() {
                    return Err(self.invalid(k, "must be an object of schemas"));
                }
                continue;
            }
            if k == "allOf" && v.as_array().is_some_and(|a| a.len() == 1) {
                validation.push(k);
                continue;
            }
            if SUPPORTED.contains(&k) {
                validation.push(k);
            } else if UNSUPPORTED.contains(&k) {
                return Err(SchemaError::Unsupported {
                    pointer: self.pointer_to(k),
                    keyword: k.to_string(),
                });
            } else {
                return Err(SchemaError::UnknownKeyword {
                    pointer: self.pointer_to(k),
                    keyword: k.to_string(),
                });
            }
        }
        // Keywords that replace the whole schema must stand alone.
        for alone in ["$ref", "anyOf", "allOf"] {
            if validation.contains(&alone) {
                if let Some(other) = validation.iter().find(|&&k| k != alone) {
                    return Err(SchemaError::Unsupported {
                        pointer: self.pointer_to(other),
                        keyword: format!("{other} next to {alone}"),
                    });
                }
            }
        }
        if m.contains_key("enum") || m.contains_key("const") {
            if let Some(k) = validation
                .iter()
                .find(|k| OBJECT_KEYWORDS.contains(k) || ARRAY_KEYWORDS.contains(k))
            {
                return Err(SchemaError::Unsupported {
                    pointer: self.pointer_to(k),
                    keyword: format!("{k} next to enum/const"),
                });
            }
        }
        Ok(validation.is_empty())
    }

    fn all_of(&mut self, v: &'a Value) -> Result<NodeId, SchemaError> {
        let Some(first) = v.as_array().and_then(|a| a.first()) else {
            return Err(self.invalid("allOf", "must be an array"));
        };
        self.sub(&["allOf", "0"], first)
    }

    fn any_of(&mut self, v: &'a Value) -> Result<NodeId, SchemaError> {
        let Some(branches) = v.as_array().filter(|a| !a.is_empty()) else {
            return Err(self.invalid("anyOf", "must be a non-empty array of schemas"));
        };
        let mut ids = Vec::with_capacity(branches.len());
        for (i, s) in branches.iter().enumerate() {
            let seg = i.to_string();
            ids.push(self.sub(&["anyOf", &seg], s)?);
        }
        self.push(Node::Union(ids))
    }

    /// The JSON types the schema allows: `type`, or inferred from the keywords present.
    #[inline(never)]
    fn schema_types(&self, m: &Map<String, Value>) -> Result<u8, SchemaError> {
        if let Some(t) = m.get("type") {
            return self.types(t);
        }
        let has = |ks: &[&str]| ks.iter().any(|k| m.contains_key(*k));
        let mut t = 0;
        if has(OBJECT_KEYWORDS) {
            t |= T_OBJECT;
        }
        if has(ARRAY_KEYWORDS) {
            t |= T_ARRAY;
        }
        if has(STRING_KEYWORDS) {
            t |= T_STRING;
        }
        Ok(if t == 0 { T_ALL } else { t })
    }

    /// Nodes for the scalar types in `types`.
    #[inline(never)]
    fn scalars(
        &mut self,
        m: &Map<String, Value>,
        types: u8,
        ids: &mut Vec<NodeId>,
    ) -> Result<(), SchemaError> {
        if types & T_STRING != 0 {
            let (min, max) = self.lengths(m)?;
            ids.push(self.push(Node::String { min, max })?);
        }
        if types & (T_NUMBER | T_INTEGER) != 0 {
            ids.push(self.push(Node::Number {
                integer: types & T_NUMBER == 0,
            })?);
        }
        let words: Vec<&str> = [(T_BOOLEAN, "false"), (T_NULL, "null"), (T_BOOLEAN, "true")]
            .iter()
            .filter(|(t, _)| types & t != 0)
            .map(|(_, w)| *w)
            .collect();
        if !words.is_empty() {
            ids.push(self.push(Node::Literals(LiteralSet {
                texts: words.iter().map(|w| w.as_bytes().into()).collect(),
                depth: 0,
            }))?);
        }
        Ok(())
    }

    /// `minLength` and `maxLength`.
    fn lengths(&self, m: &Map<String, Value>) -> Result<(u32, u32), SchemaError> {
        Ok((
            self.count(m, "minLength")?.unwrap_or(0),
            self.count(m, "maxLength")?.unwrap_or(u32::MAX),
        ))
    }

    fn ref_keyword(&mut self, r: &Value) -> Result<NodeId, SchemaError> {
        let Some(s) = r.as_str() else {
            return Err(self.invalid("$ref", "must be a string"));
        };
        let bad = |reason| SchemaError::BadRef {
            pointer: self.pointer_to("$ref"),
            reference: s.to_string(),
            reason,
        };
        let Some(frag) = s.strip_prefix('#') else {
            return Err(bad(
                "only local references (starting with `#`) are supported",
            ));
        };
        if !frag.is_empty() && !frag.starts_with('/') {
            return Err(bad(
                "anchors are not supported; use a JSON pointer such as `#/$defs/Name`",
            ));
        }
        let Some(ptr) = percent_decode(frag) else {
            return Err(bad("bad percent-encoding"));
        };
        self.reference(&ptr, s)
    }

    fn types(&self, t: &Value) -> Result<u8, SchemaError> {
        let one = |v: &Value| -> Result<u8, SchemaError> {
            Ok(match v.as_str() {
                Some("object") => T_OBJECT,
                Some("array") => T_ARRAY,
                Some("string") => T_STRING,
                Some("number") => T_NUMBER,
                Some("integer") => T_INTEGER,
                Some("boolean") => T_BOOLEAN,
                Some("null") => T_NULL,
                Some(other) => return Err(self.invalid("type", format!("unknown type `{other}`"))),
                None => return Err(self.invalid("type", "must be a type name or a list of them")),
            })
        };
        match t {
            Value::Array(list) if !list.is_empty() => {
                list.iter().try_fold(0, |acc, v| Ok(acc | one(v)?))
            }
            Value::Array(_) => Err(self.invalid("type", "an empty list of types allows nothing")),
            v => one(v),
        }
    }

    /// A non-negative integer keyword, clamped to `u32`.
    fn count(&self, m: &Map<String, Value>, k: &str) -> Result<Option<u32>, SchemaError> {
        match m.get(k) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) => Ok(Some(u32::try_from(n).unwrap_or(u32::MAX))),
                None if v.as_f64().is_some_and(|f| f >= 0.0 && f.fract() == 0.0) => Ok(Some(
                    v.as_f64()
                        .map_or(u32::MAX, |f| f.min(f64::from(u32::MAX)) as u32),
                )),
                None => Err(self.invalid(k, "must be a non-negative integer")),
            },
        }
    }

    fn object(&mut self, m: &'a Map<String, Value>) -> Result<NodeId, SchemaError> {
        let mut props: Vec<(Box<[u8]>, &'a String, NodeId)> = Vec::new();
        if let Some(p) = m.get("properties") {
            let Some(p) = p.as_object() else {
                return Err(self.invalid("properties", "must be an object of schemas"));
            };
            for (name, s) in p {
                let id = self.sub(&["properties", name.as_str()], s)?;
                props.push((canonical_key(name), name, id));
            }
        }
        props.sort_by(|a, b| a.0.cmp(&b.0));
        let mut required = vec![false; props.len()];
        if let Some(r) = m.get("required") {
            let Some(r) = r.as_array() else {
                return Err(self.invalid("required", "must be an array of property names"));
            };
            for name in r {
                let Some(name) = name.as_str() else {
                    return Err(self.invalid("required", "must be an array of property names"));
                };
                let Some(i) = props.iter().position(|p| p.1 == name) else {
                    return Err(self.invalid(
                        "required",
                        format!("`{name}` is not declared in `properties`"),
                    ));
                };
                required[i] = true;
            }
        }
        let additional = match m.get("additionalProperties") {
            None | Some(Value::Bool(true)) => Some(self.any()?),
            Some(Value::Bool(false)) => None,
            Some(s) => Some(self.sub(&["additionalProperties"], s)?),
        };
        let n_required = required.iter().filter(|&&r| r).count() as u32;
        let node = ObjectNode {
            key_hash: props.iter().map(|p| key_hash(p.1)).collect(),
            values: props.iter().map(|p| p.2).collect(),
            keys: props.into_iter().map(|p| p.0).collect(),
            required,
            n_required,
            additional,
        };
        self.push(Node::Object(node))
    }

    fn array(&mut self, m: &'a Map<String, Value>) -> Result<NodeId, SchemaError> {
        let items = match m.get("items") {
            None => self.any()?,
            Some(Value::Array(_)) => {
                return Err(SchemaError::Unsupported {
                    pointer: self.pointer_to("items"),
                    keyword: "items (array form)".into(),
                })
            }
            Some(s) => self.sub(&["items"], s)?,
        };
        let min = self.count(m, "minItems")?.unwrap_or(0);
        let max = self.count(m, "maxItems")?.unwrap_or(u32::MAX);
        self.push(Node::Array(ArrayNode { items, min, max }))
    }

    /// `enum`/`const`: the values that also match `types` and the string length bounds.
    #[inline(never)]
    fn literals(&mut self, m: &'a Map<String, Value>, types: u8) -> Result<NodeId, SchemaError> {
        let (min_len, max_len) = self.lengths(m)?;
        let mut values: Vec<&Value> = match m.get("enum") {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(_) => return Err(self.invalid("enum", "must be an array")),
            None => Vec::new(),
        };
        if let Some(c) = m.get("const") {
            if m.contains_key("enum") {
                values.retain(|v| *v == c);
            } else {
                values.push(c);
            }
        }
        let mut texts = Vec::new();
        let mut depth = 0u8;
        for v in values {
            let ok = match v {
                Value::Object(_) => types & T_OBJECT != 0,
                Value::Array(_) => types & T_ARRAY != 0,
                Value::String(s) => {
                    let n = s.chars().count();
                    types & T_STRING != 0 && n >= min_len as usize && n <= max_len as usize
                }
                Value::Number(n) => {
                    types & T_NUMBER != 0
                        || (types & T_INTEGER != 0
                            && (n.is_i64()
                                || n.is_u64()
                                || n.as_f64().is_some_and(|f| f.fract() == 0.0)))
                }
                Value::Bool(_) => types & T_BOOLEAN != 0,
                Value::Null => types & T_NULL != 0,
            };
            if !ok {
                continue;
            }
            let d = value_depth(v);
            if d > usize::from(MAX_DOC_DEPTH) {
                depth = UNSAT;
                continue;
            }
            // Depth is bounded above, so serde_json's recursive writer is safe here.
            let text = serde_json::to_string(v).map_err(|e| self.invalid("enum", e.to_string()))?;
            self.literal_bytes += text.len();
            if self.literal_bytes > MAX_LITERAL_BYTES {
                return Err(SchemaError::TooLarge {
                    pointer: self.pointer_to("enum"),
                    what: "bytes of enum/const values",
                    limit: MAX_LITERAL_BYTES,
                });
            }
            depth = depth.max(d as u8);
            texts.push(text.into_bytes().into_boxed_slice());
        }
        texts.sort();
        texts.dedup();
        if depth == UNSAT {
            texts.clear();
        }
        self.push(Node::Literals(LiteralSet { texts, depth }))
    }
}

/// Nesting depth of a value (0 for scalars), without recursion.
fn value_depth(v: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Object(m) => {
                max = max.max(d + 1);
                stack.extend(m.values().map(|c| (c, d + 1)));
            }
            Value::Array(a) => {
                max = max.max(d + 1);
                stack.extend(a.iter().map(|c| (c, d + 1)));
            }
            _ => {}
        }
    }
    max
}

/// A property name as serde_json writes it between the quotes.
fn canonical_key(name: &str) -> Box<[u8]> {
    let quoted = Value::String(name.to_string()).to_string();
    let inner = &quoted.as_bytes()[1..quoted.len() - 1];
    inner.into()
}

fn escape_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn pointer_of(path: &[String]) -> String {
    path.iter()
        .map(|s| format!("/{}", escape_segment(s)))
        .collect()
}

/// Unescaped segments of a JSON pointer (`""` → none).
fn split_pointer(ptr: &str) -> Vec<String> {
    if ptr.is_empty() {
        return Vec::new();
    }
    ptr.split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Decodes `%XX` escapes of a URI fragment; `None` when malformed.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
