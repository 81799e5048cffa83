//! allmende-license: what licence a model is under, what it obliges, and whether a deployment's
//! policy accepts it.
//!
//! - [`detect`] combines GGUF metadata (`general.license`, `.name`, `.link`), the model card's
//!   front matter (`license`, `license_name`, `license_link`) and licence files recognised by
//!   their text into a [`LicenseReport`] (serialisable: the JSON of `allmende license --json`).
//! - [`Policy`] reads a `[licenses]` TOML policy and [`Policy::check`]s a report against it.
//! - [`AuditLog::append`] records deliberate acceptances as JSON lines.
//!
//! The crate takes plain data (metadata pairs, a folder path) so it does not depend on the format
//! readers. Obligations are short summaries in allmende's words, not legal advice.
//!
//! ```
//! let meta = vec![("general.license".to_string(), "gemma".to_string())];
//! let report = allmende_license::detect(&meta, None);
//! assert_eq!(report.id, "gemma");
//! let policy = allmende_license::Policy::from_toml_str("[licenses]\nallow = [\"Apache-2.0\"]\n")?;
//! assert!(!policy.check(&report, &[]).is_allowed());
//! assert!(policy.check(&report, &["gemma".to_string()]).is_allowed());
//! # Ok::<(), allmende_license::PolicyError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod audit;
mod detect;
mod expr;
mod frontmatter;
mod policy;
mod report;
mod table;
mod text;

pub use audit::{user_from_env, AuditError, AuditEvent, AuditLog};
pub use detect::{detect, link_to_id, GGUF_LICENSE, GGUF_LICENSE_LINK, GGUF_LICENSE_NAME};
pub use expr::{parse_expression, Expr, ExprError, MAX_EXPRESSION_LEN};
pub use frontmatter::{parse_front_matter, FrontMatter};
pub use policy::{Decision, Policy, PolicyError, PolicyViolation, UnknownMode, ViolatedRule};
pub use report::{
    CommercialUse, Evidence, LicenseReport, Obligation, ObligationKind, OTHER, UNKNOWN,
};
pub use table::{canonical_id, lookup, lookup_name, normalise, LicenseInfo, LICENSES};
pub use text::{identify_text, read_capped, TextMatch, MAX_TEXT_BYTES};
