//! Block formats against gguf-py (see `gen_quant_fixtures.py`): dequantization bit-for-bit,
//! quantization byte-for-byte where gguf-py (or the script's ggml port) can quantize, dot
//! products against an f64 dot of the dequantized rows, and round-trip error bounds.
//! Runs through every kernel table this CPU supports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use allmende_kernels::{dequantize_row, quantize_row, vec_dot, GgmlType, Kernels};

const N: usize = 2048;

fn fixture(name: &str) -> Option<Vec<u8>> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).ok()
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn ulp_diff(a: f32, b: f32) -> u32 {
    if a == b {
        return 0;
    }
    let (ia, ib) = (a.to_bits() as i32, b.to_bits() as i32);
    if (ia < 0) != (ib < 0) {
        return u32::MAX;
    }
    ia.abs_diff(ib)
}

const WEIGHT_TYPES: [GgmlType; 13] = [
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
    GgmlType::F32,
];

#[test]
fn dequantize_matches_gguf_py() {
    let mut checked = 0;
    for ty in GgmlType::ALL {
        let (Some(blocks), Some(deq)) = (fixture(&format!("{ty}.blocks").to_lowercase()), fixture(&format!("{ty}.deq").to_lowercase())) else {
            continue;
        };
        let want = f32s(&deq);
        assert_eq!(want.len(), N, "{ty}");
        let mut got = vec![0.0f32; N];
        dequantize_row(ty, &blocks, &mut got);
        let mut exact = 0;
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            let u = ulp_diff(g, w);
            assert!(u <= 1, "{ty}: element {i}: got {g:e}, gguf-py {w:e} ({u} ulp)");
            exact += usize::from(u == 0);
        }
        // Float order is the same as ggml/gguf-py for all formats: everything is exact.
        assert_eq!(exact, N, "{ty}: {} elements differ by 1 ulp", N - exact);
        checked += 1;
    }
    assert_eq!(checked, 14, "expected fixtures for 14 types");
}

#[test]
fn quantize_matches_gguf_py_bytes_on_every_isa() {
    let types = ["f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q8_1", "q8_k"];
    for k in Kernels::available() {
        for name in types {
            let ty = GgmlType::ALL.into_iter().find(|t| t.name().to_lowercase() == name).unwrap();
            let src = f32s(&fixture(&format!("{name}.src")).unwrap());
            let want = fixture(&format!("{name}.blocks")).unwrap();
            let mut got = vec![0u8; want.len()];
            k.quantize_row(ty, &src, &mut got);
            if matches!(name, "q8_0" | "q8_1") {
                // The tables' Q8_0/Q8_1 quantize activations as llama.cpp's x86 backend does
                // (multiplier 127/amax, ties to even), not as `_ref`: they must agree with the
                // scalar table; the `_ref` quantizers (for weights) must give gguf-py's bytes.
                let mut scalar = vec![0u8; want.len()];
                Kernels::for_isa("scalar").unwrap().quantize_row(ty, &src, &mut scalar);
                assert_eq!(got, scalar, "{} {ty}: differs from the scalar table", k.name);
                if name == "q8_0" {
                    allmende_kernels::quant::q8_0::quantize_row_q8_0(&src, allmende_kernels::as_blocks_mut(&mut got));
                } else {
                    allmende_kernels::quant::q8_1::quantize_row_q8_1(&src, allmende_kernels::as_blocks_mut(&mut got));
                }
            }
            if got != want {
                let bs = ty.type_size();
                let blk = got.chunks(bs).zip(want.chunks(bs)).position(|(a, b)| a != b).unwrap();
                panic!("{} {ty}: block {blk} differs:\n ours {:?}\n want {:?}", k.name, &got[blk * bs..][..bs], &want[blk * bs..][..bs]);
            }
        }
        println!("quantize fixtures matched on table {}", k.name);
    }
}

/// Weight rows for the dot tests: the fixture blocks (random bytes for K-quants) for each type.
fn weight_row(ty: GgmlType) -> Vec<u8> {
    match fixture(&format!("{ty}.blocks").to_lowercase()) {
        Some(b) => b,
        None => {
            assert_eq!(ty, GgmlType::F32);
            let src = f32s(&fixture("q8_0.src").unwrap());
            let mut b = vec![0u8; 4 * N];
            quantize_row(ty, &src, &mut b);
            b
        }
    }
}

fn activations(seed: u32) -> Vec<f32> {
    // A small deterministic LCG: values in [-1, 1) with a few outliers.
    let mut s = seed.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    (0..N)
        .map(|i| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let v = (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
            if i % 97 == 0 {
                v * 20.0
            } else {
                v
            }
        })
        .collect()
}

#[test]
fn vec_dot_matches_f64_dot_of_dequantized_rows_on_every_isa() {
    for k in Kernels::available() {
        for ty in WEIGHT_TYPES {
            let w = weight_row(ty);
            let at = ty.vec_dot_type();
            for seed in 0..3 {
                let x = activations(seed);
                let mut a = vec![0u8; at.row_bytes(N).unwrap()];
                k.quantize_row(at, &x, &mut a);
                let (mut wd, mut ad) = (vec![0.0f32; N], vec![0.0f32; N]);
                dequantize_row(ty, &w, &mut wd);
                dequantize_row(at, &a, &mut ad);
                let mut exact: f64 = wd.iter().zip(&ad).map(|(&p, &q)| f64::from(p) * f64::from(q)).sum();
                if at == GgmlType::Q8_1 {
                    // ggml applies the weight offset m through the activations' stored
                    // s = f16(d·Σq), not through the exact Σ of the dequantized activations.
                    exact += q8_1_offset_correction(ty, &w, &a);
                }
                let mag: f64 = wd.iter().zip(&ad).map(|(&p, &q)| (f64::from(p) * f64::from(q)).abs()).sum();
                let got = f64::from(k.vec_dot(ty, N, &w, &a));
                assert!((got - exact).abs() <= 2e-6 * mag + 1e-30, "{} {ty} seed {seed}: got {got}, f64 {exact}, Σ|w·a| {mag}", k.name);
            }
        }
        println!("vec_dot vs f64 checked on table {}", k.name);
    }
    // The free function uses the active table.
    let w = weight_row(GgmlType::Q8_0);
    let mut a = vec![0u8; GgmlType::Q8_0.row_bytes(N).unwrap()];
    quantize_row(GgmlType::Q8_0, &activations(9), &mut a);
    assert_eq!(vec_dot(GgmlType::Q8_0, N, &w, &a), allmende_kernels::kernels().vec_dot(GgmlType::Q8_0, N, &w, &a));
}

/// Σ_blocks m·(s − Σ a_deq) for Q4_1/Q5_1 weights: the difference between ggml's offset term
/// m·s (s stored as f16 in the Q8_1 block) and m·Σ of the dequantized activations.
fn q8_1_offset_correction(ty: GgmlType, w: &[u8], a: &[u8]) -> f64 {
    let f16 = |b: &[u8]| f64::from(half::f16::from_le_bytes([b[0], b[1]]).to_f32());
    let mut c = 0.0;
    for (wb, ab) in w.chunks_exact(ty.type_size()).zip(a.chunks_exact(36)) {
        let m = f16(&wb[2..4]);
        let (d, s) = (f16(&ab[0..2]), f16(&ab[2..4]));
        let sum: f64 = ab[4..].iter().map(|&q| f64::from(f32::from(q as i8) * d as f32)).sum();
        c += m * (s - sum);
    }
    c
}

/// Deterministic roughly-normal data (sum of uniforms) for the round-trip tests.
fn normalish(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_add(12345);
    let mut u = move || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    (0..n).map(|_| (u() + u() + u() + u()) * 1.7).collect()
}

#[test]
fn round_trip_rmse_is_within_format_bounds() {
    // RMSE of quantize→dequantize relative to the data's RMS, for ~unit-variance data. Bounds
    // are a little above what each format achieves (ggml's test-quantize-fns uses similar ones).
    let bounds: [(GgmlType, f64); 15] = [
        (GgmlType::F32, 0.0),
        (GgmlType::F16, 0.0005),
        (GgmlType::BF16, 0.004),
        (GgmlType::Q8_0, 0.006),
        (GgmlType::Q8_1, 0.006),
        (GgmlType::Q8_K, 0.008),
        (GgmlType::Q6_K, 0.02),
        (GgmlType::Q5_0, 0.055),
        (GgmlType::Q5_1, 0.045),
        (GgmlType::Q5_K, 0.04),
        (GgmlType::Q4_0, 0.11),
        (GgmlType::Q4_1, 0.09),
        (GgmlType::Q4_K, 0.08),
        (GgmlType::Q3_K, 0.2),
        (GgmlType::Q2_K, 0.4),
    ];
    let x = normalish(4096, 7);
    let rms = (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
    for (ty, bound) in bounds {
        let mut q = vec![0u8; ty.row_bytes(x.len()).unwrap()];
        quantize_row(ty, &x, &mut q);
        let mut y = vec![0.0f32; x.len()];
        dequantize_row(ty, &q, &mut y);
        let mse = x.iter().zip(&y).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum::<f64>() / x.len() as f64;
        let rel = mse.sqrt() / rms;
        println!("{ty}: relative RMSE {rel:.5} (bound {bound})");
        assert!(rel <= bound, "{ty}: relative RMSE {rel} above {bound}");
        // A zero row stays zero.
        let z = vec![0.0f32; 256];
        let mut qz = vec![0xAAu8; ty.row_bytes(256).unwrap()];
        quantize_row(ty, &z, &mut qz);
        let mut yz = vec![1.0f32; 256];
        dequantize_row(ty, &qz, &mut yz);
        assert!(yz.iter().all(|v| *v == 0.0), "{ty}: zero row does not round-trip");
    }
}
