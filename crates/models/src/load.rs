//! Loading a [`Model`] from a path: a GGUF file, or a Hugging Face folder (`config.json` plus
//! `model.safetensors` or a sharded `model.safetensors.index.json`, F32/F16/BF16, opened by
//! `allmende_formats::HfFolder`).
//!
//! HF: `architectures[0]` picks the registry entry, whose arch file maps the config to a spec,
//! renames tensors to canonical GGUF names and takes fused tensors apart. GGUF:
//! `general.architecture` picks the entry, whose arch file reads the metadata; tensors already
//! carry canonical names. Weights stay memory-mapped (zero-copy) unless a layout change
//! (Falcon's grouped QKV) needs a copy or they are repacked at load (`weights.rs`), after which
//! their pages, and the GGUF header's, are released.

use std::io::Read;
use std::path::{Path, PathBuf};

use allmende_formats::{FormatError, GgufFile, HfConfig, HfFolder, SafetensorsSet};
use allmende_tensor::ByteView;

use crate::arch::ignorable_hf_tensor;
use crate::config::Cfg;
use crate::kv_cache::KvType;
use crate::registry::{by_gguf_arch, by_hf_class, Arch};
use crate::spec::DecoderSpec;
use crate::tensors::{from_gguf, from_safetensors, TensorMap};
use crate::{Model, ModelError, ModelOptions, Result};

/// What a path holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// A GGUF file.
    Gguf(PathBuf),
    /// A Hugging Face folder (the folder, not its `config.json`).
    HfFolder(PathBuf),
}

impl ModelSource {
    /// Classifies `path`: a folder with `config.json`, a `config.json` itself, or a file that
    /// starts with the GGUF magic.
    pub fn detect(path: &Path) -> Result<ModelSource> {
        let not = |why: &str| ModelError::NotAModel { path: path.to_path_buf(), why: why.to_string() };
        if path.is_dir() {
            return if path.join("config.json").is_file() {
                Ok(ModelSource::HfFolder(path.to_path_buf()))
            } else {
                Err(not("folder has no config.json"))
            };
        }
        if path.file_name().is_some_and(|n| n == "config.json") {
            let dir = path.parent().unwrap_or(Path::new("."));
            return Ok(ModelSource::HfFolder(dir.to_path_buf()));
        }
        let mut magic = [0u8; 4];
        let mut f = std::fs::File::open(path).map_err(|source| FormatError::Io { path: path.to_path_buf(), source })?;
        f.read_exact(&mut magic).map_err(|_| not("shorter than 4 bytes"))?;
        if &magic == b"GGUF" {
            Ok(ModelSource::Gguf(path.to_path_buf()))
        } else {
            Err(not("file does not start with the GGUF magic"))
        }
    }
}

impl Model {
    /// Loads a GGUF file or a Hugging Face folder (see [`ModelSource::detect`]).
    pub fn load(path: impl AsRef<Path>, opts: &ModelOptions) -> Result<Model> {
        match ModelSource::detect(path.as_ref())? {
            ModelSource::Gguf(p) => Model::load_gguf(p, opts),
            ModelSource::HfFolder(p) => Model::load_hf(p, opts),
        }
    }

    /// Loads a GGUF file.
    pub fn load_gguf(path: impl AsRef<Path>, opts: &ModelOptions) -> Result<Model> {
        let file = GgufFile::open(path.as_ref())?;
        let (spec, tensors) = gguf_spec_and_tensors(&file)?;
        // The parsed metadata (a large vocabulary is tens of MB of small strings) is freed
        // before the weights are repacked, so the allocator can reuse it for them.
        drop(file);
        Model::from_tensors_kv(spec, &tensors, opts, KvType::F16)
    }

    /// Builds a model from an opened GGUF file (its tensors stay mapped). Caches default to
    /// F16, as llama.cpp's.
    pub fn from_gguf(file: &GgufFile, opts: &ModelOptions) -> Result<Model> {
        let (spec, tensors) = gguf_spec_and_tensors(file)?;
        Model::from_tensors_kv(spec, &tensors, opts, KvType::F16)
    }

    /// Loads a Hugging Face folder.
    pub fn load_hf(dir: impl AsRef<Path>, opts: &ModelOptions) -> Result<Model> {
        Model::from_hf_folder(&HfFolder::open(dir.as_ref())?, opts)
    }

    /// Builds a model from an opened Hugging Face folder (its tensors stay mapped). Caches
    /// default to F32, for parity with transformers.
    pub fn from_hf_folder(folder: &HfFolder, opts: &ModelOptions) -> Result<Model> {
        let (spec, tensors) = hf_spec_and_tensors(folder.config(), folder.weights())?;
        Model::from_tensors(spec, &tensors, opts)
    }
}

/// The spec a Hugging Face `config.json` describes.
pub fn spec_from_hf_config(config: &HfConfig) -> Result<DecoderSpec> {
    let (arch, class) = hf_arch(config)?;
    match &arch.hf {
        Some(hf) => (hf.spec)(&Cfg::new(config)?),
        None => Err(ModelError::UnknownArch { name: class.to_string(), supported: String::new() }),
    }
}

/// The spec a GGUF file describes (its tensors are read for tied output, biases, vocabulary).
pub fn spec_from_gguf(file: &GgufFile) -> Result<DecoderSpec> {
    spec_from_gguf_tensors(file, &from_gguf(file)?)
}

/// Spec and tensors of a GGUF file. The header (metadata, vocabulary, tensor index) is parsed
/// into owned values by then, so its pages go back to the OS, like those of the matrices that
/// are repacked at load (`weights.rs`).
fn gguf_spec_and_tensors(file: &GgufFile) -> Result<(DecoderSpec, TensorMap)> {
    let tensors = from_gguf(file)?;
    let spec = spec_from_gguf_tensors(file, &tensors)?;
    if let Some(header) = ByteView::new(file.storage().clone(), 0..file.data_offset()) {
        header.release();
    }
    Ok((spec, tensors))
}

fn spec_from_gguf_tensors(file: &GgufFile, tensors: &TensorMap) -> Result<DecoderSpec> {
    let name = file.architecture()?;
    let arch = by_gguf_arch(name)?;
    match arch.gguf {
        Some(f) => {
            let spec = f(file, tensors)?;
            spec.validate()?;
            Ok(spec)
        }
        None => Err(ModelError::UnknownArch { name: name.to_string(), supported: String::new() }),
    }
}

fn hf_arch(config: &HfConfig) -> Result<(&'static Arch, &str)> {
    let class = config.architectures().first().copied().ok_or_else(|| ModelError::MissingKey { key: "architectures".into() })?;
    Ok((by_hf_class(class)?, class))
}

/// Spec and canonical tensors of an HF checkpoint.
pub(crate) fn hf_spec_and_tensors(config: &HfConfig, weights: &SafetensorsSet) -> Result<(DecoderSpec, TensorMap)> {
    let (arch, class) = hf_arch(config)?;
    let hf = arch.hf.as_ref().ok_or_else(|| ModelError::UnknownArch { name: class.to_string(), supported: String::new() })?;
    let spec = (hf.spec)(&Cfg::new(config)?)?;
    spec.validate()?;
    let mut tensors = TensorMap::new();
    for t in weights.tensors() {
        if ignorable_hf_tensor(&t.name) {
            continue;
        }
        let canon = hf
            .names
            .map(&t.name)
            .ok_or_else(|| ModelError::Unsupported(format!("{class}: tensor `{}` has no canonical name", t.name)))?;
        tensors.insert(canon, from_safetensors(t)?);
    }
    (hf.fixup)(&spec, &mut tensors)?;
    Ok((spec, tensors))
}
