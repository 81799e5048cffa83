//! Golden test: every template in `tests/fixtures/templates/` rendered on every conversation of
//! `tests/fixtures/expected.json` must equal, byte for byte, what transformers 5.24 / jinja2 3.1.6
//! produced (see `tests/gen_expected.py`); where Python raised, Rust must return an error (and for
//! `raise_exception`, the same message).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use allmende_templates::{ChatTemplate, Clock, NaiveDateTime, RenderInput, TemplateError};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load_expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn input_for(expected: &Value, case: &Value) -> RenderInput {
    let specials = &expected["special_tokens"];
    let now =
        NaiveDateTime::parse_from_str(expected["fixed_now"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S")
            .unwrap();
    RenderInput {
        messages: case["messages"].as_array().unwrap().clone(),
        tools: case.get("tools").map(|t| t.as_array().unwrap().clone()),
        documents: case.get("documents").map(|d| d.as_array().unwrap().clone()),
        add_generation_prompt: case["add_generation_prompt"].as_bool().unwrap(),
        bos_token: specials["bos_token"].as_str().map(String::from),
        eos_token: specials["eos_token"].as_str().map(String::from),
        unk_token: specials["unk_token"].as_str().map(String::from),
        pad_token: specials["pad_token"].as_str().map(String::from),
        extra: case
            .get("extra")
            .and_then(|e| e.as_object().cloned())
            .unwrap_or_default(),
        clock: Clock::Fixed(now),
    }
}

/// First differing position, with some context, for a readable failure.
fn diff(want: &str, got: &str) -> String {
    let pos = want
        .bytes()
        .zip(got.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let lo = pos.saturating_sub(60);
    let cut = |s: &str| -> String {
        let mut a = lo;
        while !s.is_char_boundary(a.min(s.len())) {
            a -= 1;
        }
        let mut b = (pos + 60).min(s.len());
        while !s.is_char_boundary(b) {
            b += 1;
        }
        s[a.min(s.len())..b].to_string()
    };
    format!(
        "at byte {pos}:\n  want: {:?}\n  got:  {:?}",
        cut(want),
        cut(got)
    )
}

#[test]
fn every_template_matches_transformers() {
    let expected = load_expected();
    let cases = expected["cases"].as_object().unwrap();
    let results = expected["results"].as_object().unwrap();
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    let mut passed = 0usize;
    let mut total = 0usize;
    for (name, per_case) in results {
        let source =
            std::fs::read_to_string(fixtures().join("templates").join(format!("{name}.jinja")))
                .unwrap();
        let compiled = ChatTemplate::new(&source);
        for (case_name, want) in per_case.as_object().unwrap() {
            total += 1;
            let key = format!("{name} / {case_name}");
            let got = compiled.as_ref().map_err(|e| e.to_string()).and_then(|t| {
                t.render(&input_for(&expected, &cases[case_name]))
                    .map_err(|e| match e {
                        TemplateError::Raised(m) => format!("raised: {m}"),
                        other => other.to_string(),
                    })
            });
            let ok = match (want.get("ok").and_then(Value::as_str), &got) {
                (Some(w), Ok(g)) if w == g => true,
                (Some(w), Ok(g)) => {
                    failures.insert(key, diff(w, g));
                    false
                }
                (Some(_), Err(e)) => {
                    failures.insert(key, format!("python rendered, rust failed: {e}"));
                    false
                }
                (None, Ok(g)) => {
                    failures.insert(
                        key,
                        format!("python raised {:?}, rust rendered {:?}", want["error"], g),
                    );
                    false
                }
                (None, Err(e)) => {
                    // A raise_exception message must be carried over verbatim.
                    let py_type = want["error_type"].as_str().unwrap_or_default();
                    let py_msg = want["error"].as_str().unwrap_or_default();
                    if py_type == "TemplateError"
                        && e.starts_with("raised: ")
                        && e != &format!("raised: {py_msg}")
                    {
                        failures.insert(
                            key,
                            format!(
                                "raise_exception message differs: python {py_msg:?}, rust {e:?}"
                            ),
                        );
                        false
                    } else {
                        true
                    }
                }
            };
            if ok {
                passed += 1;
            }
        }
    }
    for (k, v) in &failures {
        eprintln!("FAIL {k}: {v}");
    }
    eprintln!("{passed}/{total} template x case renders match transformers");
    assert!(
        failures.is_empty(),
        "{} of {total} cases differ",
        failures.len()
    );
}
