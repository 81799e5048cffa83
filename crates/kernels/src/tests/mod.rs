//! Crate-internal differential tests: every entry of every kernel table this CPU supports
//! against the scalar reference, on lengths 1..257 blocks, several seeds and adversarial blocks
//! (max nibbles, zero scales, large f16 scales). Quantized dot products must agree bit for bit,
//! float ones within a tolerance relative to Σ|w·a|; activation quantizers must agree bit for
//! bit. `gemm.rs` covers the x8 GEMM kernels. Each test prints which
//! tables it ran, so a run that only exercised `scalar` is visible in the log.

mod gemm;
mod gen;

use crate::block::blocks_as_bytes;
use crate::dispatch::{select, Kernels, SCALAR};
use crate::quant::dequantize_bytes;
use crate::GgmlType;
use gen::Rng;

const LENGTHS: [usize; 10] = [1, 2, 3, 7, 8, 9, 63, 64, 65, 257];

/// Tables other than scalar that this CPU runs; printed so the log shows what was exercised.
fn tables(test: &str) -> Vec<&'static Kernels> {
    let all = Kernels::available();
    println!("{test}: tables {:?}", all.iter().map(|k| k.name).collect::<Vec<_>>());
    all
}

/// Σ|w·a| of the dequantized rows, in f64.
fn magnitude(ty: GgmlType, n: usize, w: &[u8], a: &[u8]) -> f64 {
    let (mut wd, mut ad) = (vec![0.0f32; n], vec![0.0f32; n]);
    dequantize_bytes(ty, w, &mut wd);
    dequantize_bytes(ty.vec_dot_type(), a, &mut ad);
    wd.iter().zip(&ad).map(|(&x, &y)| (f64::from(x) * f64::from(y)).abs()).sum()
}

const DOT_TYPES: [GgmlType; 13] = [
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

#[test]
fn vec_dot_matches_scalar_on_every_isa() {
    for k in tables("vec_dot") {
        for ty in DOT_TYPES {
            let mut runs = 0;
            for nb in LENGTHS {
                let n = nb * ty.block_size();
                for seed in 0..4u64 {
                    for mode in gen::Mode::ALL {
                        let mut rng = Rng::new(seed * 1000 + nb as u64 + ty.id() as u64 * 7919);
                        let w = gen::weight_row(ty, n, mode, &mut rng);
                        let a = gen::activation_row(k, ty.vec_dot_type(), n, mode, &mut rng);
                        let want = SCALAR.vec_dot(ty, n, &w, &a);
                        let got = k.vec_dot(ty, n, &w, &a);
                        let mag = magnitude(ty, n, &w, &a);
                        if ty.block_size() > 1 {
                            // Quantized dots are exact per block and add the reference's f32 term
                            // in the reference's order: bit-identical on every table.
                            assert!(
                                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                                "{} {ty} blocks={nb} seed={seed} mode={mode:?}: got {got}, scalar {want}",
                                k.name
                            );
                            runs += 1;
                            continue;
                        }
                        let tol = 1e-5 * mag + f64::from(f32::MIN_POSITIVE);
                        let err = (f64::from(got) - f64::from(want)).abs();
                        // Equal infinities count as agreement: a Q8_1 `s` of a huge block overflows
                        // f16 exactly as in ggml.
                        assert!(
                            got == want || (err <= tol && got.is_finite() && want.is_finite()),
                            "{} {ty} blocks={nb} seed={seed} mode={mode:?}: got {got}, scalar {want}, Σ|w·a| {mag}",
                            k.name
                        );
                        runs += 1;
                    }
                }
            }
            assert_eq!(runs, LENGTHS.len() * 4 * gen::Mode::ALL.len());
        }
    }
}

#[test]
fn activation_quantizers_are_bit_identical_on_every_isa() {
    for k in tables("quantize_row") {
        for ty in [GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K] {
            for nb in LENGTHS {
                let n = nb * ty.block_size();
                for seed in 0..4u64 {
                    for mode in gen::Mode::ALL {
                        let x = gen::floats(n, mode, &mut Rng::new(seed + 31 * nb as u64));
                        let (mut want, mut got) = (vec![0u8; ty.row_bytes(n).unwrap()], vec![0xAAu8; ty.row_bytes(n).unwrap()]);
                        SCALAR.quantize_row(ty, &x, &mut want);
                        k.quantize_row(ty, &x, &mut got);
                        assert!(want == got, "{} {ty} blocks={nb} seed={seed} mode={mode:?}: bytes differ", k.name);
                    }
                }
            }
        }
    }
}

#[test]
fn f32_helpers_match_scalar_on_every_isa() {
    for k in tables("f32 helpers") {
        for n in [0, 1, 2, 3, 7, 8, 9, 31, 32, 33, 63, 64, 65, 257, 1000] {
            for seed in 0..4u64 {
                let mut rng = Rng::new(seed * 77 + n as u64);
                let a = gen::floats(n, gen::Mode::Random, &mut rng);
                let b = gen::floats(n, gen::Mode::Random, &mut rng);
                let mag: f64 = a.iter().zip(&b).map(|(&x, &y)| (f64::from(x) * f64::from(y)).abs()).sum();
                let (got, want) = (k.dot_f32(&a, &b), SCALAR.dot_f32(&a, &b));
                assert!(f64::from((got - want).abs()) <= 1e-5 * mag, "{} dot_f32 n={n}: {got} vs {want}", k.name);

                let alpha = rng.f32() * 3.0 - 1.5;
                let (mut y1, mut y2) = (b.clone(), b.clone());
                k.axpy_f32(&mut y1, alpha, &a);
                SCALAR.axpy_f32(&mut y2, alpha, &a);
                for i in 0..n {
                    let tol = 1e-6 * (b[i].abs() + (alpha * a[i]).abs()) + f32::MIN_POSITIVE;
                    assert!((y1[i] - y2[i]).abs() <= tol, "{} axpy n={n} i={i}: {} vs {}", k.name, y1[i], y2[i]);
                }

                let (mut s1, mut s2) = (a.clone(), a.clone());
                k.scale_f32(&mut s1, alpha);
                SCALAR.scale_f32(&mut s2, alpha);
                assert_eq!(s1, s2, "{} scale n={n}", k.name);
            }
        }
    }
    // The free functions run the active table on real values.
    let mut y = vec![1.0f32, 2.0, 3.0];
    crate::axpy_f32(&mut y, 2.0, &[1.0, 1.0, 1.0]);
    assert_eq!(y, [3.0, 4.0, 5.0]);
    crate::scale_f32(&mut y, 0.5);
    assert_eq!(y, [1.5, 2.0, 2.5]);
    assert_eq!(crate::dot_f32(&y, &[2.0, 1.0, 0.0]), 5.0);
}

#[test]
fn dispatch_honours_requests_and_falls_back() {
    let avail = Kernels::available();
    assert_eq!(avail[0].name, "scalar");
    let best = *avail.last().unwrap();
    assert!(std::ptr::eq(select(None).0, best));
    assert!(std::ptr::eq(select(Some("")).0, best));
    let (k, warn) = select(Some("scalar"));
    assert!(std::ptr::eq(k, &SCALAR) && warn.is_none());
    let (k, warn) = select(Some("avx9000"));
    assert!(std::ptr::eq(k, best));
    assert!(warn.unwrap().contains("ALLMENDE_ISA=avx9000"));
    #[cfg(target_arch = "x86_64")]
    {
        let (k, warn) = select(Some("avx2"));
        if crate::x86_64::avx2_supported() {
            assert_eq!((k.name, warn), ("avx2", None));
        } else {
            assert_eq!(k.name, best.name);
            assert!(warn.is_some());
        }
    }
    assert!(avail.iter().any(|k| k.name == crate::isa_name()));
    println!("active table: {}", crate::isa_name());
}

#[test]
fn block_views_round_trip() {
    let mut rng = Rng::new(5);
    let w = gen::weight_row(GgmlType::Q4_K, 512, gen::Mode::Random, &mut rng);
    let blocks: &[crate::quant::BlockQ4K] = crate::as_blocks(&w);
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks_as_bytes(blocks), &w[..]);
    assert_eq!(blocks[1].d, [w[144], w[145]]);
}

#[test]
fn attention_kernels_match_scalar_and_do_not_depend_on_blocking() {
    for k in tables("attention kernels") {
        for dim in [1, 3, 8, 13, 64, 80, 256] {
            for (n_q, n_k) in [(1, 1), (3, 5), (4, 2), (9, 7), (16, 32)] {
                let mut rng = Rng::new((dim * 1000 + n_q * 10 + n_k) as u64);
                let q = gen::floats(n_q * dim, gen::Mode::Random, &mut rng);
                let kk = gen::floats(n_k * dim, gen::Mode::Random, &mut rng);
                let stride = n_k + 3;
                let (mut got, mut want) = (vec![f32::NAN; n_q * stride], vec![f32::NAN; n_q * stride]);
                k.scores_f32(&q, &kk, dim, &mut got, stride);
                SCALAR.scores_f32(&q, &kk, dim, &mut want, stride);
                for i in 0..n_q {
                    for j in 0..n_k {
                        let mag: f32 = (0..dim).map(|c| (q[i * dim + c] * kk[j * dim + c]).abs()).sum();
                        let (g, w) = (got[i * stride + j], want[i * stride + j]);
                        assert!((g - w).abs() <= 1e-5 * mag + f32::MIN_POSITIVE, "{} scores dim={dim} ({i},{j}): {g} vs {w}", k.name);
                        // The same pair alone gives the same bits as inside a block.
                        let mut one = [0f32];
                        k.scores_f32(&q[i * dim..][..dim], &kk[j * dim..][..dim], dim, &mut one, 1);
                        assert_eq!(one[0].to_bits(), g.to_bits(), "{} scores dim={dim} ({i},{j}) alone vs blocked", k.name);
                    }
                    assert!(got[i * stride + n_k..(i + 1) * stride].iter().all(|x| x.is_nan()), "{} wrote past n_k", k.name);
                }

                let w = gen::floats(n_k, gen::Mode::Random, &mut rng);
                let acc0 = gen::floats(dim, gen::Mode::Random, &mut rng);
                let (mut a1, mut a2) = (acc0.clone(), acc0.clone());
                k.weighted_rows_f32(&w, &kk, &mut a1);
                SCALAR.weighted_rows_f32(&w, &kk, &mut a2);
                for d in 0..dim {
                    let mag: f32 = acc0[d].abs() + (0..n_k).map(|j| (w[j] * kk[j * dim + d]).abs()).sum::<f32>();
                    assert!((a1[d] - a2[d]).abs() <= 1e-5 * mag + f32::MIN_POSITIVE, "{} weighted dim={dim} d={d}: {} vs {}", k.name, a1[d], a2[d]);
                }
            }
        }
    }
    // Real values through the active table.
    let mut out = [0f32; 2];
    crate::kernels().scores_f32(&[1.0, 2.0], &[3.0, 4.0, -1.0, 0.5], 2, &mut out, 2);
    assert_eq!(out, [11.0, 0.0]);
    let mut acc = [1.0f32, 1.0];
    crate::kernels().weighted_rows_f32(&[2.0, -1.0], &[1.0, 2.0, 3.0, 4.0], &mut acc);
    assert_eq!(acc, [0.0, 1.0]);
}
