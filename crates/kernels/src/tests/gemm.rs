//! Differential tests of the x8 GEMM path: repacking round-trips exactly, the GEMM activation
//! quantizer matches `quantize_row`, and every x8 kernel of every table gives, for every output,
//! exactly the bits of that table's `vec_dot` of the original row (which in turn equals the
//! scalar reference), for tiles of 1..=17 tokens and partial groups.

use super::gen::{self, Rng};
use super::tables;
use crate::dispatch::SCALAR;
use crate::gemm::{self, X8_ROWS};
use crate::GgmlType;

const X8_TYPES: [GgmlType; 7] =
    [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K];

/// Same bits, or both NaN.
fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn repack_round_trips_exactly() {
    for ty in X8_TYPES {
        for nb in [1, 2, 5] {
            let cols = nb * ty.block_size();
            for n_rows in 1..=X8_ROWS {
                let mut rng = Rng::new(ty.id() as u64 * 31 + nb as u64 * 7 + n_rows as u64);
                // Raw random bytes: every bit of every field must survive the round trip.
                let rows: Vec<Vec<u8>> =
                    (0..n_rows).map(|_| (0..ty.row_bytes(cols).unwrap()).map(|_| rng.byte()).collect()).collect();
                let refs: Vec<&[u8]> = rows.iter().map(|r| &r[..]).collect();
                let mut group = vec![0xAAu8; gemm::x8_group_bytes(ty, cols).unwrap()];
                gemm::repack_x8(ty, cols, &refs, &mut group);
                for r in 0..X8_ROWS {
                    let mut back = vec![0x55u8; ty.row_bytes(cols).unwrap()];
                    gemm::unpack_x8_row(ty, cols, &group, r, &mut back);
                    match rows.get(r) {
                        Some(orig) => assert_eq!(&back, orig, "{ty} blocks={nb} rows={n_rows} r={r}"),
                        None => assert!(back.iter().all(|&b| b == 0), "{ty} padding row {r} is not zero"),
                    }
                }
            }
        }
    }
}

#[test]
fn gemm_activations_match_quantize_row_on_every_isa() {
    for k in tables("quantize_gemm_act") {
        for ty in X8_TYPES {
            for nb in [1, 3, 9] {
                let n = nb * ty.block_size();
                for mode in gen::Mode::ALL {
                    let x = gen::floats(n, mode, &mut Rng::new(nb as u64 + 17 * ty.id() as u64));
                    let mut act = vec![0xAAu8; gemm::gemm_act_row_bytes(ty, n).unwrap()];
                    k.quantize_gemm_act(ty, &x, &mut act);
                    let mut scalar = vec![0x55u8; act.len()];
                    SCALAR.quantize_gemm_act(ty, &x, &mut scalar);
                    assert!(act == scalar, "{} {ty} blocks={nb} {mode:?}: differs from scalar", k.name);
                    let vt = ty.vec_dot_type();
                    let mut std = vec![0u8; vt.row_bytes(n).unwrap()];
                    k.quantize_row(vt, &x, &mut std);
                    if vt != GgmlType::Q8_K {
                        // Widened blocks: f32 d, then Σq (Q8_0) or the f32 of Q8_1's s, then qs.
                        let f16 = |b: &[u8]| half::f16::from_le_bytes([b[0], b[1]]).to_f32().to_le_bytes();
                        let sb = vt.type_size();
                        for (b, (x, q)) in act.chunks_exact(40).zip(std.chunks_exact(sb)).enumerate() {
                            assert_eq!((&x[..4], &x[8..]), (&f16(&q[..2])[..], &q[sb - 32..]), "{ty} block {b}");
                            if vt == GgmlType::Q8_0 {
                                let sum: i32 = q[2..].iter().map(|&v| i32::from(v as i8)).sum();
                                assert_eq!(i32::from_le_bytes([x[4], x[5], x[6], x[7]]), sum, "{ty} block {b} sum");
                            } else {
                                assert_eq!(&x[4..8], &f16(&q[2..4])[..], "{ty} block {b} s");
                            }
                        }
                    } else {
                        assert!(act == std, "{} {ty}: GEMM activations differ from {vt}", k.name);
                    }
                }
            }
        }
    }
}

/// Converts a GEMM activation row to the `vec_dot_type` row with the same quants.
fn std_act(ty: GgmlType, act: &[u8]) -> Vec<u8> {
    let narrow = |b: &[u8]| half::f16::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes();
    match ty.vec_dot_type() {
        GgmlType::Q8_0 => act.chunks_exact(40).flat_map(|b| narrow(&b[..4]).into_iter().chain(b[8..].iter().copied())).collect(),
        GgmlType::Q8_1 => act
            .chunks_exact(40)
            .flat_map(|b| narrow(&b[..4]).into_iter().chain(narrow(&b[4..8])).chain(b[8..].iter().copied()))
            .collect(),
        _ => act.to_vec(),
    }
}

#[test]
fn gemm_x8_equals_vec_dot_bit_for_bit_on_every_isa() {
    for k in tables("gemm_x8") {
        for ty in X8_TYPES {
            for nb in [1, 2, 3, 7, 9] {
                let cols = nb * ty.block_size();
                for (case, mode) in gen::Mode::ALL.into_iter().enumerate() {
                    let mut rng = Rng::new(ty.id() as u64 * 1000 + nb as u64 * 10 + case as u64);
                    let n_rows = if case % 2 == 0 { X8_ROWS } else { 5 };
                    let rows: Vec<Vec<u8>> = (0..n_rows).map(|_| gen::weight_row(ty, cols, mode, &mut rng)).collect();
                    let refs: Vec<&[u8]> = rows.iter().map(|r| &r[..]).collect();
                    let mut group = vec![0u8; gemm::x8_group_bytes(ty, cols).unwrap()];
                    gemm::repack_x8(ty, cols, &refs, &mut group);
                    let n_tok = 17;
                    let acts: Vec<Vec<u8>> = (0..n_tok)
                        .map(|_| {
                            let x = gen::floats(cols, mode, &mut rng);
                            let mut a = vec![0u8; gemm::gemm_act_row_bytes(ty, cols).unwrap()];
                            k.quantize_gemm_act(ty, &x, &mut a);
                            a
                        })
                        .collect();
                    // Padding rows of a partial group are zero blocks.
                    let zero = vec![0u8; ty.row_bytes(cols).unwrap()];
                    let all_rows: Vec<&[u8]> = (0..X8_ROWS).map(|r| rows.get(r).map_or(&zero[..], |w| &w[..])).collect();
                    let want: Vec<Vec<f32>> = acts
                        .iter()
                        .map(|a| {
                            let a = std_act(ty, a);
                            all_rows.iter().map(|w| k.vec_dot(ty, cols, w, &a)).collect()
                        })
                        .collect();
                    for (t, wt) in want.iter().enumerate() {
                        for (r, &v) in wt.iter().enumerate() {
                            let s = SCALAR.vec_dot(ty, cols, all_rows[r], &std_act(ty, &acts[t]));
                            assert!(same(v, s), "{} {ty} vec_dot differs from scalar: {v} vs {s}", k.name);
                        }
                    }
                    // Every tile width, including ones that cross the 4-token groups and the
                    // 16-token call limit, and a start offset inside the batch.
                    for width in [1, 2, 3, 4, 5, 7, 8, 16, 17] {
                        for start in [0, n_tok - width] {
                            let a: Vec<&[u8]> = acts[start..start + width].iter().map(|a| &a[..]).collect();
                            let mut out = vec![[f32::NAN; 8]; width];
                            k.gemm_x8(ty, cols, &group, &a, &mut out);
                            for (i, o) in out.iter().enumerate() {
                                for r in 0..X8_ROWS {
                                    let expect = want[start + i][r];
                                    assert!(
                                        same(o[r], expect),
                                        "{} {ty} blocks={nb} {mode:?} width={width} token={} row={r}: gemm {} vs vec_dot {expect}",
                                        k.name,
                                        start + i,
                                        o[r]
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
