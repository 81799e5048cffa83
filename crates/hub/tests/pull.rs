//! Pulling from a fake hub on 127.0.0.1: layout, single files, resume, corruption, hub errors,
//! the token, and the offline operations on what was pulled.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;

use allmende_hub::{list_cached, remove, resolve_offline, FileHash, HubClient, HubError, HubRef};
use common::{file, git_blob_id, lfs, repo, sha256_hex, temp_dir, FakeHub, FakeRepo};

/// A small model repo: config, tokenizer, README, licence, a chat template, an LFS safetensors
/// (absolute redirect) and files the filter skips.
fn tiny_repo() -> FakeRepo {
    let weights: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    repo(
        "org/tiny",
        0xab,
        vec![
            file(".gitattributes", b"*.safetensors filter=lfs\n"),
            file("config.json", b"{\"model_type\":\"llama\"}"),
            file("tokenizer.json", b"{\"version\":\"1.0\"}"),
            file("README.md", b"# tiny\n"),
            file("LICENSE", b"Apache-2.0\n"),
            file("templates/chat.jinja", b"{{ messages }}"),
            file("train.py", b"print('not a model file')\n"),
            lfs("model.safetensors", &weights),
        ],
    )
}

fn quants_repo() -> FakeRepo {
    repo(
        "org/quants",
        0xcd,
        vec![
            file("README.md", b"# quants\n"),
            lfs("m-Q4_K_M.gguf", &[4u8; 3000]),
            lfs("m-Q8_0.gguf", &[8u8; 4000]),
        ],
    )
}

fn client(hub: &FakeHub) -> HubClient {
    HubClient::new(&hub.endpoint, None).unwrap()
}

fn r(s: &str) -> HubRef {
    HubRef::parse(s).unwrap()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn full_pull_verifies_and_mirrors_the_hub_cache_layout() {
    let fixture = tiny_repo();
    let hub = FakeHub::start(vec![fixture.clone()]);
    let root = temp_dir("full");
    let snap = client(&hub).pull(&r("hf:org/tiny"), &root, false).unwrap();

    let commit = fixture.commit.clone();
    let repo_dir = root.join("hub/models--org--tiny");
    assert_eq!(snap.commit, commit);
    assert_eq!(snap.repo, "org/tiny");
    assert_eq!(snap.dir, repo_dir.join("snapshots").join(&commit));
    let mut got: Vec<&str> = snap.files.iter().map(|f| f.path.as_str()).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "LICENSE",
            "README.md",
            "config.json",
            "model.safetensors",
            "templates/chat.jinja",
            "tokenizer.json"
        ]
    );
    // Contents, hashes, sizes.
    for f in fixture
        .files
        .iter()
        .filter(|f| got.contains(&f.path.as_str()))
    {
        let on_disk = fs::read(snap.dir.join(&f.path)).unwrap();
        assert_eq!(on_disk, f.content, "{}", f.path);
        let entry = snap.files.iter().find(|s| s.path == f.path).unwrap();
        assert_eq!(entry.size, f.content.len() as u64);
        let expected = if f.lfs {
            FileHash::Sha256(sha256_hex(&f.content))
        } else {
            FileHash::GitBlob(git_blob_id(&f.content))
        };
        assert_eq!(entry.hash, expected, "{}", f.path);
        assert!(
            repo_dir.join("blobs").join(expected.hex()).is_file(),
            "blob of {}",
            f.path
        );
    }
    assert!(!snap.dir.join(".gitattributes").exists());
    assert!(!snap.dir.join("train.py").exists());
    // refs/main holds the commit; the marker exists; no partial file is left.
    assert_eq!(
        fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        commit
    );
    assert_eq!(
        names_in(&repo_dir.join("verified")),
        [format!("{commit}.json")]
    );
    assert!(names_in(&repo_dir.join("blobs"))
        .iter()
        .all(|n| !n.ends_with(".incomplete")));
    assert_eq!(names_in(&repo_dir.join("blobs")).len(), 6);
    // A folder model: model_path is the snapshot folder.
    assert_eq!(snap.model_path(), snap.dir);
    // The LFS file went through the CDN redirect.
    let seen = hub.seen();
    assert!(seen.iter().any(|s| s.path.starts_with("/cdn/")));
    assert!(
        seen[0]
            .path
            .ends_with("/api/models/org/tiny/revision/main?blobs=true"),
        "{}",
        seen[0].path
    );
    assert!(seen.iter().all(|s| s.header("authorization").is_none()));

    // A second pull lists and finds everything verified: no download.
    hub.clear_seen();
    let again = client(&hub).pull(&r("hf:org/tiny"), &root, false).unwrap();
    assert_eq!(again, snap);
    let seen = hub.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
}

#[test]
fn single_file_pull_fetches_only_that_file_and_several_ggufs_need_one_named() {
    let hub = FakeHub::start(vec![quants_repo()]);
    let root = temp_dir("single");
    match client(&hub).pull(&r("hf:org/quants"), &root, false) {
        Err(e @ HubError::AmbiguousGguf { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("m-Q4_K_M.gguf") && msg.contains("m-Q8_0.gguf"),
                "{msg}"
            );
            assert!(msg.contains("hf:org/quants[@REVISION]:FILE"), "{msg}");
        }
        other => panic!("expected AmbiguousGguf, got {other:?}"),
    }
    let snap = client(&hub)
        .pull(&r("hf:org/quants:m-Q8_0.gguf"), &root, false)
        .unwrap();
    assert_eq!(snap.files.len(), 1);
    assert_eq!(snap.files[0].size, 4000);
    assert_eq!(snap.model_path(), snap.dir.join("m-Q8_0.gguf"));
    assert_eq!(fs::read(snap.model_path()).unwrap(), vec![8u8; 4000]);
    assert_eq!(names_in(&snap.dir), ["m-Q8_0.gguf"]);
    // The path-absolute redirect was followed; nothing else was downloaded.
    let downloads: Vec<String> = hub
        .seen()
        .into_iter()
        .filter(|s| !s.path.starts_with("/api/"))
        .map(|s| s.path)
        .collect();
    assert_eq!(
        downloads,
        [
            format!("/org/quants/resolve/{}/m-Q8_0.gguf", quants_repo().commit),
            format!("/cdn/{}", sha256_hex(&[8u8; 4000])),
        ]
    );
    match client(&hub).pull(&r("hf:org/quants:nope.gguf"), &root, false) {
        Err(HubError::FileNotFound { file, repo, .. }) => {
            assert_eq!((file.as_str(), repo.as_str()), ("nope.gguf", "org/quants"))
        }
        other => panic!("expected FileNotFound, got {other:?}"),
    }
}

#[test]
fn cut_transfer_resumes_on_the_next_pull_with_a_range_request() {
    let fixture = tiny_repo();
    let hub = FakeHub::start(vec![fixture.clone()]);
    hub.switches(|s| {
        s.cut_once.insert("model.safetensors".into());
    });
    let root = temp_dir("resume");
    let no_retry = HubClient::new(&hub.endpoint, None).unwrap().with_retries(0);
    match no_retry.pull(&r("hf:org/tiny"), &root, false) {
        Err(HubError::Network { detail, .. }) => {
            assert!(detail.contains("of 5000 bytes"), "{detail}")
        }
        other => panic!("expected a network error, got {other:?}"),
    }
    let sha = sha256_hex(&fixture.files[7].content);
    let partial = root.join(format!("hub/models--org--tiny/blobs/{sha}.incomplete"));
    assert_eq!(fs::metadata(&partial).unwrap().len(), 2500);
    // Nothing claims the snapshot is complete yet.
    assert!(resolve_offline(&r("hf:org/tiny"), &root).is_err());

    hub.clear_seen();
    let snap = no_retry.pull(&r("hf:org/tiny"), &root, false).unwrap();
    let ranged: Vec<_> = hub
        .seen()
        .into_iter()
        .filter(|s| s.header("range").is_some())
        .collect();
    assert_eq!(
        ranged.len(),
        2,
        "resolve and CDN both get the range: {ranged:?}"
    );
    assert!(ranged
        .iter()
        .all(|s| s.header("range") == Some("bytes=2500-")));
    assert!(ranged[1].path.starts_with("/cdn/"));
    assert_eq!(
        fs::read(snap.dir.join("model.safetensors")).unwrap(),
        fixture.files[7].content
    );
    assert!(!partial.exists());
}

#[test]
fn cut_transfer_and_503_are_retried_within_one_pull_by_default() {
    let fixture = tiny_repo();
    let hub = FakeHub::start(vec![fixture.clone()]);
    hub.switches(|s| {
        s.cut_once.insert("config.json".into());
        s.unavailable_once.insert("model.safetensors".into());
    });
    let root = temp_dir("retry");
    let snap = client(&hub).pull(&r("hf:org/tiny"), &root, false).unwrap();
    assert_eq!(
        fs::read(snap.dir.join("config.json")).unwrap(),
        fixture.files[1].content
    );
    let half = fixture.files[1].content.len() / 2;
    assert!(hub.seen().iter().any(|s| s.path.ends_with("/config.json")
        && s.header("range") == Some(&format!("bytes={half}-"))));
    assert_eq!(
        hub.seen()
            .iter()
            .filter(|s| s.path.starts_with("/cdn/"))
            .count(),
        2
    );
    assert_eq!(
        fs::read(snap.dir.join("model.safetensors")).unwrap(),
        fixture.files[7].content
    );
}

fn assert_refused(root: &Path, hash: &str, name: &str) {
    let repo_dir = root.join("hub/models--org--tiny");
    assert!(!repo_dir.join("blobs").join(hash).exists(), "blob kept");
    assert!(
        !repo_dir
            .join("blobs")
            .join(format!("{hash}.incomplete"))
            .exists(),
        "partial kept"
    );
    let commit = tiny_repo().commit;
    assert!(
        !repo_dir.join("snapshots").join(&commit).join(name).exists(),
        "snapshot file kept"
    );
    let marker = fs::read_to_string(repo_dir.join("verified").join(format!("{commit}.json")))
        .unwrap_or_default();
    assert!(!marker.contains(hash), "marker lists the refused file");
}

#[test]
fn corrupted_files_are_refused_and_not_left_in_the_cache() {
    let fixture = tiny_repo();
    let hub = FakeHub::start(vec![fixture.clone()]);
    let root = temp_dir("corrupt");

    // A non-LFS file with wrong bytes: the git blob id does not match.
    hub.switches(|s| {
        s.corrupt.insert("config.json".into());
    });
    match client(&hub).pull(&r("hf:org/tiny"), &root, false) {
        Err(HubError::HashMismatch {
            file,
            kind,
            expected,
            actual,
        }) => {
            assert_eq!(file, "config.json");
            assert_eq!(kind, "git blob id");
            assert_eq!(expected, git_blob_id(&fixture.files[1].content));
            assert_ne!(actual, expected);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    assert_refused(
        &root,
        &git_blob_id(&fixture.files[1].content),
        "config.json",
    );

    // An LFS file with wrong bytes: the sha256 does not match.
    hub.switches(|s| {
        s.corrupt.clear();
        s.corrupt.insert("model.safetensors".into());
    });
    match client(&hub).pull(&r("hf:org/tiny"), &root, false) {
        Err(HubError::HashMismatch { file, kind, .. }) => {
            assert_eq!((file.as_str(), kind), ("model.safetensors", "sha256"))
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    let sha = sha256_hex(&fixture.files[7].content);
    assert_refused(&root, &sha, "model.safetensors");

    // A file longer than advertised: cut one byte past the size, refused.
    hub.switches(|s| {
        s.corrupt.clear();
        s.grow.insert("model.safetensors".into());
    });
    match client(&hub).pull(&r("hf:org/tiny"), &root, false) {
        Err(HubError::SizeMismatch {
            file,
            expected,
            actual,
        }) => {
            assert_eq!(
                (file.as_str(), expected, actual),
                ("model.safetensors", 5000, 5001)
            )
        }
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
    assert_refused(&root, &sha, "model.safetensors");
    assert!(resolve_offline(&r("hf:org/tiny"), &root).is_err());

    // Served correctly, the pull succeeds.
    hub.switches(|s| s.grow.clear());
    client(&hub).pull(&r("hf:org/tiny"), &root, false).unwrap();
    resolve_offline(&r("hf:org/tiny"), &root).unwrap();
}

#[test]
fn hub_error_answers_become_typed_errors() {
    let hub = FakeHub::start(vec![tiny_repo()]);
    let root = temp_dir("errors");
    let err = client(&hub)
        .pull(&r("hf:org/missing"), &root, false)
        .unwrap_err();
    assert!(matches!(err, HubError::RepoNotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "repository org/missing not found on {} (or it is gated/private: set HF_TOKEN)",
            hub.endpoint
        )
    );
    let err = client(&hub)
        .pull(&r("hf:org/tiny@v9"), &root, false)
        .unwrap_err();
    match err {
        HubError::RevisionNotFound { repo, revision, .. } => {
            assert_eq!((repo.as_str(), revision.as_str()), ("org/tiny", "v9"))
        }
        other => panic!("expected RevisionNotFound, got {other:?}"),
    }
    // Nothing was written for failed pulls.
    assert!(list_cached(&root).unwrap().is_empty());
    // An endpoint that is not http(s).
    assert!(matches!(
        HubClient::new("ftp://x", None),
        Err(HubError::BadEndpoint { .. })
    ));
    // A closed port: a network error, not a panic.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let err = HubClient::new(&closed, None)
        .unwrap()
        .pull(&r("hf:org/tiny"), &root, false)
        .unwrap_err();
    assert!(matches!(err, HubError::Network { .. }), "{err:?}");
}

#[test]
fn token_is_sent_as_bearer_and_never_shown() {
    let hub = FakeHub::start(vec![tiny_repo()]);
    hub.switches(|s| s.token = Some("hf_s3cret".into()));
    let root = temp_dir("token");
    let err = client(&hub)
        .pull(&r("hf:org/tiny"), &root, false)
        .unwrap_err();
    assert!(matches!(err, HubError::RepoNotFound { .. }), "{err:?}");

    let authed = HubClient::new(&hub.endpoint, Some("hf_s3cret".into())).unwrap();
    assert!(authed.has_token());
    assert!(!format!("{authed:?}").contains("hf_s3cret"));
    hub.clear_seen();
    authed.pull(&r("hf:org/tiny"), &root, false).unwrap();
    let seen = hub.seen();
    assert!(seen.len() > 2);
    // Every request to the endpoint's origin carries the token (the fake CDN shares the origin).
    assert!(
        seen.iter()
            .all(|s| s.header("authorization") == Some("Bearer hf_s3cret")),
        "{seen:?}"
    );

    let wrong = HubClient::new(&hub.endpoint, Some("hf_wr0ng".into())).unwrap();
    let err = wrong.pull(&r("hf:org/other"), &root, false).unwrap_err();
    assert!(!err.to_string().contains("hf_wr0ng") && !format!("{err:?}").contains("hf_wr0ng"));
}

#[test]
fn offline_resolution_works_after_a_pull_and_fails_cleanly_before() {
    let fixture = tiny_repo();
    let hub = FakeHub::start(vec![fixture.clone(), quants_repo()]);
    let root = temp_dir("offline");
    for s in ["hf:org/tiny", "hf:org/tiny:config.json"] {
        match resolve_offline(&r(s), &root) {
            Err(e @ HubError::NotCached { .. }) => {
                assert!(e.to_string().contains("pull it first"), "{e}")
            }
            other => panic!("expected NotCached, got {other:?}"),
        }
    }
    let pulled = client(&hub).pull(&r("hf:org/tiny"), &root, false).unwrap();
    let offline = resolve_offline(&r("hf:org/tiny"), &root).unwrap();
    assert_eq!(offline.commit, pulled.commit);
    assert_eq!(offline.dir, pulled.dir);
    let mut a = offline.files.clone();
    let mut b = pulled.files.clone();
    a.sort_by(|x, y| x.path.cmp(&y.path));
    b.sort_by(|x, y| x.path.cmp(&y.path));
    assert_eq!(a, b);
    // By commit, and a single file.
    let by_commit = resolve_offline(&r(&format!("hf:org/tiny@{}", fixture.commit)), &root).unwrap();
    assert_eq!(by_commit.files.len(), 6);
    let one = resolve_offline(&r("hf:org/tiny:config.json"), &root).unwrap();
    assert_eq!(one.model_path(), pulled.dir.join("config.json"));
    // Unknown revision, file not pulled.
    assert!(matches!(
        resolve_offline(&r("hf:org/tiny@dev"), &root),
        Err(HubError::NotCached { .. })
    ));
    assert!(matches!(
        resolve_offline(&r("hf:org/tiny:train.py"), &root),
        Err(HubError::NotCached { .. })
    ));

    // Only a single file of a repo pulled: the whole repo does not resolve offline.
    client(&hub)
        .pull(&r("hf:org/quants:m-Q4_K_M.gguf"), &root, false)
        .unwrap();
    resolve_offline(&r("hf:org/quants:m-Q4_K_M.gguf"), &root).unwrap();
    match resolve_offline(&r("hf:org/quants"), &root) {
        Err(HubError::NotCached { reason, .. }) => {
            assert!(reason.contains("single files"), "{reason}")
        }
        other => panic!("expected NotCached, got {other:?}"),
    }

    // A cached file changed on disk: re-hashed, refused and deleted, never returned.
    let tok = pulled.dir.join("tokenizer.json");
    fs::write(&tok, b"{\"version\":\"2.0\"}").unwrap();
    match resolve_offline(&r("hf:org/tiny"), &root) {
        Err(HubError::HashMismatch { file, .. }) => assert_eq!(file, "tokenizer.json"),
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    assert!(!tok.exists());
    assert!(resolve_offline(&r("hf:org/tiny"), &root).is_err());
    // A pull repairs it (only the damaged file is fetched again).
    hub.clear_seen();
    client(&hub).pull(&r("hf:org/tiny"), &root, false).unwrap();
    let fetched: Vec<String> = hub.seen().into_iter().skip(1).map(|s| s.path).collect();
    assert_eq!(
        fetched,
        [format!(
            "/org/tiny/resolve/{}/tokenizer.json",
            fixture.commit
        )]
    );
    resolve_offline(&r("hf:org/tiny"), &root).unwrap();
}

#[test]
fn list_and_remove_cached_repos() {
    let hub = FakeHub::start(vec![tiny_repo(), quants_repo()]);
    let root = temp_dir("list");
    assert!(list_cached(&root).unwrap().is_empty());
    client(&hub).pull(&r("hf:org/tiny"), &root, false).unwrap();
    client(&hub)
        .pull(&r("hf:org/quants:m-Q4_K_M.gguf"), &root, false)
        .unwrap();
    client(&hub)
        .pull(&r("hf:org/quants:m-Q8_0.gguf"), &root, false)
        .unwrap();

    let listed = list_cached(&root).unwrap();
    let names: Vec<&str> = listed.iter().map(|c| c.repo.as_str()).collect();
    assert_eq!(names, ["org/quants", "org/tiny"]);
    let tiny = &listed[1];
    assert_eq!(tiny.refs, [("main".to_string(), tiny_repo().commit)]);
    assert_eq!(tiny.snapshots.len(), 1);
    assert!(tiny.snapshots[0].complete && tiny.snapshots[0].intact);
    assert_eq!(tiny.snapshots[0].files.len(), 6);
    let quants = &listed[0];
    assert!(!quants.snapshots[0].complete);
    assert_eq!(quants.snapshots[0].size, 7000);

    // One file of a snapshot: its blob goes, the other stays.
    let freed = remove(&r("hf:org/quants:m-Q8_0.gguf"), &root).unwrap();
    assert_eq!(freed, 4000);
    resolve_offline(&r("hf:org/quants:m-Q4_K_M.gguf"), &root).unwrap();
    assert!(resolve_offline(&r("hf:org/quants:m-Q8_0.gguf"), &root).is_err());
    // The last file: the repo folder goes.
    assert_eq!(
        remove(&r("hf:org/quants@main:m-Q4_K_M.gguf"), &root).unwrap(),
        3000
    );
    assert!(!root.join("hub/models--org--quants").exists());
    // A whole repo.
    let freed = remove(&r("hf:org/tiny"), &root).unwrap();
    assert!(freed > 5000, "{freed}");
    assert!(list_cached(&root).unwrap().is_empty());
    assert!(matches!(
        remove(&r("hf:org/tiny"), &root),
        Err(HubError::NotCached { .. })
    ));
}
