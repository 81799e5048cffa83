//! A model ready to talk: weights, tokenizer, chat template and end-of-generation tokens, loaded
//! together from a GGUF file or a Hugging Face folder, plus the glue that runs the generation
//! loop on it.
//!
//! What comes from where:
//!
//! | piece | GGUF | HF folder |
//! |---|---|---|
//! | weights | tensors | `*.safetensors` |
//! | tokenizer | `tokenizer.ggml.*` (llama.cpp's algorithms) | `tokenizer.json` (+ `tokenizer_config.json`) |
//! | chat template | `tokenizer.chat_template` | `chat_template.jinja` / `tokenizer_config.json` |
//! | special-token texts | `tokenizer.ggml.tokens[bos/eos id]` | `tokenizer_config.json` |
//! | end-of-generation ids | the vocabulary's EOG set | the vocabulary's EOG set + `generation_config.json` `eos_token_id` |

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use allmende_formats::{FormatError, GgufFile, HfFolder};
use allmende_models::{KvCache, Logits, Model, ModelError, ModelOptions};
use allmende_templates::{ChatTemplate, RenderInput, TemplateError};
use allmende_tokenizer::{GgufVocab, Tokenizer, TokenizerError};
use serde_json::Value;

use crate::generate::{generate, Detokenizer, GenerateOptions, GenerateOutput, LogitsModel};
use crate::perplexity::{Perplexity, PerplexityError};
use crate::EngineError;

/// Why a model could not be loaded or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file or folder could not be read.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The weights or architecture could not be built.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The tokenizer could not be built or used.
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] TokenizerError),
    /// The chat template could not be compiled or rendered.
    #[error("chat template: {0}")]
    Template(#[from] TemplateError),
    /// Chat was asked for but the model has no chat template.
    #[error("{0} has no chat template (it is probably a base model): use raw completion (--raw)")]
    NoChatTemplate(PathBuf),
    /// An HF folder without `tokenizer.json`.
    #[error("{0}: no tokenizer.json in the model folder")]
    NoTokenizer(PathBuf),
    /// Generation failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// A loaded model with everything needed to chat with it.
pub struct LoadedModel {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// The weights and forward pass.
    pub model: Model,
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// The chat template, if the model has one.
    pub template: Option<ChatTemplate>,
    /// Text of the BOS token, for templates.
    pub bos_token: Option<String>,
    /// Text of the EOS token, for templates.
    pub eos_token: Option<String>,
    /// Tokens that end generation.
    pub eog_ids: Vec<u32>,
    /// Context length the model was trained with (0 when unknown).
    pub n_ctx_train: usize,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel").field("path", &self.path).finish_non_exhaustive()
    }
}

impl LoadedModel {
    /// Loads a `.gguf` file or an HF folder.
    pub fn load(path: impl AsRef<Path>, opts: &ModelOptions) -> Result<LoadedModel, LoadError> {
        let path = path.as_ref();
        if path.is_dir() {
            Self::load_hf(path, opts)
        } else {
            Self::load_gguf(path, opts)
        }
    }

    fn load_gguf(path: &Path, opts: &ModelOptions) -> Result<LoadedModel, LoadError> {
        let file = GgufFile::open(path)?;
        let vocab = vocab_from_gguf(&file)?;
        let tokens = vocab.tokens.clone();
        let tokenizer = Tokenizer::from_gguf_vocab(vocab)?;
        let template = match file.get_opt::<&str>("tokenizer.chat_template")? {
            Some(src) => Some(ChatTemplate::new(src)?),
            None => None,
        };
        let text_of = |id: Option<u32>| id.and_then(|i| tokens.get(i as usize).cloned());
        let bos_token = text_of(tokenizer.bos_id());
        let eos_token = text_of(tokenizer.eos_id());
        let arch = file.architecture().unwrap_or("llama").to_string();
        let n_ctx_train = file.get_opt::<u64>(&format!("{arch}.context_length"))?.unwrap_or(0) as usize;
        drop(file);
        let model = Model::load(path, opts)?;
        let eog_ids = tokenizer.eog_ids().to_vec();
        Ok(LoadedModel { path: path.to_path_buf(), model, tokenizer, template, bos_token, eos_token, eog_ids, n_ctx_train })
    }

    fn load_hf(dir: &Path, opts: &ModelOptions) -> Result<LoadedModel, LoadError> {
        let folder = HfFolder::open(dir)?;
        let tok_path = folder.tokenizer_json().ok_or_else(|| LoadError::NoTokenizer(dir.to_path_buf()))?;
        let mut tokenizer = Tokenizer::from_tokenizer_json_file(tok_path)?;
        let tok_cfg = folder.tokenizer_config();
        if let Some(cfg) = tok_cfg {
            let raw = serde_json::to_vec(&cfg.raw).unwrap_or_default();
            tokenizer = tokenizer.with_tokenizer_config(&raw)?;
        }
        let template = match folder.chat_template() {
            Some(src) => Some(ChatTemplate::new(src)?),
            None => None,
        };
        let mut eog_ids = tokenizer.eog_ids().to_vec();
        for id in folder.eos_token_ids()? {
            if !eog_ids.contains(&id) {
                eog_ids.push(id);
            }
        }
        let n_ctx_train = folder.config().opt_usize("max_position_embeddings")?.unwrap_or(0);
        let bos_token = tok_cfg.and_then(|c| c.bos_token.clone());
        let eos_token = tok_cfg.and_then(|c| c.eos_token.clone());
        let model = Model::load(dir, opts)?;
        Ok(LoadedModel { path: dir.to_path_buf(), model, tokenizer, template, bos_token, eos_token, eog_ids, n_ctx_train })
    }

    /// The context size to use when the user gives none: the trained length, capped at 4096.
    pub fn default_n_ctx(&self) -> usize {
        match self.n_ctx_train {
            0 => 4096,
            n => n.min(4096),
        }
    }

    /// Renders a conversation with the model's chat template (as transformers'
    /// `apply_chat_template` would).
    pub fn render_chat(&self, messages: &[Value], add_generation_prompt: bool) -> Result<String, LoadError> {
        let template = self.template.as_ref().ok_or_else(|| LoadError::NoChatTemplate(self.path.clone()))?;
        let mut input = RenderInput::new(messages.to_vec());
        input.add_generation_prompt = add_generation_prompt;
        input.bos_token = self.bos_token.clone();
        input.eos_token = self.eos_token.clone();
        Ok(template.render(&input)?)
    }

    /// Token ids for a raw-completion prompt: BOS added when the model adds one, special-token
    /// text recognised (as llama.cpp's completion does).
    pub fn tokenize_raw(&self, text: &str) -> Result<Vec<u32>, LoadError> {
        Ok(self.tokenizer.encode(text, true, true)?)
    }

    /// Token ids for a rendered chat prompt: the template already wrote every special token it
    /// wants, so none is added (transformers tokenizes chat prompts the same way).
    pub fn tokenize_chat(&self, rendered: &str) -> Result<Vec<u32>, LoadError> {
        Ok(self.tokenizer.encode(rendered, false, true)?)
    }

    /// Generates from `prompt` in a fresh context of `n_ctx` tokens, calling `on_text` with
    /// each piece of text as it becomes final.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        n_ctx: usize,
        opts: &GenerateOptions,
        on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<GenerateOutput, LoadError> {
        let mut cache = self.model.new_cache(n_ctx);
        let mut runner = Runner { model: &mut self.model, cache: &mut cache };
        let mut detok = StreamDetok { inner: self.tokenizer.stream_decoder(true) };
        Ok(generate(&mut runner, &mut detok, prompt, opts, on_text)?)
    }
}

impl LoadedModel {
    /// Perplexity of `text` by llama.cpp's method (see [`crate::perplexity()`]): the text is
    /// tokenized with special tokens added (BOS where the model adds one) and special-token
    /// text taken literally, as llama.cpp's perplexity tool does.
    pub fn perplexity(
        &mut self,
        text: &str,
        n_ctx: usize,
        on_chunk: impl FnMut(usize, f64),
    ) -> Result<(Perplexity, usize), PerplexityRunError> {
        let tokens = self.tokenizer.encode(text, true, false).map_err(LoadError::from)?;
        let bos = if self.tokenizer.add_bos() { self.tokenizer.bos_id() } else { None };
        let n_vocab = self.model.n_vocab();
        let mut cache = self.model.new_cache(n_ctx);
        let model = &mut self.model;
        let r = crate::perplexity(
            &tokens,
            n_ctx,
            n_vocab,
            bos,
            |chunk| {
                cache.clear();
                model.forward(chunk, &mut cache, Logits::All).map(|l| l.to_vec())
            },
            on_chunk,
        )?;
        Ok((r, tokens.len()))
    }
}

/// Why [`LoadedModel::perplexity`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PerplexityRunError {
    /// Tokenizing the text failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The computation failed (text too short, model error).
    #[error(transparent)]
    Perplexity(#[from] PerplexityError),
}

/// Builds the tokenizer metadata from a GGUF file's `tokenizer.ggml.*` keys.
pub fn vocab_from_gguf(f: &GgufFile) -> Result<GgufVocab, FormatError> {
    let id = |k: &str| f.get_opt::<u32>(&format!("tokenizer.ggml.{k}"));
    let flag = |k: &str| f.get_opt::<bool>(&format!("tokenizer.ggml.{k}"));
    let merges = if f.contains_key("tokenizer.ggml.merges") {
        Some(f.get_str_array("tokenizer.ggml.merges")?.to_vec())
    } else {
        None
    };
    let scores =
        if f.contains_key("tokenizer.ggml.scores") { Some(f.get_f32_array("tokenizer.ggml.scores")?) } else { None };
    let token_types = if f.contains_key("tokenizer.ggml.token_type") {
        Some(f.get_i32_array("tokenizer.ggml.token_type")?)
    } else {
        None
    };
    Ok(GgufVocab {
        model: f.get_str("tokenizer.ggml.model")?.to_string(),
        pre: f.get_opt::<&str>("tokenizer.ggml.pre")?.map(str::to_string),
        tokens: f.get_str_array("tokenizer.ggml.tokens")?.to_vec(),
        scores,
        token_types,
        merges,
        bos_id: id("bos_token_id")?,
        eos_id: id("eos_token_id")?,
        eot_id: id("eot_token_id")?,
        eom_id: id("eom_token_id")?,
        unk_id: id("unknown_token_id")?,
        sep_id: id("seperator_token_id")?,
        pad_id: id("padding_token_id")?,
        cls_id: id("cls_token_id")?,
        mask_id: id("mask_token_id")?,
        fim_pre_id: match id("fim_pre_token_id")? {
            Some(v) => Some(v),
            None => id("prefix_token_id")?,
        },
        fim_suf_id: match id("fim_suf_token_id")? {
            Some(v) => Some(v),
            None => id("suffix_token_id")?,
        },
        fim_mid_id: match id("fim_mid_token_id")? {
            Some(v) => Some(v),
            None => id("middle_token_id")?,
        },
        fim_pad_id: id("fim_pad_token_id")?,
        fim_rep_id: id("fim_rep_token_id")?,
        fim_sep_id: id("fim_sep_token_id")?,
        add_bos: flag("add_bos_token")?,
        add_eos: flag("add_eos_token")?,
        add_sep: flag("add_sep_token")?,
        add_space_prefix: flag("add_space_prefix")?,
        remove_extra_whitespaces: flag("remove_extra_whitespaces")?,
        normalizer_lowercase: f.get_opt::<bool>("tokenizer.ggml.normalizer.lowercase")?,
        normalizer_strip_accents: f.get_opt::<bool>("tokenizer.ggml.normalizer.strip_accents")?,
        clean_spaces: None,
        model_name: f.get_opt::<&str>("general.name")?.map(str::to_string),
        architecture: f.get_opt::<&str>("general.architecture")?.map(str::to_string),
    })
}

/// The model plus its KV cache as the generation loop sees them.
struct Runner<'a> {
    model: &'a mut Model,
    cache: &'a mut KvCache,
}

impl LogitsModel for Runner<'_> {
    type Error = ModelError;

    fn n_vocab(&self) -> usize {
        self.model.n_vocab()
    }

    fn n_ctx(&self) -> Option<usize> {
        Some(self.cache.n_ctx())
    }

    fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<&[f32], ModelError> {
        // The loop appends in order; a different position means it restarted, so drop the rest.
        if pos != self.cache.len() {
            self.cache.truncate(pos);
        }
        self.model.forward(tokens, self.cache, Logits::Last)
    }
}

pub(crate) struct StreamDetok<'a> {
    pub(crate) inner: allmende_tokenizer::StreamDecoder<'a>,
}

impl Detokenizer for StreamDetok<'_> {
    fn push(&mut self, id: u32) -> String {
        // An id the vocabulary does not know cannot come from the sampler (it samples within
        // n_vocab); should it happen, it contributes no text rather than aborting the stream.
        self.inner.push(id).unwrap_or_default()
    }

    fn flush(&mut self) -> String {
        self.inner.finish()
    }
}
