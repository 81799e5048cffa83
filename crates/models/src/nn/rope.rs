//! Rotary position embeddings: per-chunk cos/sin tables from a [`RopeSpec`]'s inverse
//! frequencies, and the rotation of q/k heads in either pairing.
//!
//! Angles are computed as HF does (`position * inv_freq` in f32, then cos/sin), so positions
//! far into the context keep the same rounding as the reference.
//! ref: transformers `modeling_rope_utils.py`, `modeling_llama.py` (`apply_rotary_pos_emb`,
//! `rotate_half`); ggml `ggml_rope_ext` (NORM vs NEOX pairing).

use crate::spec::{RopePairing, RopeSpec};

/// A RoPE variant ready to fill tables.
#[derive(Clone, Debug)]
pub(crate) struct Rope {
    pub spec: RopeSpec,
    inv_freq: Vec<f32>, // [n_rot/2]
}

impl Rope {
    pub fn new(spec: &RopeSpec) -> Rope {
        Rope { inv_freq: spec.inv_freq(), spec: spec.clone() }
    }

    /// Fills `cos` and `sin` (`[n_pos][n_rot/2]`) for positions `start..start + n_pos`.
    pub fn fill(&self, start: usize, n_pos: usize, cos: &mut [f32], sin: &mut [f32]) {
        let half = self.inv_freq.len();
        for p in 0..n_pos {
            let pos = (start + p) as f32;
            for (i, &f) in self.inv_freq.iter().enumerate() {
                let angle = (pos * f) as f64;
                cos[p * half + i] = angle.cos() as f32;
                sin[p * half + i] = angle.sin() as f32;
            }
        }
    }

    /// Rotates the first `n_rot` elements of every head of every token of `x`
    /// (`[n_tok][n_heads * head_dim]`) with the tables from [`Rope::fill`].
    pub fn apply(&self, x: &mut [f32], n_tok: usize, head_dim: usize, cos: &[f32], sin: &[f32]) {
        let half = self.inv_freq.len();
        let width = x.len() / n_tok.max(1);
        for (t, row) in x.chunks_exact_mut(width.max(1)).enumerate() {
            let c = &cos[t * half..(t + 1) * half];
            let s = &sin[t * half..(t + 1) * half];
            for head in row.chunks_exact_mut(head_dim) {
                match self.spec.pairing {
                    RopePairing::Neox => {
                        for i in 0..half {
                            let (x0, x1) = (head[i], head[i + half]);
                            head[i] = x0 * c[i] - x1 * s[i];
                            head[i + half] = x1 * c[i] + x0 * s[i];
                        }
                    }
                    RopePairing::Normal => {
                        for i in 0..half {
                            let (x0, x1) = (head[2 * i], head[2 * i + 1]);
                            head[2 * i] = x0 * c[i] - x1 * s[i];
                            head[2 * i + 1] = x1 * c[i] + x0 * s[i];
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::RopeScaling;

    fn rope(pairing: RopePairing, n_rot: usize) -> Rope {
        Rope::new(&RopeSpec { pairing, n_rot, theta: 10000.0, scaling: RopeScaling::None })
    }

    #[test]
    fn neox_on_permuted_rows_equals_normal() {
        // llama.cpp's converter permutes q rows so that NORM pairing on the permuted head
        // equals NEOX pairing on the original: permuted[2i] = orig[i], permuted[2i+1] = orig[i+half].
        let (hd, n) = (8, 3);
        let orig: Vec<f32> = (0..n * hd).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut perm = vec![0f32; n * hd];
        for t in 0..n {
            for i in 0..hd / 2 {
                perm[t * hd + 2 * i] = orig[t * hd + i];
                perm[t * hd + 2 * i + 1] = orig[t * hd + i + hd / 2];
            }
        }
        let (a, b) = (rope(RopePairing::Neox, hd), rope(RopePairing::Normal, hd));
        let (mut c, mut s) = (vec![0f32; n * hd / 2], vec![0f32; n * hd / 2]);
        a.fill(5, n, &mut c, &mut s);
        let mut x = orig.clone();
        a.apply(&mut x, n, hd, &c, &s);
        let mut y = perm.clone();
        b.apply(&mut y, n, hd, &c, &s);
        for t in 0..n {
            for i in 0..hd / 2 {
                assert_eq!(y[t * hd + 2 * i], x[t * hd + i]);
                assert_eq!(y[t * hd + 2 * i + 1], x[t * hd + i + hd / 2]);
            }
        }
    }

    #[test]
    fn position_zero_is_identity_and_partial_rotary_keeps_tail() {
        let r = rope(RopePairing::Neox, 4);
        let (mut c, mut s) = (vec![0f32; 4], vec![0f32; 4]);
        r.fill(0, 2, &mut c, &mut s);
        let orig: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let mut x = orig.clone();
        r.apply(&mut x, 2, 8, &c, &s);
        assert_eq!(&x[..8], &orig[..8]); // token 0: angle 0
        assert_eq!(&x[12..16], &orig[12..16]); // elements past n_rot untouched
        assert_ne!(&x[8..12], &orig[8..12]);
    }
}
