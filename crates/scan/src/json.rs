//! JSON side files: chat templates in `tokenizer_config.json` / `chat_template.json` (a
//! string, or a list of `{"name", "template"}`), and sharded-weight indexes whose shard names
//! must stay inside the folder.

use std::path::Path;

use serde_json::Value;

use crate::report::{Finding, Severity};
use crate::template::check_template;

/// Largest JSON side file read.
const MAX_JSON: u64 = 64 << 20;

fn read(path: &Path, len: u64, out: &mut Vec<Finding>) -> Option<Value> {
    if len > MAX_JSON {
        out.push(Finding::new(
            Severity::Warning,
            "json.too-large",
            format!("{len} bytes, more than the {MAX_JSON} checked for a JSON side file"),
        ));
        return None;
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            out.push(Finding::new(
                Severity::Warning,
                "file.unreadable",
                e.to_string(),
            ));
            return None;
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            out.push(Finding::new(
                Severity::Warning,
                "json.invalid",
                format!("invalid JSON: {e}"),
            ));
            None
        }
    }
}

/// `tokenizer_config.json` or `chat_template.json`.
pub(crate) fn scan_template_json(path: &Path, len: u64, out: &mut Vec<Finding>) {
    let Some(v) = read(path, len, out) else {
        return;
    };
    match v.get("chat_template") {
        Some(Value::String(t)) => check_template(t, "`chat_template`", out),
        Some(Value::Array(list)) => {
            for (k, item) in list.iter().enumerate() {
                let name = item.get("name").and_then(Value::as_str).unwrap_or("?");
                match item.get("template") {
                    Some(Value::String(t)) => {
                        check_template(t, &format!("`chat_template` `{name}`"), out)
                    }
                    _ => out.push(Finding::new(
                        Severity::Warning,
                        "json.template-form",
                        format!("`chat_template` entry {k} has no string `template`"),
                    )),
                }
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => out.push(Finding::new(
            Severity::Warning,
            "json.template-form",
            "`chat_template` is neither a string nor a list of named templates".to_string(),
        )),
    }
}

/// `*.index.json`: every shard must be a plain file name that exists next to the index.
pub(crate) fn scan_index(path: &Path, len: u64, out: &mut Vec<Finding>) {
    let Some(v) = read(path, len, out) else {
        return;
    };
    let Some(map) = v.get("weight_map").and_then(Value::as_object) else {
        out.push(Finding::new(
            Severity::Warning,
            "index.invalid",
            "no `weight_map` object".to_string(),
        ));
        return;
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut shards: Vec<&str> = Vec::new();
    for (tensor, shard) in map {
        let Some(s) = shard.as_str() else {
            out.push(Finding::new(
                Severity::Warning,
                "index.invalid",
                format!("shard of `{tensor}` is not a string"),
            ));
            continue;
        };
        if !shards.contains(&s) {
            shards.push(s);
        }
    }
    for s in shards {
        let shown = s.escape_debug();
        let plain = !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0', ':']);
        if !plain {
            out.push(Finding::new(
                Severity::Danger,
                "index.shard-path",
                format!(
                    "shard `{shown}` is not a plain file name (it could point outside the folder)"
                ),
            ));
        } else if !dir.join(s).is_file() {
            out.push(Finding::new(
                Severity::Warning,
                "index.missing-shard",
                format!("shard `{shown}` is not in the folder"),
            ));
        }
    }
}
