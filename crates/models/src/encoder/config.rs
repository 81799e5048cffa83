//! The BERT `config.json` keys the encoder reads, checked once at load: sizes, LayerNorm eps,
//! the FFN activation, and the features it does not implement (relative position embeddings,
//! other encoder families) refused by name.
//!
//! ref: transformers `configuration_bert.py` (`BertConfig` defaults: `layer_norm_eps` 1e-12,
//! `hidden_act` "gelu", `type_vocab_size` 2, `position_embedding_type` "absolute").

use allmende_formats::HfConfig;

use super::error::{EncoderError, Result};

/// The FFN activation (`hidden_act`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncoderAct {
    /// `gelu`: `x * Φ(x)` with the exact (erf) normal CDF.
    GeluErf,
    /// `gelu_new`, `gelu_pytorch_tanh`: the tanh approximation.
    GeluTanh,
    /// `relu`.
    Relu,
    /// `silu` / `swish`.
    Silu,
}

/// Dimensions and features of a BERT encoder.
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    /// Vocabulary size (rows of the word embeddings).
    pub n_vocab: usize,
    /// Hidden size.
    pub n_embd: usize,
    /// Attention heads.
    pub n_head: usize,
    /// Blocks.
    pub n_layer: usize,
    /// FFN inner size.
    pub n_ff: usize,
    /// Rows of the position embeddings: the longest sequence the model can take.
    pub n_pos: usize,
    /// Rows of the token-type (segment) embeddings.
    pub n_type: usize,
    /// LayerNorm epsilon.
    pub eps: f32,
    /// FFN activation.
    pub act: EncoderAct,
}

impl BertConfig {
    /// Reads a BERT `config.json`.
    pub fn from_hf(cfg: &HfConfig) -> Result<BertConfig> {
        match cfg.model_type() {
            Some("bert") => {}
            Some(other) => {
                return Err(EncoderError::Unsupported(format!(
                    "encoder model_type `{other}` (only `bert` is implemented)"
                )))
            }
            None if cfg.architectures().iter().any(|a| a.starts_with("Bert")) => {}
            None => return Err(EncoderError::Unsupported("config.json names no BERT model_type or architecture".into())),
        }
        let pos_type = cfg.opt_str("position_embedding_type")?.unwrap_or("absolute");
        if pos_type != "absolute" {
            return Err(EncoderError::Unsupported(format!("position_embedding_type `{pos_type}`")));
        }
        let act = match cfg.opt_str("hidden_act")?.unwrap_or("gelu") {
            "gelu" => EncoderAct::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" => EncoderAct::GeluTanh,
            "relu" => EncoderAct::Relu,
            "silu" | "swish" => EncoderAct::Silu,
            other => return Err(EncoderError::Unsupported(format!("hidden_act `{other}`"))),
        };
        let c = BertConfig {
            n_vocab: cfg.usize("vocab_size")?,
            n_embd: cfg.usize("hidden_size")?,
            n_head: cfg.usize("num_attention_heads")?,
            n_layer: cfg.usize("num_hidden_layers")?,
            n_ff: cfg.usize("intermediate_size")?,
            n_pos: cfg.usize("max_position_embeddings")?,
            n_type: cfg.opt_usize("type_vocab_size")?.unwrap_or(2),
            eps: cfg.opt_f64("layer_norm_eps")?.unwrap_or(1e-12) as f32,
            act,
        };
        let bad = |key: &str, message: String| {
            EncoderError::Format(allmende_formats::FormatError::InvalidConfig { key: key.into(), message })
        };
        if c.n_head == 0 || !c.n_embd.is_multiple_of(c.n_head) {
            return Err(bad("num_attention_heads", format!("{} does not divide hidden_size {}", c.n_head, c.n_embd)));
        }
        for (key, v) in [("vocab_size", c.n_vocab), ("hidden_size", c.n_embd), ("intermediate_size", c.n_ff), ("max_position_embeddings", c.n_pos), ("type_vocab_size", c.n_type)] {
            if v == 0 {
                return Err(bad(key, "must be > 0".into()));
            }
        }
        Ok(c)
    }

    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }
}
