//! safetensors checks. The header is looked at directly first (length against the file and
//! the cap, JSON size, `__metadata__` size, tensor count and names, padding), then the
//! formats crate's reader validates the rest (dtype × shape, offsets in bounds, no overlaps, no
//! holes, known dtypes, duplicate names); its typed error becomes a Danger finding.

use std::io::Read;
use std::path::Path;

use allmende_formats::safetensors::MAX_HEADER_LEN;
use allmende_formats::SafetensorsFile;
use serde_json::Value;

use crate::report::{Finding, Severity};

/// Header size above which a file is flagged (real headers are kilobytes to a few MiB).
const LARGE_HEADER: u64 = 16 << 20;
/// `__metadata__` size above which a file is flagged.
const LARGE_METADATA: usize = 1 << 20;
/// Tensor count above which a file is flagged.
const MANY_TENSORS: usize = 1 << 20;
/// Longest tensor name accepted without a warning.
const LONG_NAME: usize = 1024;

pub(crate) fn scan_safetensors(path: &Path, file_len: u64, out: &mut Vec<Finding>) {
    if let Err(f) = header_checks(path, file_len, out) {
        out.push(f);
        return;
    }
    if let Err(e) = SafetensorsFile::open(path) {
        out.push(Finding::new(
            Severity::Danger,
            "safetensors.invalid",
            format!("the safetensors reader refuses the file: {}", e.root()),
        ));
    }
}

fn danger(code: &str, msg: String) -> Finding {
    Finding::new(Severity::Danger, code, msg)
}

fn header_checks(path: &Path, file_len: u64, out: &mut Vec<Finding>) -> Result<(), Finding> {
    let unreadable = |e: std::io::Error| danger("safetensors.unreadable", e.to_string());
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    if file_len < 8 {
        return Err(danger(
            "safetensors.header-length",
            format!("{file_len} bytes: too short for the 8-byte header length"),
        ));
    }
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(unreadable)?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER_LEN {
        return Err(danger(
            "safetensors.header-length",
            format!("header length {n} is above the {MAX_HEADER_LEN}-byte cap"),
        ));
    }
    if n > file_len - 8 {
        return Err(danger(
            "safetensors.header-length",
            format!(
                "header length {n} runs past the end of the file ({} bytes follow)",
                file_len - 8
            ),
        ));
    }
    if n > LARGE_HEADER {
        out.push(Finding::new(
            Severity::Warning,
            "safetensors.header-large",
            format!("header is {n} bytes of JSON (parsing cost; real headers are far smaller)"),
        ));
    }
    if n % 8 != 0 {
        out.push(Finding::new(
            Severity::Info,
            "safetensors.header-unpadded",
            format!("header length {n} is not a multiple of 8: tensor data is not aligned"),
        ));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(unreadable)?;
    // Structural JSON errors are reported by the reader below; here only what it accepts.
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&header) else {
        return Ok(());
    };
    if map.len() > MANY_TENSORS {
        out.push(Finding::new(
            Severity::Warning,
            "safetensors.many-tensors",
            format!("{} header entries", map.len()),
        ));
    }
    for (name, v) in &map {
        if name == "__metadata__" {
            let size = v.to_string().len();
            if size > LARGE_METADATA {
                out.push(Finding::new(
                    Severity::Warning,
                    "safetensors.metadata-large",
                    format!("`__metadata__` is {size} bytes"),
                ));
            }
            continue;
        }
        if name.len() > LONG_NAME || name.chars().any(char::is_control) {
            let shown: String = name.chars().take(80).collect();
            out.push(Finding::new(
                Severity::Warning,
                "safetensors.tensor-name",
                format!(
                    "tensor name `{}` ({} bytes) is overlong or holds control characters",
                    shown.escape_debug(),
                    name.len()
                ),
            ));
        }
    }
    Ok(())
}
