//! Temporary lab: min-of-N matmul timing.
#![allow(clippy::unwrap_used, missing_docs)]
use allmende_kernels::GgmlType;
use allmende_tensor::{ByteView, QMatrix, ThreadPool};
use std::time::Instant;

fn weights(ty: GgmlType, rows: usize, cols: usize) -> QMatrix {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut bytes: Vec<u8> = (0..rows * ty.row_bytes(cols).unwrap()).map(|_| { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s as u8 }).collect();
    for blk in bytes.chunks_exact_mut(ty.type_size()) { let off = if ty == GgmlType::Q6_K { 208 } else { 0 }; blk[off..off+2].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes()); if matches!(ty, GgmlType::Q4_1 | GgmlType::Q4_K | GgmlType::Q5_K) { blk[2..4].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes()); } }
    QMatrix::new(ty, rows, cols, ByteView::from_vec(bytes)).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(1).map_or(1, |s| s.parse().unwrap());
    let pool = ThreadPool::new(threads);
    for (ty, rows, cols) in [(GgmlType::Q4_1, 576, 576), (GgmlType::Q4_1, 1536, 576), (GgmlType::Q5_0, 4864, 896), (GgmlType::Q4_K, 896, 4864), (GgmlType::Q6_K, 896, 4864)] {
        let m = weights(ty, rows, cols);
        m.repack(&pool);
        let mut line = format!("{:5} {rows}x{cols} t{threads}", ty.name());
        for n_tok in [1usize, 16, 64, 512] {
            let x: Vec<f32> = (0..n_tok * cols).map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0).collect();
            let mut out = vec![0f32; n_tok * rows];
            let mut scratch = Vec::new();
            let iters = (2_000_000_000 / (rows * cols * n_tok)).max(1);
            let mut best = f64::MAX;
            for _ in 0..15 {
                let t = Instant::now();
                for _ in 0..iters { m.matmul(&pool, std::hint::black_box(&x), n_tok, &mut out, &mut scratch); }
                best = best.min(t.elapsed().as_secs_f64() / iters as f64);
            }
            line += &format!("  n{n_tok}: {:6.1}", (rows * cols * n_tok) as f64 / best / 1e9);
        }
        println!("{line} GMAC/s");
    }
}
