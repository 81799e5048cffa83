//! BOM serial numbers: `urn:uuid:` + a version-4 UUID. Randomness comes from `/dev/urandom` where
//! there is one, always mixed with time, process id and a counter through SHA-256, so two BOMs made
//! in the same process or on a system without `/dev/urandom` still get different serials.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::error::BomError;
use crate::hash::hex;

/// A BOM serial number, always `urn:uuid:` + a lowercase UUID (the form the schema's pattern takes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Serial(String);

impl Serial {
    /// Parse `urn:uuid:UUID` or a bare `UUID` (any case; stored lowercase).
    pub fn parse(value: &str) -> Result<Serial, BomError> {
        let uuid = value.strip_prefix("urn:uuid:").unwrap_or(value);
        let lower = uuid.to_ascii_lowercase();
        let well_formed = lower.len() == 36
            && lower.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_hexdigit(),
            });
        if well_formed {
            Ok(Serial(format!("urn:uuid:{lower}")))
        } else {
            Err(BomError::BadSerial(value.to_string()))
        }
    }

    /// A fresh random (version 4) serial.
    pub fn random() -> Serial {
        Serial::from_random_bytes(random_16())
    }

    /// The serial whose UUID is `bytes` with the version-4 and RFC 4122 variant bits set.
    pub fn from_random_bytes(mut bytes: [u8; 16]) -> Serial {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let h = hex(&bytes);
        Serial(format!(
            "urn:uuid:{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        ))
    }

    /// The full `urn:uuid:...` string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 16 bytes that differ between calls, processes and machines.
fn random_16() -> [u8; 16] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = Sha256::new();
    let mut os = [0u8; 16];
    // Best effort: without /dev/urandom the time/pid/counter mix below still separates BOMs.
    if let Ok(mut f) = File::open("/dev/urandom") {
        if f.read_exact(&mut os).is_ok() {
            hasher.update(os);
        }
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.update(nanos.to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let digest = hasher.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        let s = Serial::parse("3E671687-395B-41F5-A30F-A58921A69B79").unwrap();
        assert_eq!(s.as_str(), "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79");
        let t = Serial::parse("urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79").unwrap();
        assert_eq!(s, t);
        for bad in [
            "",
            "urn:uuid:",
            "3e671687395b41f5a30fa58921a69b79",
            "3e671687-395b-41f5-a30f-a58921a69b7g",
        ] {
            assert_eq!(
                Serial::parse(bad),
                Err(BomError::BadSerial(bad.to_string()))
            );
        }
    }

    #[test]
    fn random_is_v4_and_distinct() {
        let a = Serial::random();
        let b = Serial::random();
        assert_ne!(a, b);
        let uuid = &a.as_str()["urn:uuid:".len()..];
        assert_eq!(Serial::parse(uuid).unwrap(), a);
        assert_eq!(&uuid[14..15], "4");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn fixed_bytes() {
        let s = Serial::from_random_bytes([0xff; 16]);
        assert_eq!(s.as_str(), "urn:uuid:ffffffff-ffff-4fff-bfff-ffffffffffff");
    }
}
