//! Downloading one blob: into `blobs/<hash>.incomplete`, resumed with `Range: bytes=N-` when a
//! partial file is there, hashed on the way (the kept prefix is re-hashed first), never read past
//! the advertised size, verified, then renamed to `blobs/<hash>`. A failed verification deletes
//! the partial file; a cut connection keeps it for the next attempt.

use std::fs::{self, File, OpenOptions};
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cache::remove_file_if_present;
use crate::error::{HubError, Result};
use crate::http::{status_error, Context, Http};
use crate::listing::RemoteFile;
use crate::verify::{check_digest, hash_prefix, Hasher};

/// Where one blob goes.
pub(crate) struct Target<'a> {
    pub url: &'a str,
    pub file: &'a RemoteFile,
    pub incomplete: &'a Path,
    pub blob: &'a Path,
}

/// Download `target`, retrying up to `retries` times after network errors and 5xx answers
/// (each retry resumes).
pub(crate) fn download(
    http: &Http,
    target: &Target<'_>,
    ctx: &Context<'_>,
    retries: u32,
    progress: bool,
) -> Result<()> {
    let bar = progress_bar(progress, target.file);
    let mut attempt = 0;
    let result = loop {
        match download_once(http, target, ctx, &bar) {
            // Cut connections and server-side hiccups (5xx, e.g. a CDN's 503) are worth a retry.
            Err(
                HubError::Network { .. }
                | HubError::Http {
                    status: 500..=599, ..
                },
            ) if attempt < retries => {
                attempt += 1;
                // A short, growing pause: a flaky link often recovers within seconds.
                std::thread::sleep(Duration::from_millis(250 * u64::from(attempt)));
            }
            other => break other,
        }
    };
    match &result {
        Ok(()) => bar.finish(),
        Err(_) => bar.abandon(),
    }
    result
}

fn download_once(
    http: &Http,
    target: &Target<'_>,
    ctx: &Context<'_>,
    bar: &ProgressBar,
) -> Result<()> {
    let file = target.file;
    let part = target.incomplete;
    let mut have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if have > file.size {
        remove_file_if_present(part)?;
        have = 0;
    }
    let mut hasher = Hasher::new(&file.hash, file.size);
    if have == file.size && have > 0 {
        // Everything is there already (a crash before the rename): just verify.
        hash_prefix(part, have, &mut hasher)?;
        return finish(target, hasher);
    }
    if have > 0 {
        hash_prefix(part, have, &mut hasher)?;
    }
    let range = (have > 0).then_some(have);
    let (url, resp) = http.get(target.url, range)?;
    let status = resp.status().as_u16();
    let mut out = match status {
        206 if have > 0 => {
            let content_range = resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !content_range.starts_with(&format!("bytes {have}-")) {
                // Not the range asked for: start over on the next attempt.
                remove_file_if_present(part)?;
                return Err(HubError::Network {
                    url,
                    detail: format!("asked for bytes {have}-, got Content-Range `{content_range}`"),
                });
            }
            OpenOptions::new()
                .append(true)
                .open(part)
                .map_err(|e| HubError::io("open", part, e))?
        }
        200 => {
            // The server ignored the range (or none was asked): start from zero.
            have = 0;
            hasher = Hasher::new(&file.hash, file.size);
            File::create(part).map_err(|e| HubError::io("create", part, e))?
        }
        416 => {
            remove_file_if_present(part)?;
            return Err(HubError::Network {
                url,
                detail: format!("range bytes={have}- not satisfiable; restarting"),
            });
        }
        _ => return Err(status_error(&url, resp, ctx)),
    };
    bar.set_position(have);
    // Read at most one byte past the advertised size: enough to tell "too long" without
    // letting a hostile server fill the disk.
    let mut body = resp.into_body().into_reader().take(file.size - have + 1);
    let mut buf = vec![0u8; 1 << 16];
    let mut total = have;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                // Keep what arrived: the next attempt resumes from it.
                let _ = out.flush();
                return Err(HubError::Network {
                    url,
                    detail: format!("transfer cut after {total} of {} bytes: {e}", file.size),
                });
            }
        };
        total += n as u64;
        if total > file.size {
            drop(out);
            remove_file_if_present(part)?;
            return Err(HubError::SizeMismatch {
                file: file.path.clone(),
                expected: file.size,
                actual: total,
            });
        }
        out.write_all(&buf[..n])
            .map_err(|e| HubError::io("write", part, e))?;
        hasher.update(&buf[..n]);
        bar.set_position(total);
    }
    out.sync_all().map_err(|e| HubError::io("sync", part, e))?;
    drop(out);
    if total < file.size {
        return Err(HubError::Network {
            url,
            detail: format!("connection closed after {total} of {} bytes", file.size),
        });
    }
    finish(target, hasher)
}

/// Compare the digest; on success move the partial file into place, else delete it.
fn finish(target: &Target<'_>, hasher: Hasher) -> Result<()> {
    if let Err(e) = check_digest(&target.file.path, &target.file.hash, hasher.finish()) {
        remove_file_if_present(target.incomplete)?;
        return Err(e);
    }
    fs::rename(target.incomplete, target.blob)
        .map_err(|e| HubError::io("rename", target.incomplete, e))
}

/// A bytes bar on stderr when asked for and stderr is a terminal; hidden otherwise.
fn progress_bar(progress: bool, file: &RemoteFile) -> ProgressBar {
    if !progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(file.size), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(file.path.clone());
    bar
}
