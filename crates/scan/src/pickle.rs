//! Pickle and PyTorch checkpoint checks: bare pickle streams (several in a row, as legacy
//! `torch.save` writes them) and zip checkpoints (member names, encryption, sizes, extra
//! pickles), each pickle audited with [`allmende_formats::pickle::audit`] (nothing executes).

use std::collections::HashSet;
use std::io::{Cursor, Read};

use allmende_formats::pickle::{audit, Audit, EventKind};

use crate::report::{Finding, Severity};

/// First pickle of a legacy `torch.save` file (the magic number 0x1950a86a20f9469cfc6c).
const LEGACY_MAGIC: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.',
];
/// Most pickles read back to back from one bare file (legacy torch.save writes five).
const MAX_PICKLES: usize = 32;
/// Largest pickle member read from a zip.
const MAX_MEMBER: u64 = 1 << 30;
/// A member size no model checkpoint has (1 TiB).
const ABSURD_SIZE: u64 = 1 << 40;
/// Compression ratio above which a large member is flagged as a possible bomb.
const BOMB_RATIO: u64 = 1000;

/// True when `head` starts like a pickle: PROTO 0–5, or a protocol-0/1 opening opcode.
pub(crate) fn looks_like_pickle(head: &[u8]) -> bool {
    match head {
        [0x80, p, ..] => *p <= 5,
        [b'(' | b'c' | b']' | b'}' | b')' | b'N', ..] => true,
        _ => false,
    }
}

/// Findings for one audited pickle; offsets are `base` + the pickle's own.
fn audit_findings(a: &Audit, base: u64, what: &str, out: &mut Vec<Finding>) {
    audit_findings_with(a, base, what, Severity::Warning, out);
}

/// [`audit_findings`] with the severity of a malformed stream chosen by the caller.
fn audit_findings_with(
    a: &Audit,
    base: u64,
    what: &str,
    malformed: Severity,
    out: &mut Vec<Finding>,
) {
    for e in a.events.iter().filter(|e| !e.is_allowed()) {
        let at = base + e.offset as u64;
        let op = e.opcode;
        let f = match &e.kind {
            EventKind::Import { module, name } => Finding::new(
                Severity::Danger,
                "pickle.forbidden-global",
                format!(
                    "{what}: {op} at offset {}: `{module}.{name}` is not a tensor-rebuild callable",
                    e.offset
                ),
            ),
            EventKind::Call { callable: Some(c) } => Finding::new(
                Severity::Danger,
                "pickle.forbidden-call",
                format!("{what}: {op} at offset {} calls `{c}`", e.offset),
            ),
            EventKind::Call { callable: None } => Finding::new(
                Severity::Danger,
                "pickle.forbidden-call",
                format!(
                    "{what}: {op} at offset {} calls a computed callable",
                    e.offset
                ),
            ),
            EventKind::Extension { code } => Finding::new(
                Severity::Danger,
                "pickle.extension",
                format!(
                    "{what}: {op} at offset {} calls extension-registry entry {code}",
                    e.offset
                ),
            ),
            EventKind::Buffer => Finding::new(
                Severity::Warning,
                "pickle.buffer",
                format!(
                    "{what}: {op} at offset {} takes an out-of-band buffer",
                    e.offset
                ),
            ),
            EventKind::PersistentId => continue,
        };
        out.push(f.at(at));
    }
    for n in &a.nested {
        let at = base + n.offset as u64;
        out.push(
            Finding::new(
                Severity::Danger,
                "pickle.nested",
                format!(
                    "{what}: the argument of the opcode at offset {} is itself a pickle",
                    n.offset
                ),
            )
            .at(at),
        );
        audit_findings(
            &n.audit,
            at,
            &format!("{what} (nested at offset {})", n.offset),
            out,
        );
    }
    if let Some(e) = &a.error {
        let off = e.offset().unwrap_or(a.end) as u64;
        out.push(
            Finding::new(
                malformed,
                "pickle.malformed",
                format!("{what}: {e} (unpicklers stop here too; nothing after it was checked)"),
            )
            .at(base + off),
        );
    }
}

/// A bare pickle file: every pickle in a row, then whatever follows.
pub(crate) fn scan_pickle_bytes(data: &[u8], what: &str, out: &mut Vec<Finding>) {
    // Legacy torch.save: magic, version, sys_info, object, storage keys; then raw storages.
    let legacy = data.starts_with(&LEGACY_MAGIC);
    let mut start = 0usize;
    for k in 0..MAX_PICKLES {
        let rest = &data[start..];
        let a = audit(rest);
        let label = if k == 0 {
            what.to_string()
        } else {
            format!("{what} (pickle {})", k + 1)
        };
        // After the first pickle, bytes that merely start like one may be raw data (a storage
        // size of 0x0180 elements begins 80 01): a failed parse there is only noted. Calls
        // before the failure are still reported, since unpicklers run them.
        let malformed = if k == 0 {
            Severity::Warning
        } else {
            Severity::Info
        };
        audit_findings_with(&a, start as u64, &label, malformed, out);
        if a.error.is_some() {
            return;
        }
        start += a.end;
        let rest = &data[start..];
        if rest.is_empty() {
            return;
        }
        if (legacy && k == 4) || !matches!(rest, [0x80, p, ..] if *p <= 5) {
            out.push(
                Finding::new(
                    Severity::Info,
                    "pickle.trailing-data",
                    format!(
                        "{what}: {} bytes after the last pickle (raw data, e.g. legacy torch.save storages)",
                        rest.len()
                    ),
                )
                .at(start as u64),
            );
            return;
        }
    }
    out.push(Finding::new(
        Severity::Warning,
        "pickle.too-many",
        format!("{what}: more than {MAX_PICKLES} pickles in a row; the rest was not checked"),
    ));
}

/// A member name that could escape an extraction folder.
fn escapes(name: &str) -> bool {
    name.starts_with('/')
        || name.starts_with('\\')
        || name.as_bytes().get(1) == Some(&b':')
        || name.split(['/', '\\']).any(|c| c == "..")
        || name.contains('\0')
}

/// A zip archive (PyTorch checkpoint or not).
pub(crate) fn scan_zip(bytes: &[u8], out: &mut Vec<Finding>) {
    let mut zip = match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(z) => z,
        Err(e) => {
            out.push(Finding::new(
                Severity::Danger,
                "zip.unreadable",
                format!("not a readable zip archive: {e}"),
            ));
            return;
        }
    };
    // The zip reader keeps one member per name; the raw central directory shows duplicates.
    let mut seen = HashSet::new();
    for name in central_names(bytes) {
        if !seen.insert(name.clone()) {
            out.push(Finding::new(
                Severity::Danger,
                "zip.duplicate-name",
                format!(
                    "member `{}` appears twice (readers disagree on which one counts)",
                    String::from_utf8_lossy(&name).escape_debug()
                ),
            ));
        }
    }
    let mut pickles: Vec<(usize, String)> = Vec::new();
    for i in 0..zip.len() {
        let f = match zip.by_index_raw(i) {
            Ok(f) => f,
            Err(e) => {
                out.push(Finding::new(
                    Severity::Danger,
                    "zip.unreadable",
                    format!("member {i}: {e}"),
                ));
                continue;
            }
        };
        let name = f.name().to_string();
        let at = f.header_start();
        let shown = name.escape_debug().to_string();
        if escapes(&name) {
            out.push(
                Finding::new(
                    Severity::Danger,
                    "zip.path-traversal",
                    format!("member `{shown}` would be written outside the extraction folder"),
                )
                .at(at),
            );
        }
        if f.encrypted() {
            out.push(
                Finding::new(
                    Severity::Danger,
                    "zip.encrypted",
                    format!("member `{shown}` is encrypted and cannot be checked"),
                )
                .at(at),
            );
            continue;
        }
        if f.is_symlink() {
            out.push(
                Finding::new(
                    Severity::Warning,
                    "zip.symlink",
                    format!("member `{shown}` is a symbolic link"),
                )
                .at(at),
            );
        }
        let (size, packed) = (f.size(), f.compressed_size());
        if size > ABSURD_SIZE || (size > (64 << 20) && size / packed.max(1) > BOMB_RATIO) {
            out.push(
                Finding::new(
                    Severity::Warning,
                    "zip.size",
                    format!("member `{shown}` claims {size} bytes from {packed} compressed"),
                )
                .at(at),
            );
        }
        if name.ends_with(".pkl") || name.ends_with(".pickle") {
            pickles.push((i, name));
        }
    }
    let main = pickles
        .iter()
        .find(|(_, n)| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .map(|(i, _)| *i);
    if main.is_none() {
        out.push(Finding::new(
            Severity::Info,
            "zip.not-pytorch",
            "no `<prefix>/data.pkl`: not a PyTorch checkpoint".to_string(),
        ));
    }
    for (i, name) in &pickles {
        let shown = name.escape_debug().to_string();
        if Some(*i) != main {
            out.push(Finding::new(
                Severity::Danger,
                "zip.extra-pickle",
                format!("member `{shown}` is a pickle besides the checkpoint's data.pkl"),
            ));
        }
        let mut f = match zip.by_index(*i) {
            Ok(f) => f,
            Err(e) => {
                out.push(Finding::new(
                    Severity::Danger,
                    "zip.unreadable",
                    format!("member `{shown}`: {e}"),
                ));
                continue;
            }
        };
        if f.size() > MAX_MEMBER {
            out.push(Finding::new(
                Severity::Warning,
                "zip.size",
                format!(
                    "member `{shown}` ({} bytes) is too large to check",
                    f.size()
                ),
            ));
            continue;
        }
        let mut data = Vec::new();
        if let Err(e) = f.by_ref().take(MAX_MEMBER).read_to_end(&mut data) {
            out.push(Finding::new(
                Severity::Danger,
                "zip.unreadable",
                format!("member `{shown}`: {e}"),
            ));
            continue;
        }
        // Offsets of pickle findings are within the member's pickle stream.
        scan_pickle_bytes(&data, &format!("`{shown}`"), out);
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at + 2)?;
    Some(usize::from(u16::from_le_bytes([s[0], s[1]])))
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at + 4)?;
    usize::try_from(u32::from_le_bytes([s[0], s[1], s[2], s[3]])).ok()
}

/// Member names as the central directory lists them, duplicates kept. Empty when the end
/// record is not found or the archive is zip64 (then only the zip reader's view is used).
fn central_names(b: &[u8]) -> Vec<Vec<u8>> {
    // End of central directory: 22 bytes plus a comment of up to 65535.
    let from = b.len().saturating_sub(22 + 0xffff);
    let Some(eocd) = b[from..]
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .map(|p| p + from)
    else {
        return Vec::new();
    };
    let (Some(count), Some(mut at)) = (u16_at(b, eocd + 10), u32_at(b, eocd + 16)) else {
        return Vec::new();
    };
    if count == 0xffff || at == 0xffff_ffff {
        return Vec::new();
    }
    let mut names = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        if b.get(at..at + 4) != Some(b"PK\x01\x02") {
            break;
        }
        let (Some(n), Some(x), Some(c)) =
            (u16_at(b, at + 28), u16_at(b, at + 30), u16_at(b, at + 32))
        else {
            break;
        };
        let Some(name) = b.get(at + 46..at + 46 + n) else {
            break;
        };
        names.push(name.to_vec());
        at += 46 + n + x + c;
    }
    names
}
