//! `QMatrix::matmul` throughput at the shapes of the real models, for a single token (GEMV, the
//! generation step) and a 512-token prompt, on 1 and 2 threads. IDs:
//! `matmul_<type>/<isa>/<rows>x<cols>/n<tokens>/t<threads>`; throughput in multiply-adds per
//! second. The x8 copy is built before timing (as a loaded model does on its first call).
//!
//! Run: `cargo bench -p allmende-tensor --bench matmul` (add a filter such as `q5_0` or `/n1/`;
//! `ALLMENDE_ISA=scalar` for the scalar table).

#![allow(clippy::unwrap_used, missing_docs)]

use allmende_kernels::GgmlType;
use allmende_tensor::{ByteView, QMatrix, ThreadPool};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

/// (model, type, rows, cols, prompt too): the matrices of SmolLM2-135M (Q4_1, tied Q8_0 head),
/// Qwen2.5-0.5B Q4_K_M (Q5_0 attention/FFN, Q4_K/Q6_K ffn_down, Q8_0 head) and Gemma 3 270M.
/// Output heads only run for the last token of a prompt, so they get no 512-token case.
const SHAPES: [(&str, GgmlType, usize, usize, bool); 10] = [
    ("smollm2", GgmlType::Q4_1, 576, 576, true),
    ("smollm2", GgmlType::Q4_1, 1536, 576, true),
    ("smollm2", GgmlType::Q4_1, 576, 1536, true),
    ("smollm2", GgmlType::Q8_0, 49152, 576, false),
    ("qwen2.5", GgmlType::Q5_0, 896, 896, true),
    ("qwen2.5", GgmlType::Q5_0, 4864, 896, true),
    ("qwen2.5", GgmlType::Q4_K, 896, 4864, true),
    ("qwen2.5", GgmlType::Q6_K, 896, 4864, true),
    ("gemma3", GgmlType::Q5_0, 2048, 640, true),
    ("gemma3", GgmlType::Q8_0, 262144, 640, false),
];

fn weights(ty: GgmlType, rows: usize, cols: usize) -> QMatrix {
    let mut s = 0x9E37_79B9_7F4A_7C15u64 ^ ty.id() as u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut bytes: Vec<u8> = (0..rows * ty.row_bytes(cols).unwrap()).map(|_| next() as u8).collect();
    // Sane f16 scales (±0.01) where each format keeps them.
    let fields: &[usize] = match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
        GgmlType::Q6_K => &[208],
        _ => &[],
    };
    for blk in bytes.chunks_exact_mut(ty.type_size()) {
        for &off in fields {
            let v = ((next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.02;
            blk[off..off + 2].copy_from_slice(&half::f16::from_f32(v).to_le_bytes());
        }
    }
    QMatrix::new(ty, rows, cols, ByteView::from_vec(bytes)).unwrap()
}

fn bench_matmul(c: &mut Criterion) {
    let isa = allmende_kernels::isa_name();
    let pools = [ThreadPool::new(1), ThreadPool::new(2)];
    for (_model, ty, rows, cols, prompt) in SHAPES {
        let m = weights(ty, rows, cols);
        for pool in &pools {
            m.repack(pool);
        }
        let mut g = c.benchmark_group(format!("matmul_{}", ty.name().to_lowercase()));
        for n_tok in [1usize, 512] {
            if n_tok > 1 && !prompt {
                continue;
            }
            let x: Vec<f32> = (0..n_tok * cols).map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0).collect();
            let mut out = vec![0f32; n_tok * rows];
            let mut scratch = Vec::new();
            g.throughput(Throughput::Elements((rows * cols * n_tok) as u64));
            for pool in &pools {
                let id = format!("{isa}/{rows}x{cols}/n{n_tok}/t{}", pool.n_threads());
                g.bench_function(id, |b| b.iter(|| m.matmul(pool, black_box(&x), n_tok, &mut out, &mut scratch)));
            }
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench_matmul
}
criterion_main!(benches);
