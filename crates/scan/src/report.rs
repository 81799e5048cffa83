//! The report types: one [`FileReport`] per file with its [`Finding`]s.

use std::path::PathBuf;

use serde::Serialize;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; not a risk by itself.
    Info,
    /// Unusual or unverifiable; look before loading.
    Warning,
    /// Code execution, path escape or a malformed file: do not load.
    Danger,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Danger => "danger",
        })
    }
}

/// What the scanner took a file for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A `torch.save` zip checkpoint (`pytorch_model.bin`, `.pt`, `.pth`, `.ckpt`).
    PytorchZip,
    /// A bare pickle stream (`.pkl`, legacy `torch.save`, ...).
    Pickle,
    /// A GGUF model.
    Gguf,
    /// A `.safetensors` file.
    Safetensors,
    /// A sharded-checkpoint index (`*.index.json`).
    WeightIndex,
    /// `chat_template.jinja` or another `.jinja` file.
    ChatTemplate,
    /// A JSON file that may carry a chat template (`tokenizer_config.json`,
    /// `chat_template.json`).
    TemplateJson,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else (not checked).
    Other,
}

/// One thing the scanner noticed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// Stable identifier of the check (`pickle.forbidden-global`, `template.dunder`, ...).
    pub code: String,
    /// What was found, naming the callable, member, tensor or construct.
    pub message: String,
    /// Byte offset: in the pickle stream for pickle findings, in the file otherwise.
    pub offset: Option<u64>,
    /// 1-based line, for template findings.
    pub line: Option<usize>,
}

impl Finding {
    /// A finding without position.
    pub fn new(severity: Severity, code: &str, message: impl Into<String>) -> Finding {
        Finding {
            severity,
            code: code.to_string(),
            message: message.into(),
            offset: None,
            line: None,
        }
    }

    /// The same finding at byte `offset`.
    pub fn at(mut self, offset: u64) -> Finding {
        self.offset = Some(offset);
        self
    }

    /// The same finding at 1-based `line`.
    pub fn on_line(mut self, line: usize) -> Finding {
        self.line = Some(line);
        self
    }
}

/// Findings of one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// What it was taken for.
    pub kind: FileKind,
    /// What was found, in check order.
    pub findings: Vec<Finding>,
}

impl FileReport {
    /// The most serious finding's severity, `None` when there is none.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// Findings of every file scanned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ScanReport {
    /// One entry per file, in path order.
    pub files: Vec<FileReport>,
}

impl ScanReport {
    /// The most serious severity over all files.
    pub fn max_severity(&self) -> Option<Severity> {
        self.files.iter().filter_map(FileReport::max_severity).max()
    }

    /// True when anything is at [`Severity::Warning`] or above (the CLI exits 1).
    pub fn is_flagged(&self) -> bool {
        self.max_severity() >= Some(Severity::Warning)
    }

    /// Every finding with its file, most serious first (stable within a severity).
    pub fn findings(&self) -> Vec<(&FileReport, &Finding)> {
        let mut v: Vec<(&FileReport, &Finding)> = self
            .files
            .iter()
            .flat_map(|f| f.findings.iter().map(move |x| (f, x)))
            .collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.1.severity));
        v
    }
}
