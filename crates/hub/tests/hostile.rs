//! A hostile or broken hub: path traversal in file names, absurd sizes, malformed hashes and
//! commits, huge headers, redirect loops. Each is a typed error; nothing is written outside the
//! cache and nothing is downloaded from a bad listing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use allmende_hub::{parse_listing, HubClient, HubError, HubRef};
use common::{file, repo, temp_dir, FakeHub};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const BLOB: &str = "ce013625030ba8dba906f756967f9e9ca394464a";
const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn listing_with(sibling: &str) -> String {
    format!(r#"{{"sha":"{COMMIT}","siblings":[{sibling}]}}"#)
}

#[test]
fn hostile_listings_are_refused_with_a_reason() {
    // (listing body, a fragment of the reason)
    let table: Vec<(String, &str)> = vec![
        (
            listing_with(&format!(
                r#"{{"rfilename":"../../etc/passwd","size":6,"blobId":"{BLOB}"}}"#
            )),
            "`..`",
        ),
        (
            listing_with(&format!(
                r#"{{"rfilename":"/etc/passwd","size":6,"blobId":"{BLOB}"}}"#
            )),
            "absolute",
        ),
        (
            listing_with(&format!(
                r#"{{"rfilename":"a/../../b","size":6,"blobId":"{BLOB}"}}"#
            )),
            "`..`",
        ),
        (
            listing_with(&format!(
                r#"{{"rfilename":"a\\..\\b","size":6,"blobId":"{BLOB}"}}"#
            )),
            "control",
        ),
        (
            listing_with(&format!(
                r#"{{"rfilename":"a//b","size":6,"blobId":"{BLOB}"}}"#
            )),
            "empty component",
        ),
        (
            listing_with(&format!(r#"{{"rfilename":"","size":6,"blobId":"{BLOB}"}}"#)),
            "empty path",
        ),
        (
            listing_with(&format!(
                r#"{{"rfilename":"{}","size":6,"blobId":"{BLOB}"}}"#,
                "x".repeat(300)
            )),
            "255",
        ),
        (
            listing_with(&format!(
                r#"{{"rfilename":"a.gguf","size":6,"lfs":{{"sha256":"{SHA}","size":18446744073709551615}}}}"#
            )),
            "size and lfs.size differ",
        ),
        (
            listing_with(&format!(
                r#"{{"rfilename":"a.gguf","lfs":{{"sha256":"{SHA}","size":18446744073709551615}}}}"#
            )),
            "absurd",
        ),
        (
            listing_with(&format!(
                r#"{{"rfilename":"a.json","size":99999999999999999999999,"blobId":"{BLOB}"}}"#
            )),
            "JSON",
        ),
        (
            listing_with(&format!(
                r#"{{"rfilename":"a.json","size":-1,"blobId":"{BLOB}"}}"#
            )),
            "JSON",
        ),
        (
            listing_with(r#"{"rfilename":"a.json","size":6,"blobId":"../../x"}"#),
            "blobId",
        ),
        (
            listing_with(r#"{"rfilename":"a.gguf","size":6,"lfs":{"sha256":"../x","size":6}}"#),
            "sha256",
        ),
        (
            listing_with(r#"{"rfilename":"a.json","size":6}"#),
            "no blobId",
        ),
        (
            listing_with(&format!(r#"{{"rfilename":"a.json","blobId":"{BLOB}"}}"#)),
            "no size",
        ),
        (
            listing_with(&format!(
                r#"{{"rfilename":"a.json","size":6,"blobId":"{BLOB}"}},{{"rfilename":"a.json","size":6,"blobId":"{BLOB}"}}"#
            )),
            "twice",
        ),
        (r#"{"sha":"../../x","siblings":[]}"#.to_string(), "40 hex"),
        (r#"{"siblings":[]}"#.to_string(), "no `sha`"),
        (format!(r#"{{"sha":"{COMMIT}"}}"#), "no `siblings`"),
        ("[1,2,3]".to_string(), "JSON"),
        ("{".repeat(100_000), "JSON"),
    ];
    for (body, fragment) in &table {
        match parse_listing(body.as_bytes()) {
            Err(reason) => assert!(
                reason.contains(fragment),
                "reason `{reason}` lacks `{fragment}`"
            ),
            Ok(l) => panic!("accepted {}: {l:?}", &body[..body.len().min(200)]),
        }
    }
}

#[test]
fn a_traversal_listing_from_the_server_is_a_typed_error_and_writes_nothing() {
    let hub = FakeHub::start(vec![repo("org/evil", 1, vec![file("config.json", b"{}")])]);
    hub.switches(|s| {
        s.listing = Some(format!(
            r#"{{"sha":"{}","siblings":[{{"rfilename":"../../../escape.safetensors","size":2,"blobId":"{BLOB}"}}]}}"#,
            "01".repeat(20)
        ))
    });
    let root = temp_dir("evil");
    let client = HubClient::new(&hub.endpoint, None).unwrap();
    let err = client
        .pull(&HubRef::parse("hf:org/evil").unwrap(), &root, false)
        .unwrap_err();
    match &err {
        HubError::BadListing { reason, .. } => {
            assert!(reason.contains("unsafe file name"), "{reason}")
        }
        other => panic!("expected BadListing, got {other:?}"),
    }
    assert!(!root.join("hub").exists());
    assert_eq!(hub.seen().len(), 1, "nothing downloaded");
}

#[test]
fn huge_headers_and_redirect_loops_are_errors_not_hangs() {
    let hub = FakeHub::start(vec![repo("org/tiny", 2, vec![lfs_free()])]);
    let root = temp_dir("headers");
    let client = HubClient::new(&hub.endpoint, None).unwrap().with_retries(0);
    let r = HubRef::parse("hf:org/tiny").unwrap();

    hub.switches(|s| s.huge_header = true);
    let err = client.pull(&r, &root, false).unwrap_err();
    assert!(matches!(err, HubError::Network { .. }), "{err:?}");

    hub.switches(|s| {
        s.huge_header = false;
        s.redirect_loop = true;
    });
    let err = client.pull(&r, &root, false).unwrap_err();
    match err {
        HubError::Redirect { reason, .. } => {
            assert!(reason.contains("more than 10 redirects"), "{reason}")
        }
        other => panic!("expected Redirect, got {other:?}"),
    }
}

fn lfs_free() -> common::FakeFile {
    file("model.gguf", b"GGUF....")
}
