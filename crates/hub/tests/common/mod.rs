//! A fake hub for the integration tests: a hand-written HTTP/1.1 server on 127.0.0.1:0 in a
//! thread, serving fixture repos the way the hub does (revision listing with blob ids, `resolve`
//! with LFS files redirected to a "CDN" path, `Range` honoured, `X-Error-Code` on errors), with
//! switches for misbehaviour (cut transfers, corrupt bytes, a token requirement, a raw listing,
//! huge headers, a redirect loop). Every request is recorded.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// A fresh, empty directory under cargo's per-target temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hub-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// git's blob id: sha1 of "blob {len}\0" + content.
pub fn git_blob_id(bytes: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    hex(&h.finalize())
}

#[derive(Clone)]
pub struct FakeFile {
    pub path: String,
    pub content: Vec<u8>,
    pub lfs: bool,
}

pub fn file(path: &str, content: &[u8]) -> FakeFile {
    FakeFile {
        path: path.into(),
        content: content.to_vec(),
        lfs: false,
    }
}

pub fn lfs(path: &str, content: &[u8]) -> FakeFile {
    FakeFile {
        path: path.into(),
        content: content.to_vec(),
        lfs: true,
    }
}

#[derive(Clone)]
pub struct FakeRepo {
    pub id: String,
    pub commit: String,
    pub revisions: Vec<String>,
    pub files: Vec<FakeFile>,
}

pub fn repo(id: &str, commit_seed: u8, files: Vec<FakeFile>) -> FakeRepo {
    FakeRepo {
        id: id.into(),
        commit: hex(&[commit_seed; 20]),
        revisions: vec!["main".into()],
        files,
    }
}

/// A request as the server saw it; header names lowercased.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub struct Switches {
    /// Paths (repo file paths) whose next un-ranged transfer stops after half the bytes.
    pub cut_once: HashSet<String>,
    /// Paths whose next request gets a 503.
    pub unavailable_once: HashSet<String>,
    /// Paths served with every byte flipped (same length).
    pub corrupt: HashSet<String>,
    /// Paths served with extra bytes appended.
    pub grow: HashSet<String>,
    /// Bearer token the repos require (401 RepoNotFound without it).
    pub token: Option<String>,
    /// Raw listing body served instead of the real one.
    pub listing: Option<String>,
    /// Listing answers carry a 1 MiB header.
    pub huge_header: bool,
    /// resolve answers redirect to themselves.
    pub redirect_loop: bool,
}

struct State {
    repos: Vec<FakeRepo>,
    switches: Switches,
    seen: Vec<Seen>,
    endpoint: String,
}

pub struct FakeHub {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl FakeHub {
    pub fn start(repos: Vec<FakeRepo>) -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            repos,
            switches: Switches::default(),
            seen: Vec::new(),
            endpoint: endpoint.clone(),
        }));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || handle(stream, &state));
            }
        });
        FakeHub { endpoint, state }
    }

    pub fn switches(&self, f: impl FnOnce(&mut Switches)) {
        f(&mut self.state.lock().unwrap().switches);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn clear_seen(&self) {
        self.state.lock().unwrap().seen.clear();
    }
}

fn handle(mut stream: TcpStream, state: &Mutex<State>) {
    let Some(seen) = read_request(&stream) else {
        return;
    };
    state.lock().unwrap().seen.push(seen.clone());
    let reply = route(&seen, state);
    let _ = stream.write_all(&reply);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream.try_clone().ok()?.take(64 * 1024));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (Some("GET"), Some(path)) = (parts.next(), parts.next()) else {
        return None;
    };
    let path = path.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Some(Seen { path, headers })
}

fn response(status: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn error(status: &str, code: &str) -> Vec<u8> {
    response(
        status,
        &[
            ("X-Error-Code", code.to_string()),
            ("X-Error-Message", format!("{code} (fake hub)")),
        ],
        b"{\"error\":\"fake\"}",
    )
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let h = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(h, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn listing_json(repo: &FakeRepo) -> String {
    let siblings: Vec<serde_json::Value> = repo
        .files
        .iter()
        .map(|f| {
            if f.lfs {
                let pointer = format!(
                    "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n",
                    sha256_hex(&f.content),
                    f.content.len()
                );
                serde_json::json!({
                    "rfilename": f.path,
                    "size": f.content.len(),
                    "blobId": git_blob_id(pointer.as_bytes()),
                    "lfs": {"sha256": sha256_hex(&f.content), "size": f.content.len(), "pointerSize": pointer.len()}
                })
            } else {
                serde_json::json!({
                    "rfilename": f.path,
                    "size": f.content.len(),
                    "blobId": git_blob_id(&f.content),
                })
            }
        })
        .collect();
    serde_json::json!({
        "_id": "fake",
        "id": repo.id,
        "sha": repo.commit,
        "siblings": siblings,
    })
    .to_string()
}

fn route(req: &Seen, state: &Mutex<State>) -> Vec<u8> {
    let mut st = state.lock().unwrap();
    let authorised = match &st.switches.token {
        Some(t) => req.header("authorization") == Some(&format!("Bearer {t}")),
        None => true,
    };
    let path = req.path.split('?').next().unwrap().to_string();

    if let Some(rest) = path.strip_prefix("/api/models/") {
        // {org}/{name}/revision/{rev}
        let parts: Vec<&str> = rest.splitn(4, '/').collect();
        if parts.len() != 4 || parts[2] != "revision" {
            return error("400 Bad Request", "BadRequest");
        }
        let id = format!("{}/{}", parts[0], parts[1]);
        let rev = decode(parts[3]);
        if !authorised {
            return error("401 Unauthorized", "RepoNotFound");
        }
        let Some(repo) = st.repos.iter().find(|r| r.id == id).cloned() else {
            return error("404 Not Found", "RepoNotFound");
        };
        if !repo.revisions.contains(&rev) && rev != repo.commit {
            return error("404 Not Found", "RevisionNotFound");
        }
        let body = st
            .switches
            .listing
            .clone()
            .unwrap_or_else(|| listing_json(&repo));
        let mut headers = vec![("Content-Type", "application/json".to_string())];
        if st.switches.huge_header {
            headers.push(("X-Junk", "a".repeat(1 << 20)));
        }
        return response("200 OK", &headers, body.as_bytes());
    }

    if let Some(sha) = path.strip_prefix("/cdn/") {
        let found = st
            .repos
            .iter()
            .flat_map(|r| r.files.iter())
            .find(|f| f.lfs && sha256_hex(&f.content) == sha)
            .cloned();
        return match found {
            Some(f) => serve(&f, req, &mut st.switches),
            None => error("404 Not Found", "EntryNotFound"),
        };
    }

    // /{org}/{name}/resolve/{rev}/{file...}
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    if parts.len() == 5 && parts[2] == "resolve" {
        if !authorised {
            return error("401 Unauthorized", "RepoNotFound");
        }
        if st.switches.redirect_loop {
            return response("302 Found", &[("Location", path.clone())], b"");
        }
        let id = format!("{}/{}", parts[0], parts[1]);
        let Some(repo) = st.repos.iter().find(|r| r.id == id).cloned() else {
            return error("404 Not Found", "RepoNotFound");
        };
        let rev = decode(parts[3]);
        if rev != repo.commit && !repo.revisions.contains(&rev) {
            return error("404 Not Found", "RevisionNotFound");
        }
        let file_path = decode(parts[4]);
        let Some(f) = repo.files.iter().find(|f| f.path == file_path).cloned() else {
            return error("404 Not Found", "EntryNotFound");
        };
        if f.lfs {
            // .gguf files get a path-absolute Location, the others an absolute URL.
            let target = format!("/cdn/{}", sha256_hex(&f.content));
            let location = if f.path.ends_with(".gguf") {
                target
            } else {
                format!("{}{target}", st.endpoint)
            };
            return response("302 Found", &[("Location", location)], b"");
        }
        return serve(&f, req, &mut st.switches);
    }
    error("404 Not Found", "EntryNotFound")
}

fn serve(f: &FakeFile, req: &Seen, sw: &mut Switches) -> Vec<u8> {
    if sw.unavailable_once.remove(&f.path) {
        return response("503 Service Unavailable", &[], b"try later");
    }
    let mut content = f.content.clone();
    if sw.corrupt.contains(&f.path) {
        content.iter_mut().for_each(|b| *b ^= 0xff);
    }
    if sw.grow.contains(&f.path) {
        content.extend_from_slice(b"and some more bytes");
    }
    let len = content.len();
    if let Some(range) = req.header("range") {
        let from: usize = range
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .unwrap()
            .parse()
            .unwrap();
        if from >= len {
            return response(
                "416 Range Not Satisfiable",
                &[("Content-Range", format!("bytes */{len}"))],
                b"",
            );
        }
        return response(
            "206 Partial Content",
            &[("Content-Range", format!("bytes {from}-{}/{len}", len - 1))],
            &content[from..],
        );
    }
    if sw.cut_once.remove(&f.path) {
        // Promise the whole body, send half, close.
        let mut out =
            format!("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n")
                .into_bytes();
        out.extend_from_slice(&content[..len / 2]);
        return out;
    }
    response("200 OK", &[], &content)
}
