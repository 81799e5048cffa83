//! Combining everything found for a model into one [`LicenseReport`].
//!
//! Sources, and the precedence that decides between them (highest first):
//!
//! 1. **Licence texts** recognised by content in `LICENSE*`, `LICENCE*`, `COPYING*` files of the
//!    model folder (any case, any extension), and in the file `license_link` points to when it is
//!    a path inside the folder. Several different texts combine as `A AND B` (all of them may
//!    apply), unless an explicit expression names exactly the same licences (then its structure,
//!    e.g. `MIT OR Apache-2.0`, is kept).
//! 2. **Documents that name the licence**: `NOTICE*` and `USE_POLICY*` files recognised by content
//!    (the prescribed notice line, the acceptable use policy's title).
//! 3. **Explicit ids**: GGUF `general.license`, then the model card's front matter `license`
//!    (with `license: other` resolved through `license_name` when that names a known licence).
//! 4. **Names and links**: GGUF `general.license.name` / `general.license.link`, front matter
//!    `license_name` / `license_link`.
//! 5. `other` when a source declares an unnamed licence, else `unknown`.
//!
//! Every source that names a recognised licence other than the reported one is listed in
//! `conflicts`. Nothing here fails: unreadable files become notes, hostile files are read capped.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::expr::{parse_expression, Expr, MAX_EXPRESSION_LEN};
use crate::frontmatter::{cut, parse_front_matter, FrontMatter};
use crate::report::{CommercialUse, Evidence, LicenseReport, Obligation, OTHER, UNKNOWN};
use crate::table::{lookup, lookup_name};
use crate::text::{identify_text, read_capped};

/// GGUF metadata keys read by [`detect`].
pub const GGUF_LICENSE: &str = "general.license";
/// GGUF key for the licence's name.
pub const GGUF_LICENSE_NAME: &str = "general.license.name";
/// GGUF key for the licence's link.
pub const GGUF_LICENSE_LINK: &str = "general.license.link";

/// At most this many licence-like files of a folder are read.
const MAX_FILES: usize = 64;

#[derive(Debug, Clone)]
struct Candidate {
    ev: Evidence,
    expr: Expr,
}

#[derive(Default)]
struct Found {
    texts: Vec<Candidate>,
    naming_docs: Vec<Candidate>,
    explicit: Vec<Candidate>,
    heuristic: Vec<Candidate>,
    /// Sources that declare a licence without naming one we know (`other`, free-form names).
    declared_other: Vec<Evidence>,
    /// Free-form names declared for the licence (for the report's `name`).
    declared_names: Vec<String>,
    /// Links declared for the licence.
    declared_links: Vec<String>,
    /// Licence files whose text was not recognised.
    unrecognised_texts: Vec<String>,
    evidence: Vec<Evidence>,
    notes: Vec<String>,
}

impl Found {
    fn push(&mut self, level: Level, source: String, expr: Expr, detail: String) {
        let ev = Evidence {
            source,
            id: expr.to_string(),
            detail,
        };
        self.evidence.push(ev.clone());
        let c = Candidate { ev, expr };
        match level {
            Level::Text => self.texts.push(c),
            Level::NamingDoc => self.naming_docs.push(c),
            Level::Explicit => self.explicit.push(c),
            Level::Heuristic => self.heuristic.push(c),
        }
    }

    fn other(&mut self, source: String, id: &str, detail: String) {
        let ev = Evidence {
            source,
            id: id.to_string(),
            detail,
        };
        self.evidence.push(ev.clone());
        if id == OTHER {
            self.declared_other.push(ev);
        }
    }
}

#[derive(Clone, Copy)]
enum Level {
    Text,
    NamingDoc,
    Explicit,
    Heuristic,
}

/// Identify a model's licence from its GGUF metadata (string-valued `(key, value)` pairs; only the
/// `general.license*` keys are read, others are ignored) and, if given, the model's folder
/// (scanned for `README.md` front matter and licence files). See the module docs for the
/// precedence. Never fails: problems become `notes` in the report.
pub fn detect(gguf: &[(String, String)], folder: Option<&Path>) -> LicenseReport {
    let mut found = Found::default();
    read_gguf(gguf, &mut found);
    if let Some(dir) = folder {
        read_folder(dir, &mut found);
    }
    decide(found)
}

fn get<'a>(gguf: &'a [(String, String)], key: &str) -> Option<&'a str> {
    gguf.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

fn read_gguf(gguf: &[(String, String)], found: &mut Found) {
    if let Some(v) = get(gguf, GGUF_LICENSE) {
        declared_id(v, format!("gguf:{GGUF_LICENSE}"), Level::Explicit, found);
    }
    if let Some(n) = get(gguf, GGUF_LICENSE_NAME) {
        declared_name(n, format!("gguf:{GGUF_LICENSE_NAME}"), found);
    }
    if let Some(l) = get(gguf, GGUF_LICENSE_LINK) {
        declared_link(l, format!("gguf:{GGUF_LICENSE_LINK}"), found);
    }
}

/// A value that is supposed to be a licence id or expression.
fn declared_id(v: &str, source: String, level: Level, found: &mut Found) {
    let shown = cut(v);
    if v.eq_ignore_ascii_case(OTHER) || v.eq_ignore_ascii_case(UNKNOWN) {
        found.other(
            source,
            &v.to_ascii_lowercase(),
            format!("declared `{shown}`"),
        );
        return;
    }
    match parse_expression(v) {
        Ok(expr) => found.push(level, source, expr, format!("declared `{shown}`")),
        Err(_) => match lookup_name(v) {
            Some(info) => found.push(level, source, Expr::id(info.id), format!("name `{shown}`")),
            None => {
                found.declared_names.push(shown.clone());
                found.other(
                    source,
                    OTHER,
                    format!("declared `{shown}`, not a known licence"),
                );
            }
        },
    }
}

/// A value that names a licence in words ("Llama 3.1 Community License", "gemma").
fn declared_name(n: &str, source: String, found: &mut Found) {
    let shown = cut(n);
    let info = lookup(n).or_else(|| lookup_name(n));
    match info {
        Some(info) => found.push(
            Level::Heuristic,
            source,
            Expr::id(info.id),
            format!("name `{shown}`"),
        ),
        None => {
            found.declared_names.push(shown.clone());
            found.other(source, UNKNOWN, format!("name `{shown}` not recognised"));
        }
    }
}

fn declared_link(l: &str, source: String, found: &mut Found) {
    let shown = cut(l);
    found.declared_links.push(shown.clone());
    if local_path(l).is_some() {
        // A path inside the model folder: the file itself is read as a licence text.
        return;
    }
    match link_to_id(l) {
        Some(id) => found.push(
            Level::Heuristic,
            source,
            Expr::id(id),
            format!("link `{shown}`"),
        ),
        None => found.other(source, UNKNOWN, format!("link `{shown}` not recognised")),
    }
}

/// The licence a well-known licence URL points to.
pub fn link_to_id(link: &str) -> Option<&'static str> {
    let l = link.to_ascii_lowercase();
    if l.len() > MAX_EXPRESSION_LEN {
        return None;
    }
    // More specific patterns first: "llama3_1" also contains "llama3".
    const PATTERNS: &[(&str, &str)] = &[
        ("llama3_1", "llama3.1"),
        ("llama-3.1", "llama3.1"),
        ("llama3_2", "llama3.2"),
        ("llama-3.2", "llama3.2"),
        ("llama3_3", "llama3.3"),
        ("llama-3.3", "llama3.3"),
        ("llama4", "llama4"),
        ("llama-4", "llama4"),
        ("llama3", "llama3"),
        ("llama-3", "llama3"),
        ("ai.meta.com/llama/license", "llama2"),
        ("llama-2", "llama2"),
        ("llama2", "llama2"),
        ("ai.google.dev/gemma/terms", "gemma"),
        ("apache.org/licenses/license-2.0", "Apache-2.0"),
        ("opensource.org/licenses/mit", "MIT"),
        (
            "creativecommons.org/licenses/by-nc-sa/4.0",
            "CC-BY-NC-SA-4.0",
        ),
        (
            "creativecommons.org/licenses/by-nc-nd/4.0",
            "CC-BY-NC-ND-4.0",
        ),
        ("creativecommons.org/licenses/by-nc/4.0", "CC-BY-NC-4.0"),
        ("creativecommons.org/licenses/by-sa/4.0", "CC-BY-SA-4.0"),
        ("creativecommons.org/licenses/by-nd/4.0", "CC-BY-ND-4.0"),
        ("creativecommons.org/licenses/by/4.0", "CC-BY-4.0"),
        ("creativecommons.org/publicdomain/zero/1.0", "CC0-1.0"),
        ("gnu.org/licenses/agpl-3.0", "AGPL-3.0-only"),
        ("gnu.org/licenses/lgpl-3.0", "LGPL-3.0-only"),
        ("gnu.org/licenses/gpl-3.0", "GPL-3.0-only"),
        ("mozilla.org/mpl/2.0", "MPL-2.0"),
        ("mistral.ai/licenses/mnpl", "mnpl"),
        ("mistral.ai/licences/mnpl", "mnpl"),
        ("mistral.ai/licenses/mrl", "mistral-ai-research"),
        ("mistral.ai/licences/mrl", "mistral-ai-research"),
        ("falcon-180b-license", "falcon-180b-license"),
        ("compvis/stable-diffusion-license", "creativeml-openrail-m"),
        ("bigscience/license", "bigscience-bloom-rail-1.0"),
    ];
    if let Some((_, id)) = PATTERNS.iter().find(|(p, _)| l.contains(p)) {
        return Some(id);
    }
    // spdx.org/licenses/<ID>.html
    let rest = l.split("spdx.org/licenses/").nth(1)?;
    let id = rest
        .split(['/', '?', '#'])
        .next()?
        .trim_end_matches(".html")
        .trim_end_matches(".json");
    lookup(id).map(|i| i.id)
}

fn read_folder(dir: &Path, found: &mut Found) {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            found
                .notes
                .push(format!("cannot read folder {}: {e}", dir.display()));
            return;
        }
    };
    let mut names: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().into_string().ok().map(|n| (n, e.path())))
        .collect();
    names.sort();

    let mut front_matter = None;
    if let Some((name, path)) = names
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("README.md"))
    {
        match read_capped(path) {
            Ok((text, _)) => front_matter = parse_front_matter(&text).map(|fm| (name.clone(), fm)),
            Err(e) => found.notes.push(format!("cannot read {name}: {e}")),
        }
    }

    // Licence files: texts (level 1) and naming documents (level 2).
    let mut read = 0usize;
    let mut text_files: Vec<&(String, PathBuf)> = Vec::new();
    for entry in &names {
        let upper = entry.0.to_ascii_uppercase();
        let kind = if ["LICENSE", "LICENCE", "COPYING"]
            .iter()
            .any(|p| upper.starts_with(p))
        {
            Level::Text
        } else if ["NOTICE", "USE_POLICY"]
            .iter()
            .any(|p| upper.starts_with(p))
        {
            Level::NamingDoc
        } else {
            continue;
        };
        if read >= MAX_FILES {
            found.notes.push(format!(
                "more than {MAX_FILES} licence files; the rest were not read"
            ));
            break;
        }
        read += 1;
        text_files.push(entry);
        read_licence_file(&entry.0, &entry.1, kind, found);
    }

    // A `license_link` that is a path inside the folder names the licence file; read it if the
    // name did not already make it one.
    if let Some((_, fm)) = &front_matter {
        if let Some(link) = fm.license_link.as_deref() {
            if let Some(rel) = local_path(link) {
                let path = dir.join(rel);
                let already = text_files.iter().any(|(_, p)| *p == path);
                if !already && path.is_file() {
                    read_licence_file(link, &path, Level::Text, found);
                }
            }
        }
    }

    if let Some((name, fm)) = front_matter {
        read_front_matter(&name, &fm, found);
    }
}

/// `link` as a relative path inside the folder, if it is one (no scheme, no `..`, not absolute).
fn local_path(link: &str) -> Option<&Path> {
    if link.contains("://") {
        return None;
    }
    let p = Path::new(link.trim_start_matches("./"));
    p.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some(p)
}

fn read_licence_file(name: &str, path: &Path, level: Level, found: &mut Found) {
    match read_capped(path) {
        Ok((text, truncated)) => {
            if truncated {
                found
                    .notes
                    .push(format!("{name}: only the first MiB was read"));
            }
            match identify_text(&text) {
                Some(m) => {
                    // A document that only names the licence counts as level 2 even in a LICENSE file.
                    let level = if m.is_licence_text {
                        level
                    } else {
                        Level::NamingDoc
                    };
                    found.push(
                        level,
                        format!("{name} (text)"),
                        Expr::id(m.id),
                        format!("matched \"{}\"", m.phrase),
                    );
                }
                None => {
                    found.other(
                        format!("{name} (text)"),
                        UNKNOWN,
                        "text not recognised".to_string(),
                    );
                    if matches!(level, Level::Text) {
                        found.unrecognised_texts.push(name.to_string());
                    }
                }
            }
        }
        Err(e) => found.notes.push(format!("cannot read {name}: {e}")),
    }
}

fn read_front_matter(readme: &str, fm: &FrontMatter, found: &mut Found) {
    let src = |key: &str| format!("{readme} front matter ({key})");
    let is_other = fm.license.iter().any(|v| v.eq_ignore_ascii_case(OTHER));
    let mut parts: Vec<Expr> = Vec::new();
    for v in &fm.license {
        if v.eq_ignore_ascii_case(OTHER) {
            continue;
        }
        if v.eq_ignore_ascii_case(UNKNOWN) {
            found.other(src("license"), UNKNOWN, format!("declared `{v}`"));
            continue;
        }
        match parse_expression(v) {
            Ok(e) => parts.push(e),
            Err(_) => match lookup_name(v) {
                Some(info) => parts.push(Expr::id(info.id)),
                None => {
                    found.declared_names.push(v.clone());
                    found.other(
                        src("license"),
                        OTHER,
                        format!("declared `{v}`, not a known licence"),
                    );
                }
            },
        }
    }
    if !parts.is_empty() {
        let shown = fm.license.join(", ");
        // A list of licences: all of them apply (the conservative reading).
        let expr = if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        };
        found.push(
            Level::Explicit,
            src("license"),
            expr,
            format!("declared `{shown}`"),
        );
    }

    if is_other {
        // The hub's way to name a licence without an id of its own.
        let resolved = fm
            .license_name
            .as_deref()
            .and_then(|n| lookup(n).or_else(|| lookup_name(n)));
        match (resolved, fm.license_name.as_deref()) {
            (Some(info), Some(n)) => found.push(
                Level::Explicit,
                src("license: other, license_name"),
                Expr::id(info.id),
                format!("license_name `{n}`"),
            ),
            (_, n) => {
                if let Some(n) = n {
                    found.declared_names.push(n.to_string());
                }
                found.other(
                    src("license: other"),
                    OTHER,
                    format!("license_name `{}`", n.unwrap_or("")),
                );
            }
        }
    } else if let Some(n) = fm.license_name.as_deref() {
        declared_name(n, src("license_name"), found);
    }
    if let Some(l) = fm.license_link.as_deref() {
        declared_link(l, src("license_link"), found);
    }
}

fn same_leaves(a: &Expr, b: &Expr) -> bool {
    let (la, lb) = (a.leaves(), b.leaves());
    la.len() == lb.len()
        && la
            .iter()
            .all(|x| lb.iter().any(|y| y.eq_ignore_ascii_case(x)))
}

fn covered_by(a: &Expr, chosen: &Expr) -> bool {
    let lc = chosen.leaves();
    a.leaves()
        .iter()
        .all(|x| lc.iter().any(|y| y.eq_ignore_ascii_case(x)))
}

/// One or more candidates of the same level as one expression and source.
fn combine(cands: &[Candidate], explicit: &[Candidate]) -> (Expr, String, Vec<String>) {
    let mut notes = Vec::new();
    let mut exprs: Vec<Expr> = Vec::new();
    for c in cands {
        if !exprs.iter().any(|e| same_leaves(e, &c.expr)) {
            exprs.push(c.expr.clone());
        }
    }
    let sources: Vec<&str> = cands.iter().map(|c| c.ev.source.as_str()).collect();
    let source = sources.join(", ");
    let expr = if exprs.len() == 1 {
        exprs.remove(0)
    } else {
        Expr::And(exprs)
    };
    if expr.leaves().len() > 1 {
        if let Some(e) = explicit.iter().find(|e| same_leaves(&e.expr, &expr)) {
            notes.push(format!(
                "combination of licence texts as declared in {}",
                e.ev.source
            ));
            return (e.expr.clone(), source, notes);
        }
        notes.push("several licence texts found: all of them are taken to apply".to_string());
    }
    (expr, source, notes)
}

fn decide(mut found: Found) -> LicenseReport {
    let explicit = found.explicit.clone();
    let chosen: Option<(Expr, String)> = if !found.texts.is_empty() {
        let (e, s, n) = combine(&found.texts, &explicit);
        found.notes.extend(n);
        Some((e, s))
    } else if !found.naming_docs.is_empty() {
        let (e, s, n) = combine(&found.naming_docs, &explicit);
        found.notes.extend(n);
        Some((e, s))
    } else if let Some(c) = found.explicit.first() {
        Some((c.expr.clone(), c.ev.source.clone()))
    } else {
        found
            .heuristic
            .first()
            .map(|c| (c.expr.clone(), c.ev.source.clone()))
    };

    let (expr, source) = match chosen {
        Some(c) => c,
        None => {
            let (id, source) = if let Some(ev) = found.declared_other.first() {
                (OTHER, ev.source.clone())
            } else if !found.unrecognised_texts.is_empty() {
                (
                    UNKNOWN,
                    format!(
                        "{} (text, not recognised)",
                        found.unrecognised_texts.join(", ")
                    ),
                )
            } else {
                (UNKNOWN, "no licence information found".to_string())
            };
            let name = found.declared_names.first().cloned().unwrap_or_else(|| {
                if id == OTHER {
                    "Other (unnamed) licence"
                } else {
                    "Unknown licence"
                }
                .to_string()
            });
            return LicenseReport {
                id: id.to_string(),
                name,
                source,
                link: found.declared_links.first().cloned(),
                commercial_use: CommercialUse::Unknown,
                commercial_use_note: "the licence was not identified; read its terms before use"
                    .to_string(),
                obligations: Vec::new(),
                evidence: found.evidence,
                conflicts: Vec::new(),
                notes: found.notes,
            };
        }
    };

    let all = found
        .texts
        .iter()
        .chain(&found.naming_docs)
        .chain(&found.explicit)
        .chain(&found.heuristic);
    let conflicts: Vec<Evidence> = all
        .filter(|c| !covered_by(&c.expr, &expr))
        .map(|c| c.ev.clone())
        .collect();
    if !conflicts.is_empty() {
        found.notes.push(format!(
            "sources disagree; {} was chosen by precedence (licence text > notice/use policy > declared id > name/link)",
            expr
        ));
    }

    // A declared URL is shown unless it points to a different licence than the one reported;
    // then allmende's reference link; a declared path inside the folder only as a last resort.
    let link = found
        .declared_links
        .iter()
        .find(|l| {
            l.contains("://") && link_to_id(l).is_none_or(|id| covered_by(&Expr::id(id), &expr))
        })
        .cloned()
        .or_else(|| match &expr {
            Expr::Id { id, .. } => lookup(id).and_then(|i| i.link).map(str::to_string),
            _ => None,
        })
        .or_else(|| {
            found
                .declared_links
                .iter()
                .find(|l| local_path(l).is_some())
                .cloned()
        });

    let (commercial_use, commercial_use_note) = commercial(&expr);
    let mut obligations = Vec::new();
    for leaf in expr.leaves() {
        if let Some(info) = lookup(leaf) {
            obligations.extend(info.obligations.iter().map(|(kind, text)| Obligation {
                kind: *kind,
                text: (*text).to_string(),
                licence: info.id.to_string(),
            }));
        } else {
            found.notes.push(format!(
                "`{leaf}` is not in allmende's licence table: no facts about its terms"
            ));
        }
    }
    if matches!(expr, Expr::Or(_)) {
        found.notes.push("obligations are listed for every alternative; only those of the licence you choose apply".to_string());
    }
    let name = name_of(&expr, found.declared_names.first().map(String::as_str));
    LicenseReport {
        id: expr.to_string(),
        name,
        source,
        link,
        commercial_use,
        commercial_use_note,
        obligations,
        evidence: found.evidence,
        conflicts,
        notes: found.notes,
    }
}

fn name_of(expr: &Expr, declared: Option<&str>) -> String {
    match expr {
        Expr::Id { id, exception } => {
            let base = lookup(id)
                .map(|i| i.name.to_string())
                .unwrap_or_else(|| declared.unwrap_or(id).to_string());
            match exception {
                Some(e) => format!("{base} with {e}"),
                None => base,
            }
        }
        Expr::And(v) => v
            .iter()
            .map(|e| paren_name(e, declared))
            .collect::<Vec<_>>()
            .join(" AND "),
        Expr::Or(v) => v
            .iter()
            .map(|e| name_of(e, declared))
            .collect::<Vec<_>>()
            .join(" OR "),
    }
}

fn paren_name(e: &Expr, declared: Option<&str>) -> String {
    if matches!(e, Expr::Or(_)) {
        format!("({})", name_of(e, declared))
    } else {
        name_of(e, declared)
    }
}

fn commercial(expr: &Expr) -> (CommercialUse, String) {
    match expr {
        Expr::Id { id, .. } => match lookup(id) {
            Some(i) => (i.commercial, i.commercial_note.to_string()),
            None => (
                CommercialUse::Unknown,
                format!("no facts about `{id}`; read its terms"),
            ),
        },
        Expr::And(v) | Expr::Or(v) => {
            let and = matches!(expr, Expr::And(_));
            let parts: Vec<(CommercialUse, String)> = v.iter().map(commercial).collect();
            let acc = parts
                .iter()
                .map(|(c, _)| *c)
                .reduce(|a, c| if and { a.worst(c) } else { a.best(c) })
                .unwrap_or(CommercialUse::Unknown);
            let detail: Vec<String> = v
                .iter()
                .zip(&parts)
                .map(|(e, (c, n))| format!("{e}: {} ({n})", c.as_str()))
                .collect();
            let lead = if and {
                "all apply"
            } else {
                "any one may be chosen"
            };
            (acc, format!("{lead}: {}", detail.join("; ")))
        }
    }
}
