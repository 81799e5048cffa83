//! Licence policy: which licences a deployment accepts. A TOML file:
//!
//! ```toml
//! [licenses]
//! allow = ["Apache-2.0", "MIT", "llama3.1"]   # SPDX or hub ids; absent = anything not denied
//! deny = ["CC-BY-NC-4.0"]                     # optional; never overridden
//! unknown = "deny"                            # or "warn": unidentified licences (default deny)
//! ```
//!
//! Ids match case-insensitively after canonicalisation (`apache-2.0` = `Apache-2.0`,
//! `GPL-3.0` = `GPL-3.0-only`). An expression `A OR B` passes if either side passes, `A AND B`
//! only if both do. `--accept-license ID` (the `accepted` list of [`Policy::check`]) lets one
//! licence through deliberately — except one listed in `deny` — and the decision says so, so the
//! caller can write an [`crate::AuditEvent`].

use std::fmt;
use std::path::{Path, PathBuf};

use crate::expr::{parse_expression, Expr};
use crate::report::{LicenseReport, OTHER, UNKNOWN};
use crate::table::canonical_id;

/// Largest policy file read.
const MAX_POLICY_BYTES: u64 = 1 << 20;

/// What to do with a licence that could not be identified (`unknown`, or `other` without a name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownMode {
    /// Refuse the model.
    Deny,
    /// Allow it with a warning.
    Warn,
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Allowed licence ids as written in the file; `None` when the file has no `allow` key
    /// (then everything not denied is allowed).
    pub allow: Option<Vec<String>>,
    /// Denied licence ids as written in the file.
    pub deny: Vec<String>,
    /// Treatment of unidentified licences.
    pub unknown: UnknownMode,
    /// Where the policy came from, for messages (the path, or `policy` for a string).
    pub origin: String,
}

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy {}: {source}", path.display())]
    Io {
        /// The policy file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is larger than a policy can reasonably be.
    #[error("policy {origin} is larger than 1 MiB")]
    TooLarge {
        /// The policy file.
        origin: String,
    },
    /// Not valid TOML.
    #[error("policy {origin} is not valid TOML: {message}")]
    Syntax {
        /// The policy file.
        origin: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// Keys this version does not know (typos would otherwise silently weaken a policy).
    #[error("policy {origin}: unknown key(s) {}; known keys: [licenses] allow, deny, unknown", keys.join(", "))]
    UnknownKeys {
        /// The policy file.
        origin: String,
        /// The unknown keys, dotted (`licenses.alow`).
        keys: Vec<String>,
    },
    /// A known key with a value of the wrong type or an invalid value.
    #[error("policy {origin}: {key} must be {expected}, found {found}")]
    InvalidValue {
        /// The policy file.
        origin: String,
        /// The dotted key.
        key: String,
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
}

/// The outcome of checking a licence against a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The policy allows the licence.
    Allow,
    /// The policy would refuse it, but the user accepted it deliberately (`--accept-license`):
    /// allowed, and the caller should record an [`crate::AuditEvent`]. Holds the accepted ids.
    Accepted(Vec<String>),
    /// Allowed, with a warning to show (unidentified licence under `unknown = "warn"`, or sources
    /// that disagree about the licence).
    Warn(String),
    /// Refused.
    Deny(PolicyViolation),
}

impl Decision {
    /// True for every decision except [`Decision::Deny`].
    pub fn is_allowed(&self) -> bool {
        !matches!(self, Decision::Deny(_))
    }

    /// A short word for logs: `allow`, `accepted`, `warn`, `deny`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Accepted(_) => "accepted",
            Decision::Warn(_) => "warn",
            Decision::Deny(_) => "deny",
        }
    }
}

/// Which rule a licence breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViolatedRule {
    /// Not in `[licenses].allow`; holds the parts of the expression that are not allowed.
    NotAllowed(Vec<String>),
    /// Listed in `[licenses].deny`; holds the denied ids.
    Denied(Vec<String>),
    /// Unidentified and `[licenses].unknown = "deny"`.
    Unknown,
}

/// A licence the policy refuses. Its `Display` names the licence, where it was found, and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyViolation {
    /// The model's licence id or expression.
    pub licence: String,
    /// Where the licence was found (the report's `source`).
    pub source: String,
    /// The policy's origin.
    pub policy: String,
    /// The rule broken.
    pub rule: ViolatedRule,
    /// The policy's allow list as written (for the message).
    pub allow: Vec<String>,
}

impl fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lic, src, pol) = (&self.licence, &self.source, &self.policy);
        match &self.rule {
            ViolatedRule::NotAllowed(parts) => {
                write!(f, "licence \"{lic}\" (found in {src}) is not in [licenses].allow of {pol} ({})", self.allow.join(", "))?;
                if parts.len() > 1 || parts.first().is_some_and(|p| p != lic) {
                    write!(f, ": {} not allowed", quoted(parts))?;
                }
                Ok(())
            }
            ViolatedRule::Denied(ids) => write!(
                f,
                "licence \"{lic}\" (found in {src}) is denied by [licenses].deny of {pol} ({}); --accept-license does not override deny",
                quoted(ids)
            ),
            ViolatedRule::Unknown => write!(
                f,
                "licence \"{lic}\" (found in {src}) could not be identified and [licenses].unknown = \"deny\" in {pol}; pass --accept-license {lic} to accept it deliberately"
            ),
        }
    }
}

impl std::error::Error for PolicyViolation {}

fn quoted(ids: &[String]) -> String {
    ids.iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Canonical form for comparisons: the table's id if known, lowercased.
fn key(id: &str) -> String {
    canonical_id(id).unwrap_or(id.trim()).to_ascii_lowercase()
}

fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("the string \"{s}\""),
        toml::Value::Integer(i) => format!("the integer {i}"),
        toml::Value::Float(x) => format!("the float {x}"),
        toml::Value::Boolean(b) => format!("the boolean {b}"),
        toml::Value::Datetime(d) => format!("the datetime {d}"),
        toml::Value::Array(_) => "an array".to_string(),
        toml::Value::Table(_) => "a table".to_string(),
    }
}

impl Policy {
    /// Parse a policy from TOML text; `origin` is left as `policy`.
    pub fn from_toml_str(text: &str) -> Result<Policy, PolicyError> {
        Self::parse(text, "policy".to_string())
    }

    /// Read and parse a policy file (at most 1 MiB).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        let path = path.as_ref();
        let io = |source| PolicyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge {
                origin: path.display().to_string(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::parse(&text, path.display().to_string())
    }

    fn parse(text: &str, origin: String) -> Result<Policy, PolicyError> {
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| PolicyError::Syntax {
                    origin: origin.clone(),
                    message: e.to_string().trim().to_string(),
                })?;
        let mut unknown_keys: Vec<String> = table
            .keys()
            .filter(|k| k.as_str() != "licenses")
            .cloned()
            .collect();
        let mut policy = Policy {
            allow: None,
            deny: Vec::new(),
            unknown: UnknownMode::Deny,
            origin: origin.clone(),
        };
        let invalid =
            |key: &str, expected: &'static str, v: &toml::Value| PolicyError::InvalidValue {
                origin: origin.clone(),
                key: key.to_string(),
                expected,
                found: describe(v),
            };
        if let Some(lic) = table.get("licenses") {
            let lic = lic
                .as_table()
                .ok_or_else(|| invalid("licenses", "a table", lic))?;
            for (k, v) in lic {
                match k.as_str() {
                    "allow" => policy.allow = Some(string_list(v, "licenses.allow", &invalid)?),
                    "deny" => policy.deny = string_list(v, "licenses.deny", &invalid)?,
                    "unknown" => {
                        policy.unknown = match v.as_str() {
                            Some(s) if s.eq_ignore_ascii_case("deny") => UnknownMode::Deny,
                            Some(s) if s.eq_ignore_ascii_case("warn") => UnknownMode::Warn,
                            _ => {
                                return Err(invalid("licenses.unknown", "\"deny\" or \"warn\"", v))
                            }
                        }
                    }
                    other => unknown_keys.push(format!("licenses.{other}")),
                }
            }
        }
        if !unknown_keys.is_empty() {
            unknown_keys.sort();
            return Err(PolicyError::UnknownKeys {
                origin,
                keys: unknown_keys,
            });
        }
        Ok(policy)
    }

    /// Check a report against the policy. `accepted` are the ids the user accepted deliberately
    /// (`--accept-license`, repeatable); an accepted id also accepts `unknown` / `other` when
    /// spelled so, or the whole expression when given verbatim.
    pub fn check(&self, report: &LicenseReport, accepted: &[String]) -> Decision {
        let accepted_keys: Vec<String> = accepted.iter().map(|a| key(a)).collect();
        let whole_accepted = accepted
            .iter()
            .any(|a| a.trim().eq_ignore_ascii_case(report.id.trim()));
        let expr = match parse_expression(&report.id) {
            Ok(e) => e,
            // Not an expression (should not happen for reports from `detect`): treat as one id.
            Err(_) => Expr::Id {
                id: report.id.clone(),
                exception: None,
            },
        };
        let ctx = Ctx {
            policy: self,
            accepted: &accepted_keys,
            whole_accepted,
        };
        let out = ctx.eval(&expr);
        let violation = |rule| PolicyViolation {
            licence: report.id.clone(),
            source: report.source.clone(),
            policy: self.origin.clone(),
            rule,
            allow: self.allow.clone().unwrap_or_default(),
        };
        match out.verdict {
            Verdict::Allowed => {
                if report.conflicts.is_empty() {
                    Decision::Allow
                } else {
                    let others: Vec<String> =
                        report.conflicts.iter().map(|c| format!("{} says \"{}\"", c.source, c.id)).collect();
                    Decision::Warn(format!(
                        "licence \"{}\" (found in {}) is allowed by {}, but other sources disagree: {}",
                        report.id,
                        report.source,
                        self.origin,
                        others.join("; ")
                    ))
                }
            }
            Verdict::Accepted => Decision::Accepted(out.ids),
            Verdict::Warned => Decision::Warn(format!(
                "licence \"{}\" (found in {}) could not be identified; allowed because [licenses].unknown = \"warn\" in {}",
                report.id, report.source, self.origin
            )),
            Verdict::NotAllowed => Decision::Deny(violation(ViolatedRule::NotAllowed(out.ids))),
            Verdict::UnknownDenied => Decision::Deny(violation(ViolatedRule::Unknown)),
            Verdict::Denied => Decision::Deny(violation(ViolatedRule::Denied(out.ids))),
        }
    }
}

fn string_list(
    v: &toml::Value,
    key: &str,
    invalid: &dyn Fn(&str, &'static str, &toml::Value) -> PolicyError,
) -> Result<Vec<String>, PolicyError> {
    let arr = v
        .as_array()
        .ok_or_else(|| invalid(key, "an array of licence ids", v))?;
    arr.iter()
        .map(|item| match item.as_str() {
            Some(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            _ => Err(invalid(key, "an array of non-empty strings", item)),
        })
        .collect()
}

/// Outcome of one part of an expression, best first (the order is used for OR / AND).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Allowed,
    Accepted,
    Warned,
    NotAllowed,
    UnknownDenied,
    Denied,
}

struct Outcome {
    verdict: Verdict,
    /// The ids responsible for the verdict (accepted, not allowed or denied ones).
    ids: Vec<String>,
}

struct Ctx<'a> {
    policy: &'a Policy,
    accepted: &'a [String],
    whole_accepted: bool,
}

impl Ctx<'_> {
    fn listed(list: &[String], id: &str, full: &str) -> bool {
        let (k, f) = (key(id), full.to_ascii_lowercase());
        list.iter()
            .any(|l| key(l) == k || l.trim().eq_ignore_ascii_case(&f))
    }

    fn leaf(&self, id: &str, full: &str) -> Outcome {
        let one = |verdict| Outcome {
            verdict,
            ids: vec![full.to_string()],
        };
        if Self::listed(&self.policy.deny, id, full) {
            return one(Verdict::Denied);
        }
        let unidentified = id.eq_ignore_ascii_case(UNKNOWN) || id.eq_ignore_ascii_case(OTHER);
        let allowed = match &self.policy.allow {
            Some(allow) => Self::listed(allow, id, full),
            None => !unidentified,
        };
        if allowed {
            return one(Verdict::Allowed);
        }
        if self.whole_accepted || Self::listed(self.accepted, id, full) {
            return one(Verdict::Accepted);
        }
        if unidentified {
            return one(match self.policy.unknown {
                UnknownMode::Warn => Verdict::Warned,
                UnknownMode::Deny => Verdict::UnknownDenied,
            });
        }
        one(Verdict::NotAllowed)
    }

    fn eval(&self, e: &Expr) -> Outcome {
        match e {
            Expr::Id { id, .. } => self.leaf(id, &e.to_string()),
            Expr::Or(v) => {
                // The best alternative decides; its ids explain the verdict.
                let outs: Vec<Outcome> = v.iter().map(|x| self.eval(x)).collect();
                let best = outs
                    .iter()
                    .map(|o| o.verdict)
                    .min()
                    .unwrap_or(Verdict::NotAllowed);
                let ids = outs
                    .into_iter()
                    .filter(|o| o.verdict == best)
                    .flat_map(|o| o.ids)
                    .collect();
                Outcome { verdict: best, ids }
            }
            Expr::And(v) => {
                let outs: Vec<Outcome> = v.iter().map(|x| self.eval(x)).collect();
                let worst = outs
                    .iter()
                    .map(|o| o.verdict)
                    .max()
                    .unwrap_or(Verdict::NotAllowed);
                // For an accepted conjunction, every accepted part is recorded.
                let keep = |o: &Outcome| {
                    if worst == Verdict::Accepted {
                        o.verdict == Verdict::Accepted
                    } else {
                        o.verdict == worst
                    }
                };
                let ids = outs.into_iter().filter(keep).flat_map(|o| o.ids).collect();
                Outcome {
                    verdict: worst,
                    ids,
                }
            }
        }
    }
}
