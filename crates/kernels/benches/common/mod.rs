//! Shared test data for the kernel benchmarks: deterministic random weight rows with sane f16
//! scales, and activation rows.

use allmende_kernels::GgmlType;

/// xorshift64*.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Byte offsets of the f16 scale fields in one block of `ty`.
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

/// A weight row of `n` elements: random quant bytes, f16 scales in ±0.01 (floats for F32/F16).
pub fn weight_row(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<u8> {
    if ty.block_size() == 1 {
        let x: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        let mut b = vec![0u8; ty.row_bytes(n).unwrap()];
        allmende_kernels::quantize_row(ty, &x, &mut b);
        return b;
    }
    let mut b: Vec<u8> = (0..ty.row_bytes(n).unwrap()).map(|_| rng.u64() as u8).collect();
    for blk in b.chunks_exact_mut(ty.type_size()) {
        for &off in f16_fields(ty) {
            let v = half::f16::from_f32(rng.f32() * 0.01);
            blk[off..off + 2].copy_from_slice(&v.to_le_bytes());
        }
    }
    b
}

/// `n` random floats in [-1, 1).
pub fn floats(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.f32()).collect()
}
