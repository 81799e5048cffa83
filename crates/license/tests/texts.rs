//! Licence texts are recognised by content: every fixture maps to its id, and the evidence names
//! the phrase that matched.

mod common;

use allmende_license::{identify_text, normalise};
use common::fixture;

#[test]
fn every_fixture_is_recognised_as_its_licence() {
    let cases = [
        ("apache-2.0.txt", "Apache-2.0"),
        ("apache-header.txt", "Apache-2.0"),
        ("mit.txt", "MIT"),
        ("bsd-3-clause.txt", "BSD-3-Clause"),
        ("bsd-2-clause.txt", "BSD-2-Clause"),
        ("gpl-2.0.txt", "GPL-2.0-only"),
        ("gpl-3.0.txt", "GPL-3.0-only"),
        ("lgpl-2.1.txt", "LGPL-2.1-only"),
        ("lgpl-3.0.txt", "LGPL-3.0-only"),
        ("agpl-3.0.txt", "AGPL-3.0-only"),
        ("mpl-2.0.txt", "MPL-2.0"),
        ("cc0-1.0.txt", "CC0-1.0"),
        ("cc-by-4.0.txt", "CC-BY-4.0"),
        ("cc-by-sa-4.0.txt", "CC-BY-SA-4.0"),
        ("cc-by-nc-4.0.txt", "CC-BY-NC-4.0"),
        ("cc-by-nc-sa-4.0.txt", "CC-BY-NC-SA-4.0"),
        ("unlicense.txt", "Unlicense"),
        ("llama2.txt", "llama2"),
        ("llama3.txt", "llama3"),
        ("llama3.1.txt", "llama3.1"),
        ("llama3.2.txt", "llama3.2"),
        ("llama3.3.txt", "llama3.3"),
        ("llama4.txt", "llama4"),
        ("gemma.md", "gemma"),
        ("creativeml-openrail-m.txt", "creativeml-openrail-m"),
        ("openrail++.md", "openrail++"),
        ("bloom-rail.txt", "bigscience-bloom-rail-1.0"),
        ("bigscience-openrail-m.txt", "bigscience-openrail-m"),
        ("deepseek.txt", "deepseek"),
        ("falcon-180b.txt", "falcon-180b-license"),
        ("qwen.txt", "qwen"),
        ("tongyi-qianwen.txt", "tongyi-qianwen"),
        ("qwen-research.txt", "qwen-research"),
        ("mnpl.md", "mnpl"),
        ("mrl.md", "mistral-ai-research"),
        ("apple-ascl.txt", "apple-ascl"),
    ];
    for (file, id) in cases {
        let m = identify_text(&fixture(file)).unwrap_or_else(|| panic!("{file} not recognised"));
        assert_eq!(m.id, id, "{file}");
        assert!(m.is_licence_text, "{file} is a licence text");
        assert!(!m.phrase.is_empty());
    }
}

#[test]
fn notices_and_use_policies_name_the_licence_without_being_it() {
    for (file, id) in [
        ("llama3-notice.txt", "llama3"),
        ("gemma-notice.txt", "gemma"),
        ("llama3.1-use-policy.md", "llama3.1"),
    ] {
        let m = identify_text(&fixture(file)).unwrap();
        assert_eq!(m.id, id, "{file}");
        assert!(!m.is_licence_text, "{file} only names the licence");
    }
}

#[test]
fn whitespace_case_and_punctuation_do_not_matter() {
    let m = identify_text("  apache   LICENSE,\r\n\t\tversion 2.0,   JANUARY 2004 ").unwrap();
    assert_eq!(m.id, "Apache-2.0");
    assert_eq!(m.phrase, "apache license version 2.0 january 2004");
    let m = identify_text("“LLAMA 3.1\nCommunity   License Agreement”").unwrap();
    assert_eq!(m.id, "llama3.1");
    assert_eq!(
        normalise("Llama 3.1 — Community\nLicense!"),
        "llama 3.1 community license"
    );
}

#[test]
fn llama_versions_are_not_confused() {
    // "llama 3 community" must not be found inside "llama 3.1 community".
    assert_eq!(
        identify_text(&fixture("llama3.1.txt")).unwrap().id,
        "llama3.1"
    );
    assert_eq!(identify_text(&fixture("llama3.txt")).unwrap().id, "llama3");
}

#[test]
fn the_first_licence_in_a_file_wins() {
    // A licence file that mentions another licence further down keeps its own identity.
    let text = format!(
        "{}\n\nThird-party code:\n{}",
        fixture("gemma.md"),
        fixture("mit.txt")
    );
    assert_eq!(identify_text(&text).unwrap().id, "gemma");
    let text = format!("{}\n\n{}", fixture("mit.txt"), fixture("apache-2.0.txt"));
    assert_eq!(identify_text(&text).unwrap().id, "MIT");
    // Falcon 180B's licence says it is based on the Apache License: still Falcon.
    assert_eq!(
        identify_text(&fixture("falcon-180b.txt")).unwrap().id,
        "falcon-180b-license"
    );
}

#[test]
fn lgpl_and_agpl_are_not_taken_for_gpl() {
    let lgpl = fixture("lgpl-3.0.txt");
    assert!(
        normalise(&lgpl).contains("gnu general public license"),
        "the fixture mentions the GPL"
    );
    assert_eq!(identify_text(&lgpl).unwrap().id, "LGPL-3.0-only");
}

#[test]
fn mit_needs_its_notice_clause_and_bsd_counts_clauses() {
    let grant_only = "Permission is hereby granted, free of charge, to any person obtaining a copy of this software";
    assert_eq!(identify_text(grant_only), None);
    let bsd4 = format!("{}\n3. All advertising materials mentioning features or use of this software must display an acknowledgement.", fixture("bsd-3-clause.txt"));
    assert_eq!(
        identify_text(&bsd4),
        None,
        "a 4-clause BSD is neither 2- nor 3-clause"
    );
}

#[test]
fn unrelated_text_is_not_a_licence() {
    assert_eq!(
        identify_text("# My model\nThis model answers questions. License: see the hub."),
        None
    );
    assert_eq!(identify_text(""), None);
}
