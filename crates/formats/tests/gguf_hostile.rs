//! Hostile GGUF input: one test per error the reader can return, each built with GgufWriter and
//! then corrupted; every truncation and every single-byte corruption of a small valid file
//! returns (an error for truncations) and never panics; regression inputs found by fuzzing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use allmende_formats::gguf::{GgufArray, GgufFile, GgufWriter};
use allmende_formats::FormatError;
use allmende_kernels::GgmlType;
use common::{after, gguf_str, put_u32, put_u64, replace_once};

fn read(bytes: Vec<u8>) -> FormatError {
    match GgufFile::from_bytes(bytes) {
        Ok(_) => panic!("corrupted file was accepted"),
        Err(e) => e,
    }
}

/// Two tensors: `ta` (F32 [8], 32 bytes) and `tb` (Q8_0 [32, 2]).
fn two_tensors() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.set("general.architecture", "test")
        .set("keyA", 1u32)
        .set("keyB", 2u32);
    w.add_tensor("ta", GgmlType::F32, &[8], vec![1; 32])
        .unwrap();
    w.add_tensor("tb", GgmlType::Q8_0, &[32, 2], vec![2; 68])
        .unwrap();
    w.to_bytes().unwrap()
}

/// Byte position of tensor `name`'s n_dims field.
fn info(bytes: &[u8], name: &str) -> usize {
    after(bytes, &gguf_str(name))
}

#[test]
fn bad_magic() {
    let mut b = two_tensors();
    b[0] = b'X';
    let e = read(b);
    assert!(
        matches!(e, FormatError::BadMagic { magic } if &magic == b"XGUF"),
        "{e}"
    );
    assert!(e.to_string().contains("not a GGUF file"));
}

#[test]
fn unsupported_versions() {
    for (v, hint) in [
        (1u32, "v1 is obsolete"),
        (4, "only versions 2 and 3"),
        (0x0300_0000, "big-endian"),
        (0, ""),
    ] {
        let mut b = two_tensors();
        put_u32(&mut b, 4, v);
        let e = read(b);
        assert!(
            matches!(e, FormatError::UnsupportedVersion { version } if version == v),
            "{e}"
        );
        assert!(e.to_string().contains(hint), "{e}");
    }
}

#[test]
fn unexpected_eof() {
    let b = two_tensors();
    let e = read(b[..10].to_vec());
    assert!(
        matches!(
            &e,
            FormatError::UnexpectedEof {
                offset: 8,
                needed: 8,
                remaining: 2,
                ..
            }
        ),
        "{e}"
    );
    let e = read(b[..2].to_vec());
    assert!(
        matches!(&e, FormatError::UnexpectedEof { offset: 0, .. }),
        "{e}"
    );
}

#[test]
fn counts_beyond_file_are_rejected_before_allocating() {
    let mut b = two_tensors();
    put_u64(&mut b, 16, u64::MAX); // metadata count
    let e = read(b);
    assert!(
        matches!(
            &e,
            FormatError::CountTooLarge {
                count: u64::MAX,
                offset: 16,
                ..
            }
        ),
        "{e}"
    );

    let mut b = two_tensors();
    put_u64(&mut b, 8, 1 << 40); // tensor count
    let e = read(b);
    assert!(
        matches!(
            &e,
            FormatError::CountTooLarge {
                count: 1_099_511_627_776,
                offset: 8,
                ..
            }
        ),
        "{e}"
    );

    let mut w = GgufWriter::new();
    w.set("arr", vec![1u64, 2]);
    let mut b = w.to_bytes().unwrap();
    let at = after(&b, &gguf_str("arr")) + 4 + 4; // value type ARRAY, element type u64
    put_u64(&mut b, at, (1 << 60) + 1);
    let e = read(b);
    assert!(
        matches!(&e, FormatError::CountTooLarge { what, .. } if what.contains("arr")),
        "{e}"
    );
}

#[test]
fn string_lengths_beyond_file() {
    let mut b = two_tensors();
    put_u64(&mut b, 24, u64::MAX - 3); // length of the first key
    let e = read(b);
    assert!(
        matches!(&e, FormatError::StringTooLong { offset: 24, len, .. } if *len == u64::MAX - 3),
        "{e}"
    );

    let mut w = GgufWriter::new();
    w.set("s", "value");
    let mut b = w.to_bytes().unwrap();
    let at = after(&b, &gguf_str("s")) + 4;
    put_u64(&mut b, at, 1 << 33);
    let e = read(b);
    assert!(
        matches!(&e, FormatError::StringTooLong { what, .. } if what.contains("`s`")),
        "{e}"
    );
}

#[test]
fn invalid_utf8() {
    let mut b = two_tensors();
    replace_once(&mut b, b"keyA", b"key\xff");
    assert!(matches!(read(b), FormatError::InvalidUtf8 { .. }));

    let mut w = GgufWriter::new();
    w.set("s", vec!["ok", "abc"]);
    let mut b = w.to_bytes().unwrap();
    replace_once(&mut b, b"abc", b"a\xc3\x28");
    assert!(matches!(read(b), FormatError::InvalidUtf8 { what, .. } if what.contains("element 1")));
}

#[test]
fn unknown_value_type() {
    let mut b = two_tensors();
    let at = after(&b, &gguf_str("keyA"));
    put_u32(&mut b, at, 13);
    let e = read(b);
    assert!(
        matches!(&e, FormatError::UnknownValueType { key, type_id: 13, .. } if key == "keyA"),
        "{e}"
    );

    let mut w = GgufWriter::new();
    w.set("arr", vec![1u8]);
    let mut b = w.to_bytes().unwrap();
    let at = after(&b, &gguf_str("arr")) + 4; // element type
    put_u32(&mut b, at, 99);
    assert!(matches!(
        read(b),
        FormatError::UnknownValueType { type_id: 99, .. }
    ));
}

#[test]
fn invalid_bool() {
    let mut w = GgufWriter::new();
    w.set("flag", true);
    let mut b = w.to_bytes().unwrap();
    let at = after(&b, &gguf_str("flag")) + 4;
    b[at] = 2;
    let e = read(b);
    assert!(
        matches!(&e, FormatError::InvalidBool { key, value: 2, .. } if key == "flag"),
        "{e}"
    );
}

#[test]
fn arrays_nested_too_deep() {
    let mut a = GgufArray::U8(vec![1]);
    for _ in 0..7 {
        a = GgufArray::Array(vec![a]);
    }
    let mut w = GgufWriter::new();
    w.set("deep", a.clone());
    assert!(
        GgufFile::from_bytes(w.to_bytes().unwrap()).is_ok(),
        "8 levels are allowed"
    );
    w.set("deep", GgufArray::Array(vec![a]));
    let e = read(w.to_bytes().unwrap());
    assert!(
        matches!(&e, FormatError::ArrayTooDeep { key, max_depth: 8, .. } if key == "deep"),
        "{e}"
    );
}

#[test]
fn duplicate_key() {
    let mut b = two_tensors();
    replace_once(&mut b, b"keyB", b"keyA");
    let e = read(b);
    assert!(
        matches!(&e, FormatError::DuplicateKey { key } if key == "keyA"),
        "{e}"
    );
}

#[test]
fn bad_alignment() {
    for (value, shown) in [(3u32, "3"), (0, "0"), (48, "48")] {
        let mut w = GgufWriter::new();
        w.set("general.alignmenX", value);
        let mut b = w.to_bytes().unwrap();
        replace_once(&mut b, b"general.alignmenX", b"general.alignment");
        let e = read(b);
        assert!(
            matches!(&e, FormatError::BadAlignment { value } if value == shown),
            "{e}"
        );
    }
    let mut w = GgufWriter::new();
    w.set("general.alignmenX", 1.5f32);
    let mut b = w.to_bytes().unwrap();
    replace_once(&mut b, b"general.alignmenX", b"general.alignment");
    assert!(matches!(read(b), FormatError::BadAlignment { value } if value.contains("f32")));
}

#[test]
fn alignment_of_any_integer_type_is_honoured() {
    let mut w = GgufWriter::new();
    w.set("general.alignment", 64u64);
    w.add_tensor("t", GgmlType::F32, &[1], vec![0; 4]).unwrap();
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(f.alignment(), 64);
    assert_eq!(f.data_offset() % 64, 0);
}

#[test]
fn huge_alignment_without_tensors_is_valid() {
    // Found by fuzzing (the write-back in the fuzz target ran out of memory, not the reader).
    let b = std::fs::read(common::fixtures().join("regress/gguf-oom-huge-alignment")).unwrap();
    let f = GgufFile::from_bytes(b).unwrap();
    assert_eq!(f.alignment(), 1 << 30);
    assert_eq!(f.data_offset(), 1 << 30);
    assert!(f.tensors().is_empty());
    assert_eq!(f.get_str("general.architecture").unwrap(), "llama");
    // The same alignment with a tensor cannot fit in a small file.
    let mut w = GgufWriter::new();
    w.set_alignment(1 << 20);
    w.add_tensor("t", GgmlType::F32, &[1], vec![0; 4]).unwrap();
    let mut b = w.to_bytes().unwrap();
    assert_eq!(b.len(), 2 << 20);
    b.truncate(1 << 20);
    assert!(matches!(read(b), FormatError::TensorOutOfBounds { .. }));
}

#[test]
fn unknown_tensor_type() {
    let mut b = two_tensors();
    let at = info(&b, "ta") + 4 + 8; // n_dims, one dim
    put_u32(&mut b, at, 4); // Q4_2, removed from ggml
    let e = read(b);
    assert!(
        matches!(&e, FormatError::UnknownTensorType { name, type_id: 4 } if name == "ta"),
        "{e}"
    );
}

#[test]
fn more_than_four_dims() {
    let mut b = two_tensors();
    let at = info(&b, "ta");
    put_u32(&mut b, at, 5);
    let e = read(b);
    assert!(
        matches!(&e, FormatError::TooManyDims { name, n_dims: 5 } if name == "ta"),
        "{e}"
    );
}

#[test]
fn zero_dim() {
    let mut b = two_tensors();
    let at = info(&b, "tb") + 4 + 8; // second dim
    put_u64(&mut b, at, 0);
    let e = read(b);
    assert!(
        matches!(&e, FormatError::ZeroDim { name, dims } if name == "tb" && dims == &[32, 0]),
        "{e}"
    );
}

#[test]
fn element_count_overflow() {
    let mut b = two_tensors();
    let at = info(&b, "tb") + 4;
    put_u64(&mut b, at, 1 << 40);
    put_u64(&mut b, at + 8, 1 << 40);
    let e = read(b);
    assert!(
        matches!(&e, FormatError::TensorTooLarge { name, .. } if name == "tb"),
        "{e}"
    );
    // Fits in u64 but not in i64, as ggml requires.
    let mut b = two_tensors();
    put_u64(&mut b, at, 1 << 32);
    put_u64(&mut b, at + 8, 1 << 31);
    assert!(matches!(read(b), FormatError::TensorTooLarge { .. }));
}

#[test]
fn byte_size_overflow() {
    // 2^62 elements fit in i64, but 4 bytes each do not.
    let mut b = two_tensors();
    let at = info(&b, "ta") + 4;
    put_u64(&mut b, at, 1 << 62);
    assert!(matches!(read(b), FormatError::TensorTooLarge { name, .. } if name == "ta"));
}

#[test]
fn row_not_block_aligned() {
    let mut b = two_tensors();
    let at = info(&b, "tb") + 4;
    put_u64(&mut b, at, 33);
    let e = read(b);
    assert!(
        matches!(&e, FormatError::RowNotBlockAligned { name, row_len: 33, ty: GgmlType::Q8_0, block_size: 32 } if name == "tb"),
        "{e}"
    );
}

#[test]
fn misaligned_tensor() {
    let mut b = two_tensors();
    let at = info(&b, "tb") + 4 + 16 + 4; // n_dims, 2 dims, type
    put_u64(&mut b, at, 33);
    let e = read(b);
    assert!(
        matches!(&e, FormatError::MisalignedTensor { name, offset: 33, alignment: 32 } if name == "tb"),
        "{e}"
    );
}

#[test]
fn tensor_out_of_bounds() {
    let mut b = two_tensors();
    let at = info(&b, "tb") + 4 + 16 + 4;
    put_u64(&mut b, at, 1 << 20);
    let e = read(b);
    assert!(
        matches!(&e, FormatError::TensorOutOfBounds { name, offset: 1_048_576, size: 68, .. } if name == "tb"),
        "{e}"
    );
    // An offset beyond usize on any platform.
    let mut b = two_tensors();
    put_u64(&mut b, at, u64::MAX - 31);
    assert!(matches!(read(b), FormatError::TensorOutOfBounds { .. }));
    // Data section cut short.
    let mut b = two_tensors();
    b.truncate(b.len() - 40);
    assert!(matches!(read(b), FormatError::TensorOutOfBounds { name, .. } if name == "tb"));
}

#[test]
fn overlapping_tensors() {
    let mut b = two_tensors();
    let at = info(&b, "tb") + 4 + 16 + 4;
    put_u64(&mut b, at, 0);
    let e = read(b);
    assert!(
        matches!(&e, FormatError::OverlappingTensors { first, second } if (first, second) == (&"ta".to_string(), &"tb".to_string()) || (first, second) == (&"tb".to_string(), &"ta".to_string())),
        "{e}"
    );
}

#[test]
fn duplicate_tensor_name() {
    let mut b = two_tensors();
    replace_once(&mut b, &gguf_str("tb"), &gguf_str("ta"));
    let e = read(b);
    assert!(
        matches!(&e, FormatError::DuplicateTensor { name } if name == "ta"),
        "{e}"
    );
}

#[test]
fn open_names_the_path() {
    let dir = common::scratch("gguf-hostile-open");
    let path = dir.join("bad.gguf");
    let mut b = two_tensors();
    b[1] = 0;
    std::fs::write(&path, b).unwrap();
    let e = GgufFile::open(&path).unwrap_err();
    assert!(matches!(e.root(), FormatError::BadMagic { .. }), "{e}");
    assert!(e.to_string().contains("bad.gguf"), "{e}");
    let e = GgufFile::open(dir.join("missing.gguf")).unwrap_err();
    assert!(matches!(&e, FormatError::Io { .. }), "{e}");
    std::fs::write(dir.join("empty.gguf"), b"").unwrap();
    assert!(matches!(
        GgufFile::open(dir.join("empty.gguf")).unwrap_err().root(),
        FormatError::UnexpectedEof { .. }
    ));
}

/// A small file with every value type whose last tensor ends exactly at the end of the file,
/// so that every truncation removes needed bytes.
fn small_valid() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.set("a", 1u8)
        .set("b", -1i8)
        .set("c", 2u16)
        .set("d", -2i16)
        .set("e", 3u32)
        .set("f", -3i32);
    w.set("g", 4u64)
        .set("h", -4i64)
        .set("i", 0.5f32)
        .set("j", 0.25f64)
        .set("k", true)
        .set("l", "str");
    w.set("m", vec!["x", "yz"]).set(
        "n",
        vec![GgufArray::from(vec![1i32]), GgufArray::from(vec![false])],
    );
    w.add_tensor("t0", GgmlType::F16, &[3], vec![7; 6]).unwrap();
    w.add_tensor("t1", GgmlType::Q8_0, &[32], vec![9; 34])
        .unwrap();
    w.add_tensor("t2", GgmlType::F32, &[8], vec![5; 32])
        .unwrap();
    w.to_bytes().unwrap()
}

#[test]
fn every_truncation_is_an_error() {
    let b = small_valid();
    assert!(GgufFile::from_bytes(b.clone()).is_ok());
    for len in 0..b.len() {
        assert!(
            GgufFile::from_bytes(b[..len].to_vec()).is_err(),
            "truncated at {len} of {} was accepted",
            b.len()
        );
    }
}

#[test]
fn every_single_byte_corruption_returns() {
    let b = small_valid();
    for i in 0..b.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut c = b.clone();
            c[i] ^= x;
            // Must return (Ok or Err) without panicking or allocating absurdly.
            let _ = GgufFile::from_bytes(c);
        }
    }
}

#[test]
fn fuzz_regressions() {
    let dir = common::fixtures().join("regress");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("gguf-")
        {
            let _ = GgufFile::from_bytes(std::fs::read(&path).unwrap());
            n += 1;
        }
    }
    assert!(n > 0, "no gguf regression inputs found");
}
