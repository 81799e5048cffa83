//! Tests of the JSON constraint engine (`allmende_engine::constrain`).
//!
//! - Accept/reject tables per schema feature: every valid document is accepted character by character
//!   and in random byte-sized pieces (splitting UTF-8 characters), and every invalid one is accepted up
//!   to a given point and refused at exactly the next character.
//! - A random "model" (random logits over a toy vocabulary of JSON-ish pieces, many seeds) generates
//!   through `pick_token`; every finished output must parse with serde_json and validate against the
//!   schema (checked by a small independent validator below).
//! - Hostile schemas give typed errors naming the JSON pointer, or bounded behaviour.
//! - Costs of `advance` and `pick_token` are printed (run with `--nocapture`); nothing asserts on time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use allmende_engine::constrain::{
    pick_token, Choice, JsonGrammar, JsonState, SchemaError, TokenTable, MAX_DOC_DEPTH, MAX_THREADS,
};
use allmende_engine::sampler::Rng;
use allmende_engine::{Sampler, SamplingParams};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Feeds `text` one character at a time; returns the state, or the byte offset of the refused char.
fn feed_chars(g: &JsonGrammar, start: &JsonState, text: &str) -> Result<JsonState, usize> {
    let mut st = start.clone();
    for (i, ch) in text.char_indices() {
        let mut buf = [0u8; 4];
        st = st.advance(g, ch.encode_utf8(&mut buf)).ok_or(i)?;
    }
    Ok(st)
}

/// Feeds `text` in random pieces of 1..=6 bytes (which may split UTF-8 characters).
fn feed_pieces(g: &JsonGrammar, text: &str, rng: &mut Rng) -> Option<JsonState> {
    let b = text.as_bytes();
    let mut st = JsonState::new(g);
    let mut i = 0;
    while i < b.len() {
        let n = 1 + (rng.next_u64() % 6) as usize;
        let end = (i + n).min(b.len());
        st = st.advance_bytes(g, &b[i..end])?;
        i = end;
    }
    Some(st)
}

/// A schema feature with documents it must accept and (prefix, rest) pairs: `prefix` is accepted, the
/// first character of `rest` is refused.
struct Case {
    name: &'static str,
    schema: Value,
    valid: Vec<&'static str>,
    invalid: Vec<(&'static str, &'static str)>,
}

fn check_case(c: &Case, g: &JsonGrammar) {
    let mut rng = Rng::seed_from_u64(7);
    for doc in &c.valid {
        // The table itself must be right: the document parses and validates.
        let v: Value = serde_json::from_str(doc)
            .unwrap_or_else(|e| panic!("{}: bad table entry {doc}: {e}", c.name));
        assert!(
            validate(&c.schema, &c.schema, &v),
            "{}: table entry {doc} does not validate",
            c.name
        );
        let st = feed_chars(g, &JsonState::new(g), doc).unwrap_or_else(|i| {
            panic!("{}: {doc:?} refused at byte {i} ({:?})", c.name, &doc[i..])
        });
        assert!(
            st.can_end(),
            "{}: {doc:?} accepted but not finished",
            c.name
        );
        assert!(!st.is_empty_start(), "{}", c.name);
        for _ in 0..20 {
            let st = feed_pieces(g, doc, &mut rng)
                .unwrap_or_else(|| panic!("{}: {doc:?} refused in pieces", c.name));
            assert!(st.can_end(), "{}: {doc:?} in pieces not finished", c.name);
        }
        let whole = JsonState::new(g).advance(g, doc).expect("whole document");
        assert!(whole.can_end());
    }
    for (prefix, rest) in &c.invalid {
        let st = feed_chars(g, &JsonState::new(g), prefix)
            .unwrap_or_else(|i| panic!("{}: prefix {prefix:?} refused at byte {i}", c.name));
        let first: String = rest.chars().take(1).collect();
        assert!(
            st.advance(g, &first).is_none(),
            "{}: {prefix:?} + {first:?} was accepted",
            c.name
        );
        assert!(
            JsonState::new(g)
                .advance(g, &format!("{prefix}{rest}"))
                .is_none(),
            "{}",
            c.name
        );
    }
}

fn strict(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

// ---------------------------------------------------------------------------------------------
// An independent validator for the supported subset
// ---------------------------------------------------------------------------------------------

fn is_integer(v: &Value) -> bool {
    v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_number() && is_integer(v),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

fn validate(root: &Value, s: &Value, v: &Value) -> bool {
    let m = match s {
        Value::Bool(b) => return *b,
        Value::Object(m) => m,
        _ => return false,
    };
    if let Some(r) = m.get("$ref") {
        let ptr = r
            .as_str()
            .and_then(|r| r.strip_prefix('#'))
            .expect("local ref");
        return validate(root, root.pointer(ptr).expect("ref target"), v);
    }
    if let Some(a) = m.get("anyOf") {
        return a
            .as_array()
            .expect("anyOf")
            .iter()
            .any(|b| validate(root, b, v));
    }
    if let Some(a) = m.get("allOf") {
        return a
            .as_array()
            .expect("allOf")
            .iter()
            .all(|b| validate(root, b, v));
    }
    if let Some(e) = m.get("enum") {
        if !e.as_array().expect("enum").contains(v) {
            return false;
        }
    }
    if let Some(c) = m.get("const") {
        if c != v {
            return false;
        }
    }
    if let Some(t) = m.get("type") {
        let ok = match t {
            Value::String(t) => type_matches(t, v),
            Value::Array(ts) => ts
                .iter()
                .any(|t| type_matches(t.as_str().expect("type"), v)),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    match v {
        Value::Object(o) => {
            let props = m.get("properties").and_then(Value::as_object);
            for r in m
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !o.contains_key(r.as_str().expect("required")) {
                    return false;
                }
            }
            for (k, x) in o {
                match props.and_then(|p| p.get(k)) {
                    Some(ps) => {
                        if !validate(root, ps, x) {
                            return false;
                        }
                    }
                    None => match m.get("additionalProperties") {
                        None | Some(Value::Bool(true)) => {}
                        Some(a) => {
                            if !validate(root, a, x) {
                                return false;
                            }
                        }
                    },
                }
            }
            true
        }
        Value::Array(a) => {
            let n = a.len() as u64;
            if m.get("minItems")
                .and_then(Value::as_u64)
                .is_some_and(|k| n < k)
                || m.get("maxItems")
                    .and_then(Value::as_u64)
                    .is_some_and(|k| n > k)
            {
                return false;
            }
            match m.get("items") {
                Some(items) => a.iter().all(|x| validate(root, items, x)),
                None => true,
            }
        }
        Value::String(s) => {
            let n = s.chars().count() as u64;
            !(m.get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|k| n < k)
                || m.get("maxLength")
                    .and_then(Value::as_u64)
                    .is_some_and(|k| n > k))
        }
        _ => true,
    }
}

// ---------------------------------------------------------------------------------------------
// Accept/reject tables
// ---------------------------------------------------------------------------------------------

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "string enum and const",
            schema: strict(
                json!({"role": {"type": "string", "enum": ["admin", "user"]}, "k": {"const": "x\"y"}}),
                &["role", "k"],
            ),
            valid: vec![
                r#"{"role":"admin","k":"x\"y"}"#,
                r#"{"k":"x\"y", "role":"user"}"#,
                r#" {"role": "user", "k": "x\"y"}"#,
            ],
            invalid: vec![
                (r#"{"role":""#, r#"guest"}"#),
                (r#"{"role":"admin""#, "}"),
                (r#"{""#, r#"x":1}"#),
                (r#"{"role":"admin",""#, r#"role":"user"}"#),
                (r#"{"role":"admin","k":"x"#, r#"y"}"#),
                (r#"{"role":"adm"#, r#"x"}"#),
            ],
        },
        Case {
            name: "numbers",
            schema: strict(
                json!({"i": {"type": "integer"}, "n": {"type": "number"}}),
                &["i", "n"],
            ),
            valid: vec![
                r#"{"i":-12,"n":0.5e+10}"#,
                r#"{"i":0,"n":-0}"#,
                r#"{"n":1E5,"i":7}"#,
                r#"{"i":123,"n":3.25}"#,
                r#"{"i":-0,"n":1e-7}"#,
                r#"{"i":99999999999999999999999999999999999999,"n":-999999999999999999999999999999.9e+99}"#,
                r#"{"i":1,"n":0.000000000000000000000000000001e-99}"#,
            ],
            invalid: vec![
                (r#"{"i":1"#, ".5"),
                (r#"{"i":1"#, "e5"),
                (r#"{"i":0"#, "1"),
                (r#"{"i":-"#, "}"),
                (r#"{"i":1,"n":1."#, "e"),
                (r#"{"i":1,"n":1e"#, "}"),
                (r#"{"i":"#, "+1"),
                (r#"{"i":1,"n":"#, ".5"),
                (r#"{"i":1,"n":-"#, "-"),
                (r#"{"i":1,"n":1e+"#, ","),
                (r#"{"i":1,"n":1e+99"#, "9"),
                (r#"{"i":1,"n":1E05"#, "0"),
            ],
        },
        Case {
            name: "boolean, null and type lists",
            schema: strict(
                json!({"b": {"type": "boolean"}, "z": {"type": ["string", "null"]}, "u": {"type": "null"}}),
                &["b", "z", "u"],
            ),
            valid: vec![
                r#"{"b":true,"z":null,"u":null}"#,
                r#"{"b":false,"z":"hi","u":null}"#,
            ],
            invalid: vec![
                (r#"{"b":t"#, "x"),
                (r#"{"b":true,"z":"#, "1"),
                (r#"{"b":true,"z":null,"u":"#, "\""),
                (r#"{"b":"#, "null"),
            ],
        },
        Case {
            name: "arrays with minItems and maxItems",
            schema: strict(
                json!({"a": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3}}),
                &["a"],
            ),
            valid: vec![r#"{"a":[1]}"#, r#"{"a":[1,2,3]}"#, r#"{"a":[ 1 , 2 ]}"#],
            invalid: vec![
                (r#"{"a":["#, "]"),
                (r#"{"a":[1,2,3"#, ","),
                (r#"{"a":[1,"#, "]"),
                (r#"{"a":["#, "\""),
                (r#"{"a":[1"#, "}"),
            ],
        },
        Case {
            name: "string escapes, UTF-8 and lengths",
            schema: strict(
                json!({"s": {"type": "string", "minLength": 2, "maxLength": 4}}),
                &["s"],
            ),
            valid: vec![
                r#"{"s":"ab"}"#,
                r#"{"s":"\u00e9\n\"\\"}"#,
                r#"{"s":"\ud83d\ude00x"}"#,
                r#"{"s":"é€😀"}"#,
                r#"{"s":"\/\b\f\r"}"#,
                r#"{"s":"a\t"}"#,
                r#"{"s":"\uD83D\uDE00\u0000"}"#,
            ],
            invalid: vec![
                (r#"{"s":"a"#, "\""),
                (r#"{"s":"abcd"#, "e"),
                (r#"{"s":"abcé"#, "é"),
                (r#"{"s":"\"#, "x"),
                (r#"{"s":"\u12"#, "g"),
                (r#"{"s":"\ud"#, "c00\"}"),
                (r#"{"s":"\ud83d"#, "\""),
                (r#"{"s":"\ud83d\u"#, "0041"),
                (r#"{"s":"\ud83d\ud"#, "800"),
                (r#"{"s":"a"#, "\n"),
                (r#"{"s":"a"#, "\t"),
            ],
        },
        Case {
            name: "declared and free keys",
            schema: json!({"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}),
            valid: vec![
                r#"{"id":1}"#,
                r#"{"id":1,"extra":[1,{"x":null}],"e2":"s"}"#,
                r#"{"zz":true,"id":2}"#,
                r#"{"id":1,"i":2,"idx":{}}"#,
            ],
            invalid: vec![
                (r#"{"id":1,"id"#, "\""),
                (r#"{"id":1,"\u0069d"#, "\""),
                (r#"{"id":1,"x":1,"x"#, "\""),
                (r#"{"id":1,"x":1,"\u0078"#, "\""),
                (r#"{"id":"#, "\""),
                (r#"{"x":1"#, "}"),
            ],
        },
        Case {
            name: "additionalProperties schema",
            schema: json!({"type": "object", "additionalProperties": {"type": "integer"}}),
            valid: vec!["{}", r#"{"a":1,"b":2}"#, r#"{"a\"b":3}"#],
            invalid: vec![(r#"{"a":"#, "\""), (r#"{"a":1,"b":2,"a"#, "\"")],
        },
        Case {
            name: "$defs, $ref and anyOf with null",
            schema: json!({
                "type": "object",
                "properties": {
                    "p": {"$ref": "#/$defs/Pt"},
                    "q": {"anyOf": [{"$ref": "#/$defs/Pt"}, {"type": "null"}]},
                    "r": {"$ref": "#/definitions/Name"}
                },
                "required": ["p", "q", "r"],
                "additionalProperties": false,
                "$defs": {"Pt": strict(json!({"x": {"type": "number"}, "y": {"type": "number"}}), &["x", "y"])},
                "definitions": {"Name": {"type": "string", "maxLength": 3}}
            }),
            valid: vec![
                r#"{"p":{"x":1,"y":2},"q":null,"r":"abc"}"#,
                r#"{"q":{"y":0,"x":-1.5},"r":"","p":{"x":1,"y":2}}"#,
            ],
            invalid: vec![
                (r#"{"p":{"x":1"#, "}"),
                (r#"{"p":{"x":1,"y":2},"q":"#, "\""),
                (r#"{"r":"abc"#, "d"),
            ],
        },
        Case {
            name: "anyOf of objects that start alike",
            schema: json!({"anyOf": [
                strict(json!({"kind": {"const": "a"}, "x": {"type": "integer"}}), &["kind", "x"]),
                strict(json!({"kind": {"const": "b"}, "y": {"type": "string"}}), &["kind", "y"])
            ]}),
            valid: vec![
                r#"{"kind":"a","x":1}"#,
                r#"{"kind":"b","y":"s"}"#,
                r#"{"x":5,"kind":"a"}"#,
            ],
            invalid: vec![
                (r#"{"kind":"a",""#, "y"),
                (r#"{"kind":"b","y":"#, "1"),
                (r#"{"x":5,"kind":""#, "b"),
            ],
        },
        Case {
            name: "recursive $ref",
            schema: strict(
                json!({"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#"}}}),
                &["v", "kids"],
            ),
            valid: vec![
                r#"{"v":1,"kids":[]}"#,
                r#"{"v":1,"kids":[{"v":2,"kids":[{"v":3,"kids":[]}]},{"kids":[],"v":4}]}"#,
            ],
            invalid: vec![
                (r#"{"v":1,"kids":[{"v":2"#, "}"),
                (r#"{"v":1,"kids":["#, "1"),
            ],
        },
        Case {
            name: "root enum of mixed values",
            schema: json!({"enum": [1, 12, "a", null, {"k": [1]}, 2.5]}),
            valid: vec!["1", "12", "\"a\"", "null", r#"{"k":[1]}"#, "2.5", " 1"],
            invalid: vec![("1", "3"), (r#"{"k":"#, " [1]}"), ("2", "5"), ("", "true")],
        },
        Case {
            name: "type inferred from keywords; minLength without type",
            schema: json!({"properties": {"a": {"minLength": 1}, "b": {"items": {"type": "null"}}}, "required": ["a", "b"], "additionalProperties": false}),
            valid: vec![r#"{"a":"x","b":[null]}"#],
            invalid: vec![
                (r#"{"a":"#, "1"),
                (r#"{"a":""#, "\""),
                (r#"{"a":"x","b":"#, "{"),
            ],
        },
        Case {
            name: "empty schema and true accept anything",
            schema: json!({"type": "object", "properties": {"any": {}, "t": true}, "required": ["any", "t"], "additionalProperties": false}),
            valid: vec![
                r#"{"any":[1,"x",{"y":null}],"t":false}"#,
                r#"{"any":-1.5,"t":{}}"#,
            ],
            invalid: vec![(r#"{"any":"#, "}"), (r#"{"any":{"a":1,"a"#, "\"")],
        },
    ]
}

#[test]
fn schema_feature_tables() {
    for c in cases() {
        let g = JsonGrammar::from_schema(&c.schema).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        check_case(&c, &g);
    }
}

#[test]
fn any_object_table() {
    let c = Case {
        name: "json_object",
        schema: json!({"type": "object"}),
        valid: vec![
            "{}",
            r#"{"a":[1,2,{"b":null}],"c":"\u00e9","d":-0.5e-3,"e":true,"f":[[],[[]]]}"#,
            " {\"a\":1}",
            "{\n \"a\": [\n 1, 2]}",
        ],
        invalid: vec![
            ("", "["),
            ("", "\"a\""),
            (r#"{"a":1,"a"#, "\""),
            (r#"{"a":1}"#, "x"),
            (r#"{"a":1}  "#, " "),
            ("{  ", " "),
            ("  ", " {}"),
            (r#"{"a":"#, "}"),
            (r#"{"a":[1,"#, "]"),
            (r#"{"a":1,"#, "}"),
            (r#"{"a":tru"#, "x"),
        ],
    };
    check_case(&c, &JsonGrammar::any_object());
}

#[test]
fn completion_flags() {
    let g = JsonGrammar::any_object();
    let st = JsonState::new(&g);
    assert!(st.is_empty_start() && !st.can_end() && !st.is_complete());
    let st = st.advance(&g, " ").unwrap();
    assert!(st.is_empty_start());
    let st = st.advance(&g, "{\"a\":1").unwrap();
    assert!(!st.is_empty_start() && !st.can_end());
    let st = st.advance(&g, "}").unwrap();
    assert!(st.can_end() && st.is_complete());
    assert!(st.advance(&g, " ").unwrap().is_complete());

    // A root number may still grow: it can end, but it is not complete.
    let g = JsonGrammar::from_schema(&json!({"type": "number"})).unwrap();
    let st = JsonState::new(&g).advance(&g, "12").unwrap();
    assert!(st.can_end() && !st.is_complete());
    let st = st.advance(&g, "5 ").unwrap();
    assert!(st.can_end() && st.is_complete());

    // A state refuses to run against another grammar.
    let other = JsonGrammar::any_object();
    assert!(JsonState::new(&g).advance(&other, "1").is_none());
}

#[test]
fn types_can_cross_threads() {
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<JsonGrammar>();
    send_sync::<JsonState>();
    send_sync::<TokenTable>();
    send_sync::<Choice>();
}

#[test]
fn whitespace_bound_is_configurable() {
    let g = JsonGrammar::any_object().with_max_whitespace(0);
    assert!(JsonState::new(&g).advance(&g, r#"{"a":[1,2]}"#).is_some());
    assert!(JsonState::new(&g).advance(&g, "{ ").is_none());
    assert!(
        JsonState::new(&g).advance(&g, r#"{"a b":"c d"}"#).is_some(),
        "spaces inside strings are content"
    );
    let g = JsonGrammar::any_object().with_max_whitespace(6);
    assert!(JsonState::new(&g)
        .advance(&g, "{\n     \"a\": 1\n}")
        .is_some());
    assert!(JsonState::new(&g).advance(&g, "{\n      \"a\"").is_none());
}

#[test]
fn nesting_is_bounded_without_dead_ends() {
    let g = JsonGrammar::any_object();
    let deep = format!("{{\"a\":{}", "[".repeat(usize::from(MAX_DOC_DEPTH) - 1));
    let st = JsonState::new(&g).advance(&g, &deep).expect("64 levels");
    assert!(st.advance(&g, "[").is_none() && st.advance(&g, "{").is_none());
    let done = format!("1{}}}", "]".repeat(usize::from(MAX_DOC_DEPTH) - 1));
    let st = st.advance(&g, &done).expect("closes");
    assert!(st.is_complete());
    let text = format!("{deep}{done}");
    serde_json::from_str::<Value>(&text).expect("serde_json parses the deepest document we allow");

    // Optional recursion: at the bound the recursive key is no longer offered, `}` is.
    let s = json!({"type": "object", "properties": {"me": {"$ref": "#"}}, "additionalProperties": false});
    let g = JsonGrammar::from_schema(&s).unwrap();
    let prefix = format!("{}{{", "{\"me\":".repeat(usize::from(MAX_DOC_DEPTH) - 1));
    let st = JsonState::new(&g)
        .advance(&g, &prefix)
        .expect("63 levels + 1");
    assert!(st.advance(&g, "\"").is_none());
    let st = st
        .advance(&g, &"}".repeat(usize::from(MAX_DOC_DEPTH)))
        .expect("closes");
    assert!(st.is_complete());
}

#[test]
fn numbers_are_bounded_in_length() {
    let g = JsonGrammar::from_schema(&json!({"type": "number"})).unwrap();
    let st = JsonState::new(&g)
        .advance(&g, &"9".repeat(40))
        .expect("40 digits");
    assert!(st.advance(&g, "9").is_none());
    // A phase that needs one more digit is refused when no room for the digit is left.
    let st = JsonState::new(&g).advance(&g, &"9".repeat(39)).unwrap();
    assert!(st.advance(&g, "e").is_none() && st.advance(&g, ".").is_none());
    assert!(st.advance(&g, "9").unwrap().can_end());
}

#[test]
fn ambiguous_alternatives_are_capped() {
    let branches: Vec<Value> = (0..100)
        .map(|i| {
            strict(
                json!({ format!("k{i}"): {"type": "integer"} }),
                &[&format!("k{i}")],
            )
        })
        .collect();
    let g = JsonGrammar::from_schema(&json!({ "anyOf": branches })).unwrap();
    let st = JsonState::new(&g).advance(&g, "{\"k").unwrap();
    assert!(st.n_threads() <= MAX_THREADS, "{} threads", st.n_threads());
    let st = st
        .advance(&g, "1\":5}")
        .expect("an early branch still works");
    assert!(st.is_complete());
}

// ---------------------------------------------------------------------------------------------
// Hostile and refused schemas
// ---------------------------------------------------------------------------------------------

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Drops a deeply nested value without recursion (serde_json's drop recurses).
fn drop_deep(v: Value) {
    let mut stack = vec![v];
    while let Some(mut v) = stack.pop() {
        match &mut v {
            Value::Object(m) => {
                let keys: Vec<String> = m.keys().cloned().collect();
                stack.extend(keys.iter().filter_map(|k| m.remove(k)));
            }
            Value::Array(a) => stack.append(a),
            _ => {}
        }
    }
}

#[test]
fn recursive_refs_without_base_case_are_unsatisfiable() {
    for s in [
        json!({"$ref": "#"}),
        json!({"$defs": {"A": {"$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"}),
        json!({"$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"anyOf": [{"$ref": "#/$defs/A"}]}}, "$ref": "#/$defs/A"}),
        json!({"type": "object", "properties": {"me": {"$ref": "#"}}, "required": ["me"]}),
        json!({"type": "array", "items": {"$ref": "#"}, "minItems": 1}),
        json!({"type": "array", "minItems": 3, "maxItems": 2}),
        json!({"enum": []}),
        json!({"type": "string", "enum": [1, 2]}),
        json!(false),
        json!({"type": "object", "properties": {"a": false}, "required": ["a"]}),
    ] {
        match JsonGrammar::from_schema(&s) {
            Err(SchemaError::Unsatisfiable { pointer, .. }) => assert_eq!(pointer, ""),
            other => panic!("{s}: {other:?}"),
        }
    }
}

#[test]
fn union_cycles_with_a_base_case_work() {
    let s = json!({"$defs": {"A": {"anyOf": [{"$ref": "#/$defs/A"}, {"type": "string"}]}}, "$ref": "#/$defs/A"});
    let g = JsonGrammar::from_schema(&s).unwrap();
    assert!(JsonState::new(&g)
        .advance(&g, "\"x\"")
        .unwrap()
        .is_complete());
    assert!(JsonState::new(&g).advance(&g, "1").is_none());
    // An unsatisfiable optional property is simply never offered.
    let s = json!({"type": "object", "properties": {"a": false, "b": {"type": "null"}}, "additionalProperties": false});
    let g = JsonGrammar::from_schema(&s).unwrap();
    assert!(JsonState::new(&g).advance(&g, "{\"a").is_none());
    assert!(JsonState::new(&g).advance(&g, "{\"b\":null}").is_some());
}

#[test]
fn deep_schemas_are_refused_without_deep_recursion() {
    // Built by hand: `json!` would copy the inner value recursively.
    let mut v = json!({"type": "string"});
    for _ in 0..10_000 {
        v = obj(vec![
            ("type", json!("object")),
            ("properties", obj(vec![("a", v)])),
        ]);
    }
    match JsonGrammar::from_schema(&v) {
        Err(SchemaError::TooDeep { pointer, limit }) => {
            assert_eq!(limit, allmende_engine::constrain::schema::MAX_SCHEMA_DEPTH);
            assert!(
                pointer.starts_with("/properties/a/properties/a/"),
                "{pointer}"
            );
        }
        other => panic!("{other:?}"),
    }
    drop_deep(v);

    let mut v = json!({"type": "null"});
    for _ in 0..10_000 {
        v = obj(vec![(
            "anyOf",
            Value::Array(vec![v, json!({"type": "string"})]),
        )]);
    }
    assert!(matches!(
        JsonGrammar::from_schema(&v),
        Err(SchemaError::TooDeep { .. })
    ));
    drop_deep(v);

    // A long chain of $refs counts its hops.
    let mut defs = serde_json::Map::new();
    for i in 0..10_000 {
        defs.insert(
            format!("D{i}"),
            json!({"$ref": format!("#/$defs/D{}", i + 1)}),
        );
    }
    defs.insert("D10000".into(), json!({"type": "string"}));
    let s = json!({"$defs": defs, "$ref": "#/$defs/D0"});
    assert!(matches!(
        JsonGrammar::from_schema(&s),
        Err(SchemaError::TooDeep { .. })
    ));

    // A const nested deeper than the document bound: refused up front, not a dead end later.
    let mut c = json!(1);
    for _ in 0..70 {
        c = Value::Array(vec![c]);
    }
    let s = obj(vec![("const", c)]);
    assert!(matches!(
        JsonGrammar::from_schema(&s),
        Err(SchemaError::Unsatisfiable { .. })
    ));
    drop_deep(s);
    // The deepest schema the compiler follows still fits the document bound.
    let mut v = json!({"type": "string"});
    for _ in 0..allmende_engine::constrain::schema::MAX_SCHEMA_DEPTH - 1 {
        v = strict(json!({"a": v}), &["a"]);
    }
    let g = JsonGrammar::from_schema(&v).expect("63 nested objects");
    let doc = format!("{}\"x\"{}", "{\"a\":".repeat(63), "}".repeat(63));
    assert!(JsonState::new(&g).advance(&g, &doc).unwrap().is_complete());
}

#[test]
fn shared_refs_do_not_blow_up() {
    // 25 levels, each an anyOf of two refs to the next: 2^25 paths, compiled once each.
    let mut defs = serde_json::Map::new();
    for i in 0..25 {
        let next = format!("#/$defs/D{}", i + 1);
        defs.insert(
            format!("D{i}"),
            json!({"anyOf": [{"$ref": next}, {"$ref": next}]}),
        );
    }
    defs.insert("D25".into(), json!({"type": "boolean"}));
    let s = json!({"$defs": defs, "$ref": "#/$defs/D0"});
    let t = Instant::now();
    let g = JsonGrammar::from_schema(&s).unwrap();
    println!("diamond chain: {} nodes in {:?}", g.n_nodes(), t.elapsed());
    assert!(JsonState::new(&g)
        .advance(&g, "true")
        .unwrap()
        .is_complete());
}

#[test]
fn wide_schemas_are_bounded() {
    let props: serde_json::Map<String, Value> = (0..20_000)
        .map(|i| (format!("p{i}"), json!({"type": "null"})))
        .collect();
    match JsonGrammar::from_schema(&json!({"type": "object", "properties": props})) {
        Err(SchemaError::TooLarge { what, .. }) => assert_eq!(what, "compiled nodes"),
        other => panic!("{other:?}"),
    }
    // 1000 properties (OpenAI's order of magnitude) are fine, including the bitset past 64.
    let props: serde_json::Map<String, Value> = (0..1000)
        .map(|i| (format!("p{i}"), json!({"type": "null"})))
        .collect();
    let g = JsonGrammar::from_schema(
        &json!({"type": "object", "properties": props, "additionalProperties": false}),
    )
    .unwrap();
    let st = JsonState::new(&g)
        .advance(&g, r#"{"p999":null,"p100":null"#)
        .unwrap();
    assert!(st.advance(&g, r#","p999""#).is_none() && st.advance(&g, r#","p100""#).is_none());
    assert!(st.advance(&g, r#","p10":null}"#).unwrap().is_complete());
}

#[test]
fn refused_keywords_name_their_pointer() {
    let table: Vec<(Value, SchemaError)> = vec![
        (
            json!({"type": "object", "properties": {"s": {"type": "string", "pattern": "^a"}}}),
            SchemaError::Unsupported {
                pointer: "/properties/s/pattern".into(),
                keyword: "pattern".into(),
            },
        ),
        (
            json!({"type": "object", "properties": {"d": {"type": "string", "format": "date-time"}}}),
            SchemaError::Unsupported {
                pointer: "/properties/d/format".into(),
                keyword: "format".into(),
            },
        ),
        (
            json!({"type": "integer", "minimum": 0}),
            SchemaError::Unsupported {
                pointer: "/minimum".into(),
                keyword: "minimum".into(),
            },
        ),
        (
            json!({"oneOf": [{"type": "null"}]}),
            SchemaError::Unsupported {
                pointer: "/oneOf".into(),
                keyword: "oneOf".into(),
            },
        ),
        (
            json!({"type": "object", "requried": ["a"]}),
            SchemaError::UnknownKeyword {
                pointer: "/requried".into(),
                keyword: "requried".into(),
            },
        ),
        (
            json!({"type": "object", "properties": {"a/b": {"nullable": true}}}),
            SchemaError::UnknownKeyword {
                pointer: "/properties/a~1b/nullable".into(),
                keyword: "nullable".into(),
            },
        ),
        (
            json!({"$defs": {"X": {"type": "string", "maxLength": -1}}, "$ref": "#/$defs/X"}),
            SchemaError::Invalid {
                pointer: "/$defs/X/maxLength".into(),
                reason: "must be a non-negative integer".into(),
            },
        ),
        (
            json!({"type": "array", "items": [{"type": "null"}]}),
            SchemaError::Unsupported {
                pointer: "/items".into(),
                keyword: "items (array form)".into(),
            },
        ),
        (
            json!({"type": "object", "anyOf": [{"type": "null"}]}),
            SchemaError::Unsupported {
                pointer: "/type".into(),
                keyword: "type next to anyOf".into(),
            },
        ),
        (
            json!({"type": "strin"}),
            SchemaError::Invalid {
                pointer: "/type".into(),
                reason: "unknown type `strin`".into(),
            },
        ),
        (
            json!({"type": "object", "properties": {"a": {}}, "required": ["b"]}),
            SchemaError::Invalid {
                pointer: "/required".into(),
                reason: "`b` is not declared in `properties`".into(),
            },
        ),
        (
            json!({"type": "object", "properties": {"a": 3}}),
            SchemaError::Invalid {
                pointer: "/properties/a".into(),
                reason: "a schema must be an object or a boolean".into(),
            },
        ),
    ];
    for (schema, want) in table {
        let got = JsonGrammar::from_schema(&schema).expect_err("refused");
        assert_eq!(got, want, "{schema}");
        assert!(!got.to_string().is_empty());
    }
    for (s, reference) in [
        (
            json!({"$ref": "https://example.com/s.json"}),
            "https://example.com/s.json",
        ),
        (json!({"$ref": "#/$defs/Missing"}), "#/$defs/Missing"),
        (json!({"$ref": "#anchor"}), "#anchor"),
    ] {
        match JsonGrammar::from_schema(&s) {
            Err(SchemaError::BadRef {
                pointer,
                reference: r,
                ..
            }) => {
                assert_eq!(pointer, "/$ref");
                assert_eq!(r, reference);
            }
            other => panic!("{other:?}"),
        }
    }
    // Annotations, vendor keywords, one-entry allOf and a root $id are accepted.
    let s = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:x", "title": "T",
        "description": "d", "x-extra": 1, "type": "object",
        "properties": {"a": {"allOf": [{"type": "integer"}], "default": 1, "examples": [1]}},
        "required": ["a"], "additionalProperties": false
    });
    let g = JsonGrammar::from_schema(&s).unwrap();
    assert!(JsonState::new(&g)
        .advance(&g, r#"{"a":3}"#)
        .unwrap()
        .is_complete());
}

#[test]
fn keys_with_special_characters_use_serde_json_escapes() {
    let s = strict(
        json!({"a\"b": {"type": "null"}, "tab\there": {"type": "null"}, "é/ü": {"type": "null"}}),
        &["a\"b", "tab\there", "é/ü"],
    );
    let g = JsonGrammar::from_schema(&s).unwrap();
    let doc = r#"{"a\"b":null,"tab\there":null,"é/ü":null}"#;
    let st = JsonState::new(&g)
        .advance(&g, doc)
        .expect("canonical escapes");
    assert!(st.is_complete());
    let v: Value = serde_json::from_str(doc).unwrap();
    assert!(validate(&s, &s, &v));
    assert!(
        JsonState::new(&g).advance(&g, r#"{"a\u0022"#).is_none(),
        "non-canonical escape refused"
    );
    assert!(JsonState::new(&g).advance(&g, r#"{"\u00e9"#).is_none());
}

// ---------------------------------------------------------------------------------------------
// pick_token
// ---------------------------------------------------------------------------------------------

const EOG: u32 = 0;

/// Toy vocabulary: id 0 is the end-of-generation token, id 1 a control token, the rest JSON-ish
/// pieces, including the two halves of "é" as separate byte tokens.
fn toy_vocab() -> Vec<Option<Vec<u8>>> {
    let words = [
        "{",
        "}",
        "[",
        "]",
        "\"",
        ":",
        ",",
        "\":",
        "\",",
        "\"}",
        "\"]",
        "]}",
        "}}",
        "{\"",
        " ",
        "\n",
        "  ",
        "a",
        "b",
        "x",
        "y",
        "s",
        "k",
        "name",
        "age",
        "tags",
        "role",
        "admin",
        "user",
        "kind",
        "v",
        "kids",
        "id",
        "street",
        "zip",
        "address",
        "1",
        "2.5",
        "-",
        "0",
        "7",
        "e",
        "E",
        "+",
        ".",
        "true",
        "false",
        "null",
        "tru",
        "\\",
        "u",
        "00e9",
        "n",
        "\\n",
        "\\\"",
        "é",
        "ab c",
        "\": \"",
        "\":[",
        "\":{\"",
        "d83d",
        "\\ud83d\\ude00",
        "\t",
        "\r\n",
    ];
    let mut v: Vec<Option<Vec<u8>>> = vec![None, None];
    v.extend(words.iter().map(|w| Some(w.as_bytes().to_vec())));
    // Every printable ASCII character on its own, as byte-fallback vocabularies have, so the toy model
    // can always spell what the schema needs next.
    v.extend((0x20u8..0x7F).map(|b| Some(vec![b])));
    v.push(Some(vec![0xC3]));
    v.push(Some(vec![0xA9]));
    v.push(Some(Vec::new()));
    v
}

/// Generates with random logits and a seeded sampler; returns the text if the document finished.
fn random_generate(
    g: &JsonGrammar,
    table: &TokenTable,
    closers: &[u32],
    seed: u64,
    max_steps: usize,
) -> (Option<String>, Vec<u8>) {
    random_generate_biased(g, table, closers, seed, max_steps, 1.5)
}

/// As [`random_generate`], with `bias` added to the logits of `closers`.
fn random_generate_biased(
    g: &JsonGrammar,
    table: &TokenTable,
    closers: &[u32],
    seed: u64,
    max_steps: usize,
    bias: f32,
) -> (Option<String>, Vec<u8>) {
    let n = table.len();
    let params = SamplingParams {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        seed: Some(seed),
        ..SamplingParams::default()
    };
    let mut sampler = Sampler::new(params, n).unwrap();
    let mut rng = Rng::seed_from_u64(seed ^ 0x5eed);
    let mut st = JsonState::new(g);
    let mut out = Vec::new();
    let mut logits = vec![0f32; n];
    let mut scratch = Vec::new();
    for _ in 0..max_steps {
        for (i, l) in logits.iter_mut().enumerate() {
            *l = (rng.next_f64() * 4.0 - 2.0) as f32;
            if closers.contains(&(i as u32)) {
                *l += bias;
            }
        }
        match pick_token(
            &logits,
            |l| sampler.sample(l),
            table,
            g,
            &st,
            &[EOG],
            &mut scratch,
        )
        .unwrap()
        {
            Choice::Token { id, state } => {
                sampler.accept(id).unwrap();
                out.extend_from_slice(table.bytes(id).unwrap());
                st = state;
            }
            Choice::End { id } => {
                assert_eq!(id, Some(EOG));
                assert!(st.can_end());
                return (Some(String::from_utf8(out.clone()).expect("UTF-8")), out);
            }
            Choice::Stuck => panic!("stuck after {:?}", String::from_utf8_lossy(&out)),
        }
    }
    (None, out)
}

fn property_schemas() -> Vec<(&'static str, Option<Value>)> {
    vec![
        ("json_object", None),
        (
            "person",
            Some(json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 12},
                    "age": {"type": "integer"},
                    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                    "role": {"enum": ["admin", "user"]},
                    "address": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}]}
                },
                "required": ["name", "age", "tags", "role", "address"],
                "additionalProperties": false,
                "$defs": {"Address": {
                    "type": "object",
                    "properties": {"street": {"type": "string"}, "zip": {"type": ["string", "null"]}},
                    "required": ["street", "zip"],
                    "additionalProperties": false
                }}
            })),
        ),
        (
            "tree",
            Some(strict(
                json!({"v": {"type": "number"}, "kids": {"type": "array", "items": {"$ref": "#"}, "maxItems": 2}}),
                &["v", "kids"],
            )),
        ),
        (
            "kinds",
            Some(json!({"anyOf": [
                strict(json!({"kind": {"const": "a"}, "x": {"type": "integer"}}), &["kind", "x"]),
                strict(json!({"kind": {"const": "b"}, "y": {"type": "boolean"}}), &["kind", "y"])
            ]})),
        ),
        // Declared keys next to free ones (a random model rarely spells a required key among free ones,
        // so none is required here; the tables cover required keys next to free ones).
        (
            "open",
            Some(
                json!({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "null"}}}),
            ),
        ),
        (
            "open, typed extras",
            Some(
                json!({"type": "object", "properties": {"id": {"type": "integer"}}, "additionalProperties": {"type": ["string", "null"]}}),
            ),
        ),
        (
            "pairs",
            Some(
                json!({"type": "array", "items": {"type": ["number", "null"]}, "minItems": 2, "maxItems": 4}),
            ),
        ),
    ]
}

#[test]
fn random_model_output_always_validates() {
    let vocab = toy_vocab();
    let table = TokenTable::new(vocab.len(), |id| vocab[id as usize].clone());
    let closers: Vec<u32> = (0..vocab.len() as u32)
        .filter(|&i| {
            i == EOG
                || matches!(
                    vocab[i as usize].as_deref(),
                    Some(b"}" | b"]" | b"\"" | b"\"}" | b"]}" | b"\"]")
                )
        })
        .collect();
    for (name, schema) in property_schemas() {
        let g = match &schema {
            Some(s) => JsonGrammar::from_schema(s).unwrap(),
            None => JsonGrammar::any_object(),
        };
        let seeds = 200u64;
        let (mut finished, mut total_len) = (0u64, 0usize);
        for seed in 0..seeds {
            let (text, raw) = random_generate(&g, &table, &closers, seed, 3000);
            let Some(text) = text else {
                // Unfinished within the budget: what was produced is still a live prefix.
                assert!(JsonState::new(&g).advance_bytes(&g, &raw).is_some());
                if seed < 2 {
                    println!(
                        "{name} seed {seed} unfinished: {}",
                        String::from_utf8_lossy(&raw[..raw.len().min(600)])
                    );
                }
                continue;
            };
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} seed {seed}: {e}: {text}"));
            match &schema {
                Some(s) => assert!(
                    validate(s, s, &v),
                    "{name} seed {seed}: does not validate: {text}"
                ),
                None => assert!(v.is_object(), "{text}"),
            }
            finished += 1;
            total_len += text.len();
            if seed < 2 {
                println!("{name} seed {seed}: {text}");
            }
        }
        println!(
            "{name}: {finished}/{seeds} finished, mean {} bytes",
            total_len / finished.max(1) as usize
        );
        assert!(
            finished * 10 >= seeds * 9,
            "{name}: only {finished}/{seeds} finished"
        );
    }
}

/// With one token per byte, `Stuck` would mean that no byte at all continues the output: a dead end.
/// Random walks over every schema of the tables and of the property test must never meet one.
#[test]
fn byte_level_random_walks_never_dead_end() {
    let mut vocab: Vec<Option<Vec<u8>>> = vec![None];
    vocab.extend((0..=255u8).map(|b| Some(vec![b])));
    let table = TokenTable::new(vocab.len(), |id| vocab[id as usize].clone());
    let closers: Vec<u32> = [EOG]
        .into_iter()
        .chain([b'"', b'}', b']'].map(|b| u32::from(b) + 1))
        .collect();
    let mut schemas: Vec<(String, Option<Value>)> = property_schemas()
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
    schemas.extend(
        cases()
            .into_iter()
            .map(|c| (c.name.to_string(), Some(c.schema))),
    );
    let (mut total, mut total_finished) = (0, 0);
    for (name, schema) in schemas {
        let g = match &schema {
            Some(s) => JsonGrammar::from_schema(s).unwrap(),
            None => JsonGrammar::any_object(),
        };
        let seeds = 40u64;
        let mut finished = 0;
        for seed in 0..seeds {
            let (text, _) = random_generate_biased(&g, &table, &closers, seed, 1000, 4.0);
            let Some(text) = text else { continue };
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} seed {seed}: {e}: {text:?}"));
            if let Some(s) = &schema {
                assert!(
                    validate(s, s, &v),
                    "{name} seed {seed}: does not validate: {text:?}"
                );
            }
            finished += 1;
        }
        println!("bytes, {name}: {finished}/{seeds} finished");
        // A required key among free keys is rarely spelled by chance; elsewhere most walks finish.
        total += seeds;
        total_finished += finished;
    }
    assert!(
        total_finished * 10 >= total * 8,
        "only {total_finished}/{total} finished"
    );
}

#[test]
fn pick_token_is_deterministic() {
    let vocab = toy_vocab();
    let table = TokenTable::new(vocab.len(), |id| vocab[id as usize].clone());
    let g = JsonGrammar::any_object();
    let a = random_generate(&g, &table, &[1, 2, 3, 4], 42, 500);
    let b = random_generate(&g, &table, &[1, 2, 3, 4], 42, 500);
    assert_eq!(a, b);
}

#[test]
fn pick_token_rules() {
    // ids: 0 EOG, 1 control, 2 `{`, 3 `}`, 4 `x`, 5 empty piece, 6 `{}`
    let pieces: Vec<Option<&[u8]>> = vec![
        None,
        None,
        Some(b"{"),
        Some(b"}"),
        Some(b"x"),
        Some(b""),
        Some(b"{}"),
    ];
    let table = TokenTable::new(pieces.len(), |id| pieces[id as usize].map(<[u8]>::to_vec));
    assert_eq!(table.bytes(1), None);
    assert_eq!(table.bytes(5), None);
    assert_eq!(table.bytes(99), None);
    let g = JsonGrammar::any_object();
    let st = JsonState::new(&g);
    let mut scratch = Vec::new();
    let argmax = |l: &[f32]| -> Result<u32, allmende_engine::EngineError> {
        let (i, v) =
            l.iter().enumerate().fold(
                (0, f32::NEG_INFINITY),
                |a, (i, &v)| if v > a.1 { (i, v) } else { a },
            );
        if v == f32::NEG_INFINITY {
            Err(allmende_engine::EngineError::AllMasked)
        } else {
            Ok(i as u32)
        }
    };

    // The control token, EOG, the empty piece and `x` are refused at the start; `{` is taken.
    let logits = [9.0, 8.0, 1.0, 5.0, 7.0, 6.0, 0.5];
    let Choice::Token { id, state } =
        pick_token(&logits, argmax, &table, &g, &st, &[EOG], &mut scratch).unwrap()
    else {
        panic!()
    };
    assert_eq!(id, 2);
    // Then `}`; then the document is complete, so the best EOG is returned without sampling.
    let Choice::Token { id, state } =
        pick_token(&logits, argmax, &table, &g, &state, &[EOG], &mut scratch).unwrap()
    else {
        panic!()
    };
    assert_eq!(id, 3);
    let mut calls = 0;
    let counting = |_: &[f32]| -> Result<u32, allmende_engine::EngineError> {
        calls += 1;
        Ok(4)
    };
    let c = pick_token(
        &logits,
        counting,
        &table,
        &g,
        &state,
        &[7, EOG],
        &mut scratch,
    )
    .unwrap();
    assert_eq!(c, Choice::End { id: Some(EOG) });
    assert_eq!(calls, 0);
    assert_eq!(
        pick_token(&logits, argmax, &table, &g, &state, &[], &mut scratch).unwrap(),
        Choice::End { id: None }
    );

    // A sampler that insists on a refused token: after the tries, the best acceptable token by raw logit.
    let stubborn = |_: &[f32]| -> Result<u32, allmende_engine::EngineError> { Ok(4) };
    let Choice::Token { id, .. } =
        pick_token(&logits, stubborn, &table, &g, &st, &[EOG], &mut scratch).unwrap()
    else {
        panic!()
    };
    assert_eq!(id, 2, "`{{` (1.0) beats `{{}}` (0.5)");

    // A root number: EOG is accepted once the document can end, and sampled normally.
    let g = JsonGrammar::from_schema(&json!({"type": "integer"})).unwrap();
    let pieces: Vec<Option<&[u8]>> = vec![None, Some(b"1"), Some(b"x")];
    let table = TokenTable::new(3, |id| pieces[id as usize].map(<[u8]>::to_vec));
    let st = JsonState::new(&g);
    let eog_first = [9.0, 1.0, 5.0];
    let Choice::Token { id, state } =
        pick_token(&eog_first, argmax, &table, &g, &st, &[EOG], &mut scratch).unwrap()
    else {
        panic!()
    };
    assert_eq!(id, 1);
    assert_eq!(
        pick_token(&eog_first, argmax, &table, &g, &state, &[EOG], &mut scratch).unwrap(),
        Choice::End { id: Some(EOG) }
    );

    // Nothing in the vocabulary can continue: Stuck.
    let table = TokenTable::new(3, |id| if id == 2 { Some(b"x".to_vec()) } else { None });
    assert_eq!(
        pick_token(&eog_first, argmax, &table, &g, &st, &[EOG], &mut scratch).unwrap(),
        Choice::Stuck
    );

    // Other sampler errors are passed on.
    let failing = |_: &[f32]| -> Result<u32, allmende_engine::EngineError> {
        Err(allmende_engine::EngineError::NoSelection)
    };
    assert!(pick_token(&eog_first, failing, &table, &g, &st, &[EOG], &mut scratch).is_err());
}

// ---------------------------------------------------------------------------------------------
// Costs (printed, never asserted)
// ---------------------------------------------------------------------------------------------

#[test]
fn cost_of_advance() {
    let s = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"}, "age": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "address": {"anyOf": [strict(json!({"street": {"type": "string"}, "zip": {"type": ["string", "null"]}}), &["street", "zip"]), {"type": "null"}]}
        },
        "required": ["name", "age", "tags", "address"], "additionalProperties": false
    });
    let doc = r#"{"name": "Ada Lovelace, Countess of Lovelace", "age": 36, "tags": ["mathematician", "writer", "analyst", "poet\u00e9"], "address": {"street": "12 St James's Square, London", "zip": null}}"#;
    let v: Value = serde_json::from_str(doc).unwrap();
    assert!(validate(&s, &s, &v));
    for (name, g) in [
        ("schema", JsonGrammar::from_schema(&s).unwrap()),
        ("json_object", JsonGrammar::any_object()),
    ] {
        let reps = 200;
        let t = Instant::now();
        for _ in 0..reps {
            let mut st = JsonState::new(&g);
            for (i, ch) in doc.char_indices() {
                st = st.advance(&g, &doc[i..i + ch.len_utf8()]).unwrap();
            }
            assert!(st.is_complete());
        }
        let per_doc = t.elapsed() / reps;
        let t = Instant::now();
        for _ in 0..reps {
            assert!(JsonState::new(&g).advance(&g, doc).unwrap().is_complete());
        }
        let whole = t.elapsed() / reps;
        println!(
            "advance [{name}]: {} chars one at a time {per_doc:?} ({:?}/char); whole document in one call {whole:?}",
            doc.chars().count(),
            per_doc / doc.chars().count() as u32
        );
    }
}

#[test]
fn cost_of_pick_token_on_50k_vocab() {
    // 50k random lowercase "words" plus structural pieces; the state expects `,` or `}`, so nearly all
    // tokens are refused, and the refused ones get the highest logits.
    let n = 50_000usize;
    let mut rng = Rng::seed_from_u64(1);
    let structural = ["}", ",", " ", "\",", ", \"", "}\n"];
    let pieces: Vec<Option<Vec<u8>>> = (0..n)
        .map(|i| {
            if i == 0 {
                None
            } else if i <= structural.len() {
                Some(structural[i - 1].as_bytes().to_vec())
            } else {
                let len = 2 + (rng.next_u64() % 7) as usize;
                Some(
                    (0..len)
                        .map(|_| b'a' + (rng.next_u64() % 26) as u8)
                        .collect(),
                )
            }
        })
        .collect();
    let t = Instant::now();
    let table = TokenTable::new(n, |id| pieces[id as usize].clone());
    println!("TokenTable::new for {n} tokens: {:?}", t.elapsed());
    let g = JsonGrammar::from_schema(&strict(
        json!({"name": {"type": "string"}, "age": {"type": "integer"}}),
        &["name"],
    ))
    .unwrap();
    let st = JsonState::new(&g).advance(&g, r#"{"name":"x""#).unwrap();
    let logits: Vec<f32> = (0..n)
        .map(|i| {
            if i <= structural.len() {
                -1.0
            } else {
                5.0 + (rng.next_f64() as f32)
            }
        })
        .collect();
    let mut scratch = Vec::new();
    for (label, params) in [
        ("greedy", SamplingParams::greedy()),
        (
            "default chain (top-k 40, top-p 0.95, min-p 0.05, T 0.8)",
            SamplingParams {
                seed: Some(3),
                ..SamplingParams::default()
            },
        ),
        (
            "T 1, no filters",
            SamplingParams {
                temperature: 1.0,
                top_k: 0,
                top_p: 1.0,
                min_p: 0.0,
                seed: Some(3),
                ..SamplingParams::default()
            },
        ),
    ] {
        let mut sampler = Sampler::new(params, n).unwrap();
        let reps = 20;
        let t = Instant::now();
        let mut last = None;
        for _ in 0..reps {
            let c = pick_token(
                &logits,
                |l| sampler.sample(l),
                &table,
                &g,
                &st,
                &[EOG],
                &mut scratch,
            )
            .unwrap();
            let Choice::Token { id, .. } = &c else {
                panic!("{c:?}")
            };
            assert!(*id as usize <= structural.len());
            last = Some(*id);
        }
        println!(
            "pick_token [{label}], 50k vocab, almost all refused: {:?}/token (picked {last:?})",
            t.elapsed() / reps
        );
    }
    // Inside a key of a strict object: only words that spell a property prefix fit, but many words
    // share the first letter, so the first-byte filter alone leaves ~2k candidates.
    let keys = ["name", "age", "nickname", "address"];
    let g2 = JsonGrammar::from_schema(&strict(
        json!({"name": {}, "age": {}, "nickname": {}, "address": {}}),
        &keys,
    ))
    .unwrap();
    let st2 = JsonState::new(&g2).advance(&g2, "{\"").unwrap();
    let mut sampler = Sampler::new(
        SamplingParams {
            seed: Some(3),
            ..SamplingParams::default()
        },
        n,
    )
    .unwrap();
    let t = Instant::now();
    for _ in 0..20 {
        let c = pick_token(
            &logits,
            |l| sampler.sample(l),
            &table,
            &g2,
            &st2,
            &[EOG],
            &mut scratch,
        )
        .unwrap();
        let Choice::Token { id, .. } = &c else {
            panic!("{c:?}")
        };
        let text = std::str::from_utf8(table.bytes(*id).unwrap()).unwrap();
        assert!(keys.iter().any(|k| k.starts_with(text)), "{text}");
    }
    println!(
        "pick_token [default chain], 50k vocab, inside a key: {:?}/token",
        t.elapsed() / 20
    );
    // The common case: the first sampled token is acceptable (inside a string).
    let st = JsonState::new(&g).advance(&g, r#"{"name":"x"#).unwrap();
    let mut sampler = Sampler::new(
        SamplingParams {
            seed: Some(3),
            ..SamplingParams::default()
        },
        n,
    )
    .unwrap();
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        let c = pick_token(
            &logits,
            |l| sampler.sample(l),
            &table,
            &g,
            &st,
            &[EOG],
            &mut scratch,
        )
        .unwrap();
        assert!(matches!(c, Choice::Token { .. }));
    }
    println!(
        "pick_token [default chain], 50k vocab, first draw accepted: {:?}/token",
        t.elapsed() / reps
    );
}
