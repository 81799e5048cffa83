//! The licence policy of `run` and `serve`, checked before any weights load.
//!
//! The policy file comes from `--policy FILE`, else `ALLMENDE_POLICY`, else the `policy` key of
//! the config file (`$ALLMENDE_CONFIG`, else `$XDG_CONFIG_HOME/allmende/config.toml`, else
//! `~/.config/allmende/config.toml`). Without one, nothing is checked. `--accept-license ID`
//! accepts a licence the policy would refuse; every acceptance and refusal is appended to the
//! audit log (`$ALLMENDE_HOME/audit.jsonl` by default, see docs/GOVERNANCE.md).

use std::path::{Path, PathBuf};

use allmende_license::{AuditEvent, AuditLog, Decision, Policy};
use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::store::ModelOrigin;
use crate::args::PolicyArgs;

/// The config file's keys (unknown keys are an error, so a typo does not silently disable a policy).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Path of the licence policy (relative paths are relative to the config file).
    policy: Option<PathBuf>,
    /// Path of the audit log.
    audit_log: Option<PathBuf>,
}

/// The config file's path, if one is configured or exists at the default place.
fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ALLMENDE_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("allmende").join("config.toml")).filter(|p| p.is_file())
}

fn load_config() -> Result<Config> {
    let Some(path) = config_path() else { return Ok(Config::default()) };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading config file {}", path.display()))?;
    let cfg: Config = toml::from_str(&text).map_err(|e| {
        // One line: toml's own Display draws the offending line over several.
        let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        anyhow::anyhow!("config file {}: {}{at}", path.display(), e.message())
    })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let rel = |p: PathBuf| if p.is_relative() { dir.join(p) } else { p };
    Ok(Config { policy: cfg.policy.map(rel), audit_log: cfg.audit_log.map(rel) })
}

/// The policy in force and the audit log's path.
fn policy_in_force(args: &PolicyArgs) -> Result<(Option<(Policy, PathBuf)>, PathBuf)> {
    let cfg = load_config()?;
    let path = args
        .policy
        .clone()
        .or_else(|| std::env::var_os("ALLMENDE_POLICY").filter(|v| !v.is_empty()).map(PathBuf::from))
        .or(cfg.policy);
    let audit = match args.audit_log.clone().or(cfg.audit_log) {
        Some(p) => p,
        None => allmende_store::cache_dir()?.join("audit.jsonl"),
    };
    let policy = match path {
        Some(p) => Some((Policy::from_file(&p).with_context(|| format!("licence policy {}", p.display()))?, p)),
        None => None,
    };
    Ok((policy, audit))
}

/// Checks MODEL's licence against the policy in force; refuses with the licence and the rule it
/// breaks. Call before loading weights.
pub fn enforce(model: &str, origin: &ModelOrigin, args: &PolicyArgs) -> Result<()> {
    let (policy, audit) = policy_in_force(args)?;
    let Some((policy, policy_path)) = policy else {
        if !args.accept_license.is_empty() {
            eprintln!("note: --accept-license has no effect without a licence policy (--policy)");
        }
        return Ok(());
    };
    let report = super::license::report(origin)?;
    let decision = policy.check(&report, &args.accept_license);
    let record = |d: &Decision| -> Result<()> {
        let event = AuditEvent::new(model, &report.id, Some(&policy_path), d);
        AuditLog::append(&audit, &event).with_context(|| format!("writing the audit log {}", audit.display()))
    };
    match &decision {
        Decision::Allow => Ok(()),
        Decision::Warn(msg) => {
            eprintln!("warning: {model}: {msg}");
            Ok(())
        }
        Decision::Accepted(ids) => {
            record(&decision)?;
            eprintln!(
                "note: {model}: licence \"{}\" accepted with --accept-license {} (recorded in {})",
                report.id,
                ids.join(", "),
                audit.display()
            );
            Ok(())
        }
        Decision::Deny(violation) => {
            record(&decision)?;
            if matches!(violation.rule, allmende_license::ViolatedRule::Denied(_)) {
                bail!("{model}: {violation}");
            }
            bail!("{model}: {violation}; to use it anyway, accept it deliberately with --accept-license {}", report.id)
        }
    }
}
