//! allmende-models: architectures as data.
//!
//! * [`DecoderSpec`] describes a decoder-only transformer by its features (norm kind, FFN kind,
//!   RoPE pairing and scaling per layer, attention features, block layout, ...).
//! * The registry ([`registry::ARCHS`]) and one small file per architecture (`arch/*.rs`) map
//!   Hugging Face `config.json` files and GGUF metadata to a spec, and checkpoint tensor names to
//!   canonical GGUF names.
//! * [`Model`] holds the weights (as [`allmende_tensor::QMatrix`], in their file type) and runs
//!   the one generic forward pass with a [`KvCache`] of f32 or f16 ([`KvType`]; f16 by default
//!   for GGUF files, as llama.cpp, f32 for Hugging Face folders).
//!
//! ```no_run
//! use allmende_models::{Logits, Model, ModelOptions};
//! let mut model = Model::load("model.gguf", &ModelOptions::default())?;
//! let mut cache = model.new_cache(2048);
//! let logits = model.forward(&[1, 15043], &mut cache, Logits::Last)?; // prefill
//! let next = logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i as u32).unwrap_or(0);
//! let logits = model.forward(&[next], &mut cache, Logits::Last)?; // one decode step
//! # let _ = logits;
//! # Ok::<(), allmende_models::ModelError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod arch;
mod config;
pub mod encoder;
mod error;
mod kv_cache;
mod load;
mod model;
mod nn;
pub mod registry;
pub mod spec;
pub mod tensors;
mod weights;

pub use encoder::{Encoder, EncoderError};
pub use error::{ModelError, Result};
pub use kv_cache::{KvCache, KvType};
pub use load::{spec_from_gguf, spec_from_hf_config, ModelSource};
pub use model::{BatchSeq, Logits, Model, ModelOptions, Tap, TapFn};
pub use spec::{
    Activation, AlibiSpec, AttnSpec, BlockLayout, DecoderSpec, FfnKind, LayerSpec, NormKind, RopePairing, RopeScaling,
    RopeSpec,
};
