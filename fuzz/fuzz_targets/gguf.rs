//! Fuzz target: `GgufFile::from_bytes` on arbitrary bytes must return, never panic. Files that
//! parse are also read in full (every getter path, every tensor view) and written back with
//! `GgufWriter`; writing what was read again must give the same bytes (write∘read is stable).
#![no_main]

use allmende_formats::gguf::{GgufFile, GgufWriter};
use libfuzzer_sys::fuzz_target;

fn rewrite(f: &GgufFile) -> Vec<u8> {
    let mut w = GgufWriter::new();
    for (k, v) in f.metadata() {
        w.set(k.clone(), v.clone());
    }
    for t in f.tensors() {
        let data = f.tensor_data(t).expect("tensor of this file");
        w.add_tensor_view(t.name.clone(), t.ggml_type, &t.dims, data)
            .expect("valid tensor read back");
    }
    w.to_bytes().expect("valid file written back")
}

fuzz_target!(|data: &[u8]| {
    let Ok(f) = GgufFile::from_bytes(data.to_vec()) else {
        return;
    };
    for (k, _) in f.metadata() {
        let _ = f.get_u32(k);
        let _ = f.get_f32(k);
        let _ = f.get_str(k);
        let _ = f.get_str_array(k);
        let _ = f.get_i32_array(k);
        let _ = f.get_f32_array(k);
    }
    for t in f.tensors() {
        let v = f.tensor_data(t).expect("tensor of this file");
        assert_eq!(v.len(), t.size);
    }
    if f.alignment() > 1 << 16 {
        // Valid (any power of two up to 2^31), but writing it back pads to the alignment,
        // which would take gigabytes (found by this target: regress/gguf-oom-huge-alignment).
        return;
    }
    let once = rewrite(&f);
    let g = GgufFile::from_bytes(once.clone()).expect("written file reads back");
    assert_eq!(g.tensors().len(), f.tensors().len());
    assert_eq!(rewrite(&g), once);
});
