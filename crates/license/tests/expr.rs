//! SPDX expressions: canonical case, precedence, WITH, `+`, errors and hostile input.

use allmende_license::{canonical_id, lookup_name, parse_expression, Expr, ExprError};

#[test]
fn ids_are_normalised_to_canonical_case() {
    assert_eq!(
        parse_expression("apache-2.0").unwrap().to_string(),
        "Apache-2.0"
    );
    assert_eq!(parse_expression("mit").unwrap().to_string(), "MIT");
    assert_eq!(
        parse_expression("cc-by-nc-sa-4.0").unwrap().to_string(),
        "CC-BY-NC-SA-4.0"
    );
    assert_eq!(
        parse_expression("LLAMA3.1").unwrap().to_string(),
        "llama3.1"
    );
    assert_eq!(parse_expression("Gemma").unwrap().to_string(), "gemma");
    // Deprecated SPDX forms map to the explicit ones.
    assert_eq!(
        parse_expression("GPL-3.0").unwrap().to_string(),
        "GPL-3.0-only"
    );
    assert_eq!(
        parse_expression("gpl-2.0+").unwrap().to_string(),
        "GPL-2.0-or-later"
    );
    // Unknown ids are kept as written.
    assert_eq!(
        parse_expression("LicenseRef-Custom-1").unwrap().to_string(),
        "LicenseRef-Custom-1"
    );
    assert_eq!(canonical_id("bsd-3-clause"), Some("BSD-3-Clause"));
    assert_eq!(canonical_id("no-such-licence"), None);
}

#[test]
fn or_and_with_and_parentheses() {
    let e = parse_expression("Apache-2.0 OR MIT").unwrap();
    assert_eq!(e, Expr::Or(vec![Expr::id("Apache-2.0"), Expr::id("MIT")]));
    assert_eq!(e.leaves(), vec!["Apache-2.0", "MIT"]);

    let e = parse_expression("(mit AND bsd-3-clause)").unwrap();
    assert_eq!(e.to_string(), "MIT AND BSD-3-Clause");

    // AND binds tighter than OR.
    let e = parse_expression("MIT OR Apache-2.0 AND BSD-2-Clause").unwrap();
    assert_eq!(
        e,
        Expr::Or(vec![
            Expr::id("MIT"),
            Expr::And(vec![Expr::id("Apache-2.0"), Expr::id("BSD-2-Clause")])
        ])
    );
    let e = parse_expression("(MIT OR Apache-2.0) AND BSD-2-Clause").unwrap();
    assert_eq!(e.to_string(), "(MIT OR Apache-2.0) AND BSD-2-Clause");

    let e = parse_expression("GPL-2.0-or-later WITH Classpath-exception-2.0").unwrap();
    assert_eq!(
        e,
        Expr::Id {
            id: "GPL-2.0-or-later".into(),
            exception: Some("Classpath-exception-2.0".into())
        }
    );
    assert_eq!(
        e.to_string(),
        "GPL-2.0-or-later WITH Classpath-exception-2.0"
    );

    // Lowercase operators and the old `/` separator.
    assert_eq!(
        parse_expression("mit or apache-2.0").unwrap().to_string(),
        "MIT OR Apache-2.0"
    );
    assert_eq!(
        parse_expression("MIT/Apache-2.0").unwrap().to_string(),
        "MIT OR Apache-2.0"
    );
    // Nested ORs flatten.
    assert_eq!(
        parse_expression("MIT OR (ISC OR Unlicense)")
            .unwrap()
            .to_string(),
        "MIT OR ISC OR Unlicense"
    );
}

#[test]
fn malformed_expressions_are_errors() {
    assert_eq!(parse_expression(""), Err(ExprError::Empty));
    assert_eq!(parse_expression("   "), Err(ExprError::Empty));
    assert!(matches!(
        parse_expression("MIT OR"),
        Err(ExprError::Malformed(_))
    ));
    assert!(matches!(
        parse_expression("(MIT"),
        Err(ExprError::Malformed(_))
    ));
    assert!(matches!(
        parse_expression("MIT)"),
        Err(ExprError::Malformed(_))
    ));
    assert!(matches!(
        parse_expression("AND MIT"),
        Err(ExprError::Malformed(_))
    ));
    assert!(matches!(
        parse_expression("Apache 2.0"),
        Err(ExprError::Malformed(_))
    ));
    assert!(matches!(
        parse_expression("MIT WITH"),
        Err(ExprError::Malformed(_))
    ));
    assert!(matches!(
        parse_expression("(MIT OR ISC) WITH X"),
        Err(ExprError::Malformed(_))
    ));
    assert!(matches!(
        parse_expression("MIT; rm -rf"),
        Err(ExprError::BadToken(_))
    ));
    assert!(matches!(
        parse_expression("ünïcode"),
        Err(ExprError::BadToken(_))
    ));
}

#[test]
fn hostile_expressions_are_bounded() {
    let deep = format!("{}MIT{}", "(".repeat(500), ")".repeat(500));
    assert_eq!(parse_expression(&deep), Err(ExprError::TooComplex));
    let long = vec!["MIT"; 400].join(" OR ");
    assert_eq!(parse_expression(&long), Err(ExprError::TooComplex));
    let ok = format!("{}MIT{}", "(".repeat(10), ")".repeat(10));
    assert_eq!(parse_expression(&ok).unwrap().to_string(), "MIT");
}

#[test]
fn free_form_names_match_known_licences() {
    assert_eq!(
        lookup_name("Apache License, Version 2.0").map(|l| l.id),
        Some("Apache-2.0")
    );
    assert_eq!(lookup_name("The MIT License").map(|l| l.id), Some("MIT"));
    assert_eq!(
        lookup_name("Llama 3.1 Community License Agreement").map(|l| l.id),
        Some("llama3.1")
    );
    assert_eq!(
        lookup_name("Gemma Terms of Use").map(|l| l.id),
        Some("gemma")
    );
    assert_eq!(
        lookup_name("falcon-180b-tii-license-1.0").map(|l| l.id),
        Some("falcon-180b-license")
    );
    assert!(lookup_name("My Own Licence").is_none());
}
