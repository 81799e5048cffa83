//! Fuzz target: `SafetensorsFile::from_bytes` on arbitrary bytes must return, never panic.
//! Files that parse are written back with `SafetensorsWriter` and must read back the same
//! names, dtypes, shapes and bytes.
#![no_main]

use allmende_formats::safetensors::{SafetensorsFile, SafetensorsWriter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(f) = SafetensorsFile::from_bytes(data.to_vec()) else {
        return;
    };
    let mut w = SafetensorsWriter::new();
    for (k, v) in f.metadata() {
        w.set_metadata(k.clone(), v.clone());
    }
    for t in f.tensors() {
        assert_eq!(t.data.len(), t.n_elements() * t.dtype.size());
        w.add(
            t.name.clone(),
            t.dtype,
            &t.shape,
            t.data.as_slice().to_vec(),
        )
        .expect("valid tensor read back");
    }
    let g = SafetensorsFile::from_bytes(w.to_bytes()).expect("written file reads back");
    assert_eq!(g.tensors().len(), f.tensors().len());
    for t in f.tensors() {
        let u = g.tensor(&t.name).expect("same names");
        assert_eq!(
            (u.dtype, &u.shape, u.data.as_slice()),
            (t.dtype, &t.shape, t.data.as_slice())
        );
    }
});
