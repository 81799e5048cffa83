//! Semantic probes: small templates pinning down jinja2/Python behaviour (printing, `~`, `+`,
//! string/dict methods, filters, tests, loops, generators, whitespace control, compile-time
//! checks). Expected outputs come from jinja2 3.1.6 in transformers' environment
//! (`tests/gen_expected.py`, `probes` section of `tests/fixtures/expected.json`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use allmende_templates::{ChatTemplate, Clock, NaiveDateTime, RenderInput, TemplateError};
use serde_json::Value;

#[test]
fn probes_match_jinja2() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/expected.json");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let now =
        NaiveDateTime::parse_from_str(expected["fixed_now"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S")
            .unwrap();
    let input = RenderInput {
        extra: expected["probe_context"].as_object().unwrap().clone(),
        clock: Clock::Fixed(now),
        ..RenderInput::default()
    };
    let mut failures = Vec::new();
    let probes = expected["probes"].as_object().unwrap();
    for (name, probe) in probes {
        let src = probe["template"].as_str().unwrap();
        let got = ChatTemplate::new(src).and_then(|t| t.render(&input));
        match (probe.get("ok").and_then(Value::as_str), &got) {
            (Some(w), Ok(g)) if w == g => {}
            (None, Err(TemplateError::Raised(m))) if probe["error_type"] == "TemplateError" => {
                if probe["error"].as_str() != Some(m.as_str()) {
                    failures.push(format!(
                        "{name}: raise message {m:?} != {:?}",
                        probe["error"]
                    ));
                }
            }
            (None, Err(_)) => {}
            (want, got) => failures.push(format!(
                "{name}: {src:?}\n    want {:?}\n    got  {got:?}",
                want.map(String::from)
                    .unwrap_or_else(|| format!("error {}", probe["error"]))
            )),
        }
    }
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    eprintln!(
        "{}/{} probes match jinja2",
        probes.len() - failures.len(),
        probes.len()
    );
    assert!(failures.is_empty(), "{} probes differ", failures.len());
}
