//! Combining sources: GGUF metadata, front matter, licence files; precedence, conflicts,
//! obligations, JSON shape, hostile folders.

mod common;

use allmende_license::{detect, CommercialUse, ObligationKind, UNKNOWN};
use common::{fixture, folder, folder_with, meta};

#[test]
fn gguf_license_id_alone() {
    let r = detect(
        &meta(&[
            ("general.license", "apache-2.0"),
            ("general.name", "SmolLM2"),
        ]),
        None,
    );
    assert_eq!(r.id, "Apache-2.0");
    assert_eq!(r.name, "Apache License 2.0");
    assert_eq!(r.source, "gguf:general.license");
    assert_eq!(r.commercial_use, CommercialUse::Yes);
    assert_eq!(
        r.link.as_deref(),
        Some("https://www.apache.org/licenses/LICENSE-2.0")
    );
    let kinds: Vec<_> = r.obligations.iter().map(|o| o.kind).collect();
    assert!(
        kinds.contains(&ObligationKind::LicenceCopy) && kinds.contains(&ObligationKind::Notice)
    );
    assert!(r.conflicts.is_empty());
}

#[test]
fn gguf_gemma_has_the_notice_to_pass_on() {
    let r = detect(&meta(&[("general.license", "gemma")]), None);
    assert_eq!(r.id, "gemma");
    assert_eq!(r.name, "Gemma Terms of Use");
    assert_eq!(r.commercial_use, CommercialUse::Yes);
    let notice = r
        .obligations
        .iter()
        .find(|o| o.kind == ObligationKind::Notice)
        .unwrap();
    assert!(notice.text.contains(
        "\"Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms\""
    ));
    assert!(r.obligations.iter().any(
        |o| o.kind == ObligationKind::AcceptableUse && o.text.contains("Prohibited Use Policy")
    ));
}

#[test]
fn llama_obligations_carry_the_facts() {
    let r = detect(&meta(&[("general.license", "llama3.1")]), None);
    assert_eq!(r.commercial_use, CommercialUse::Conditional);
    let text = |k| {
        r.obligations
            .iter()
            .find(|o| o.kind == k)
            .map(|o| o.text.clone())
            .unwrap()
    };
    assert!(text(ObligationKind::Attribution).contains("\"Built with Llama\""));
    assert!(text(ObligationKind::Naming).contains("begin with \"Llama\""));
    assert!(text(ObligationKind::UserThreshold).contains("700 million monthly active users"));
    assert!(text(ObligationKind::Notice)
        .contains("Llama 3.1 is licensed under the Llama 3.1 Community License"));
    assert!(
        !r.obligations
            .iter()
            .any(|o| o.kind == ObligationKind::Outputs),
        "3.1 dropped the outputs clause"
    );

    let r2 = detect(&meta(&[("general.license", "llama2")]), None);
    let outputs = r2
        .obligations
        .iter()
        .find(|o| o.kind == ObligationKind::Outputs)
        .unwrap();
    assert!(outputs
        .text
        .contains("improve any other large language model"));
    let r3 = detect(&meta(&[("general.license", "llama3")]), None);
    assert!(r3
        .obligations
        .iter()
        .any(|o| o.text.contains("\"Built with Meta Llama 3\"")));
    assert!(r3
        .obligations
        .iter()
        .any(|o| o.kind == ObligationKind::Naming && o.text.contains("\"Llama 3\"")));
    let r32 = detect(&meta(&[("general.license", "llama3.2")]), None);
    assert!(r32
        .obligations
        .iter()
        .any(|o| o.kind == ObligationKind::Territory && o.text.contains("European Union")));
}

#[test]
fn non_commercial_and_share_alike() {
    let r = detect(&meta(&[("general.license", "cc-by-nc-sa-4.0")]), None);
    assert_eq!(r.id, "CC-BY-NC-SA-4.0");
    assert_eq!(r.commercial_use, CommercialUse::No);
    let kinds: Vec<_> = r.obligations.iter().map(|o| o.kind).collect();
    assert_eq!(
        kinds,
        [
            ObligationKind::Attribution,
            ObligationKind::NonCommercial,
            ObligationKind::ShareAlike
        ]
    );
    let r = detect(&meta(&[("general.license", "mnpl")]), None);
    assert_eq!(r.commercial_use, CommercialUse::No);
}

#[test]
fn gguf_name_and_link_are_heuristics() {
    let r = detect(
        &meta(&[(
            "general.license.name",
            "Llama 3.3 Community License Agreement",
        )]),
        None,
    );
    assert_eq!(r.id, "llama3.3");
    assert_eq!(r.source, "gguf:general.license.name");
    let r = detect(
        &meta(&[("general.license.link", "https://ai.google.dev/gemma/terms")]),
        None,
    );
    assert_eq!(r.id, "gemma");
    assert_eq!(r.source, "gguf:general.license.link");
    // The explicit id beats the name, and a disagreeing name is a conflict.
    let r = detect(
        &meta(&[
            ("general.license", "mit"),
            ("general.license.name", "Apache License 2.0"),
        ]),
        None,
    );
    assert_eq!(r.id, "MIT");
    assert_eq!(r.conflicts.len(), 1);
    assert_eq!(r.conflicts[0].source, "gguf:general.license.name");
    assert_eq!(r.conflicts[0].id, "Apache-2.0");
}

#[test]
fn gguf_free_form_licence_value() {
    let r = detect(
        &meta(&[("general.license", "Apache License, Version 2.0")]),
        None,
    );
    assert_eq!(r.id, "Apache-2.0");
    let r = detect(
        &meta(&[("general.license", "Custom Research Terms v2")]),
        None,
    );
    assert_eq!(r.id, "other");
    assert_eq!(r.name, "Custom Research Terms v2");
    assert_eq!(r.commercial_use, CommercialUse::Unknown);
}

#[test]
fn gguf_expression() {
    let r = detect(&meta(&[("general.license", "apache-2.0 OR mit")]), None);
    assert_eq!(r.id, "Apache-2.0 OR MIT");
    assert_eq!(r.name, "Apache License 2.0 OR MIT License");
    assert_eq!(r.commercial_use, CommercialUse::Yes);
    assert!(r.obligations.iter().any(|o| o.licence == "MIT"));
    assert!(r.obligations.iter().any(|o| o.licence == "Apache-2.0"));

    // OR takes the more permissive answer, AND the more restrictive.
    let r = detect(
        &meta(&[("general.license", "CC-BY-NC-4.0 OR Apache-2.0")]),
        None,
    );
    assert_eq!(r.commercial_use, CommercialUse::Yes);
    let r = detect(
        &meta(&[("general.license", "CC-BY-NC-4.0 AND Apache-2.0")]),
        None,
    );
    assert_eq!(r.commercial_use, CommercialUse::No);
    assert!(r.commercial_use_note.starts_with("all apply"));
}

#[test]
fn nothing_found_is_unknown() {
    let r = detect(&[], None);
    assert_eq!(r.id, UNKNOWN);
    assert_eq!(r.source, "no licence information found");
    assert_eq!(r.commercial_use, CommercialUse::Unknown);
    assert!(r.obligations.is_empty());
    let dir = folder("empty");
    let r = detect(&[], Some(&dir));
    assert_eq!(r.id, UNKNOWN);
}

#[test]
fn front_matter_other_with_license_name_gemma() {
    let dir = folder_with(
        "fm_other_gemma",
        &[("README.md", "---\nlicense: other\nlicense_name: gemma\nlicense_link: https://ai.google.dev/gemma/terms\n---\n# Gemma\n")],
    );
    let r = detect(&[], Some(&dir));
    assert_eq!(r.id, "gemma");
    assert_eq!(
        r.source,
        "README.md front matter (license: other, license_name)"
    );
    assert_eq!(r.link.as_deref(), Some("https://ai.google.dev/gemma/terms"));
    assert!(r.conflicts.is_empty(), "the link agrees: {:?}", r.conflicts);
}

#[test]
fn front_matter_other_with_unknown_name() {
    let dir = folder_with(
        "fm_other_custom",
        &[(
            "README.md",
            "---\nlicense: other\nlicense_name: acme-model-license\n---\n",
        )],
    );
    let r = detect(&[], Some(&dir));
    assert_eq!(r.id, "other");
    assert_eq!(r.name, "acme-model-license");
    assert_eq!(r.source, "README.md front matter (license: other)");
    assert_eq!(r.commercial_use, CommercialUse::Unknown);
}

#[test]
fn front_matter_falcon_as_other() {
    let dir = folder_with(
        "fm_falcon",
        &[("README.md", "---\nlicense: other\nlicense_name: falcon-180b-license\nlicense_link: https://huggingface.co/tiiuae/falcon-180B/blob/main/LICENSE.txt\n---\n")],
    );
    let r = detect(&[], Some(&dir));
    assert_eq!(r.id, "falcon-180b-license");
    assert_eq!(r.commercial_use, CommercialUse::Conditional);
    assert!(r
        .obligations
        .iter()
        .any(|o| o.kind == ObligationKind::Hosting));
}

#[test]
fn licence_text_beats_declared_ids_and_conflicts_are_reported() {
    let dir = folder_with(
        "text_beats_fm",
        &[
            ("README.md", "---\nlicense: llama3\n---\n"),
            ("LICENSE", &fixture("llama3.1.txt")),
        ],
    );
    let r = detect(&meta(&[("general.license", "apache-2.0")]), Some(&dir));
    assert_eq!(r.id, "llama3.1");
    assert_eq!(r.source, "LICENSE (text)");
    let conflict_ids: Vec<_> = r
        .conflicts
        .iter()
        .map(|c| (c.source.as_str(), c.id.as_str()))
        .collect();
    assert_eq!(
        conflict_ids,
        [
            ("gguf:general.license", "Apache-2.0"),
            ("README.md front matter (license)", "llama3")
        ]
    );
    let ev = r
        .evidence
        .iter()
        .find(|e| e.source == "LICENSE (text)")
        .unwrap();
    assert_eq!(
        ev.detail,
        "matched \"llama 3.1 community license agreement\""
    );
}

#[test]
fn agreeing_sources_have_no_conflicts() {
    let dir = folder_with(
        "agree",
        &[
            ("README.md", "---\nlicense: llama3.1\n---\n"),
            ("LICENSE.txt", &fixture("llama3.1.txt")),
            ("USE_POLICY.md", &fixture("llama3.1-use-policy.md")),
        ],
    );
    let r = detect(&meta(&[("general.license", "llama3.1")]), Some(&dir));
    assert_eq!(r.id, "llama3.1");
    assert!(r.conflicts.is_empty());
    assert_eq!(
        r.evidence.len(),
        4,
        "gguf, LICENSE.txt, USE_POLICY.md, README.md"
    );
}

#[test]
fn use_policy_or_notice_alone_names_the_licence() {
    let dir = folder_with("notice_only", &[("NOTICE", &fixture("gemma-notice.txt"))]);
    let r = detect(&[], Some(&dir));
    assert_eq!(r.id, "gemma");
    assert_eq!(r.source, "NOTICE (text)");
    let dir = folder_with(
        "use_policy_only",
        &[("use_policy.md", &fixture("llama3.1-use-policy.md"))],
    );
    assert_eq!(detect(&[], Some(&dir)).id, "llama3.1");
}

#[test]
fn file_names_do_not_decide_content_does() {
    // Named like MIT, contains Apache.
    let dir = folder_with("misnamed", &[("LICENSE-MIT", &fixture("apache-2.0.txt"))]);
    assert_eq!(detect(&[], Some(&dir)).id, "Apache-2.0");
    // Unusual case and extension.
    let dir = folder_with("odd_names", &[("licence.Gemma.md", &fixture("gemma.md"))]);
    assert_eq!(detect(&[], Some(&dir)).id, "gemma");
    // Not a licence file name: not read as one.
    let dir = folder_with("not_licence_name", &[("terms.txt", &fixture("gemma.md"))]);
    assert_eq!(detect(&[], Some(&dir)).id, UNKNOWN);
}

#[test]
fn license_link_to_a_local_file_is_read() {
    let dir = folder_with(
        "local_link",
        &[
            (
                "README.md",
                "---\nlicense: other\nlicense_link: TERMS.md\n---\n",
            ),
            ("TERMS.md", &fixture("qwen.txt")),
        ],
    );
    let r = detect(&[], Some(&dir));
    assert_eq!(r.id, "qwen");
    assert_eq!(r.source, "TERMS.md (text)");
    assert_eq!(r.commercial_use, CommercialUse::Conditional);
    assert!(r
        .obligations
        .iter()
        .any(|o| o.text.contains("\"Built with Qwen\"")));
    // A link that leaves the folder is not followed.
    let dir = folder_with(
        "escaping_link",
        &[(
            "README.md",
            "---\nlicense: other\nlicense_link: ../../etc/passwd\n---\n",
        )],
    );
    assert_eq!(detect(&[], Some(&dir)).id, "other");
}

#[test]
fn dual_licence_files_use_the_declared_expression() {
    let files = [
        ("LICENSE-APACHE", fixture("apache-2.0.txt")),
        ("LICENSE-MIT", fixture("mit.txt")),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    // Without a declaration both texts apply.
    let dir = folder_with("dual_plain", &files);
    let r = detect(&[], Some(&dir));
    assert_eq!(r.id, "Apache-2.0 AND MIT");
    assert_eq!(r.source, "LICENSE-APACHE (text), LICENSE-MIT (text)");
    // With `MIT OR Apache-2.0` declared, the declared structure is kept.
    let r = detect(
        &meta(&[("general.license", "MIT OR Apache-2.0")]),
        Some(&dir),
    );
    assert_eq!(r.id, "MIT OR Apache-2.0");
    assert!(r.conflicts.is_empty());
}

#[test]
fn unrecognised_licence_text_is_unknown_with_evidence() {
    let dir = folder_with(
        "unrecognised",
        &[("LICENSE", "You may do what you like, politely.\n")],
    );
    let r = detect(&[], Some(&dir));
    assert_eq!(r.id, UNKNOWN);
    assert_eq!(r.source, "LICENSE (text, not recognised)");
    assert_eq!(r.evidence[0].detail, "text not recognised");
    // A declared id still wins over an unrecognised text.
    let r = detect(&meta(&[("general.license", "mit")]), Some(&dir));
    assert_eq!(r.id, "MIT");
}

#[test]
fn binary_garbage_is_unknown_and_does_not_panic() {
    let dir = folder("garbage");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..200_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(dir.join("LICENSE"), &bytes).unwrap();
    std::fs::write(dir.join("README.md"), &bytes).unwrap();
    std::fs::write(dir.join("NOTICE.bin"), &bytes).unwrap();
    let r = detect(
        &meta(&[("general.license", "\u{0}\u{1}\u{fffd}")]),
        Some(&dir),
    );
    assert_eq!(
        r.id, "other",
        "the GGUF value is declared but not a licence"
    );
    let r = detect(&[], Some(&dir));
    assert_eq!(r.id, UNKNOWN);
}

#[test]
fn huge_licence_file_is_read_capped() {
    let dir = folder("huge");
    // 3 MiB of filler, then a licence title beyond the cap: never seen.
    let mut text = "lorem ipsum dolor sit amet ".repeat(3 * 1024 * 1024 / 27 + 1);
    text.push_str("LLAMA 2 COMMUNITY LICENSE AGREEMENT");
    std::fs::write(dir.join("LICENSE"), &text).unwrap();
    let r = detect(&[], Some(&dir));
    assert_eq!(r.id, UNKNOWN);
    assert!(
        r.notes
            .iter()
            .any(|n| n == "LICENSE: only the first MiB was read"),
        "{:?}",
        r.notes
    );
    // A title inside the cap is found even in a huge file.
    let text = format!("{}{}", fixture("gemma.md"), "x ".repeat(2 * 1024 * 1024));
    std::fs::write(dir.join("LICENSE"), &text).unwrap();
    assert_eq!(detect(&[], Some(&dir)).id, "gemma");
}

#[test]
fn missing_folder_is_a_note_not_an_error() {
    let dir = folder("gone").join("does-not-exist");
    let r = detect(&meta(&[("general.license", "mit")]), Some(&dir));
    assert_eq!(r.id, "MIT");
    assert!(r.notes[0].starts_with("cannot read folder"));
}

#[test]
fn report_serialises_with_the_required_keys() {
    let r = detect(&meta(&[("general.license", "gemma")]), None);
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    for key in [
        "id",
        "name",
        "source",
        "link",
        "commercial_use",
        "commercial_use_note",
        "obligations",
        "evidence",
        "conflicts",
        "notes",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["id"], "gemma");
    assert_eq!(v["source"], "gguf:general.license");
    assert_eq!(v["commercial_use"], "yes");
    assert_eq!(v["obligations"][0]["kind"], "acceptable_use");
    assert_eq!(v["obligations"][0]["licence"], "gemma");
    let back: allmende_license::LicenseReport = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}
