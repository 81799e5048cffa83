//! Hub references `hf:ORG/REPO[@REVISION][:FILE]` and the name checks shared with the listing:
//! every name that ends up in a URL or a cache path is checked here first, so a hostile reference
//! or listing can neither escape the cache directory nor smuggle text into a URL.

use std::fmt;
use std::str::FromStr;

use crate::error::HubError;

/// The revision used when a reference names none.
pub const DEFAULT_REVISION: &str = "main";

/// The prefix of every reference.
pub const SCHEME: &str = "hf:";

/// A parsed `hf:ORG/REPO[@REVISION][:FILE]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HubRef {
    repo: String,
    revision: Option<String>,
    file: Option<String>,
}

impl HubRef {
    /// Parse `hf:ORG/REPO[@REVISION][:FILE]`. The repo ends at the first `@` or `:`, the revision
    /// at the next `:` (git forbids `:` in ref names), and FILE is the rest (it may hold `/`, `@`, `:`).
    pub fn parse(reference: &str) -> Result<HubRef, HubError> {
        let bad = |reason: String| HubError::BadReference {
            reference: reference.to_string(),
            reason,
        };
        let rest = reference
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad("it does not start with `hf:`".into()))?;
        let repo_end = rest.find(['@', ':']).unwrap_or(rest.len());
        let (repo, mut rest) = rest.split_at(repo_end);
        check_repo(repo).map_err(bad)?;
        let mut revision = None;
        if let Some(after) = rest.strip_prefix('@') {
            let end = after.find(':').unwrap_or(after.len());
            let rev = &after[..end];
            check_revision(rev).map_err(bad)?;
            revision = Some(rev.to_string());
            rest = &after[end..];
        }
        let mut file = None;
        if let Some(after) = rest.strip_prefix(':') {
            check_rel_path(after).map_err(|r| bad(format!("FILE: {r}")))?;
            file = Some(after.to_string());
        }
        Ok(HubRef {
            repo: repo.to_string(),
            revision,
            file,
        })
    }

    /// `ORG/REPO`.
    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// The revision: the one given, else [`DEFAULT_REVISION`].
    pub fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or(DEFAULT_REVISION)
    }

    /// The revision only if the reference names one.
    pub fn explicit_revision(&self) -> Option<&str> {
        self.revision.as_deref()
    }

    /// The single file asked for, if any (a path inside the repository, `/`-separated).
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// The cache folder name of the repo, as huggingface_hub names it: `models--ORG--REPO`.
    pub fn cache_folder_name(&self) -> String {
        format!("models--{}", self.repo.replace('/', "--"))
    }
}

impl FromStr for HubRef {
    type Err = HubError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HubRef::parse(s)
    }
}

impl fmt::Display for HubRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.repo)?;
        if let Some(rev) = &self.revision {
            write!(f, "@{rev}")?;
        }
        if let Some(file) = &self.file {
            write!(f, ":{file}")?;
        }
        Ok(())
    }
}

/// `ORG/REPO` by the hub's naming rules: each part 1..=96 of `A-Z a-z 0-9 . _ -`, not starting or
/// ending with `.`/`-`, no `--` (it separates parts in the cache folder name) and no `..`.
pub(crate) fn check_repo(repo: &str) -> Result<(), String> {
    let mut parts = repo.split('/');
    let (Some(org), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("repository `{repo}` is not ORG/REPO"));
    };
    for part in [org, name] {
        if part.is_empty() || part.len() > 96 {
            return Err(format!("`{part}` in `{repo}` must be 1 to 96 characters"));
        }
        if let Some(c) = part
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(format!(
                "character {c:?} is not allowed in repository `{repo}`"
            ));
        }
        if part.starts_with(['.', '-']) || part.ends_with(['.', '-']) {
            return Err(format!(
                "`{part}` in `{repo}` starts or ends with `.` or `-`"
            ));
        }
        if part.contains("--") || part.contains("..") {
            return Err(format!("`{part}` in `{repo}` contains `--` or `..`"));
        }
    }
    Ok(())
}

/// A branch, tag or commit: at most 255 of `A-Z a-z 0-9 . _ - + /`, `/`-separated parts that are
/// neither empty nor start with `.` (so `refs/<revision>` stays inside the cache).
pub(crate) fn check_revision(rev: &str) -> Result<(), String> {
    if rev.is_empty() || rev.len() > 255 {
        return Err("REVISION must be 1 to 255 characters".into());
    }
    if let Some(c) = rev
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '/')))
    {
        return Err(format!(
            "character {c:?} is not allowed in REVISION `{rev}`"
        ));
    }
    if rev.split('/').any(|p| p.is_empty() || p.starts_with('.')) {
        return Err(format!(
            "REVISION `{rev}` has an empty part or a part starting with `.`"
        ));
    }
    Ok(())
}

/// A relative, `/`-separated path inside a repository: no empty, `.` or `..` component, no leading
/// `/`, no `\`, no control characters, at most 1024 bytes and 255 per component.
pub(crate) fn check_rel_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    // Hostile names can be long: quote at most 80 characters of them.
    let shown: String = if path.chars().count() > 80 {
        format!("{}...", path.chars().take(80).collect::<String>())
    } else {
        path.to_string()
    };
    if path.len() > 1024 {
        return Err(format!(
            "path of {} bytes is too long (over 1024)",
            path.len()
        ));
    }
    if path.starts_with('/') {
        return Err(format!("`{shown}` is an absolute path"));
    }
    if path.contains('\\') || path.chars().any(char::is_control) {
        return Err(format!("{shown:?} contains `\\` or a control character"));
    }
    for part in path.split('/') {
        match part {
            "" => return Err(format!("`{shown}` has an empty component")),
            "." | ".." => return Err(format!("`{shown}` has a `{part}` component")),
            p if p.len() > 255 => return Err(format!("`{shown}` has a component over 255 bytes")),
            _ => {}
        }
    }
    Ok(())
}

/// `len` lowercase hex digits (commit ids, blob ids, sha256).
pub(crate) fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
