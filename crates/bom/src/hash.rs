//! SHA-256 of model files, streamed so multi-gigabyte weights never sit in memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Read buffer: large enough that syscalls do not dominate, small enough to stay in cache.
const BUFFER: usize = 1 << 20;

/// Lowercase hex SHA-256 of the file at `path`, read in 1 MiB chunks.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUFFER];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// `value` as a lowercase SHA-256 hex string, if it is one (any case accepted).
pub(crate) fn normalise_sha256(value: &str) -> Option<String> {
    (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| value.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            sha256_bytes(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn file_digest_spans_buffers() {
        // 2.5 buffers: the streamed digest must equal the one-shot digest.
        let data: Vec<u8> = (0..(BUFFER * 5 / 2)).map(|i| (i % 251) as u8).collect();
        let path = std::env::temp_dir().join(format!("allmende-bom-hash-{}", std::process::id()));
        std::fs::write(&path, &data).unwrap();
        let got = sha256_file(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(got, sha256_bytes(&data));
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = sha256_file(Path::new("/nonexistent/allmende-bom")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn normalise() {
        let upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        assert_eq!(normalise_sha256(upper).unwrap(), upper.to_ascii_lowercase());
        assert_eq!(normalise_sha256("abc"), None);
        assert_eq!(normalise_sha256(&"g".repeat(64)), None);
    }
}
