//! GGUF checks: the formats crate's reader validates the container (a typed error becomes a
//! Danger finding); on top of it, tensor placement is re-checked (inside the file, aligned,
//! not overlapping), bytes after the last tensor are noted, and chat templates in the metadata
//! (`tokenizer.chat_template`, `tokenizer.chat_template.<name>`) go through the template checks.

use std::path::Path;

use allmende_formats::GgufFile;

use crate::report::{Finding, Severity};
use crate::template::check_template;

pub(crate) fn scan_gguf(path: &Path, out: &mut Vec<Finding>) {
    let f = match GgufFile::open(path) {
        Ok(f) => f,
        Err(e) => {
            out.push(Finding::new(
                Severity::Danger,
                "gguf.invalid",
                format!("the GGUF reader refuses the file: {}", e.root()),
            ));
            return;
        }
    };
    let file_len = f.storage().as_slice().len() as u64;
    let data = f.data_offset() as u64;
    let align = f.alignment() as u64;
    let mut spans: Vec<(u64, u64, &str)> = Vec::with_capacity(f.tensors().len());
    for t in f.tensors() {
        let (off, size) = (t.offset as u64, t.size as u64);
        if align == 0 || off % align != 0 {
            out.push(
                Finding::new(
                    Severity::Danger,
                    "gguf.misaligned",
                    format!(
                        "tensor `{}` at data offset {off} is not {align}-aligned",
                        t.name
                    ),
                )
                .at(data + off),
            );
        }
        let end = data.checked_add(off).and_then(|o| o.checked_add(size));
        if end.is_none_or(|e| e > file_len) {
            out.push(
                Finding::new(
                    Severity::Danger,
                    "gguf.out-of-bounds",
                    format!(
                        "tensor `{}` ({size} bytes at data offset {off}) extends past the end of the file",
                        t.name
                    ),
                )
                .at(data.saturating_add(off)),
            );
        }
        spans.push((off, off.saturating_add(size), t.name.as_str()));
    }
    spans.sort_unstable();
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            out.push(
                Finding::new(
                    Severity::Danger,
                    "gguf.overlap",
                    format!("tensors `{}` and `{}` share bytes", w[0].2, w[1].2),
                )
                .at(data + w[1].0),
            );
        }
    }
    let used = spans.iter().map(|s| s.1).max().unwrap_or(0);
    let tail = file_len.saturating_sub(data.saturating_add(used));
    if tail > align.max(1) {
        out.push(
            Finding::new(
                Severity::Info,
                "gguf.trailing-data",
                format!("{tail} bytes after the last tensor belong to no tensor"),
            )
            .at(data + used),
        );
    }
    for (k, v) in f.metadata() {
        if k == "tokenizer.chat_template" || k.starts_with("tokenizer.chat_template.") {
            if let Some(t) = v.as_str() {
                check_template(t, &format!("metadata `{k}`"), out);
            }
        }
    }
}
