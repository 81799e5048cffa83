//! Sentence embeddings with a BERT-style encoder, as sentence-transformers computes them.
//!
//! [`Encoder::load`] reads a sentence-transformers folder (or a plain transformers BERT folder):
//! [`SentenceConfig`] finds the transformer module, the pooling and whether a `Normalize`
//! module follows (`modules.json`, `1_Pooling/config.json`, `sentence_bert_config.json`);
//! [`BertConfig`] reads `config.json`; the weights come from the folder's safetensors through
//! `allmende_formats::HfFolder`, kept in their file type (F32/F16/BF16) and multiplied with
//! `QMatrix::matmul` on the encoder's own thread pool.
//!
//! [`Encoder::encode`] takes token ids (already with `[CLS]`/`[SEP]`, as the tokenizer's
//! post-processor adds them) and returns one pooled, optionally normalised vector per
//! sequence. A batch is run as groups of at most `n_batch` tokens (a longer sequence runs on its
//! own); sequences are not padded, so batching changes no result (see `bert.rs`). Inputs longer
//! than `max_seq_length` are an error ([`EncoderError::SequenceTooLong`]), never truncated
//! silently: the caller decides (the OpenAI API answers 400).
//!
//! ```no_run
//! use allmende_models::{encoder::Encoder, ModelOptions};
//! let enc = Encoder::load("all-MiniLM-L6-v2", &ModelOptions::default())?;
//! let v = enc.encode(&[vec![101, 7592, 2088, 102]])?; // [CLS] hello world [SEP]
//! assert_eq!(v[0].len(), enc.dim());
//! # Ok::<(), allmende_models::encoder::EncoderError>(())
//! ```

mod bert;
mod config;
mod error;
mod ops;
mod pooling;
mod sentence;
mod weights;

use std::path::Path;

use allmende_formats::{HfConfig, HfFolder, SafetensorsSet};
use allmende_tensor::ThreadPool;

pub use config::{BertConfig, EncoderAct};
pub use error::{EncoderError, Result};
pub use pooling::Pooling;
pub use sentence::SentenceConfig;

use weights::BertWeights;

use crate::ModelOptions;

/// A loaded sentence encoder.
pub struct Encoder {
    config: BertConfig,
    weights: BertWeights,
    pool: ThreadPool,
    pooling: Pooling,
    normalize: bool,
    max_seq_len: usize,
    n_batch: usize,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("config", &self.config)
            .field("pooling", &self.pooling)
            .field("normalize", &self.normalize)
            .field("max_seq_len", &self.max_seq_len)
            .field("pool", &self.pool)
            .finish()
    }
}

impl Encoder {
    /// Loads a sentence-transformers folder (or a plain BERT folder: mean pooling, no
    /// normalisation). `opts.n_threads` sizes the pool, `opts.n_batch` the token groups.
    pub fn load(dir: impl AsRef<Path>, opts: &ModelOptions) -> Result<Encoder> {
        Encoder::load_with(&SentenceConfig::read(dir)?, opts)
    }

    /// Loads the transformer `sc` points to, pooled and normalised as `sc` says.
    pub fn load_with(sc: &SentenceConfig, opts: &ModelOptions) -> Result<Encoder> {
        let folder = HfFolder::open(&sc.transformer_dir)?;
        Encoder::from_parts(folder.config(), folder.weights(), sc, opts)
    }

    /// Builds an encoder from an opened `config.json` and weights (`sc.transformer_dir` is not
    /// read).
    pub fn from_parts(config: &HfConfig, weights: &SafetensorsSet, sc: &SentenceConfig, opts: &ModelOptions) -> Result<Encoder> {
        let config = BertConfig::from_hf(config)?;
        let weights = BertWeights::load(&config, weights)?;
        let max_seq_len = sc.max_seq_length.unwrap_or(config.n_pos).min(config.n_pos);
        Ok(Encoder {
            pool: ThreadPool::new(opts.n_threads),
            pooling: sc.pooling,
            normalize: sc.normalize,
            max_seq_len,
            n_batch: opts.n_batch.max(1),
            config,
            weights,
        })
    }

    /// The encoder's dimensions.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Length of the vectors [`Encoder::encode`] returns.
    pub fn dim(&self) -> usize {
        self.pooling.n_modes() * self.config.n_embd
    }

    /// The most tokens one input may have (`max_seq_length`, at most the position table).
    pub fn max_seq_len(&self) -> usize {
        self.max_seq_len
    }

    /// The pooling modes.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Whether vectors are L2-normalised.
    pub fn normalizes(&self) -> bool {
        self.normalize
    }

    /// Threads in the pool, the caller included.
    pub fn n_threads(&self) -> usize {
        self.pool.n_threads()
    }

    fn check(&self, index: usize, ids: &[u32]) -> Result<()> {
        if ids.is_empty() {
            return Err(EncoderError::EmptySequence { index });
        }
        if ids.len() > self.max_seq_len {
            return Err(EncoderError::SequenceTooLong { index, len: ids.len(), max: self.max_seq_len });
        }
        let n_vocab = self.config.n_vocab;
        match ids.iter().position(|&id| id as usize >= n_vocab) {
            Some(position) => Err(EncoderError::TokenOutOfRange { index, position, id: ids[position], n_vocab }),
            None => Ok(()),
        }
    }

    /// The last hidden states of one sequence, `[ids.len(), n_embd]` (sentence-transformers'
    /// `token_embeddings`).
    pub fn token_states(&self, ids: &[u32]) -> Result<Vec<f32>> {
        self.check(0, ids)?;
        Ok(bert::forward(&self.config, &self.weights, &self.pool, &[ids]))
    }

    /// One pooled (and, if the model says so, normalised) vector of [`Encoder::dim`] values per
    /// input. Every input is checked before any work starts.
    pub fn encode<S: AsRef<[u32]>>(&self, inputs: &[S]) -> Result<Vec<Vec<f32>>> {
        for (i, s) in inputs.iter().enumerate() {
            self.check(i, s.as_ref())?;
        }
        let e = self.config.n_embd;
        let mut out = Vec::with_capacity(inputs.len());
        let mut group: Vec<&[u32]> = Vec::new();
        let mut n_tok = 0;
        let run = |group: &mut Vec<&[u32]>, out: &mut Vec<Vec<f32>>| {
            let states = bert::forward(&self.config, &self.weights, &self.pool, group);
            let mut start = 0;
            for s in group.iter() {
                let mut v = Vec::with_capacity(self.dim());
                self.pooling.pool(&states[start * e..(start + s.len()) * e], e, &mut v);
                if self.normalize {
                    ops::l2_normalize(&mut v);
                }
                out.push(v);
                start += s.len();
            }
            group.clear();
        };
        for s in inputs {
            let s = s.as_ref();
            if !group.is_empty() && n_tok + s.len() > self.n_batch {
                run(&mut group, &mut out);
                n_tok = 0;
            }
            group.push(s);
            n_tok += s.len();
        }
        if !group.is_empty() {
            run(&mut group, &mut out);
        }
        Ok(out)
    }
}
