//! Audit log of licence decisions, above all deliberate acceptances (`--accept-license`): one
//! JSON object per line, appended (the file is opened in append mode and each event is written
//! with a single `write`, so concurrent writers do not interleave lines).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::policy::Decision;

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When, RFC 3339 in UTC with seconds (`2025-01-31T12:00:00Z`).
    pub time: String,
    /// The model (name or path as the user gave it).
    pub model: String,
    /// The model's licence id or expression.
    pub licence: String,
    /// The licence ids the user accepted deliberately (empty when nothing was accepted).
    pub accepted: Vec<String>,
    /// Who: the user name from the environment (`USER`, `USERNAME` or `LOGNAME`).
    pub accepted_by: String,
    /// The policy file the decision was made against, if any.
    pub policy: Option<String>,
    /// `allow`, `accepted`, `warn` or `deny`.
    pub decision: String,
}

impl AuditEvent {
    /// An event for `decision` on `model` with licence `licence`, stamped now, by the user the
    /// environment names.
    pub fn new(
        model: &str,
        licence: &str,
        policy: Option<&Path>,
        decision: &Decision,
    ) -> AuditEvent {
        AuditEvent {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            model: model.to_string(),
            licence: licence.to_string(),
            accepted: match decision {
                Decision::Accepted(ids) => ids.clone(),
                _ => Vec::new(),
            },
            accepted_by: user_from_env(),
            policy: policy.map(|p| p.display().to_string()),
            decision: decision.as_str().to_string(),
        }
    }
}

/// The user name from `USER`, `USERNAME` or `LOGNAME`, else `unknown`.
pub fn user_from_env() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Why an audit event could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Creating, opening or writing the log failed.
    #[error("cannot write audit log {}: {source}", path.display())]
    Io {
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The event could not be serialised (not expected for these plain fields).
    #[error("cannot serialise audit event: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// The audit log: JSON lines in one file.
#[derive(Debug)]
pub struct AuditLog;

impl AuditLog {
    /// Append `event` as one JSON line to `path`, creating the file (and its parent folders).
    pub fn append(path: impl AsRef<Path>, event: &AuditEvent) -> Result<(), AuditError> {
        let path = path.as_ref();
        let io = |source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut line = serde_json::to_string(event)?;
        line.push('\n');
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        file.write_all(line.as_bytes()).map_err(io)
    }
}
