//! allmende-formats: model file formats, read safely from untrusted bytes.
//!
//! - [`gguf`]: GGUF v2/v3 reader ([`GgufFile`], mmapped, zero-copy tensor views) and v3 writer
//!   ([`GgufWriter`]).
//! - [`safetensors`]: single and sharded `.safetensors` reader and a small writer.
//! - [`pickle`]: a pickle opcode walker and auditor that never executes anything, and a
//!   restricted unpickler for `torch.save` checkpoints (`pytorch_model.bin`).
//! - [`hf`]: Hugging Face model folders (`config.json`, weights, tokenizer and generation
//!   configs, chat template, RoPE parameters).
//!
//! Every reader validates its input completely before handing out data and returns a
//! [`FormatError`] (never a panic, never an allocation sized by an unchecked count). Mapped
//! files must not be modified while they are open.
#![deny(missing_docs)]

mod error;
pub mod gguf;
pub mod hf;
mod json;
mod mmap;
pub mod pickle;
pub mod safetensors;

pub use error::FormatError;
pub use gguf::{GgufArray, GgufFile, GgufTensorInfo, GgufValue, GgufValueType, GgufWriter};
pub use hf::{GenerationConfig, HfConfig, HfFolder, RopeConfig, RopeParams, TokenizerConfig};
pub use safetensors::{
    Dtype, SafetensorsFile, SafetensorsSet, SafetensorsTensor, SafetensorsWriter,
};
