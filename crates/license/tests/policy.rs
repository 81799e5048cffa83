//! Policy files, decisions, deliberate acceptance and the audit log.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use allmende_license::{
    detect, AuditEvent, AuditLog, Decision, LicenseReport, Policy, PolicyError, UnknownMode,
    ViolatedRule,
};
use common::{folder, meta};

const POLICY: &str = r#"
[licenses]
allow = ["Apache-2.0", "MIT", "llama3.1"]   # SPDX or hub ids
unknown = "deny"
"#;

fn report(id: &str) -> LicenseReport {
    detect(&meta(&[("general.license", id)]), None)
}

fn policy_file(test: &str, text: &str) -> std::path::PathBuf {
    let path = folder(test).join("policy.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn parses_the_documented_format() {
    let p = Policy::from_toml_str(POLICY).unwrap();
    assert_eq!(
        p.allow.as_deref(),
        Some(&["Apache-2.0".to_string(), "MIT".into(), "llama3.1".into()][..])
    );
    assert!(p.deny.is_empty());
    assert_eq!(p.unknown, UnknownMode::Deny);
    assert_eq!(p.origin, "policy");
    let p = Policy::from_toml_str("[licenses]\ndeny = [\"cc-by-nc-4.0\"]\nunknown = \"warn\"\n")
        .unwrap();
    assert_eq!(p.allow, None);
    assert_eq!(p.deny, ["cc-by-nc-4.0"]);
    assert_eq!(p.unknown, UnknownMode::Warn);
    // An empty policy allows identified licences and denies unknown ones.
    let p = Policy::from_toml_str("").unwrap();
    assert_eq!(p.check(&report("gemma"), &[]), Decision::Allow);
    assert!(!p.check(&report("unknown"), &[]).is_allowed());
}

#[test]
fn not_allowed_licence_is_denied_with_a_clear_message() {
    let path = policy_file("deny_message", POLICY);
    let p = Policy::from_file(&path).unwrap();
    let r = report("gemma");
    let Decision::Deny(v) = p.check(&r, &[]) else {
        panic!("gemma must be denied")
    };
    assert_eq!(v.rule, ViolatedRule::NotAllowed(vec!["gemma".into()]));
    assert_eq!(
        v.to_string(),
        format!(
            "licence \"gemma\" (found in gguf:general.license) is not in [licenses].allow of {} (Apache-2.0, MIT, llama3.1)",
            path.display()
        )
    );
}

#[test]
fn matching_is_case_insensitive_on_canonical_ids() {
    let p =
        Policy::from_toml_str("[licenses]\nallow = [\"apache-2.0\", \"LLAMA3.1\", \"gpl-3.0\"]\n")
            .unwrap();
    assert_eq!(p.check(&report("Apache-2.0"), &[]), Decision::Allow);
    assert_eq!(p.check(&report("llama3.1"), &[]), Decision::Allow);
    assert_eq!(
        p.check(&report("GPL-3.0-only"), &[]),
        Decision::Allow,
        "deprecated GPL-3.0 = GPL-3.0-only"
    );
    assert!(!p.check(&report("llama3"), &[]).is_allowed());
}

#[test]
fn expressions_or_needs_one_and_needs_all() {
    let p = Policy::from_toml_str(POLICY).unwrap();
    assert_eq!(
        p.check(&report("MIT OR GPL-3.0-only"), &[]),
        Decision::Allow
    );
    assert_eq!(p.check(&report("MIT AND Apache-2.0"), &[]), Decision::Allow);
    let Decision::Deny(v) = p.check(&report("MIT AND GPL-3.0-only"), &[]) else {
        panic!()
    };
    assert_eq!(
        v.rule,
        ViolatedRule::NotAllowed(vec!["GPL-3.0-only".into()])
    );
    assert!(
        v.to_string().ends_with(": \"GPL-3.0-only\" not allowed"),
        "{v}"
    );
    let Decision::Deny(v) = p.check(&report("gemma OR CC-BY-NC-4.0"), &[]) else {
        panic!()
    };
    assert_eq!(
        v.rule,
        ViolatedRule::NotAllowed(vec!["gemma".into(), "CC-BY-NC-4.0".into()])
    );
}

#[test]
fn deny_list_wins_and_cannot_be_accepted() {
    let p = Policy::from_toml_str("[licenses]\ndeny = [\"CC-BY-NC-4.0\"]\n").unwrap();
    assert_eq!(p.check(&report("MIT"), &[]), Decision::Allow);
    let r = report("cc-by-nc-4.0");
    let Decision::Deny(v) = p.check(&r, &["CC-BY-NC-4.0".into()]) else {
        panic!()
    };
    assert_eq!(v.rule, ViolatedRule::Denied(vec!["CC-BY-NC-4.0".into()]));
    assert!(v
        .to_string()
        .contains("--accept-license does not override deny"));
    // OR with a denied alternative is fine when the other passes.
    assert_eq!(
        p.check(&report("CC-BY-NC-4.0 OR MIT"), &[]),
        Decision::Allow
    );
}

#[test]
fn unknown_licences_deny_or_warn() {
    let deny = Policy::from_toml_str(POLICY).unwrap();
    let r = report("unknown");
    assert_eq!(r.id, "unknown");
    let Decision::Deny(v) = deny.check(&r, &[]) else {
        panic!()
    };
    assert_eq!(v.rule, ViolatedRule::Unknown);
    assert!(v.to_string().contains("could not be identified"));
    let warn =
        Policy::from_toml_str("[licenses]\nallow = [\"MIT\"]\nunknown = \"warn\"\n").unwrap();
    let Decision::Warn(msg) = warn.check(&r, &[]) else {
        panic!()
    };
    assert!(msg.contains("[licenses].unknown = \"warn\""));
    // `other` (declared but unnamed) is unidentified too.
    let other = detect(&meta(&[("general.license", "other")]), None);
    assert_eq!(other.id, "other");
    assert!(matches!(warn.check(&other, &[]), Decision::Warn(_)));
}

#[test]
fn accept_license_allows_deliberately() {
    let p = Policy::from_toml_str(POLICY).unwrap();
    let r = report("gemma");
    assert_eq!(
        p.check(&r, &["GEMMA".into()]),
        Decision::Accepted(vec!["gemma".into()])
    );
    // Accepting something else does not help.
    assert!(!p.check(&r, &["llama2".into()]).is_allowed());
    // Already allowed: nothing to audit.
    assert_eq!(p.check(&report("MIT"), &["MIT".into()]), Decision::Allow);
    // Unknown can be accepted by name.
    assert_eq!(
        p.check(&report("unknown"), &["unknown".into()]),
        Decision::Accepted(vec!["unknown".into()])
    );
    // Parts of an AND: each missing part must be accepted.
    let r = report("gemma AND MIT");
    assert!(!p.check(&r, &[]).is_allowed());
    assert_eq!(
        p.check(&r, &["gemma".into()]),
        Decision::Accepted(vec!["gemma".into()])
    );
}

#[test]
fn conflicting_sources_turn_allow_into_warn() {
    let dir = folder("policy_conflict");
    std::fs::write(dir.join("LICENSE"), include_str!("fixtures/mit.txt")).unwrap();
    let r = detect(&meta(&[("general.license", "llama2")]), Some(&dir));
    assert_eq!(r.id, "MIT");
    let p = Policy::from_toml_str(POLICY).unwrap();
    let Decision::Warn(msg) = p.check(&r, &[]) else {
        panic!()
    };
    assert!(
        msg.contains("gguf:general.license says \"llama2\""),
        "{msg}"
    );
}

#[test]
fn malformed_toml_is_a_typed_error() {
    let e = Policy::from_toml_str("[licenses\nallow = [").unwrap_err();
    assert!(matches!(e, PolicyError::Syntax { .. }), "{e:?}");
    assert!(e.to_string().starts_with("policy policy is not valid TOML"));

    let e = Policy::from_toml_str("[licenses]\nallow = \"MIT\"\n").unwrap_err();
    let PolicyError::InvalidValue {
        key,
        expected,
        found,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        (key.as_str(), *expected, found.as_str()),
        (
            "licenses.allow",
            "an array of licence ids",
            "the string \"MIT\""
        )
    );

    let e = Policy::from_toml_str("[licenses]\nallow = [\"MIT\", 3]\n").unwrap_err();
    assert!(matches!(e, PolicyError::InvalidValue { .. }));
    let e = Policy::from_toml_str("[licenses]\nunknown = \"maybe\"\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "policy policy: licenses.unknown must be \"deny\" or \"warn\", found the string \"maybe\""
    );
    let e = Policy::from_toml_str("licenses = 5\n").unwrap_err();
    assert!(matches!(e, PolicyError::InvalidValue { .. }));
}

#[test]
fn unknown_keys_are_named() {
    let e =
        Policy::from_toml_str("[licenses]\nalow = [\"MIT\"]\nunkown = \"warn\"\n[models]\nx = 1\n")
            .unwrap_err();
    let PolicyError::UnknownKeys { keys, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(keys, &["licenses.alow", "licenses.unkown", "models"]);
    assert!(e
        .to_string()
        .contains("licenses.alow, licenses.unkown, models"));
}

#[test]
fn policy_file_errors() {
    let missing = folder("policy_missing").join("nope.toml");
    assert!(matches!(
        Policy::from_file(&missing),
        Err(PolicyError::Io { .. })
    ));
    let big = policy_file("policy_big", &format!("# {}\n", "x".repeat(2 << 20)));
    assert!(matches!(
        Policy::from_file(&big),
        Err(PolicyError::TooLarge { .. })
    ));
    let garbage = folder("policy_garbage").join("p.toml");
    std::fs::write(&garbage, [0xffu8, 0xfe, 0x00, 0x41]).unwrap();
    assert!(Policy::from_file(&garbage).is_err());
}

#[test]
fn audit_log_appends_json_lines() {
    let dir = folder("audit");
    let log = dir.join("sub").join("audit.jsonl");
    let policy = dir.join("policy.toml");
    let p = Policy::from_toml_str(POLICY).unwrap();
    let r = report("gemma");
    let d = p.check(&r, &["gemma".into()]);
    let mut ev = AuditEvent::new("gemma3-270m", &r.id, Some(&policy), &d);
    ev.accepted_by = "alice".into();
    AuditLog::append(&log, &ev).unwrap();
    let ev2 = AuditEvent::new("smollm2", "Apache-2.0", None, &Decision::Allow);
    AuditLog::append(&log, &ev2).unwrap();

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["model"], "gemma3-270m");
    assert_eq!(first["licence"], "gemma");
    assert_eq!(first["accepted"], serde_json::json!(["gemma"]));
    assert_eq!(first["accepted_by"], "alice");
    assert_eq!(first["decision"], "accepted");
    assert_eq!(first["policy"], policy.display().to_string());
    let time = first["time"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
    assert!(time.ends_with('Z'));
    let second: AuditEvent = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(second.decision, "allow");
    assert_eq!(second.policy, None);
    assert!(second.accepted.is_empty());
}
