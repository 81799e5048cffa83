//! x8 GEMM kernels per ISA: `gemm_<weight>_x8/<isa>/8x<tokens>x<cols>` is one kernel call (one
//! group of 8 rows times a tile of tokens), next to `rows/<isa>/...`, the same products as
//! 8·tokens `vec_dot` calls on the original rows (what a matmul did before the x8 kernels).
//! Throughput in multiply-adds per second.
//!
//! Run: `cargo bench -p allmende-kernels --bench gemm` (add a filter such as `q5_0`).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use allmende_kernels::{gemm_act_row_bytes, repack_x8, x8_group_bytes, GgmlType, Kernels};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const TYPES: [GgmlType; 7] =
    [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K];

fn bench_gemm(c: &mut Criterion) {
    let cols = 2048;
    for ty in TYPES {
        let mut g = c.benchmark_group(format!("gemm_{}_x8", ty.name().to_lowercase()));
        let mut rng = common::Rng::new(ty.id() as u64);
        let rows: Vec<Vec<u8>> = (0..8).map(|_| common::weight_row(ty, cols, &mut rng)).collect();
        let refs: Vec<&[u8]> = rows.iter().map(|r| &r[..]).collect();
        let mut group = vec![0u8; x8_group_bytes(ty, cols).unwrap()];
        repack_x8(ty, cols, &refs, &mut group);
        let xs: Vec<Vec<f32>> = (0..16).map(|_| common::floats(cols, &mut rng)).collect();
        for k in Kernels::available() {
            let acts: Vec<Vec<u8>> = xs
                .iter()
                .map(|x| {
                    let mut a = vec![0u8; gemm_act_row_bytes(ty, cols).unwrap()];
                    k.quantize_gemm_act(ty, x, &mut a);
                    a
                })
                .collect();
            let at = ty.vec_dot_type();
            let std_acts: Vec<Vec<u8>> = xs
                .iter()
                .map(|x| {
                    let mut a = vec![0u8; at.row_bytes(cols).unwrap()];
                    k.quantize_row(at, x, &mut a);
                    a
                })
                .collect();
            for n_tok in [1, 4, 16] {
                g.throughput(Throughput::Elements((8 * n_tok * cols) as u64));
                let a: Vec<&[u8]> = acts[..n_tok].iter().map(|a| &a[..]).collect();
                let mut out = vec![[0f32; 8]; n_tok];
                g.bench_function(format!("{}/8x{n_tok}x{cols}", k.name), |b| {
                    b.iter(|| k.gemm_x8(ty, cols, black_box(&group), black_box(&a), &mut out))
                });
                g.bench_function(format!("rows/{}/8x{n_tok}x{cols}", k.name), |b| {
                    b.iter(|| {
                        let mut s = 0.0f32;
                        for w in &rows {
                            for a in &std_acts[..n_tok] {
                                s += k.vec_dot(ty, cols, black_box(w), black_box(a));
                            }
                        }
                        s
                    })
                });
            }
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(1));
    targets = bench_gemm
}
criterion_main!(benches);
