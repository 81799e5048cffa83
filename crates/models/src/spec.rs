//! `DecoderSpec`: a decoder-only transformer described as plain data, naming features rather
//! than model families (docs: GUIDE.md section E). One generic forward pass (`model.rs`)
//! consumes it; the arch files (`arch/*.rs`) fill it from `config.json` or GGUF metadata.
//!
//! References for the features: transformers `modeling_llama.py` (RMSNorm, gated SiLU FFN,
//! rotate-half RoPE, llama3 scaling), `modeling_mistral.py` (sliding window), `modeling_mixtral.py`
//! (softmax top-k router), `modeling_falcon.py` (LayerNorm, parallel residual, ALiBi),
//! `modeling_gemma2.py` / `modeling_gemma3.py` (soft-capping, sandwich norms, `1 + w` RMSNorm,
//! q/k norm, dual RoPE), llama.cpp `llama-model.cpp` (GGUF conventions, interleaved RoPE).

/// Normalisation used for every norm of the model (block norms, final norm, q/k norms).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NormKind {
    /// RMSNorm: `x / sqrt(mean(x²) + eps) * w`.
    Rms {
        /// Epsilon inside the square root.
        eps: f32,
        /// The checkpoint stores `w` but the model applies `1 + w` (Gemma's RMSNorm). The loader
        /// folds the 1 into the weights once, so the forward pass always multiplies by the
        /// stored-and-folded weight. GGUF Gemma files already store `1 + w`: false there.
        unit_offset: bool,
    },
    /// LayerNorm: `(x - mean) / sqrt(var + eps) * w + b` (biased variance, as PyTorch).
    Layer {
        /// Epsilon inside the square root.
        eps: f32,
    },
}

/// Activation function of the feed-forward network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(x)` (HF `silu`).
    Silu,
    /// GELU with the tanh approximation (HF `gelu_pytorch_tanh`, `gelu_new`).
    GeluTanh,
    /// Exact GELU with erf (HF `gelu`).
    Gelu,
    /// GELU-tanh as llama.cpp's CPU backend evaluates it (`GGML_GELU_FP16`): the input rounded
    /// to f16, looked up in a table of f16 results; 0 below -10, identity above 10. Used for
    /// GGUF files of architectures whose llama.cpp graph applies `ggml_gelu` / `ggml_geglu`.
    GeluTanhF16,
}

/// Feed-forward network kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FfnKind {
    /// `down(act(gate(x)) * up(x))`.
    Gated {
        /// Activation applied to the gate projection.
        act: Activation,
    },
    /// `down(act(up(x)))`.
    Plain {
        /// Activation applied to the up projection.
        act: Activation,
    },
    /// Sparse mixture of gated experts with a softmax top-k router (Mixtral): router logits
    /// `gate_inp(x)`, softmax over all experts, keep the `n_expert_used` largest, optionally
    /// renormalise them to sum 1, and sum the chosen experts' outputs weighted by them.
    Moe {
        /// Experts per layer.
        n_expert: usize,
        /// Experts used per token.
        n_expert_used: usize,
        /// Activation of each expert's gate projection.
        act: Activation,
        /// Renormalise the top-k weights to sum to 1 (Mixtral: true).
        norm_top_k: bool,
    },
}

/// Which elements of a head a RoPE rotation pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopePairing {
    /// Adjacent pairs `(2i, 2i+1)`: GGML's `LLAMA_ROPE_TYPE_NORM`, used with GGUF `llama` files
    /// whose q/k rows the converter permuted.
    Normal,
    /// Pairs `(i, i + n_rot/2)`: HF's `rotate_half`, GGML's `LLAMA_ROPE_TYPE_NEOX`.
    Neox,
}

/// How RoPE frequencies are rescaled for longer contexts.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// Plain `theta^(-2i/n_rot)`.
    None,
    /// Every frequency divided by `factor` (HF `linear`, position interpolation).
    Linear {
        /// Divisor of the frequencies.
        factor: f32,
    },
    /// Llama 3.1 frequency-dependent scaling (HF `llama3`).
    Llama3 {
        /// Divisor for low frequencies.
        factor: f32,
        /// Wavelengths above `original_ctx / low_freq_factor` are divided by `factor`.
        low_freq_factor: f32,
        /// Wavelengths below `original_ctx / high_freq_factor` are kept.
        high_freq_factor: f32,
        /// Training context of the unscaled model.
        original_ctx: usize,
    },
    /// Per-frequency divisors stored in the model file (GGUF `rope_freqs.weight`, which is how
    /// llama.cpp stores llama3 scaling): frequency `i` is divided by `factors[i]`.
    FreqFactors(Vec<f32>),
}

/// Rotary position embedding of one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeSpec {
    /// Element pairing.
    pub pairing: RopePairing,
    /// Number of leading elements of each head that are rotated (even, ≤ head_dim); the rest
    /// pass through (HF `partial_rotary_factor`).
    pub n_rot: usize,
    /// Base of the frequencies.
    pub theta: f32,
    /// Frequency rescaling.
    pub scaling: RopeScaling,
}

impl RopeSpec {
    /// The `n_rot / 2` inverse frequencies (radians per position), after scaling. Computed in
    /// f64 and rounded once, as close as f32 allows to HF's `inv_freq`.
    pub fn inv_freq(&self) -> Vec<f32> {
        let half = self.n_rot / 2;
        let mut out = Vec::with_capacity(half);
        for i in 0..half {
            let exponent = (2 * i) as f64 / self.n_rot as f64;
            let base = 1.0 / (self.theta as f64).powf(exponent);
            let f = match &self.scaling {
                RopeScaling::None => base,
                RopeScaling::Linear { factor } => base / *factor as f64,
                RopeScaling::FreqFactors(factors) => base / factors.get(i).copied().unwrap_or(1.0) as f64,
                RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_ctx } => {
                    let (factor, lo, hi) = (*factor as f64, *low_freq_factor as f64, *high_freq_factor as f64);
                    let old = *original_ctx as f64;
                    let low_freq_wavelen = old / lo;
                    let high_freq_wavelen = old / hi;
                    let wavelen = 2.0 * std::f64::consts::PI / base;
                    if wavelen < high_freq_wavelen {
                        base
                    } else if wavelen > low_freq_wavelen {
                        base / factor
                    } else {
                        let smooth = (old / wavelen - lo) / (hi - lo);
                        (1.0 - smooth) * base / factor + smooth * base
                    }
                }
            };
            out.push(f as f32);
        }
        out
    }
}

/// ALiBi attention biases (Press et al.; BLOOM / Falcon-RW): head `h` adds `slope_h * j` for
/// key position `j`, with slopes from [`alibi_slopes`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlibiSpec {
    /// Maximum bias exponent; 8 gives the paper's slopes `2^(-8(h+1)/n_head)`.
    pub max_bias: f32,
    /// The bias is added before the attention scale, as Falcon-RW does:
    /// `softmax((q·k + bias) * scale)`. False: after it, `softmax(q·k * scale + bias)` (BLOOM).
    pub before_scale: bool,
}

/// The ALiBi slope of every head: `2^(-max_bias (h+1) / n)` for the largest power of two
/// `n ≤ n_head`, then interleaved slopes for the remaining heads (HF `build_alibi_tensor`,
/// llama.cpp `ggml_soft_max_ext`'s `max_bias`).
pub fn alibi_slopes(n_head: usize, max_bias: f32) -> Vec<f32> {
    let n_floor = if n_head == 0 { 0 } else { 1usize << (usize::BITS - 1 - n_head.leading_zeros()) };
    let m0 = 2f64.powf(-(max_bias as f64) / n_floor.max(1) as f64);
    let m1 = 2f64.powf(-(max_bias as f64) / 2.0 / n_floor.max(1) as f64);
    (0..n_head)
        .map(|h| {
            if h < n_floor {
                m0.powi(h as i32 + 1) as f32
            } else {
                m1.powi(2 * (h - n_floor) as i32 + 1) as f32
            }
        })
        .collect()
}

/// Attention features shared by all layers.
#[derive(Clone, Debug, PartialEq)]
pub struct AttnSpec {
    /// q, k and v projections have biases.
    pub qkv_bias: bool,
    /// The output projection has a bias.
    pub out_bias: bool,
    /// Factor on `q·k` (usually `1/sqrt(head_dim)`; Gemma: `query_pre_attn_scalar^-0.5`).
    pub scale: f32,
    /// Soft-capping of the scaled scores: `cap * tanh(s / cap)` (Gemma 2).
    pub softcap: Option<f32>,
    /// Per-head RMSNorm of q and k after the projection, before RoPE (Gemma 3, Qwen3).
    pub qk_norm: bool,
    /// ALiBi position biases (instead of, or in addition to, RoPE).
    pub alibi: Option<AlibiSpec>,
}

/// Where the block's norms sit and how its residual adds up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockLayout {
    /// `x += attn(norm1(x)); x += ffn(norm2(x))` (`attn_norm`, `ffn_norm`).
    Sequential,
    /// `h = norm1(x); x += attn(h) + ffn(h)`: one shared norm (Falcon-7B, GPT-J).
    ParallelSharedNorm,
    /// `x += attn(norm1(x)) + ffn(norm2(x))`: two norms of the same input (Falcon-40B's new
    /// decoder architecture; as in llama.cpp, `attn_norm_2` feeds the attention, `attn_norm`
    /// the FFN).
    ParallelTwoNorms,
}

/// Per-layer variation.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSpec {
    /// Sliding-window attention: query `i` sees keys `j` with `i - w < j <= i` (HF semantics,
    /// llama.cpp `LLAMA_SWA_TYPE_STANDARD`). `None`: full causal attention.
    pub sliding_window: Option<usize>,
    /// RoPE of this layer; `None` for none (ALiBi models).
    pub rope: Option<RopeSpec>,
}

/// A decoder-only transformer as data.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderSpec {
    /// Registry id of the architecture the spec came from (`llama`, `gemma3`, ...). Informational:
    /// the forward pass never branches on it.
    pub arch: String,
    /// Vocabulary size (rows of the embedding and output matrices).
    pub n_vocab: usize,
    /// Hidden size.
    pub n_embd: usize,
    /// Number of blocks.
    pub n_layer: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (divides `n_head`; 1 = multi-query).
    pub n_head_kv: usize,
    /// Elements per head (q, k and v).
    pub head_dim: usize,
    /// Hidden size of the FFN (per expert for MoE).
    pub n_ff: usize,
    /// Training context length (`max_position_embeddings`, GGUF `context_length`).
    pub n_ctx_train: usize,
    /// Norm kind of every norm.
    pub norm: NormKind,
    /// Feed-forward kind.
    pub ffn: FfnKind,
    /// FFN projections have biases.
    pub ffn_bias: bool,
    /// Attention features.
    pub attn: AttnSpec,
    /// Norm placement and residual structure.
    pub block: BlockLayout,
    /// Extra norms on the attention and FFN outputs before the residual add
    /// (`post_attention_norm`, `post_ffw_norm`: Gemma 2/3).
    pub post_norms: bool,
    /// Factor on the embedding output (Gemma: `sqrt(n_embd)`).
    pub embed_scale: Option<f32>,
    /// Soft-capping of the final logits (Gemma 2).
    pub final_softcap: Option<f32>,
    /// The output matrix is the token embedding (no `output.weight`).
    pub tied_output: bool,
    /// One entry per layer.
    pub layers: Vec<LayerSpec>,
}

impl DecoderSpec {
    /// Checks that the dimensions fit together (the loader calls this before building weights).
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |key: &str, message: String| Err(crate::ModelError::BadConfig { key: key.into(), message });
        if self.n_vocab == 0 || self.n_embd == 0 || self.n_layer == 0 || self.n_head == 0 || self.head_dim == 0 || self.n_ff == 0 {
            return bad("dimensions", format!("zero dimension in {self:?}"));
        }
        if self.n_head.checked_rem(self.n_head_kv) != Some(0) {
            return bad("n_head_kv", format!("{} kv heads do not divide {} heads", self.n_head_kv, self.n_head));
        }
        if self.layers.len() != self.n_layer {
            return bad("layers", format!("{} layer specs for {} layers", self.layers.len(), self.n_layer));
        }
        for (i, l) in self.layers.iter().enumerate() {
            if let Some(r) = &l.rope {
                if r.n_rot == 0 || r.n_rot % 2 != 0 || r.n_rot > self.head_dim {
                    return bad("rope", format!("layer {i}: n_rot {} must be even and ≤ head_dim {}", r.n_rot, self.head_dim));
                }
            }
            if l.sliding_window == Some(0) {
                return bad("sliding_window", format!("layer {i}: window 0"));
            }
        }
        if let FfnKind::Moe { n_expert, n_expert_used, .. } = self.ffn {
            if n_expert_used == 0 || n_expert_used > n_expert {
                return bad("n_expert_used", format!("{n_expert_used} of {n_expert} experts"));
            }
        }
        Ok(())
    }

    /// Query width `n_head * head_dim`.
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Key/value width `n_head_kv * head_dim`.
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alibi_slopes_match_falcon_rw_formula() {
        assert_eq!(alibi_slopes(4, 8.0), vec![0.25, 0.0625, 0.015625, 0.00390625]);
        // Non power of two (HF build_alibi_tensor for 6 heads): 4 heads of base 2^-2, then
        // odd powers of 2^-1.
        let s = alibi_slopes(6, 8.0);
        assert_eq!(&s[..4], &[0.25, 0.0625, 0.015625, 0.00390625]);
        assert_eq!(&s[4..], &[0.5, 0.125]);
    }

    #[test]
    fn llama3_scaling_keeps_smooths_and_divides() {
        let r = RopeSpec {
            pairing: RopePairing::Neox,
            n_rot: 16,
            theta: 500000.0,
            scaling: RopeScaling::Llama3 { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_ctx: 64 },
        };
        let plain = RopeSpec { scaling: RopeScaling::None, ..r.clone() }.inv_freq();
        let scaled = r.inv_freq();
        // Highest frequency (wavelength 2π < 16) is kept, lowest divided by 8.
        assert_eq!(scaled[0], plain[0]);
        assert!((scaled[7] - plain[7] / 8.0).abs() <= plain[7] * 1e-6);
        // Some frequency in between is smoothed: strictly between the two.
        assert!(scaled.iter().zip(&plain).any(|(s, p)| *s < *p && *s > *p / 8.0));
    }
}
