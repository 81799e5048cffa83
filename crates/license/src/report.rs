//! The report types: what `allmende license MODEL --json` prints. Field names are part of the
//! CLI's JSON contract (`id`, `name`, `source`, `commercial_use`, `obligations` always present).

use serde::{Deserialize, Serialize};

/// The identifier used when nothing identifies the licence.
pub const UNKNOWN: &str = "unknown";
/// The hub's identifier for a licence that has no id of its own (`license: other`).
pub const OTHER: &str = "other";

/// Whether the licence allows commercial use. Serialised as `"yes"`, `"no"`, `"conditional"` or
/// `"unknown"`; the report's `commercial_use_note` says what the condition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommercialUse {
    /// Allowed without a licence-specific condition (the usual notice duties still apply).
    Yes,
    /// Not allowed (non-commercial, research-only or non-production licences).
    No,
    /// Allowed under a condition, e.g. a user threshold above which a separate licence is needed.
    Conditional,
    /// The licence was not identified, or allmende has no facts about it.
    Unknown,
}

impl CommercialUse {
    /// Rank for combining: lower is more permissive.
    fn rank(self) -> u8 {
        match self {
            CommercialUse::Yes => 0,
            CommercialUse::Conditional => 1,
            CommercialUse::Unknown => 2,
            CommercialUse::No => 3,
        }
    }

    /// The more permissive of two (for `A OR B`: the licensee may pick either).
    pub fn best(self, other: Self) -> Self {
        if other.rank() < self.rank() {
            other
        } else {
            self
        }
    }

    /// The more restrictive of two (for `A AND B`: both apply).
    pub fn worst(self, other: Self) -> Self {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    /// The serialised word (`yes`, `no`, `conditional`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            CommercialUse::Yes => "yes",
            CommercialUse::No => "no",
            CommercialUse::Conditional => "conditional",
            CommercialUse::Unknown => "unknown",
        }
    }
}

/// The kind of duty an obligation imposes. Serialised in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObligationKind {
    /// Credit the licensor (keep copyright notices, "Built with …" displays).
    Attribution,
    /// Give recipients a copy of the licence.
    LicenceCopy,
    /// Pass on a notice file or a fixed notice string.
    Notice,
    /// Mark modified files as modified.
    ModificationNotice,
    /// Rules for naming derived models.
    Naming,
    /// A user threshold above which a separate licence is needed.
    UserThreshold,
    /// An acceptable-use / prohibited-use policy or use-based restrictions that bind all use.
    AcceptableUse,
    /// Use restrictions that must be passed on to downstream recipients as enforceable terms.
    PassOnRestrictions,
    /// Limits on what the model's outputs may be used for.
    Outputs,
    /// Non-commercial use only.
    NonCommercial,
    /// Adapted material may not be shared.
    NoDerivatives,
    /// Adaptations must carry the same (or a compatible) licence.
    ShareAlike,
    /// Distributed works based on it must be released under the same licence, with source.
    Copyleft,
    /// Offering a modified version over a network triggers source obligations.
    NetworkUse,
    /// Rights are not granted in some territories.
    Territory,
    /// Offering the model as a hosted service needs a separate licence.
    Hosting,
    /// Names and marks of the licensor may not be used to endorse derived products.
    Trademark,
}

/// One duty of the licensee, in allmende's own short words (not licence prose).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Obligation {
    /// What kind of duty.
    pub kind: ObligationKind,
    /// The duty, short; notice strings the licence prescribes are quoted exactly.
    pub text: String,
    /// The licence id the duty comes from (differs between the parts of an expression).
    pub licence: String,
}

/// One piece of evidence: a source that names or contains a licence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Where it was found: `gguf:general.license`, `README.md front matter (license)`,
    /// `LICENSE (text)`, …
    pub source: String,
    /// The licence id (or expression) this source points to, `unknown` if none.
    pub id: String,
    /// How it was identified: the matched phrase, the declared value, the link.
    pub detail: String,
}

/// The licence of one model, combined from all sources. Serialises to the CLI's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseReport {
    /// SPDX id or expression (canonical case), hub licence id (lowercase, e.g. `llama3.1`,
    /// `gemma`), `other` (declared but unnamed) or `unknown`.
    pub id: String,
    /// Human-readable name of the licence.
    pub name: String,
    /// Where the deciding evidence was found (see [`crate::detect`] for the precedence).
    pub source: String,
    /// Link to the licence: the declared one if any, else allmende's reference link.
    pub link: Option<String>,
    /// Whether commercial use is allowed.
    pub commercial_use: CommercialUse,
    /// What the commercial-use answer depends on.
    pub commercial_use_note: String,
    /// The licensee's duties.
    pub obligations: Vec<Obligation>,
    /// Every source that was looked at and what it said.
    pub evidence: Vec<Evidence>,
    /// Evidence that names a different licence than the one reported.
    pub conflicts: Vec<Evidence>,
    /// Remarks on the detection (unreadable files, capped reads, combined texts).
    pub notes: Vec<String>,
}

impl LicenseReport {
    /// True when no licence was identified (`unknown`) or only declared without a name (`other`).
    pub fn is_unidentified(&self) -> bool {
        self.id.eq_ignore_ascii_case(UNKNOWN) || self.id.eq_ignore_ascii_case(OTHER)
    }
}
