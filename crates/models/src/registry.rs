//! The architecture registry: the one place that knows Hugging Face class names and GGUF
//! architecture strings. Each entry points at the functions of its arch file; everything else
//! in the crate works on [`DecoderSpec`] features.
//!
//! Adding an architecture: a file in `arch/`, one entry here, a fixture under
//! `tests/fixtures/` (the registry test fails without one).

use allmende_formats::GgufFile;

use crate::arch::{self, NameMap};
use crate::config::Cfg;
use crate::spec::DecoderSpec;
use crate::tensors::TensorMap;
use crate::{ModelError, Result};

/// How an architecture is read from a Hugging Face folder.
pub(crate) struct HfLoader {
    /// `config.json` → spec.
    pub spec: fn(&Cfg) -> Result<DecoderSpec>,
    /// HF tensor names → canonical names.
    pub names: &'static NameMap,
    /// Takes fused tensors apart / reorders them after renaming (default: nothing to do).
    pub fixup: fn(&DecoderSpec, &mut TensorMap) -> Result<()>,
}

/// How an architecture is read from GGUF metadata.
pub(crate) type GgufSpecFn = fn(&GgufFile, &TensorMap) -> Result<DecoderSpec>;

/// One supported architecture.
pub struct Arch {
    /// Our id (also the arch file name).
    pub id: &'static str,
    /// HF `architectures[0]` class names.
    pub hf_classes: &'static [&'static str],
    /// GGUF `general.architecture` strings.
    pub gguf_archs: &'static [&'static str],
    pub(crate) hf: Option<HfLoader>,
    pub(crate) gguf: Option<GgufSpecFn>,
}

fn no_fixup(_: &DecoderSpec, _: &mut TensorMap) -> Result<()> {
    Ok(())
}

/// Every supported architecture.
pub static ARCHS: &[Arch] = &[
    Arch {
        id: "llama",
        hf_classes: &["LlamaForCausalLM"],
        gguf_archs: &["llama"],
        hf: Some(HfLoader { spec: arch::llama::hf_spec, names: &arch::llama::NAMES, fixup: no_fixup }),
        gguf: Some(arch::llama::gguf_spec),
    },
    Arch {
        id: "mistral",
        hf_classes: &["MistralForCausalLM", "MixtralForCausalLM"],
        gguf_archs: &[],
        hf: Some(HfLoader { spec: arch::mistral::hf_spec, names: &arch::mistral::NAMES, fixup: no_fixup }),
        gguf: None,
    },
    Arch {
        id: "falcon",
        hf_classes: &["FalconForCausalLM"],
        gguf_archs: &["falcon"],
        hf: Some(HfLoader { spec: arch::falcon::hf_spec, names: &arch::falcon::NAMES, fixup: arch::falcon::hf_fixup }),
        gguf: Some(arch::falcon::gguf_spec),
    },
    Arch {
        id: "qwen2",
        hf_classes: &["Qwen2ForCausalLM"],
        gguf_archs: &["qwen2"],
        hf: Some(HfLoader { spec: arch::qwen2::hf_spec, names: &arch::llama::NAMES, fixup: no_fixup }),
        gguf: Some(arch::qwen2::gguf_spec),
    },
    Arch {
        id: "gemma2",
        hf_classes: &["Gemma2ForCausalLM"],
        gguf_archs: &["gemma2"],
        hf: Some(HfLoader { spec: arch::gemma2::hf_spec, names: &arch::gemma2::NAMES, fixup: no_fixup }),
        gguf: Some(arch::gemma2::gguf_spec),
    },
    Arch {
        id: "gemma3",
        hf_classes: &["Gemma3ForCausalLM"],
        gguf_archs: &["gemma3"],
        hf: Some(HfLoader { spec: arch::gemma3::hf_spec, names: &arch::gemma2::NAMES, fixup: no_fixup }),
        gguf: Some(arch::gemma3::gguf_spec),
    },
    Arch {
        id: "phi3",
        hf_classes: &["Phi3ForCausalLM"],
        gguf_archs: &["phi3"],
        hf: Some(HfLoader { spec: arch::phi3::hf_spec, names: &arch::phi3::NAMES, fixup: no_fixup }),
        gguf: Some(arch::phi3::gguf_spec),
    },
];

fn supported(list: impl Iterator<Item = &'static str>) -> String {
    list.collect::<Vec<_>>().join(", ")
}

/// The entry for HF class `class` (`config.json` `architectures[0]`).
pub fn by_hf_class(class: &str) -> Result<&'static Arch> {
    ARCHS
        .iter()
        .find(|a| a.hf.is_some() && a.hf_classes.contains(&class))
        .ok_or_else(|| ModelError::UnknownArch {
            name: class.to_string(),
            supported: supported(ARCHS.iter().filter(|a| a.hf.is_some()).flat_map(|a| a.hf_classes.iter().copied())),
        })
}

/// The entry for GGUF arch string `name` (`general.architecture`).
pub fn by_gguf_arch(name: &str) -> Result<&'static Arch> {
    ARCHS
        .iter()
        .find(|a| a.gguf.is_some() && a.gguf_archs.contains(&name))
        .ok_or_else(|| ModelError::UnknownArch {
            name: name.to_string(),
            supported: supported(ARCHS.iter().filter(|a| a.gguf.is_some()).flat_map(|a| a.gguf_archs.iter().copied())),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(by_hf_class("MixtralForCausalLM").unwrap().id, "mistral");
        assert_eq!(by_gguf_arch("gemma3").unwrap().id, "gemma3");
        match by_hf_class("GPT2LMHeadModel") {
            Err(ModelError::UnknownArch { supported, .. }) => assert!(supported.contains("LlamaForCausalLM")),
            other => panic!("{:?}", other.map(|a| a.id)),
        }
        assert!(by_gguf_arch("bert").is_err());
    }

    #[test]
    fn names_are_unique() {
        let mut hf: Vec<_> = ARCHS.iter().flat_map(|a| a.hf_classes.iter()).collect();
        let mut gg: Vec<_> = ARCHS.iter().flat_map(|a| a.gguf_archs.iter()).collect();
        let (n1, n2) = (hf.len(), gg.len());
        hf.sort();
        hf.dedup();
        gg.sort();
        gg.dedup();
        assert_eq!((hf.len(), gg.len()), (n1, n2));
    }
}
