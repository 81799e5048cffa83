//! Deterministic test data for the differential tests: a SplitMix64 generator, float rows with
//! adversarial patterns, and raw weight/activation rows for every format.

use crate::dispatch::Kernels;
use crate::GgmlType;

/// SplitMix64.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub(crate) fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub(crate) fn f32(&mut self) -> f32 {
        (self.u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub(crate) fn byte(&mut self) -> u8 {
        self.u64() as u8
    }
}

/// Data patterns: plain random, all-max quants with large scales, zero scales, and rounding
/// edge cases for floats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Mode {
    Random,
    MaxQuantsLargeScales,
    ZeroScales,
    Edges,
}

impl Mode {
    pub(crate) const ALL: [Mode; 4] = [Mode::Random, Mode::MaxQuantsLargeScales, Mode::ZeroScales, Mode::Edges];
}

/// A float row. `Edges` mixes exact .5 ties (with amax 127 every Q8 scale is 1), ±127 (equal
/// magnitudes of opposite sign), values near the f16 limit, −0 and subnormals.
pub(crate) fn floats(n: usize, mode: Mode, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let r = rng.f32() * 2.0 - 1.0;
            match mode {
                Mode::Random => r * if i % 61 == 0 { 30.0 } else { 1.0 },
                Mode::MaxQuantsLargeScales => {
                    // Every quant ±127; Q8_1's s = d·Σq stays below the f16 limit.
                    if i % 2 == 0 {
                        1800.0
                    } else {
                        -1800.0 * rng.f32()
                    }
                }
                Mode::ZeroScales => {
                    if (i / 32) % 2 == 0 {
                        0.0
                    } else {
                        r * 1e-30
                    }
                }
                Mode::Edges => match i % 8 {
                    0 => 127.0,
                    1 => -127.0,
                    2 => (rng.u64() % 254) as f32 * 0.5 - 63.5,
                    3 => -(((rng.u64() % 100) as f32) + 0.5),
                    4 => 1e-40,
                    6 if i % 64 == 6 => 60000.0,
                    5 => -0.0,
                    _ => r * 100.0,
                },
            }
        })
        .collect()
}

/// Byte offsets of the f16 scale fields of one block of `ty`.
fn f16_fields(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => &[0],
        Q4_1 | Q5_1 => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q4_K | Q5_K => &[0, 2],
        Q6_K => &[208],
        _ => &[],
    }
}

/// A weight row of `n` elements of `ty`: random block bytes with sane f16 scales (`Random`,
/// `Edges`), every byte 0xFF with ±65504-range scales (`MaxQuantsLargeScales`), or random bytes
/// with zero scales (`ZeroScales`). Float types get float rows.
pub(crate) fn weight_row(ty: GgmlType, n: usize, mode: Mode, rng: &mut Rng) -> Vec<u8> {
    if ty.block_size() == 1 {
        let x = floats(n, if mode == Mode::MaxQuantsLargeScales { Mode::Random } else { mode }, rng);
        let mut b = vec![0u8; ty.row_bytes(n).unwrap()];
        crate::quant::quantize_bytes(ty, &x, &mut b);
        return b;
    }
    let size = ty.type_size();
    let mut b: Vec<u8> = (0..ty.row_bytes(n).unwrap()).map(|_| rng.byte()).collect();
    for blk in b.chunks_exact_mut(size) {
        if mode == Mode::MaxQuantsLargeScales {
            blk.fill(0xFF);
        }
        for &off in f16_fields(ty) {
            let v = match mode {
                Mode::Random | Mode::Edges => (rng.f32() * 2.0 - 1.0) * 0.01,
                Mode::MaxQuantsLargeScales => {
                    if rng.byte().is_multiple_of(2) {
                        65504.0
                    } else {
                        -30000.0
                    }
                }
                Mode::ZeroScales => 0.0,
            };
            blk[off..off + 2].copy_from_slice(&half::f16::from_f32(v).to_le_bytes());
        }
    }
    b
}

/// An activation row of `n` elements of `ty` (F32, Q8_0, Q8_1 or Q8_K) quantized by table `k`
/// from floats of the given pattern (activations must be valid quantizer output: Q8 quants in
/// −127..=127 and consistent Q8_K `bsums`).
pub(crate) fn activation_row(k: &Kernels, ty: GgmlType, n: usize, mode: Mode, rng: &mut Rng) -> Vec<u8> {
    let x = floats(n, mode, rng);
    let mut b = vec![0u8; ty.row_bytes(n).unwrap()];
    k.quantize_row(ty, &x, &mut b);
    b
}
