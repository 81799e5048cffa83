//! Shared helpers for the model golden tests: fixture paths, reading reference tensors from
//! `reference.safetensors`, and tolerance checks that say where values diverge.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use allmende_formats::{Dtype, SafetensorsFile};

/// `tests/fixtures/<rel>` of this crate.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// A reference tensor file.
pub struct Reference(SafetensorsFile);

impl Reference {
    pub fn open(path: PathBuf) -> Reference {
        Reference(SafetensorsFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.tensor(name).is_some()
    }

    /// An F32 tensor: (shape, values).
    pub fn f32(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let t = self.0.tensor(name).unwrap_or_else(|| panic!("reference has no `{name}`"));
        assert_eq!(t.dtype, Dtype::F32, "{name}");
        let v = t.data.as_slice().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        (t.shape.clone(), v)
    }

    /// An I64 tensor as u32 token ids.
    pub fn ids(&self, name: &str) -> Vec<u32> {
        let t = self.0.tensor(name).unwrap_or_else(|| panic!("reference has no `{name}`"));
        assert_eq!(t.dtype, Dtype::I64, "{name}");
        t.data
            .as_slice()
            .chunks_exact(8)
            .map(|b| u32::try_from(i64::from_le_bytes(b.try_into().unwrap())).unwrap())
            .collect()
    }
}

/// Largest |a - b| and where it happens.
pub fn max_diff(a: &[f32], b: &[f32]) -> (f32, usize) {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let mut worst = (0f32, 0usize);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let d = (x - y).abs();
        if d > worst.0 || d.is_nan() {
            worst = (if d.is_nan() { f32::INFINITY } else { d }, i);
        }
    }
    worst
}

/// True when every element satisfies |a - b| <= atol + rtol * |b|.
pub fn close(a: &[f32], b: &[f32], atol: f32, rtol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= atol + rtol * y.abs())
}

pub fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).unwrap()
}

/// Largest minus second-largest value.
pub fn top_margin(v: &[f32]) -> f32 {
    let i = argmax(v);
    let second = v.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, x)| *x).fold(f32::NEG_INFINITY, f32::max);
    v[i] - second
}

pub const PROMPTS: [&str; 3] = ["len1", "len7", "len33"];
