//! GgufWriter → GgufFile round trips: every metadata value type (nested and empty arrays
//! included), tensors of float and block-quantized types with 1 to 4 dims, custom alignment,
//! v2 files, paths, and the typed getters' conversions and errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use allmende_formats::gguf::{GgufArray, GgufFile, GgufValue, GgufValueType, GgufWriter};
use allmende_formats::FormatError;
use allmende_kernels::GgmlType;

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A writer with one value of every type and four tensors.
fn sample(alignment: Option<u32>) -> GgufWriter {
    let mut w = GgufWriter::new();
    w.set("general.architecture", "llama")
        .set("t.u8", 200u8)
        .set("t.i8", -100i8)
        .set("t.u16", 60000u16)
        .set("t.i16", -30000i16)
        .set("t.u32", 4_000_000_000u32)
        .set("t.i32", -2_000_000_000i32)
        .set("t.u64", u64::MAX)
        .set("t.i64", i64::MIN)
        .set("t.f32", 1.5f32)
        .set("t.f64", -2.25e300f64)
        .set("t.bool", true)
        .set("t.string", "héllo ✓")
        .set("t.empty_string", "")
        .set("t.arr.u8", vec![1u8, 2, 3])
        .set("t.arr.i8", vec![-1i8, 2])
        .set("t.arr.u16", vec![1u16])
        .set("t.arr.i16", vec![-1i16, -2])
        .set("t.arr.u32", vec![7u32, 8, 9])
        .set("t.arr.i32", vec![-7i32, 8])
        .set("t.arr.u64", vec![u64::MAX])
        .set("t.arr.i64", vec![i64::MIN, 0])
        .set("t.arr.f32", vec![0.5f32, -0.25])
        .set("t.arr.f64", vec![1e-300f64])
        .set("t.arr.bool", vec![true, false, true])
        .set("t.arr.string", vec!["a", "", "ü"])
        .set("t.arr.empty", Vec::<i32>::new())
        .set(
            "t.arr.nested",
            vec![
                GgufArray::from(vec![1i32, 2]),
                GgufArray::String(vec!["x".into()]),
                GgufArray::Array(vec![GgufArray::U8(vec![])]),
            ],
        );
    if let Some(a) = alignment {
        w.set_alignment(a);
    }
    w.add_tensor("f32.1d", GgmlType::F32, &[5], bytes(20, 1))
        .unwrap();
    w.add_tensor("f16.2d", GgmlType::F16, &[3, 2], bytes(12, 2))
        .unwrap();
    w.add_tensor("q8_0.3d", GgmlType::Q8_0, &[64, 2, 3], bytes(2 * 34 * 6, 3))
        .unwrap();
    w.add_tensor(
        "q4_k.4d",
        GgmlType::Q4_K,
        &[256, 1, 2, 1],
        bytes(144 * 2, 4),
    )
    .unwrap();
    w
}

fn check_round_trip(w: &GgufWriter, alignment: usize) {
    let out = w.to_bytes().unwrap();
    let f = GgufFile::from_bytes(out.clone()).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), alignment);
    assert_eq!(f.data_offset() % alignment, 0);
    assert_eq!(f.metadata(), w.metadata());
    let expect = [
        ("f32.1d", GgmlType::F32, vec![5], 20, 1),
        ("f16.2d", GgmlType::F16, vec![3, 2], 12, 2),
        ("q8_0.3d", GgmlType::Q8_0, vec![64, 2, 3], 408, 3),
        ("q4_k.4d", GgmlType::Q4_K, vec![256, 1, 2, 1], 288, 4),
    ];
    assert_eq!(f.tensors().len(), 4);
    for (t, (name, ty, dims, size, seed)) in f.tensors().iter().zip(expect) {
        assert_eq!(
            (t.name.as_str(), t.ggml_type, &t.dims, t.size),
            (name, ty, &dims, size)
        );
        assert_eq!(t.offset % alignment, 0);
        assert_eq!(f.tensor_data(t).unwrap().as_slice(), bytes(size, seed));
    }
    // Re-writing what was read gives the same bytes.
    let mut w2 = GgufWriter::new();
    for (k, v) in f.metadata() {
        w2.set(k.clone(), v.clone());
    }
    for t in f.tensors() {
        w2.add_tensor_view(
            t.name.clone(),
            t.ggml_type,
            &t.dims,
            f.tensor_data(t).unwrap(),
        )
        .unwrap();
    }
    assert_eq!(w2.to_bytes().unwrap(), out);
}

#[test]
fn round_trip_default_alignment() {
    check_round_trip(&sample(None), 32);
}

#[test]
fn round_trip_custom_alignments() {
    for a in [1u32, 8, 64, 4096] {
        check_round_trip(&sample(Some(a)), a as usize);
    }
}

#[test]
fn file_without_tensors_or_metadata() {
    let f = GgufFile::from_bytes(GgufWriter::new().to_bytes().unwrap()).unwrap();
    assert!(f.metadata().is_empty());
    assert!(f.tensors().is_empty());
    assert_eq!(f.data_offset(), 32);
}

#[test]
fn version_2_is_read() {
    let mut out = sample(None).to_bytes().unwrap();
    common::put_u32(&mut out, 4, 2);
    let f = GgufFile::from_bytes(out).unwrap();
    assert_eq!(f.version(), 2);
    assert_eq!(f.get_str("t.string").unwrap(), "héllo ✓");
}

#[test]
fn write_to_path_and_open_mapped() {
    let dir = common::scratch("gguf-path");
    let path = dir.join("m.gguf");
    sample(None).write_to_path(&path).unwrap();
    let f = GgufFile::open(&path).unwrap();
    let view = f.tensor_bytes("q8_0.3d").unwrap();
    assert!(view.is_mapped());
    assert_eq!(view.as_slice(), bytes(408, 3));
    assert_eq!(f.path(), Some(path.as_path()));
}

#[test]
fn typed_getters_convert_and_reject() {
    let f = GgufFile::from_bytes(sample(None).to_bytes().unwrap()).unwrap();
    // Integers of any type that fit.
    assert_eq!(f.get_u32("t.u8").unwrap(), 200);
    assert_eq!(f.get_u32("t.u16").unwrap(), 60000);
    assert_eq!(f.get_i64("t.u32").unwrap(), 4_000_000_000);
    assert_eq!(f.get_i32("t.i8").unwrap(), -100);
    assert_eq!(f.get_u64("t.u64").unwrap(), u64::MAX);
    assert_eq!(f.get::<i16>("t.i16").unwrap(), -30000);
    // Floats accept either width.
    assert_eq!(f.get_f32("t.f32").unwrap(), 1.5);
    assert_eq!(f.get_f64("t.f32").unwrap(), 1.5);
    assert_eq!(f.get_f64("t.f64").unwrap(), -2.25e300);
    assert!(f.get_bool("t.bool").unwrap());
    assert_eq!(f.get_str("t.empty_string").unwrap(), "");
    assert_eq!(f.get_str_array("t.arr.string").unwrap(), ["a", "", "ü"]);
    assert_eq!(
        f.get::<Vec<&str>>("t.arr.string").unwrap(),
        vec!["a", "", "ü"]
    );
    assert_eq!(f.get_i32_array("t.arr.u8").unwrap(), vec![1, 2, 3]);
    assert_eq!(f.get_i32_array("t.arr.i16").unwrap(), vec![-1, -2]);
    assert_eq!(f.get_u32_array("t.arr.u32").unwrap(), vec![7, 8, 9]);
    assert_eq!(
        f.get_f32_array("t.arr.f64").unwrap(),
        vec![1e-300f64 as f32]
    );
    assert_eq!(f.get_f32_array("t.arr.f32").unwrap(), vec![0.5, -0.25]);
    assert_eq!(f.get_i32_array("t.arr.empty").unwrap(), Vec::<i32>::new());
    let nested = f.get_array("t.arr.nested").unwrap();
    assert_eq!(nested.element_type(), GgufValueType::Array);
    assert_eq!(nested.len(), 3);
    assert_eq!(f.value("t.i8"), Some(&GgufValue::I8(-100)));
    assert_eq!(f.get_opt::<u32>("absent").unwrap(), None);
    assert_eq!(f.get_opt::<u32>("t.u8").unwrap(), Some(200));

    let wrong = |e: FormatError, key: &str, found: &str| match e {
        FormatError::WrongType {
            key: k, found: fnd, ..
        } => {
            assert_eq!(k, key);
            assert!(fnd.contains(found), "{fnd}");
        }
        e => panic!("expected WrongType, got {e}"),
    };
    wrong(
        f.get_u32("t.u64").unwrap_err(),
        "t.u64",
        "u64 (value 18446744073709551615)",
    );
    wrong(f.get_u32("t.i8").unwrap_err(), "t.i8", "i8 (value -100)");
    wrong(f.get_i32("t.u32").unwrap_err(), "t.u32", "u32");
    wrong(f.get_f32("t.u32").unwrap_err(), "t.u32", "u32");
    wrong(f.get_u32("t.f32").unwrap_err(), "t.f32", "f32");
    wrong(f.get_str("t.u8").unwrap_err(), "t.u8", "u8");
    wrong(f.get_bool("t.string").unwrap_err(), "t.string", "string");
    wrong(
        f.get_str_array("t.arr.i32").unwrap_err(),
        "t.arr.i32",
        "array<i32>[2]",
    );
    wrong(
        f.get_u32_array("t.arr.i32").unwrap_err(),
        "t.arr.i32",
        "array<i32>",
    );
    wrong(
        f.get_i32_array("t.arr.f32").unwrap_err(),
        "t.arr.f32",
        "array<f32>",
    );
    wrong(
        f.get_f32_array("t.arr.string").unwrap_err(),
        "t.arr.string",
        "array<string>[3]",
    );
    wrong(f.get_array("t.u8").unwrap_err(), "t.u8", "u8");
    let e = f.get_u32("llama.block_count").unwrap_err();
    assert!(
        matches!(&e, FormatError::MissingKey { key } if key == "llama.block_count"),
        "{e}"
    );
    assert_eq!(e.to_string(), "metadata key `llama.block_count` is missing");
}

#[test]
fn tensor_info_from_another_file_is_rejected() {
    let a = GgufFile::from_bytes(sample(None).to_bytes().unwrap()).unwrap();
    let mut info = a.tensor("f32.1d").unwrap().clone();
    assert!(a.tensor_data(&info).is_ok());
    info.offset += 32;
    assert!(
        matches!(a.tensor_data(&info), Err(FormatError::TensorNotFound { name }) if name == "f32.1d")
    );
    assert!(matches!(
        a.tensor_bytes("nope"),
        Err(FormatError::TensorNotFound { .. })
    ));
}

#[test]
fn writer_rejects_bad_tensors() {
    let mut w = GgufWriter::new();
    w.add_tensor("a", GgmlType::F32, &[2], vec![0; 8]).unwrap();
    let e = |r: Result<&mut GgufWriter, FormatError>| r.map(|_| ()).unwrap_err();
    assert!(matches!(
        e(w.add_tensor("a", GgmlType::F32, &[2], vec![0; 8])),
        FormatError::DuplicateTensor { .. }
    ));
    assert!(matches!(
        e(w.add_tensor("b", GgmlType::F32, &[2], vec![0; 9])),
        FormatError::TensorSizeMismatch {
            expected: 8,
            got: 9,
            ..
        }
    ));
    assert!(matches!(
        e(w.add_tensor("c", GgmlType::Q8_0, &[16], vec![0; 17])),
        FormatError::RowNotBlockAligned { .. }
    ));
    assert!(matches!(
        e(w.add_tensor("d", GgmlType::F32, &[1, 1, 1, 1, 1], vec![0; 4])),
        FormatError::TooManyDims { .. }
    ));
    assert!(matches!(
        e(w.add_tensor("e", GgmlType::F32, &[0], vec![])),
        FormatError::ZeroDim { .. }
    ));
    assert!(matches!(
        e(w.add_tensor("f", GgmlType::F32, &[usize::MAX / 2, 4], vec![])),
        FormatError::TensorTooLarge { .. }
    ));
    w.set("general.alignment", 3u32);
    assert!(matches!(
        w.to_bytes(),
        Err(FormatError::BadAlignment { .. })
    ));
    w.set("general.alignment", "32");
    assert!(matches!(
        w.to_bytes(),
        Err(FormatError::BadAlignment { .. })
    ));
    w.remove("general.alignment");
    assert!(w.to_bytes().is_ok());
}
