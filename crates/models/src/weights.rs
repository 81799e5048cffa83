//! The model's weights in the shape the forward pass uses, built from canonical tensors and a
//! [`DecoderSpec`]: every matrix a [`QMatrix`] (kept in its file type, zero-copy where the
//! file allows), norms and biases as f32. Generic over architectures: fused tensors that are
//! laid out `[q; k; v]` (`attn_qkv`) or `[gate; up]` (`ffn_up` with `2 * n_ff` rows) are split
//! here, MoE experts come either per expert (`ffn_gate.{e}.weight`) or stacked
//! (`ffn_gate_exps.weight`), and Gemma's `1 + w` is folded into the norm weights.
//! Every tensor must be used: a leftover means the spec misses a feature, which is an error.
//!
//! Resident memory: norms and biases are converted to f32 and their file pages released at
//! once; [`Weights::repack`] (at model load) builds the x8 copy of every matrix the forward pass
//! multiplies by and releases its file pages too (see `allmende_tensor::QMatrix`), so a mapped
//! model is resident once. An untied token embedding is only ever read row by row and stays
//! mapped (only the rows looked up become resident); a tied one is served by the output head's
//! x8 copy.

use std::collections::HashSet;

use allmende_tensor::{QMatrix, ThreadPool};

use crate::spec::{BlockLayout, DecoderSpec, FfnKind, NormKind};
use crate::tensors::{RawTensor, TensorMap};
use crate::{ModelError, Result};

/// A norm's scale (already `1 + w` where the spec says so) and, for LayerNorm, its bias.
#[derive(Clone, Debug)]
pub(crate) struct NormW {
    pub w: Vec<f32>,       // [n]
    pub b: Option<Vec<f32>>, // [n]
}

/// A projection `y = W x (+ b)`.
#[derive(Clone, Debug)]
pub(crate) struct Linear {
    pub w: QMatrix,          // [out, in]
    pub b: Option<Vec<f32>>, // [out]
}

/// One expert of a MoE layer.
#[derive(Clone, Debug)]
pub(crate) struct Expert {
    pub gate: QMatrix, // [n_ff, n_embd]
    pub up: QMatrix,   // [n_ff, n_embd]
    pub down: QMatrix, // [n_embd, n_ff]
}

/// Feed-forward weights.
#[derive(Clone, Debug)]
pub(crate) enum FfnW {
    Dense { gate: Option<Linear>, up: Linear, down: Linear },
    Moe { router: QMatrix /* [n_expert, n_embd] */, experts: Vec<Expert> },
}

/// One block.
#[derive(Clone, Debug)]
pub(crate) struct LayerW {
    pub attn_norm: NormW,             // [n_embd] input norm of the attention
    pub q: Linear,                    // [q_dim, n_embd]
    pub k: Linear,                    // [kv_dim, n_embd]
    pub v: Linear,                    // [kv_dim, n_embd]
    pub o: Linear,                    // [n_embd, q_dim]
    pub q_norm: Option<Vec<f32>>,     // [head_dim]
    pub k_norm: Option<Vec<f32>>,     // [head_dim]
    pub post_attn_norm: Option<NormW>, // [n_embd]
    pub ffn_norm: Option<NormW>,      // [n_embd] input norm of the FFN (none when shared)
    pub post_ffn_norm: Option<NormW>, // [n_embd]
    pub ffn: FfnW,
}

/// All weights.
#[derive(Clone, Debug)]
pub(crate) struct Weights {
    pub token_embd: QMatrix, // [n_vocab, n_embd]
    pub output_norm: NormW,  // [n_embd]
    pub output: QMatrix,     // [n_vocab, n_embd] (the embedding when tied)
    pub layers: Vec<LayerW>,
}

struct Builder<'a> {
    spec: &'a DecoderSpec,
    tensors: &'a TensorMap,
    used: HashSet<String>,
}

impl<'a> Builder<'a> {
    fn take(&mut self, name: &str) -> Option<&'a RawTensor> {
        let t = self.tensors.get(name)?;
        self.used.insert(name.to_string());
        Some(t)
    }

    fn req(&mut self, name: &str) -> Result<&'a RawTensor> {
        self.take(name).ok_or_else(|| ModelError::MissingTensor { name: name.to_string() })
    }

    fn matrix(name: &str, t: &RawTensor, rows: usize, cols: usize) -> Result<QMatrix> {
        if t.shape.len() < 2 || t.shape[..t.shape.len() - 1].iter().product::<usize>() != rows || t.row_len() != cols {
            return Err(ModelError::ShapeMismatch { name: name.to_string(), expected: vec![rows, cols], got: t.shape.clone() });
        }
        QMatrix::new(t.ty, rows, cols, t.data.clone()).map_err(|source| ModelError::Tensor { name: name.to_string(), source })
    }

    fn vector(name: &str, t: &RawTensor, n: usize) -> Result<Vec<f32>> {
        if t.shape.iter().product::<usize>() != n {
            return Err(ModelError::ShapeMismatch { name: name.to_string(), expected: vec![n], got: t.shape.clone() });
        }
        let v = t.to_f32(name)?;
        // The f32 copy is what the model keeps; the file pages are not read again.
        t.data.release();
        Ok(v)
    }

    fn norm_scale(&self, mut w: Vec<f32>) -> Vec<f32> {
        if let NormKind::Rms { unit_offset: true, .. } = self.spec.norm {
            for x in &mut w {
                *x += 1.0;
            }
        }
        w
    }

    fn norm(&mut self, base: &str, n: usize) -> Result<NormW> {
        let wname = format!("{base}.weight");
        let w = Self::vector(&wname, self.req(&wname)?, n)?;
        let w = self.norm_scale(w);
        let b = match self.spec.norm {
            NormKind::Layer { .. } => {
                let bname = format!("{base}.bias");
                Some(Self::vector(&bname, self.req(&bname)?, n)?)
            }
            NormKind::Rms { .. } => None,
        };
        Ok(NormW { w, b })
    }

    fn opt_norm(&mut self, base: &str, n: usize, wanted: bool) -> Result<Option<NormW>> {
        if wanted {
            self.norm(base, n).map(Some)
        } else {
            Ok(None)
        }
    }

    fn linear_from(name: &str, w: &RawTensor, b: Option<&RawTensor>, rows: usize, cols: usize) -> Result<Linear> {
        let w = Self::matrix(&format!("{name}.weight"), w, rows, cols)?;
        let b = match b {
            Some(b) => Some(Self::vector(&format!("{name}.bias"), b, rows)?),
            None => None,
        };
        Ok(Linear { w, b })
    }

    fn linear(&mut self, base: &str, rows: usize, cols: usize, bias: bool) -> Result<Linear> {
        let w = self.req(&format!("{base}.weight"))?;
        let b = if bias { Some(self.req(&format!("{base}.bias"))?) } else { None };
        Self::linear_from(base, w, b, rows, cols)
    }

    fn attention(&mut self, i: usize) -> Result<(Linear, Linear, Linear)> {
        let s = self.spec;
        let (q_dim, kv_dim, bias) = (s.q_dim(), s.kv_dim(), s.attn.qkv_bias);
        let qname = format!("blk.{i}.attn_q");
        if self.tensors.contains_key(&format!("{qname}.weight")) {
            let q = self.linear(&qname, q_dim, s.n_embd, bias)?;
            let k = self.linear(&format!("blk.{i}.attn_k"), kv_dim, s.n_embd, bias)?;
            let v = self.linear(&format!("blk.{i}.attn_v"), kv_dim, s.n_embd, bias)?;
            return Ok((q, k, v));
        }
        let base = format!("blk.{i}.attn_qkv");
        let wname = format!("{base}.weight");
        let sizes = [q_dim, kv_dim, kv_dim];
        let w = self.req(&wname)?.split(&wname, &sizes)?;
        let b = if bias {
            let bname = format!("{base}.bias");
            Some(self.req(&bname)?.split(&bname, &sizes)?)
        } else {
            None
        };
        let part = |j: usize, rows: usize| Self::linear_from(&base, &w[j], b.as_ref().map(|b| &b[j]), rows, s.n_embd);
        Ok((part(0, q_dim)?, part(1, kv_dim)?, part(2, kv_dim)?))
    }

    fn ffn(&mut self, i: usize) -> Result<FfnW> {
        let s = self.spec;
        let (n_embd, n_ff, bias) = (s.n_embd, s.n_ff, s.ffn_bias);
        match s.ffn {
            FfnKind::Plain { .. } => Ok(FfnW::Dense {
                gate: None,
                up: self.linear(&format!("blk.{i}.ffn_up"), n_ff, n_embd, bias)?,
                down: self.linear(&format!("blk.{i}.ffn_down"), n_embd, n_ff, bias)?,
            }),
            FfnKind::Gated { .. } => {
                let down = self.linear(&format!("blk.{i}.ffn_down"), n_embd, n_ff, bias)?;
                let gname = format!("blk.{i}.ffn_gate");
                if self.tensors.contains_key(&format!("{gname}.weight")) {
                    let gate = self.linear(&gname, n_ff, n_embd, bias)?;
                    let up = self.linear(&format!("blk.{i}.ffn_up"), n_ff, n_embd, bias)?;
                    return Ok(FfnW::Dense { gate: Some(gate), up, down });
                }
                // Fused [gate; up] stored as ffn_up with 2 * n_ff rows (Phi-3).
                let base = format!("blk.{i}.ffn_up");
                let wname = format!("{base}.weight");
                let w = self.req(&wname)?.split(&wname, &[n_ff, n_ff])?;
                let b = if bias {
                    let bname = format!("{base}.bias");
                    Some(self.req(&bname)?.split(&bname, &[n_ff, n_ff])?)
                } else {
                    None
                };
                let gate = Self::linear_from(&base, &w[0], b.as_ref().map(|b| &b[0]), n_ff, n_embd)?;
                let up = Self::linear_from(&base, &w[1], b.as_ref().map(|b| &b[1]), n_ff, n_embd)?;
                Ok(FfnW::Dense { gate: Some(gate), up, down })
            }
            FfnKind::Moe { n_expert, .. } => {
                if bias {
                    return Err(ModelError::Unsupported("MoE experts with biases".into()));
                }
                let rname = format!("blk.{i}.ffn_gate_inp.weight");
                let router = Self::matrix(&rname, self.req(&rname)?, n_expert, n_embd)?;
                let mut experts = Vec::with_capacity(n_expert);
                let stacked = self.tensors.contains_key(&format!("blk.{i}.ffn_gate_exps.weight"));
                let mut stacks = Vec::new();
                if stacked {
                    for part in ["gate", "up", "down"] {
                        let name = format!("blk.{i}.ffn_{part}_exps.weight");
                        stacks.push((name.clone(), self.req(&name)?));
                    }
                }
                for e in 0..n_expert {
                    let mut get = |part: &str, j: usize, rows: usize, cols: usize| -> Result<QMatrix> {
                        if stacked {
                            let (name, t) = &stacks[j];
                            Self::matrix(name, &t.rows(name, e..e + 1)?, rows, cols)
                        } else {
                            let name = format!("blk.{i}.ffn_{part}.{e}.weight");
                            Self::matrix(&name, self.req(&name)?, rows, cols)
                        }
                    };
                    experts.push(Expert {
                        gate: get("gate", 0, n_ff, n_embd)?,
                        up: get("up", 1, n_ff, n_embd)?,
                        down: get("down", 2, n_embd, n_ff)?,
                    });
                }
                Ok(FfnW::Moe { router, experts })
            }
        }
    }

    fn layer(&mut self, i: usize) -> Result<LayerW> {
        let s = self.spec;
        let n_embd = s.n_embd;
        // llama.cpp's Falcon-40B layout: `attn_norm_2` (HF `ln_attn`) feeds the attention and
        // `attn_norm` (HF `ln_mlp`) the FFN.
        let (attn_norm, ffn_norm) = match s.block {
            BlockLayout::Sequential => {
                (self.norm(&format!("blk.{i}.attn_norm"), n_embd)?, Some(self.norm(&format!("blk.{i}.ffn_norm"), n_embd)?))
            }
            BlockLayout::ParallelSharedNorm => (self.norm(&format!("blk.{i}.attn_norm"), n_embd)?, None),
            BlockLayout::ParallelTwoNorms => {
                (self.norm(&format!("blk.{i}.attn_norm_2"), n_embd)?, Some(self.norm(&format!("blk.{i}.attn_norm"), n_embd)?))
            }
        };
        let (q, k, v) = self.attention(i)?;
        let o = self.linear(&format!("blk.{i}.attn_output"), n_embd, s.q_dim(), s.attn.out_bias)?;
        let (q_norm, k_norm) = if s.attn.qk_norm {
            let qn = format!("blk.{i}.attn_q_norm.weight");
            let kn = format!("blk.{i}.attn_k_norm.weight");
            let qw = Self::vector(&qn, self.req(&qn)?, s.head_dim)?;
            let kw = Self::vector(&kn, self.req(&kn)?, s.head_dim)?;
            (Some(self.norm_scale(qw)), Some(self.norm_scale(kw)))
        } else {
            (None, None)
        };
        let post_attn_norm = self.opt_norm(&format!("blk.{i}.post_attention_norm"), n_embd, s.post_norms)?;
        let post_ffn_norm = self.opt_norm(&format!("blk.{i}.post_ffw_norm"), n_embd, s.post_norms)?;
        let ffn = self.ffn(i)?;
        Ok(LayerW { attn_norm, q, k, v, o, q_norm, k_norm, post_attn_norm, ffn_norm, post_ffn_norm, ffn })
    }
}

impl Weights {
    /// Every matrix the forward pass multiplies by: the output head, each layer's projections,
    /// routers and experts (not an untied token embedding, which is only looked up by row).
    pub(crate) fn matmul_matrices(&self) -> Vec<&QMatrix> {
        let mut out = vec![&self.output];
        for l in &self.layers {
            out.extend([&l.q.w, &l.k.w, &l.v.w, &l.o.w]);
            match &l.ffn {
                FfnW::Dense { gate, up, down } => {
                    out.extend(gate.as_ref().map(|g| &g.w));
                    out.extend([&up.w, &down.w]);
                }
                FfnW::Moe { router, experts } => {
                    out.push(router);
                    for e in experts {
                        out.extend([&e.gate, &e.up, &e.down]);
                    }
                }
            }
        }
        out
    }

    /// Repacks every matrix the forward pass multiplies by into its x8 layout (where its type
    /// has one), in parallel on `pool`, one matrix after the other so that each one's file
    /// pages are released before the next is read (peak memory stays near the final one).
    /// Returns the bytes of the x8 copies.
    pub(crate) fn repack(&self, pool: &ThreadPool) -> usize {
        self.matmul_matrices().into_iter().map(|m| m.repack(pool)).sum()
    }

    /// Builds the weights for `spec` from canonical tensors; fails on a missing, misshapen or
    /// unused tensor.
    pub(crate) fn build(spec: &DecoderSpec, tensors: &TensorMap) -> Result<Weights> {
        spec.validate()?;
        let mut b = Builder { spec, tensors, used: HashSet::new() };
        let embd = b.req("token_embd.weight")?;
        let token_embd = Builder::matrix("token_embd.weight", embd, spec.n_vocab, spec.n_embd)?;
        let output_norm = b.norm("output_norm", spec.n_embd)?;
        let output = if spec.tied_output {
            // Some HF checkpoints save the tied lm_head as well; it is the same matrix.
            let _ = b.take("output.weight");
            token_embd.clone()
        } else {
            let t = b.req("output.weight")?;
            Builder::matrix("output.weight", t, spec.n_vocab, spec.n_embd)?
        };
        let _ = b.take("rope_freqs.weight"); // read into the spec's RoPE scaling
        let layers = (0..spec.n_layer).map(|i| b.layer(i)).collect::<Result<Vec<_>>>()?;
        let mut unused: Vec<&String> = tensors.keys().filter(|k| !b.used.contains(*k)).collect();
        if !unused.is_empty() {
            unused.sort();
            return Err(ModelError::Unsupported(format!(
                "{} tensor(s) the {} spec does not use, e.g. {:?}",
                unused.len(),
                spec.arch,
                &unused[..unused.len().min(4)]
            )));
        }
        Ok(Weights { token_embd, output_norm, output, layers })
    }
}
