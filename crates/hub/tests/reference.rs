//! The reference parser: a table of good and bad `hf:` references, and round-tripping.

#![allow(clippy::unwrap_used)]

use allmende_hub::{HubError, HubRef};

#[test]
fn good_references_parse() {
    // (input, repo, revision, explicit revision, file)
    type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);
    let table: &[Row] = &[
        ("hf:org/repo", "org/repo", "main", None, None),
        (
            "hf:Qwen/Qwen2.5-0.5B-Instruct",
            "Qwen/Qwen2.5-0.5B-Instruct",
            "main",
            None,
            None,
        ),
        ("hf:org/repo@v1.0", "org/repo", "v1.0", Some("v1.0"), None),
        (
            "hf:org/repo@refs/pr/1",
            "org/repo",
            "refs/pr/1",
            Some("refs/pr/1"),
            None,
        ),
        (
            "hf:org/repo:model.gguf",
            "org/repo",
            "main",
            None,
            Some("model.gguf"),
        ),
        (
            "hf:org/repo@dev:sub/dir/model-Q4_K_M.gguf",
            "org/repo",
            "dev",
            Some("dev"),
            Some("sub/dir/model-Q4_K_M.gguf"),
        ),
        (
            "hf:org/repo:weird@name:x.bin",
            "org/repo",
            "main",
            None,
            Some("weird@name:x.bin"),
        ),
        (
            "hf:a_b/c.d@0123456789abcdef0123456789abcdef01234567",
            "a_b/c.d",
            "0123456789abcdef0123456789abcdef01234567",
            Some("0123456789abcdef0123456789abcdef01234567"),
            None,
        ),
    ];
    for &(input, repo, revision, explicit, file) in table {
        let r = HubRef::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.repo(), repo, "{input}");
        assert_eq!(r.revision(), revision, "{input}");
        assert_eq!(r.explicit_revision(), explicit, "{input}");
        assert_eq!(r.file(), file, "{input}");
        assert_eq!(r.to_string(), input, "round trip");
        assert_eq!(input.parse::<HubRef>().unwrap(), r);
    }
    assert_eq!(
        HubRef::parse("hf:Org/Re.po").unwrap().cache_folder_name(),
        "models--Org--Re.po"
    );
}

#[test]
fn bad_references_are_typed_errors_naming_the_problem() {
    // (input, a fragment the reason must contain)
    let table: &[(&str, &str)] = &[
        ("org/repo", "hf:"),
        ("hf://org/repo", "not ORG/REPO"),
        ("hf:", "not ORG/REPO"),
        ("hf:repo", "not ORG/REPO"),
        ("hf:org/repo/extra", "not ORG/REPO"),
        ("hf:/repo", "1 to 96"),
        ("hf:org/", "1 to 96"),
        ("hf:org/re po", "not allowed"),
        ("hf:org/re--po", "--"),
        ("hf:org/..", "starts or ends"),
        ("hf:org/-repo", "starts or ends"),
        ("hf:org/repo@", "REVISION must be"),
        ("hf:org/repo@../../etc", "part starting with `.`"),
        ("hf:org/repo@a//b", "empty part"),
        ("hf:org/repo@bad rev", "not allowed"),
        ("hf:org/repo:", "empty path"),
        ("hf:org/repo:/etc/passwd", "absolute"),
        ("hf:org/repo:../secret", "`..`"),
        ("hf:org/repo:a/./b", "`.`"),
        ("hf:org/repo:a\\b", "control"),
        ("hf:org/repo:a\nb", "control"),
    ];
    for &(input, fragment) in table {
        match HubRef::parse(input) {
            Err(HubError::BadReference { reference, reason }) => {
                assert_eq!(reference, input);
                assert!(
                    reason.contains(fragment),
                    "{input:?}: reason `{reason}` lacks `{fragment}`"
                );
                let msg = HubRef::parse(input).unwrap_err().to_string();
                assert!(msg.contains("hf:ORG/REPO[@REVISION][:FILE]"), "{msg}");
            }
            other => panic!("{input:?}: expected BadReference, got {other:?}"),
        }
    }
}
