//! Model-card front matter: the licence keys in the forms model cards use.

use allmende_license::{parse_front_matter, FrontMatter};

#[test]
fn plain_values() {
    let card =
        "---\nlanguage:\n- en\nlicense: apache-2.0\ntags:\n- text-generation\n---\n# Model\n";
    let fm = parse_front_matter(card).unwrap();
    assert_eq!(
        fm,
        FrontMatter {
            license: vec!["apache-2.0".into()],
            license_name: None,
            license_link: None
        }
    );
}

#[test]
fn other_with_name_and_link() {
    let card = "---\nlicense: other\nlicense_name: gemma\nlicense_link: https://ai.google.dev/gemma/terms\nlibrary_name: transformers\n---\n";
    let fm = parse_front_matter(card).unwrap();
    assert_eq!(fm.license, vec!["other"]);
    assert_eq!(fm.license_name.as_deref(), Some("gemma"));
    assert_eq!(
        fm.license_link.as_deref(),
        Some("https://ai.google.dev/gemma/terms")
    );
}

#[test]
fn quoted_values_comments_and_crlf() {
    let card = "\u{feff}---\r\nlicense: \"llama3.1\"  # the hub id\r\nlicense_name: 'Llama ''3.1'' licence'\r\nlicense_link: \"https://example.org/a\\\"b\"\r\n---\r\n";
    let fm = parse_front_matter(card).unwrap();
    assert_eq!(fm.license, vec!["llama3.1"]);
    assert_eq!(fm.license_name.as_deref(), Some("Llama '3.1' licence"));
    assert_eq!(fm.license_link.as_deref(), Some("https://example.org/a\"b"));

    let card = "---\nlicense: mit # comment\n---\n";
    assert_eq!(parse_front_matter(card).unwrap().license, vec!["mit"]);
}

#[test]
fn lists_block_and_inline() {
    let card = "---\nlicense:\n  - mit\n  - apache-2.0\nlanguage: en\n---\n";
    assert_eq!(
        parse_front_matter(card).unwrap().license,
        vec!["mit", "apache-2.0"]
    );
    let card = "---\nlicense: [mit, \"apache-2.0\"]\n---\n";
    assert_eq!(
        parse_front_matter(card).unwrap().license,
        vec!["mit", "apache-2.0"]
    );
}

#[test]
fn nested_keys_of_other_fields_are_ignored() {
    let card = "---\nmodel-index:\n  - name: x\n    license: not-this-one\nextra_gated_fields:\n  license: no\nlicense: cc-by-4.0\n---\n";
    let fm = parse_front_matter(card).unwrap();
    assert_eq!(fm.license, vec!["cc-by-4.0"]);
}

#[test]
fn no_or_unclosed_front_matter() {
    assert_eq!(parse_front_matter("# Title\nlicense: mit\n"), None);
    assert_eq!(
        parse_front_matter("---\nlicense: mit\n"),
        None,
        "unclosed block"
    );
    assert_eq!(parse_front_matter(""), None);
    let fm = parse_front_matter("---\ntitle: x\n---\n").unwrap();
    assert!(fm.is_empty());
}

#[test]
fn hostile_values_are_cut() {
    let long = "x".repeat(100_000);
    let card = format!(
        "---\nlicense_name: {long}\nlicense: \"{}\n---\n",
        "é".repeat(10_000)
    );
    let fm = parse_front_matter(&card).unwrap();
    assert!(fm.license_name.unwrap().len() <= 512);
    let lic = &fm.license[0];
    assert!(
        lic.len() <= 512 && lic.chars().all(|c| c == 'é'),
        "cut at a char boundary"
    );
}
