//! Building blocks of the generic decoder (norms, activations, RoPE, attention). The guide
//! puts these in an `nn` crate; until one exists they live here, used only by `model.rs`.

pub(crate) mod attention;
pub(crate) mod ops;
pub(crate) mod rope;
