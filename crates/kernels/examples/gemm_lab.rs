//! Temporary kernel lab: min-of-N timing (robust on a shared machine).
#![allow(clippy::unwrap_used, missing_docs)]
#[path = "../benches/common/mod.rs"]
mod common;
use allmende_kernels::{gemm_act_row_bytes, repack_x8, x8_group_bytes, GgmlType, Kernels};
use std::time::Instant;

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).collect();
    let cols = 2048;
    let k = *Kernels::available().last().unwrap();
    for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K] {
        if !filter.is_empty() && !filter.iter().any(|f| ty.name().to_lowercase().contains(f.as_str())) { continue; }
        let mut rng = common::Rng::new(ty.id() as u64);
        let rows: Vec<Vec<u8>> = (0..8).map(|_| common::weight_row(ty, cols, &mut rng)).collect();
        let refs: Vec<&[u8]> = rows.iter().map(|r| &r[..]).collect();
        let mut group = vec![0u8; x8_group_bytes(ty, cols).unwrap()];
        repack_x8(ty, cols, &refs, &mut group);
        let acts: Vec<Vec<u8>> = (0..16).map(|_| { let x = common::floats(cols, &mut rng); let mut a = vec![0u8; gemm_act_row_bytes(ty, cols).unwrap()]; k.quantize_gemm_act(ty, &x, &mut a); a }).collect();
        let mut line = format!("{:6}", ty.name());
        for n_tok in [1usize, 4, 16] {
            let a: Vec<&[u8]> = acts[..n_tok].iter().map(|a| &a[..]).collect();
            let mut out = vec![[0f32; 8]; n_tok];
            let iters = 20000 / n_tok;
            let mut best = f64::MAX;
            for _ in 0..30 {
                let t = Instant::now();
                for _ in 0..iters { k.gemm_x8(ty, cols, std::hint::black_box(&group), std::hint::black_box(&a), &mut out); }
                best = best.min(t.elapsed().as_secs_f64() / iters as f64);
            }
            line += &format!("  {n_tok:2} tok: {:6.1} GMAC/s", (8 * n_tok * cols) as f64 / best / 1e9);
        }
        println!("{line}");
    }
}
