//! Dot-product kernels per ISA: `dot_<weight>_<activation>/<isa>/<n>`, every table this CPU
//! runs side by side (scalar first). Throughput in elements (multiply-adds) per second.
//!
//! Run: `cargo bench -p allmende-kernels --bench dot` (add a filter such as `q4_k`).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use allmende_kernels::{GgmlType, Kernels};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const TYPES: [GgmlType; 13] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

fn bench_dot(c: &mut Criterion) {
    let n = 4096;
    for ty in TYPES {
        let at = ty.vec_dot_type();
        let mut g = c.benchmark_group(format!("dot_{}_{}", ty.name().to_lowercase(), at.name().to_lowercase()));
        g.throughput(Throughput::Elements(n as u64));
        let mut rng = common::Rng::new(ty.id() as u64);
        let w = common::weight_row(ty, n, &mut rng);
        let x = common::floats(n, &mut rng);
        for k in Kernels::available() {
            let mut a = vec![0u8; at.row_bytes(n).unwrap()];
            k.quantize_row(at, &x, &mut a);
            g.bench_function(format!("{}/{n}", k.name), |b| b.iter(|| k.vec_dot(ty, n, black_box(&w), black_box(&a))));
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(1));
    targets = bench_dot
}
criterion_main!(benches);
