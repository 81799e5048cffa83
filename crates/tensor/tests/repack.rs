//! Repacking at load: a memory-mapped matrix of every x8 type, once repacked (which hands its
//! file pages back to the OS), answers `matmul` for 1 and more tokens bit for bit as `vec_dot`
//! of the original rows, and row lookups (`dequantize_row`, `to_f32`, the embedding's get_rows)
//! exactly as the original rows dequantize; its file bytes still read back unchanged. And
//! `ByteView::release` really drops a mapping's pages from the resident set (Linux: smaps).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use allmende_kernels::{self as kernels, GgmlType, X8_ROWS};
use allmende_tensor::{ByteView, Layout, QMatrix, Storage, ThreadPool};

const X8_TYPES: [GgmlType; 7] =
    [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K];

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

/// A file in the temp dir, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str, bytes: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("allmende-tensor-{tag}-{}.bin", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        TempFile(path)
    }

    fn map(&self) -> Arc<Storage> {
        let f = std::fs::File::open(&self.0).unwrap();
        // SAFETY: a read-only private map of a file this test wrote and does not change.
        let m = unsafe { memmap2::Mmap::map(&f) }.unwrap();
        Arc::new(Storage::Mapped(m))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn same(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn repacked_mapped_matrix_answers_matmul_and_rows_like_the_original_rows() {
    println!("kernel table: {}", kernels::isa_name());
    // 21 rows: two full groups of 8 and a padded one; 512 columns: two K-quant super-blocks.
    let (rows, cols) = (21, 512);
    let x = values(17 * cols, 7);
    for ty in X8_TYPES {
        let original = QMatrix::quantize(ty, rows, cols, &values(rows * cols, ty.id() as u64)).unwrap();
        let file_bytes = original.bytes().as_slice().to_vec();
        // Put the matrix at an odd offset, so that it shares pages with its neighbours.
        let mut file = vec![0xA5u8; 1000];
        file.extend_from_slice(&file_bytes);
        file.extend_from_slice(&[0x5Au8; 777]);
        let tmp = TempFile::new(&format!("repack-{ty}"), &file);
        let storage = tmp.map();
        let view = ByteView::new(storage, 1000..1000 + file_bytes.len()).unwrap();
        let m = QMatrix::new(ty, rows, cols, view).unwrap();
        assert_eq!(m.layout(), Layout::X8, "{ty}");

        // Reference, from the original bytes (never repacked): dequantized rows and vec_dot.
        let row_bytes = ty.row_bytes(cols).unwrap();
        let row = |r: usize| &file_bytes[r * row_bytes..(r + 1) * row_bytes];
        let mut want_rows = vec![0f32; rows * cols];
        for (r, dst) in want_rows.chunks_exact_mut(cols).enumerate() {
            kernels::dequantize_row(ty, row(r), dst);
        }
        let act_ty = ty.vec_dot_type();
        let mut a = vec![0u8; act_ty.row_bytes(cols).unwrap()];
        let mut want_mm = vec![0f32; 17 * rows];
        for t in 0..17 {
            kernels::quantize_row(act_ty, &x[t * cols..(t + 1) * cols], &mut a);
            for r in 0..rows {
                want_mm[t * rows + r] = kernels::vec_dot(ty, cols, row(r), &a);
            }
        }

        for threads in [1, 2, 3] {
            let pool = ThreadPool::new(threads);
            let m = if threads == 1 { m.clone() } else { QMatrix::new(ty, rows, cols, m.bytes().clone()).unwrap() };
            let gb = kernels::x8_group_bytes(ty, cols).unwrap();
            assert_eq!(m.repack(&pool), rows.div_ceil(X8_ROWS) * gb, "{ty}");

            // Row lookups now come from the x8 copy.
            let mut got = vec![f32::NAN; cols];
            for r in 0..rows {
                m.dequantize_row(r, &mut got);
                assert!(same(&got, &want_rows[r * cols..(r + 1) * cols]), "{ty} threads={threads} row {r}");
            }
            assert!(same(&m.to_f32(), &want_rows), "{ty} threads={threads} to_f32");

            // Matmul, one token (decode) and batches.
            let mut scratch = Vec::new();
            for (t0, n) in [(0, 1), (5, 1), (2, 3), (0, 17)] {
                let mut out = vec![f32::NAN; n * rows];
                m.matmul(&pool, &x[t0 * cols..(t0 + n) * cols], n, &mut out, &mut scratch);
                assert!(same(&out, &want_mm[t0 * rows..(t0 + n) * rows]), "{ty} threads={threads} t0={t0} n_tok={n}");
            }

            // The released file pages read back unchanged, neighbours included.
            assert_eq!(m.bytes().as_slice(), &file_bytes[..], "{ty}");
        }
        let f = std::fs::read(&tmp.0).unwrap();
        assert_eq!(f, file);
    }
}

#[test]
fn a_lazily_repacked_owned_matrix_serves_the_same_rows() {
    // No map: the first matmul builds the copy, rows then come from it.
    let pool = ThreadPool::new(2);
    for ty in X8_TYPES {
        let (rows, cols) = (11, 256);
        let m = QMatrix::quantize(ty, rows, cols, &values(rows * cols, 3 + ty.id() as u64)).unwrap();
        let before = m.to_f32();
        let mut out = vec![0f32; rows];
        m.matmul(&pool, &values(cols, 1), 1, &mut out, &mut Vec::new());
        assert!(same(&m.to_f32(), &before), "{ty}");
        // A clone made before shares the copy.
        assert!(same(&m.clone().to_f32(), &before), "{ty}");
    }
}

#[test]
fn release_drops_only_whole_pages_and_keeps_the_bytes() {
    const PAGE: usize = 4096;
    let bytes: Vec<u8> = (0..5 * PAGE + 100).map(|i| (i % 251) as u8).collect();
    let tmp = TempFile::new("release", &bytes);
    let storage = tmp.map();
    let whole = ByteView::whole(storage.clone());
    // Pages 1..4 lie wholly inside 100..4*PAGE+50; pages 0 and 4 are shared with outside bytes.
    let view = ByteView::new(storage.clone(), 100..4 * PAGE + 50).unwrap();
    assert_eq!(view.release(), 3 * PAGE);
    assert_eq!(ByteView::new(storage, 10..PAGE + 10).unwrap().release(), 0);
    assert_eq!(whole.as_slice(), &bytes[..]);
    assert_eq!(ByteView::from_vec(bytes.clone()).release(), 0);
}

/// Resident kB of the mapping that starts at `addr`, from /proc/self/smaps.
#[cfg(target_os = "linux")]
fn resident_kib(addr: usize) -> usize {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut inside = false;
    for line in smaps.lines() {
        // A mapping's header starts with `start-end`; its fields with `Name:`.
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some(start) = first.split_once('-').and_then(|(s, _)| usize::from_str_radix(s, 16).ok()) {
            inside = start == addr;
        } else if let Some(kb) = line.strip_prefix("Rss:").filter(|_| inside) {
            return kb.trim().trim_end_matches("kB").trim().parse().unwrap();
        }
    }
    panic!("no mapping at {addr:#x} in /proc/self/smaps");
}

#[cfg(target_os = "linux")]
#[test]
fn repack_hands_the_mapped_pages_back() {
    let pool = ThreadPool::new(2);
    let (rows, cols) = (1024, 1024);
    let m = QMatrix::quantize(GgmlType::Q8_0, rows, cols, &values(rows * cols, 11)).unwrap();
    let tmp = TempFile::new("resident", m.bytes().as_slice());
    let storage = tmp.map();
    let addr = storage.as_slice().as_ptr() as usize;
    let mapped = QMatrix::new(GgmlType::Q8_0, rows, cols, ByteView::whole(storage)).unwrap();
    // Read every page, as loading and repacking does.
    let sum: u64 = mapped.bytes().as_slice().iter().map(|&b| u64::from(b)).sum();
    assert!(sum > 0);
    let size_kib = mapped.bytes().len() / 1024;
    assert!(resident_kib(addr) >= size_kib - 4, "{} of {size_kib} kB resident after a full read", resident_kib(addr));
    mapped.repack(&pool);
    assert_eq!(resident_kib(addr), 0, "the repacked matrix's file pages are still resident");
    // Lookups come from the copy and do not fault the file back in.
    let mut row = vec![0f32; cols];
    for r in [0, 7, 500, 1023] {
        mapped.dequantize_row(r, &mut row);
    }
    assert_eq!(resident_kib(addr), 0, "row lookups faulted file pages back in");
    assert_eq!(mapped.to_f32(), m.to_f32());
}
