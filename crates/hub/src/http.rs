//! The HTTP side: one `ureq` agent (rustls), GET with redirects followed by hand so that the
//! `Range` header survives the hop to the CDN and the token never leaves the endpoint's origin,
//! and the mapping of the hub's error answers (`X-Error-Code`) to typed errors.

use std::io::Read;
use std::time::Duration;

use ureq::http::Response;
use ureq::Body;

use crate::error::{HubError, Result};

/// Redirect hops followed before giving up (the hub needs one: resolve → CDN; a renamed repo two).
pub const MAX_REDIRECTS: usize = 10;

/// Largest response header block accepted (the hub's are a few KiB).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Longest `Location` followed.
const MAX_LOCATION_BYTES: usize = 8 * 1024;

/// A configured agent plus the endpoint origin that may see the token.
pub(crate) struct Http {
    agent: ureq::Agent,
    token: Option<String>,
    token_origin: String,
}

/// What a request was about, for turning an error answer into a typed error.
pub(crate) struct Context<'a> {
    pub endpoint: &'a str,
    pub repo: &'a str,
    pub revision: &'a str,
    pub file: Option<&'a str>,
}

impl Http {
    pub(crate) fn new(endpoint: &str, token: Option<String>) -> Http {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Redirects are followed in `get` (Range must be kept, Authorization dropped off-origin).
            .max_redirects(0)
            .user_agent(format!("allmende-hub/{}", env!("CARGO_PKG_VERSION")))
            .max_response_header_size(MAX_HEADER_BYTES)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            // A stalled transfer errors (and can be resumed) instead of hanging forever.
            .timeout_per_read(Some(Duration::from_secs(120)))
            .build();
        Http {
            agent: ureq::Agent::new_with_config(config),
            token,
            token_origin: origin(endpoint).unwrap_or_default(),
        }
    }

    /// GET `url`, following redirects; `range_from` asks for the bytes from that offset on.
    /// Returns the final URL and the response (any status).
    pub(crate) fn get(
        &self,
        url: &str,
        range_from: Option<u64>,
    ) -> Result<(String, Response<Body>)> {
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self.agent.get(&url);
            if let Some(from) = range_from {
                req = req.header("Range", format!("bytes={from}-"));
            }
            if let Some(token) = &self.token {
                if origin(&url).as_deref() == Some(self.token_origin.as_str()) {
                    req = req.header("Authorization", format!("Bearer {token}"));
                }
            }
            let resp = req.call().map_err(|e| HubError::Network {
                url: url.clone(),
                detail: e.to_string(),
            })?;
            if !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok((url, resp));
            }
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| HubError::Redirect {
                    url: url.clone(),
                    reason: "no readable Location header".into(),
                })?;
            url = join(&url, location).map_err(|reason| HubError::Redirect {
                url: url.clone(),
                reason,
            })?;
        }
        Err(HubError::Redirect {
            url,
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }
}

/// Turn a non-success answer into a typed error, reading at most a little of the body.
pub(crate) fn status_error(url: &str, resp: Response<Body>, ctx: &Context<'_>) -> HubError {
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let code = header("x-error-code").unwrap_or_default();
    let message = header("x-error-message");
    let repo = ctx.repo.to_string();
    let endpoint = ctx.endpoint.to_string();
    match (status, code.as_str()) {
        (_, "RepoNotFound") | (401, "") => return HubError::RepoNotFound { repo, endpoint },
        (404, "") if ctx.file.is_none() => return HubError::RepoNotFound { repo, endpoint },
        (_, "GatedRepo") => return HubError::Gated { repo, endpoint },
        (_, "RevisionNotFound") => {
            return HubError::RevisionNotFound {
                repo,
                revision: ctx.revision.to_string(),
                endpoint,
            }
        }
        (_, "EntryNotFound") | (404, "") => {
            return HubError::FileNotFound {
                repo,
                revision: ctx.revision.to_string(),
                file: ctx.file.unwrap_or("").to_string(),
            }
        }
        _ => {}
    }
    let detail = match message {
        Some(m) => m,
        None => {
            let mut buf = Vec::new();
            let _ = resp
                .into_body()
                .into_reader()
                .take(512)
                .read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).trim().to_string()
        }
    };
    HubError::Http {
        url: url.to_string(),
        status,
        detail: clip(&detail, 200),
    }
}

/// `scheme://host[:port]`, lowercased, default ports dropped; `None` if not http(s).
pub(crate) fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Credentials in a URL (`user@host`) are not supported: keep only the host part.
    let host = authority
        .rsplit('@')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let host = host.strip_suffix(default_port).unwrap_or(&host).to_string();
    Some(format!("{scheme}://{host}"))
}

/// Resolve a `Location` against the URL that sent it (absolute, scheme-relative, absolute-path or
/// relative). An https → http downgrade is refused.
pub(crate) fn join(base: &str, location: &str) -> std::result::Result<String, String> {
    if location.is_empty() || location.len() > MAX_LOCATION_BYTES {
        return Err(format!("Location of {} bytes", location.len()));
    }
    if location.chars().any(|c| c.is_control() || c == ' ') {
        return Err("Location contains spaces or control characters".into());
    }
    let base_origin = origin(base).ok_or("the request URL is not http(s)")?;
    let base_scheme = base_origin.split("://").next().unwrap_or("");
    let lower = location.to_ascii_lowercase();
    let joined = if lower.starts_with("http://") || lower.starts_with("https://") {
        location.to_string()
    } else if location.split('/').next().unwrap_or("").contains(':') {
        // `scheme:...` with a scheme other than http(s).
        return Err(format!("Location `{}` is not http(s)", clip(location, 100)));
    } else if location.starts_with("//") {
        format!("{base_scheme}:{location}")
    } else if location.starts_with('/') {
        format!("{base_origin}{location}")
    } else {
        // Relative: replace the last path segment of the base (query dropped).
        let after_scheme = base.split_once("://").map(|x| x.1).unwrap_or("");
        let path_start = after_scheme.find('/').unwrap_or(after_scheme.len());
        let path = after_scheme[path_start..]
            .split(['?', '#'])
            .next()
            .unwrap_or("");
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{base_origin}{dir}{location}")
    };
    let new_origin = origin(&joined)
        .ok_or_else(|| format!("Location `{}` is not http(s)", clip(location, 100)))?;
    if base_scheme == "https" && new_origin.starts_with("http://") {
        return Err("refusing a redirect from https to http".into());
    }
    Ok(joined)
}

/// Percent-encode one path segment (everything but RFC 3986 unreserved characters).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encode a `/`-separated path, keeping the separators.
pub(crate) fn encode_path(p: &str) -> String {
    p.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// At most `n` characters of `s`.
pub(crate) fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_locations() {
        let base = "https://hub.example/org/repo/resolve/abc/model.bin?x=1";
        assert_eq!(
            join(base, "https://cdn.example/x").unwrap(),
            "https://cdn.example/x"
        );
        assert_eq!(
            join(base, "//cdn.example/y").unwrap(),
            "https://cdn.example/y"
        );
        assert_eq!(join(base, "/api/z").unwrap(), "https://hub.example/api/z");
        assert_eq!(
            join(base, "other.bin").unwrap(),
            "https://hub.example/org/repo/resolve/abc/other.bin"
        );
        assert!(join(base, "http://cdn.example/x").is_err());
        assert!(join(base, "ftp://cdn.example/x").is_err());
        assert!(join(base, "a b").is_err());
        assert!(join(base, "").is_err());
    }

    #[test]
    fn origins_compare_hosts_and_ports() {
        assert_eq!(origin("https://HF.co:443/a").unwrap(), "https://hf.co");
        assert_eq!(
            origin("http://127.0.0.1:8080/a?b").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_ne!(origin("https://hf.co/a"), origin("https://cdn.hf.co/a"));
        assert_ne!(origin("http://hf.co/a"), origin("https://hf.co/a"));
        assert_eq!(origin("ftp://x/"), None);
    }

    #[test]
    fn encodes_paths() {
        assert_eq!(encode_path("a b/c+d.gguf"), "a%20b/c%2Bd.gguf");
        assert_eq!(encode_segment("refs/pr/1"), "refs%2Fpr%2F1");
    }
}
