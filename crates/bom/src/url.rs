//! The URLs this crate writes: the schema checks them as `iri-reference`, and they come from model
//! cards and metadata (untrusted text), so only plain `http(s)` URLs made of URI characters pass.

/// `url` if it is an `http://` or `https://` URL with a host and only RFC 3986 characters.
pub(crate) fn safe_url(url: &str) -> Option<&str> {
    let url = url.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..host_end];
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    let chars_ok = url.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'/'
                    | b'?'
                    | b'#'
                    | b'['
                    | b']'
                    | b'@'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
            )
    });
    (host_ok && chars_ok).then_some(url)
}

/// Whether `s` is a non-empty name safe to put in a URL path segment unescaped (hub org/repo
/// names, PyPI names, versions, git revisions).
pub(crate) fn plain_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            safe_url(" https://huggingface.co/a/b "),
            Some("https://huggingface.co/a/b")
        );
        assert_eq!(safe_url("http://example.org"), Some("http://example.org"));
        assert_eq!(
            safe_url("https://ai.google.dev/gemma/terms?x=1#y"),
            Some("https://ai.google.dev/gemma/terms?x=1#y")
        );
        for bad in [
            "ftp://x",
            "javascript:alert(1)",
            "https://",
            "https:///path",
            "https://a b",
            "https://a/<script>",
            "https://a/\"",
            "https://exämple.org",
            "file:///etc/passwd",
        ] {
            assert_eq!(safe_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn segments() {
        assert!(plain_segment("SmolLM2-135M-Instruct"));
        assert!(plain_segment("0.1.2"));
        assert!(!plain_segment(""));
        assert!(!plain_segment(".."));
        assert!(!plain_segment("a/b"));
        assert!(!plain_segment("a b"));
    }
}
