//! Streaming GEMV speed: one token times a matrix far larger than the caches, per weight type,
//! in GB/s of weight bytes (what decode is bound by), from ordinary 4 KiB pages and from 2 MiB
//! transparent huge pages (as allmende-tensor allocates the repacked weights).
//! `cargo run --release -p allmende-kernels --example gemv_stream [ROWS] [COLS]`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use allmende_kernels::{gemm_act_row_bytes, kernels, repack_x8, x8_group_bytes, GgmlType};

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (rows, cols) = (args.first().copied().unwrap_or(32000), args.get(1).copied().unwrap_or(2048));
    let k = kernels();
    for ty in [GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q8_0] {
        let gb = x8_group_bytes(ty, cols).unwrap();
        let groups = rows / 8;
        let mut seed = 0x1234_5678u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 11) as f64 / (1u64 << 53) as f64) as f32 * 2.0 - 1.0
        };
        let row_bytes = ty.row_bytes(cols).unwrap();
        let floats: Vec<f32> = (0..cols).map(|_| next()).collect();
        let mut rows8 = vec![vec![0u8; row_bytes]; 8];
        for r in rows8.iter_mut() {
            allmende_kernels::quantize_row(ty, &floats, r);
        }
        let refs: Vec<&[u8]> = rows8.iter().map(|r| &r[..]).collect();
        let mut act = vec![0u8; gemm_act_row_bytes(ty, cols).unwrap()];
        k.quantize_gemm_act(ty, &floats, &mut act);
        let mut line = format!("{:<5} {:>7.1} MB", ty.name(), (groups * gb) as f64 / 1e6);
        for huge in [false, true] {
            // 2 MiB of slack so the weights can start on a huge page boundary.
            let mut map = memmap2::MmapMut::map_anon(groups * gb + (2 << 20)).unwrap();
            if huge {
                map.advise(memmap2::Advice::HugePage).unwrap();
            }
            let off = ((2 << 20) - map.as_ptr() as usize % (2 << 20)) % (2 << 20);
            let w = &mut map[off..off + groups * gb];
            for g in 0..groups {
                repack_x8(ty, cols, &refs, &mut w[g * gb..(g + 1) * gb]);
            }
            let mut out = [[0f32; 8]];
            let mut best = f64::MAX;
            for _ in 0..10 {
                let t = Instant::now();
                for g in 0..groups {
                    k.gemm_x8(ty, cols, &w[g * gb..(g + 1) * gb], &[&act], &mut out);
                }
                best = best.min(t.elapsed().as_secs_f64());
            }
            let pages = if huge { "2M pages" } else { "4K pages" };
            line += &format!("  {pages}: {:>6.2} ms {:>5.1} GB/s", best * 1e3, w.len() as f64 / best / 1e9);
        }
        println!("{line}");
    }
}
