//! `allmende scan PATH [--json]`: what allmende-scan finds in model files, most serious first;
//! exit code 1 when anything is flagged at warning level or above.

use std::path::Path;

use allmende_scan::{scan_path, Severity};
use anyhow::{bail, Result};

/// `allmende scan PATH [--json]`.
pub fn run(target: &str, json: bool) -> Result<()> {
    let path = if Path::new(target).exists() {
        Path::new(target).to_path_buf()
    } else {
        super::store::resolve_model(target)?
    };
    let report = scan_path(&path)?;
    let count = |s: Severity| report.files.iter().flat_map(|f| &f.findings).filter(|f| f.severity == s).count();
    let (danger, warning, info) = (count(Severity::Danger), count(Severity::Warning), count(Severity::Info));
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for (file, f) in report.findings() {
            let level = match f.severity {
                Severity::Danger => "DANGER ",
                Severity::Warning => "warning",
                Severity::Info => "info   ",
            };
            let at = match (f.offset, f.line) {
                (Some(_), _) if f.message.contains("offset") => String::new(),
                (Some(o), _) => format!(" (offset {o})"),
                (None, Some(l)) => format!(" (line {l})"),
                _ => String::new(),
            };
            println!("{level} {}: {}: {}{at}", file.path.display(), f.code, f.message);
        }
        println!("scanned {} file(s): {danger} danger, {warning} warning, {info} info", report.files.len());
    }
    if report.is_flagged() {
        bail!("{}: {danger} danger and {warning} warning finding(s)", path.display());
    }
    Ok(())
}
