//! safetensors: reading the llama fixture, writer round trips, sharded sets via an index, and
//! one hostile-input test per error the reader returns; truncations and byte corruptions of a
//! small valid file never panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use allmende_formats::safetensors::{
    Dtype, SafetensorsFile, SafetensorsSet, SafetensorsWriter, MAX_HEADER_LEN,
};
use allmende_formats::FormatError;

fn read(bytes: Vec<u8>) -> FormatError {
    match SafetensorsFile::from_bytes(bytes) {
        Ok(_) => panic!("corrupted file was accepted"),
        Err(e) => e,
    }
}

/// A file whose header is `header` (padded) followed by `data_len` bytes.
fn raw(header: &str, data_len: usize) -> Vec<u8> {
    let mut h = header.as_bytes().to_vec();
    h.resize(h.len().next_multiple_of(8), b' ');
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend(std::iter::repeat_n(7u8, data_len));
    out
}

fn sample() -> SafetensorsWriter {
    let mut w = SafetensorsWriter::new();
    w.set_metadata("format", "pt");
    w.add_f32("w", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        .unwrap();
    w.add("h", Dtype::F16, &[2], vec![0x00, 0x3c, 0x00, 0xc0])
        .unwrap();
    w.add("b", Dtype::BF16, &[1, 1], vec![0x80, 0x3f]).unwrap();
    w.add("i", Dtype::I64, &[1], 42i64.to_le_bytes().to_vec())
        .unwrap();
    w.add("empty", Dtype::U8, &[0, 4], vec![]).unwrap();
    w.add("scalar", Dtype::F8E4M3, &[], vec![0x38]).unwrap();
    w
}

#[test]
fn llama_fixture_tensors() {
    let f = SafetensorsFile::open(common::fixtures().join("llama-gqa/model.safetensors")).unwrap();
    assert_eq!(f.tensors().len(), 21);
    let q = f.tensor("model.layers.0.self_attn.q_proj.weight").unwrap();
    assert_eq!(
        (q.dtype, q.shape.as_slice(), q.data.len()),
        (Dtype::F32, &[64, 64][..], 64 * 64 * 4)
    );
    let k = f.tensor("model.layers.1.self_attn.k_proj.weight").unwrap();
    assert_eq!(k.shape, vec![32, 64]);
    assert!(k.data.is_mapped());
    let norm = f.tensor("model.norm.weight").unwrap();
    assert_eq!(norm.shape, vec![64]);
    assert!(f.tensor("missing").is_none());
}

#[test]
fn writer_round_trip() {
    let f = SafetensorsFile::from_bytes(sample().to_bytes()).unwrap();
    assert_eq!(f.metadata(), [("format".to_string(), "pt".to_string())]);
    assert_eq!(f.data_offset() % 8, 0);
    assert_eq!(f.tensors().len(), 6);
    let w = f.tensor("w").unwrap();
    assert_eq!(
        (w.dtype, w.shape.as_slice(), w.n_elements()),
        (Dtype::F32, &[2, 3][..], 6)
    );
    let vals: Vec<f32> = w
        .data
        .as_slice()
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(vals, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(
        f.tensor("h").unwrap().data.as_slice(),
        [0x00, 0x3c, 0x00, 0xc0]
    );
    assert_eq!(f.tensor("b").unwrap().dtype, Dtype::BF16);
    assert_eq!(f.tensor("i").unwrap().data.as_slice(), 42i64.to_le_bytes());
    assert_eq!(f.tensor("empty").unwrap().data.len(), 0);
    let s = f.tensor("scalar").unwrap();
    assert_eq!(
        (s.dtype, s.shape.len(), s.n_elements()),
        (Dtype::F8E4M3, 0, 1)
    );
}

#[test]
fn dtype_names_and_sizes() {
    for d in Dtype::ALL {
        assert_eq!(Dtype::parse(d.name()), Some(d));
    }
    assert_eq!(
        (Dtype::BF16.size(), Dtype::F8E5M2.name(), Dtype::C64.size()),
        (2, "F8_E5M2", 8)
    );
    assert_eq!(Dtype::parse("F4"), None);
}

#[test]
fn sharded_set_via_index() {
    let dir = common::scratch("st-sharded");
    let mut a = SafetensorsWriter::new();
    a.add_f32("x", &[2], &[1.0, 2.0]).unwrap();
    a.add_f32("y", &[1], &[3.0]).unwrap();
    a.write_to_path(dir.join("model-00001-of-00002.safetensors"))
        .unwrap();
    let mut b = SafetensorsWriter::new();
    b.add_f32("z", &[1], &[4.0]).unwrap();
    b.write_to_path(dir.join("model-00002-of-00002.safetensors"))
        .unwrap();
    let index = r#"{"metadata": {"total_size": 16}, "weight_map": {
        "x": "model-00001-of-00002.safetensors", "z": "model-00002-of-00002.safetensors",
        "y": "model-00001-of-00002.safetensors"}}"#;
    std::fs::write(dir.join("model.safetensors.index.json"), index).unwrap();
    let set = SafetensorsSet::open(dir.join("model.safetensors.index.json")).unwrap();
    assert_eq!(set.len(), 3);
    assert_eq!(set.files().len(), 2);
    assert_eq!(
        set.tensor("z").unwrap().data.as_slice(),
        4.0f32.to_le_bytes()
    );
    assert_eq!(
        set.tensor("y").unwrap().data.as_slice(),
        3.0f32.to_le_bytes()
    );
    assert_eq!(set.index_metadata()["total_size"], 16);
    let names: Vec<&str> = set.tensors().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["x", "y", "z"]);

    let single = SafetensorsSet::open(dir.join("model-00002-of-00002.safetensors")).unwrap();
    assert_eq!(single.len(), 1);
}

#[test]
fn index_errors() {
    let dir = common::scratch("st-index-errors");
    let mut a = SafetensorsWriter::new();
    a.add_f32("x", &[1], &[1.0]).unwrap();
    a.write_to_path(dir.join("a.safetensors")).unwrap();
    a.write_to_path(dir.join("a2.safetensors")).unwrap();
    let open = |index: &str| {
        let p = dir.join("model.safetensors.index.json");
        std::fs::write(&p, index).unwrap();
        SafetensorsSet::open_index(&p).unwrap_err()
    };
    let e = open(r#"{"weight_map": {"x": "missing.safetensors"}}"#);
    assert!(
        matches!(&e, FormatError::BadShard { shard, reason, .. } if shard == "missing.safetensors" && reason.contains("does not exist")),
        "{e}"
    );
    let e = open(r#"{"weight_map": {"x": "../a.safetensors"}}"#);
    assert!(
        matches!(&e, FormatError::BadShard { reason, .. } if reason.contains("plain file name")),
        "{e}"
    );
    let e = open(r#"{"weight_map": {"x": "/etc/passwd"}}"#);
    assert!(matches!(&e, FormatError::BadShard { .. }), "{e}");
    let e = open(r#"{"weight_map": {"y": "a.safetensors"}}"#);
    assert!(
        matches!(&e, FormatError::BadShard { reason, .. } if reason.contains("`y`")),
        "{e}"
    );
    let e = open(r#"{"weight_map": {"x": "a.safetensors", "x": "a.safetensors"}}"#);
    assert!(
        matches!(e.root(), FormatError::DuplicateTensor { name } if name == "x"),
        "{e}"
    );
    let e = open(r#"{"weight_map": {"x": "a.safetensors", "w": "a2.safetensors"}}"#);
    assert!(
        matches!(e.root(), FormatError::DuplicateTensor { name } if name == "x"),
        "{e}"
    );
    let e = open(r#"{"weight_map": {"x": 3}}"#);
    assert!(matches!(e.root(), FormatError::InvalidHeader { .. }), "{e}");
    let e = open(r#"{"metadata": {}}"#);
    assert!(
        matches!(e.root(), FormatError::InvalidHeader { message, .. } if message.contains("weight_map")),
        "{e}"
    );
    let e = open("{not json");
    assert!(matches!(e.root(), FormatError::InvalidJson { .. }), "{e}");
    assert!(
        e.to_string().contains("model.safetensors.index.json"),
        "{e}"
    );
}

#[test]
fn too_short_for_header_length() {
    assert!(matches!(
        read(vec![1, 2, 3]),
        FormatError::UnexpectedEof {
            needed: 8,
            remaining: 3,
            ..
        }
    ));
}

#[test]
fn header_length_beyond_file() {
    let mut b = sample().to_bytes();
    let n = b.len() as u64;
    b[..8].copy_from_slice(&n.to_le_bytes());
    let e = read(b);
    assert!(
        matches!(&e, FormatError::BadHeaderLength { reason, .. } if reason.contains("beyond the end")),
        "{e}"
    );
}

#[test]
fn header_length_above_cap() {
    let mut b = sample().to_bytes();
    b[..8].copy_from_slice(&(MAX_HEADER_LEN + 1).to_le_bytes());
    let e = read(b);
    assert!(
        matches!(&e, FormatError::BadHeaderLength { len, reason } if *len == MAX_HEADER_LEN + 1 && reason.contains("cap")),
        "{e}"
    );
}

#[test]
fn bad_json_and_utf8() {
    let e = read(raw(
        r#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]"#,
        4,
    ));
    assert!(matches!(&e, FormatError::InvalidJson { .. }), "{e}");
    let e = read(raw("[1, 2]", 0));
    assert!(matches!(&e, FormatError::InvalidJson { .. }), "{e}");
    let mut b = raw(r#"{"__metadata__": {"k": "vv"}}"#, 0);
    common::replace_once(&mut b, b"vv", b"\xff\xfe");
    assert!(matches!(
        read(b),
        FormatError::InvalidUtf8 { offset: 8, .. }
    ));
}

#[test]
fn malformed_entries() {
    for (header, needle) in [
        (r#"{"a": 5}"#, "not an object"),
        (r#"{"a": {"shape": [1], "data_offsets": [0, 4]}}"#, "dtype"),
        (
            r#"{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#,
            "shape",
        ),
        (
            r#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}"#,
            "1 entries",
        ),
        (
            r#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}"#,
            "end before",
        ),
        (r#"{"__metadata__": {"k": 1}}"#, "not a string"),
        (r#"{"__metadata__": []}"#, "not an object"),
    ] {
        let e = read(raw(header, 4));
        assert!(
            matches!(&e, FormatError::InvalidHeader { message, .. } if message.contains(needle)),
            "{header}: {e}"
        );
    }
}

#[test]
fn unknown_dtype() {
    let e = read(raw(
        r#"{"a": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]}}"#,
        1,
    ));
    assert!(
        matches!(&e, FormatError::UnknownDtype { name, dtype } if name == "a" && dtype == "F4"),
        "{e}"
    );
}

#[test]
fn offsets_not_matching_dtype_and_shape() {
    let e = read(raw(
        r#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}"#,
        4,
    ));
    assert!(
        matches!(&e, FormatError::TensorSizeMismatch { name, expected: 8, got: 4 } if name == "a"),
        "{e}"
    );
}

#[test]
fn shape_overflow() {
    let e = read(raw(
        r#"{"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}}"#,
        4,
    ));
    assert!(
        matches!(&e, FormatError::TensorTooLarge { name, .. } if name == "a"),
        "{e}"
    );
}

#[test]
fn offsets_out_of_bounds() {
    let e = read(raw(
        r#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#,
        4,
    ));
    assert!(
        matches!(&e, FormatError::TensorOutOfBounds { name, data_len: 4, .. } if name == "a"),
        "{e}"
    );
}

#[test]
fn overlapping_tensors() {
    let e = read(raw(
        r#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#,
        8,
    ));
    assert!(
        matches!(&e, FormatError::OverlappingTensors { first, second } if first == "a" && second == "b"),
        "{e}"
    );
}

#[test]
fn holes_in_data() {
    let e = read(raw(
        r#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}"#,
        12,
    ));
    assert!(
        matches!(&e, FormatError::DataHole { start: 4, end: 8 }),
        "{e}"
    );
    let e = read(raw(
        r#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#,
        6,
    ));
    assert!(
        matches!(&e, FormatError::DataHole { start: 4, end: 6 }),
        "{e}"
    );
}

#[test]
fn duplicate_names() {
    let e = read(raw(
        r#"{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}"#,
        2,
    ));
    assert!(
        matches!(&e, FormatError::DuplicateTensor { name } if name == "a"),
        "{e}"
    );
}

#[test]
fn writer_rejects_bad_tensors() {
    let mut w = SafetensorsWriter::new();
    w.add_f32("a", &[1], &[0.0]).unwrap();
    assert!(matches!(
        w.add_f32("a", &[1], &[0.0]).map(|_| ()),
        Err(FormatError::DuplicateTensor { .. })
    ));
    assert!(matches!(
        w.add("b", Dtype::F16, &[2], vec![0; 3]).map(|_| ()),
        Err(FormatError::TensorSizeMismatch { .. })
    ));
    assert!(matches!(
        w.add("c", Dtype::F32, &[usize::MAX, 2], vec![]).map(|_| ()),
        Err(FormatError::TensorTooLarge { .. })
    ));
}

#[test]
fn open_names_the_path() {
    let dir = common::scratch("st-open");
    let p = dir.join("bad.safetensors");
    std::fs::write(&p, raw("{", 0)).unwrap();
    let e = SafetensorsFile::open(&p).unwrap_err();
    assert!(matches!(e.root(), FormatError::InvalidJson { .. }));
    assert!(e.to_string().contains("bad.safetensors"), "{e}");
}

#[test]
fn every_truncation_and_corruption_returns() {
    let b = sample().to_bytes();
    for len in 0..b.len() {
        assert!(
            SafetensorsFile::from_bytes(b[..len].to_vec()).is_err(),
            "truncated at {len} accepted"
        );
    }
    for i in 0..b.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut c = b.clone();
            c[i] ^= x;
            let _ = SafetensorsFile::from_bytes(c);
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
            .starts_with("safetensors-")
        {
            // All of these are hostile: they must be rejected (without a stack overflow).
            let r = SafetensorsFile::from_bytes(std::fs::read(&path).unwrap());
            assert!(r.is_err(), "{} was accepted", path.display());
            n += 1;
        }
    }
    assert!(n >= 2, "safetensors regression inputs missing");
}
