//! `QMatrix::matmul` is batch- and thread-invariant: for every weight type, a batch of n tokens
//! gives bit for bit the outputs of n single-token calls (GEMV) and of `vec_dot` on the original
//! rows, on 1, 2 and 3 threads; and the results agree with an f64 dot product of the
//! dequantized weights and activations. Runs on the active kernel table (`ALLMENDE_ISA=scalar`
//! runs it on the scalar one).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use allmende_kernels::{self as kernels, GgmlType};
use allmende_tensor::{Layout, QMatrix, ThreadPool};

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

const N_TOK: [usize; 10] = [1, 2, 3, 4, 5, 7, 8, 9, 17, 64];

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let v = (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
            if i % 53 == 0 {
                v * 8.0
            } else {
                v
            }
        })
        .collect()
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits()
}

#[test]
fn batched_matmul_equals_gemv_and_vec_dot_on_1_2_3_threads() {
    println!("kernel table: {}", kernels::isa_name());
    let (rows, cols) = (37, 512);
    let x = values(64 * cols, 99);
    for ty in TYPES {
        let m = QMatrix::quantize(ty, rows, cols, &values(rows * cols, ty.id() as u64)).unwrap();
        let expect_layout = if kernels::has_x8(ty) { Layout::X8 } else { Layout::Rows };
        assert_eq!(m.layout(), expect_layout, "{ty}");

        // Reference: vec_dot of the original row with the token's converted activations.
        let act_ty = ty.vec_dot_type();
        let mut a = vec![0u8; act_ty.row_bytes(cols).unwrap()];
        let mut want = vec![0f32; 64 * rows];
        let mut wd = vec![0f32; cols];
        for t in 0..64 {
            let xt = &x[t * cols..(t + 1) * cols];
            kernels::quantize_row(act_ty, xt, &mut a);
            let mut ad = vec![0f32; cols];
            kernels::dequantize_row(act_ty, &a, &mut ad);
            for r in 0..rows {
                want[t * rows + r] = kernels::vec_dot(ty, cols, m.row(r), &a);
                // And the value itself: an f64 dot of what the kernels multiply.
                m.dequantize_row(r, &mut wd);
                let exact: f64 = wd.iter().zip(&ad).map(|(&w, &v)| f64::from(w) * f64::from(v)).sum();
                let mag: f64 = wd.iter().zip(&ad).map(|(&w, &v)| (f64::from(w) * f64::from(v)).abs()).sum();
                let got = f64::from(want[t * rows + r]);
                // Q8_1 activations carry d·Σq rounded to f16 for the weights' offset term.
                let rel = if act_ty == GgmlType::Q8_1 { 2e-3 } else { 1e-5 };
                assert!((got - exact).abs() <= rel * mag + 1e-30, "{ty} t={t} r={r}: {got} vs f64 {exact}");
            }
        }

        for threads in [1, 2, 3] {
            let pool = ThreadPool::new(threads);
            let mut scratch = Vec::new();
            // GEMV: one token per call.
            let mut gemv = vec![0f32; 64 * rows];
            for t in 0..64 {
                m.matmul(&pool, &x[t * cols..(t + 1) * cols], 1, &mut gemv[t * rows..(t + 1) * rows], &mut scratch);
            }
            for (i, (&g, &w)) in gemv.iter().zip(&want).enumerate() {
                assert!(same(g, w), "{ty} threads={threads} GEMV t={} r={}: {g} vs vec_dot {w}", i / rows, i % rows);
            }
            for n in N_TOK {
                // A batch that does not start at token 0, so tiles see different neighbours.
                let t0 = 64 - n;
                let mut out = vec![f32::NAN; n * rows];
                m.matmul(&pool, &x[t0 * cols..64 * cols], n, &mut out, &mut scratch);
                for (i, &o) in out.iter().enumerate() {
                    let w = gemv[t0 * rows + i];
                    assert!(same(o, w), "{ty} threads={threads} n_tok={n} t={} r={}: {o} vs GEMV {w}", t0 + i / rows, i % rows);
                }
            }
        }
    }
}

#[test]
fn repack_is_shared_by_clones_and_reports_its_size() {
    let pool = ThreadPool::new(2);
    let m = QMatrix::quantize(GgmlType::Q4_0, 9, 64, &values(9 * 64, 5)).unwrap();
    let c = m.clone();
    // Two groups of 8 rows (the second padded), two blocks each of 144 bytes.
    assert_eq!(m.repack(&pool), 2 * 2 * 144);
    assert_eq!(c.repack(&pool), 2 * 2 * 144);
    let f = QMatrix::from_f32(3, 4, &[0.5; 12]).unwrap();
    assert_eq!((f.layout(), f.repack(&pool)), (Layout::Rows, 0));
    // Rows now come from the x8 copy, with the same values.
    let mut row = vec![0f32; 64];
    m.dequantize_row(8, &mut row);
    assert_eq!(row, c.to_f32()[8 * 64..]);
}
