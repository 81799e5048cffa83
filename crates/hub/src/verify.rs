//! Hashing a file the way the hub advertises it: sha256 of the content for LFS files, the git
//! blob id (sha1 of `"blob {len}\0"` + content) for the others.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::{HubError, Result};
use crate::listing::FileHash;

/// An incremental hasher for one [`FileHash`] kind.
pub enum Hasher {
    /// For LFS files.
    Sha256(Sha256),
    /// For other files; the git header is fed at creation.
    GitBlob(Sha1),
}

impl Hasher {
    /// A hasher for content of `size` bytes to be checked against `expected`'s kind.
    pub fn new(expected: &FileHash, size: u64) -> Hasher {
        match expected {
            FileHash::Sha256(_) => Hasher::Sha256(Sha256::new()),
            FileHash::GitBlob(_) => {
                let mut h = Sha1::new();
                h.update(format!("blob {size}\0").as_bytes());
                Hasher::GitBlob(h)
            }
        }
    }

    /// Feed content bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::GitBlob(h) => h.update(bytes),
        }
    }

    /// The digest as lowercase hex.
    pub fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => hex(&h.finalize()),
            Hasher::GitBlob(h) => hex(&h.finalize()),
        }
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Feed the first `len` bytes of `path` into `hasher` (used to resume a download and to re-check a
/// cached file). Fails if the file is shorter.
pub fn hash_prefix(path: &Path, len: u64, hasher: &mut Hasher) -> Result<()> {
    let file = File::open(path).map_err(|e| HubError::io("open", path, e))?;
    let mut reader = file.take(len);
    let mut buf = vec![0u8; 1 << 16];
    let mut done = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| HubError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
    }
    if done != len {
        return Err(HubError::io(
            "read",
            path,
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shrank while hashing",
            ),
        ));
    }
    Ok(())
}

/// Check the file at `path` against `expected` and `size`; the error names `name`. The file is
/// left in place: callers delete it on failure.
pub fn check_file(path: &Path, name: &str, expected: &FileHash, size: u64) -> Result<()> {
    let actual_size = std::fs::metadata(path)
        .map_err(|e| HubError::io("stat", path, e))?
        .len();
    if actual_size != size {
        return Err(HubError::SizeMismatch {
            file: name.to_string(),
            expected: size,
            actual: actual_size,
        });
    }
    let mut hasher = Hasher::new(expected, size);
    hash_prefix(path, size, &mut hasher)?;
    check_digest(name, expected, hasher.finish())
}

/// Compare a finished digest with the advertised one.
pub fn check_digest(name: &str, expected: &FileHash, actual: String) -> Result<()> {
    if actual == expected.hex() {
        Ok(())
    } else {
        Err(HubError::HashMismatch {
            file: name.to_string(),
            kind: match expected {
                FileHash::Sha256(_) => "sha256",
                FileHash::GitBlob(_) => "git blob id",
            },
            expected: expected.hex().to_string(),
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_id_matches_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        let mut h = Hasher::new(&FileHash::GitBlob(String::new()), 6);
        h.update(b"hello\n");
        assert_eq!(h.finish(), "ce013625030ba8dba906f756967f9e9ca394464a");
    }

    #[test]
    fn sha256_of_empty() {
        let h = Hasher::new(&FileHash::Sha256(String::new()), 0);
        assert_eq!(
            h.finish(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
