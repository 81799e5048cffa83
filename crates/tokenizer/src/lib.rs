//! allmende-tokenizer: text to token ids and back, for every model the engine runs.
//!
//! Two backends behind one [`Tokenizer`]:
//! - `tokenizer.json` files through the Hugging Face `tokenizers` crate
//!   ([`Tokenizer::from_tokenizer_json`]);
//! - vocabularies embedded in GGUF files ([`Tokenizer::from_gguf_vocab`] with a [`GgufVocab`]),
//!   reimplemented to match llama.cpp token for token: SentencePiece BPE (`llama`), byte-level BPE
//!   with llama.cpp's pre-tokenizers (`gpt2`) and WordPiece (`bert`).
//!
//! [`StreamDecoder`] turns generated ids into text chunks that never split a UTF-8 character.
//! This crate does not read GGUF files (the loader fills [`GgufVocab`]) and does not render chat
//! templates.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod gguf;
mod hf;
mod stream;
mod unicode;
mod unicode_data;

use std::path::Path;

pub use error::{Result, TokenizerError};
pub use gguf::GgufVocab;
pub use stream::StreamDecoder;

use gguf::{Vocab, VocabType};
use hf::HfTokenizer;

/// Which algorithm a [`Tokenizer`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenizerKind {
    /// A `tokenizer.json` run by the Hugging Face `tokenizers` crate.
    HfJson,
    /// GGUF `llama`: SentencePiece BPE by score.
    SentencePiece,
    /// GGUF `gpt2`: byte-level BPE with merges.
    ByteLevelBpe,
    /// GGUF `bert`: WordPiece.
    WordPiece,
}

/// Special token ids (`None` when the vocabulary has no such token).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    /// Beginning of sequence.
    pub bos: Option<u32>,
    /// End of sequence.
    pub eos: Option<u32>,
    /// End of turn (`<|eot_id|>`, `<|im_end|>`, `<end_of_turn>`, ...).
    pub eot: Option<u32>,
    /// End of message (`<|eom_id|>`).
    pub eom: Option<u32>,
    /// Unknown.
    pub unk: Option<u32>,
    /// Separator.
    pub sep: Option<u32>,
    /// Padding.
    pub pad: Option<u32>,
    /// Classifier.
    pub cls: Option<u32>,
    /// Mask.
    pub mask: Option<u32>,
}

enum Backend {
    Hf(Box<HfTokenizer>),
    Gguf(Box<Vocab>),
}

/// A tokenizer: encode text to ids, decode ids to text.
pub struct Tokenizer {
    backend: Backend,
    special: SpecialTokens,
}

impl Tokenizer {
    /// Load a `tokenizer.json` from its bytes.
    pub fn from_tokenizer_json(json: &[u8]) -> Result<Self> {
        let hf = HfTokenizer::from_bytes(json)?;
        let special = hf.special;
        Ok(Self {
            backend: Backend::Hf(Box::new(hf)),
            special,
        })
    }

    /// Load a `tokenizer.json` file.
    pub fn from_tokenizer_json_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| TokenizerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_tokenizer_json(&bytes)
    }

    /// Apply a `tokenizer_config.json` to a `tokenizer.json` tokenizer: its `bos_token`,
    /// `eos_token`, `unk_token`, `pad_token`, `add_bos_token` and `add_eos_token` take precedence
    /// over what was detected. No effect on GGUF vocabularies (their metadata already says).
    pub fn with_tokenizer_config(mut self, json: &[u8]) -> Result<Self> {
        if let Backend::Hf(hf) = &mut self.backend {
            hf.apply_config(json)?;
            self.special = hf.special;
        }
        Ok(self)
    }

    /// Build a tokenizer from GGUF tokenizer metadata.
    pub fn from_gguf_vocab(vocab: GgufVocab) -> Result<Self> {
        let v = Vocab::load(vocab)?;
        let s = v.special;
        let special = SpecialTokens {
            bos: s.bos,
            eos: s.eos,
            eot: s.eot,
            eom: s.eom,
            unk: s.unk,
            sep: s.sep,
            pad: s.pad,
            cls: s.cls,
            mask: s.mask,
        };
        Ok(Self {
            backend: Backend::Gguf(Box::new(v)),
            special,
        })
    }

    /// Which algorithm runs.
    pub fn kind(&self) -> TokenizerKind {
        match &self.backend {
            Backend::Hf(_) => TokenizerKind::HfJson,
            Backend::Gguf(v) => match v.typ {
                VocabType::Spm => TokenizerKind::SentencePiece,
                VocabType::Bpe => TokenizerKind::ByteLevelBpe,
                VocabType::Wpm => TokenizerKind::WordPiece,
            },
        }
    }

    /// Encode text. `add_special` adds the model's BOS/EOS (or CLS/SEP); `parse_special` lets
    /// control tokens written in the text (`<|im_start|>`) become their ids. User-defined added
    /// tokens are always matched, as in llama.cpp and `tokenizers`.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>> {
        match &self.backend {
            Backend::Hf(h) => h.encode(text, add_special, parse_special),
            Backend::Gguf(v) => v.tokenize(text, add_special, parse_special),
        }
    }

    /// Decode ids to text (invalid UTF-8 becomes U+FFFD). `skip_special` drops control tokens
    /// (GGUF: llama.cpp `detokenize(remove_special = true, unparse_special = false)`).
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        match &self.backend {
            Backend::Hf(h) => h.decode(ids, skip_special),
            Backend::Gguf(_) => {
                Ok(String::from_utf8_lossy(&self.decode_bytes(ids, skip_special)?).into_owned())
            }
        }
    }

    /// Decode ids to raw bytes (GGUF byte tokens may form partial UTF-8).
    pub fn decode_bytes(&self, ids: &[u32], skip_special: bool) -> Result<Vec<u8>> {
        match &self.backend {
            Backend::Hf(h) => Ok(h.decode(ids, skip_special)?.into_bytes()),
            Backend::Gguf(v) => v.detokenize(ids, skip_special, !skip_special),
        }
    }

    /// The bytes one token contributes to the text; control tokens give their text
    /// (llama.cpp `token_to_piece(special = true)`).
    pub fn token_to_piece(&self, id: u32) -> Result<Vec<u8>> {
        match &self.backend {
            Backend::Hf(h) => h.token_to_piece(id),
            Backend::Gguf(v) => Ok(v.token_to_piece(id, false, true)?.to_vec()),
        }
    }

    /// The token's text as stored in the vocabulary.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        match &self.backend {
            Backend::Hf(h) => h.id_to_token(id),
            Backend::Gguf(v) => v.tokens.get(id as usize).map(String::as_str),
        }
    }

    /// The id of a token text.
    pub fn token_to_id(&self, text: &str) -> Option<u32> {
        match &self.backend {
            Backend::Hf(h) => h.token_to_id(text),
            Backend::Gguf(v) => v.text_to_token(text),
        }
    }

    /// Number of token ids (including added tokens).
    pub fn vocab_size(&self) -> usize {
        match &self.backend {
            Backend::Hf(h) => h.vocab_size(),
            Backend::Gguf(v) => v.n_tokens(),
        }
    }

    /// All special token ids.
    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.special
    }

    /// Beginning-of-sequence id.
    pub fn bos_id(&self) -> Option<u32> {
        self.special.bos
    }

    /// End-of-sequence id.
    pub fn eos_id(&self) -> Option<u32> {
        self.special.eos
    }

    /// End-of-turn id.
    pub fn eot_id(&self) -> Option<u32> {
        self.special.eot
    }

    /// Ids that end generation (EOS, EOT, `<|im_end|>`, `<end_of_turn>`, ... as llama.cpp marks
    /// them), sorted.
    pub fn eog_ids(&self) -> &[u32] {
        match &self.backend {
            Backend::Hf(h) => &h.eog,
            Backend::Gguf(v) => &v.eog,
        }
    }

    /// Whether `id` ends generation.
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog_ids().binary_search(&id).is_ok()
    }

    /// Whether encoding with `add_special` prepends BOS.
    pub fn add_bos(&self) -> bool {
        match &self.backend {
            Backend::Hf(h) => h.add_bos,
            Backend::Gguf(v) => v.add_bos || v.typ == VocabType::Wpm,
        }
    }

    /// Whether encoding with `add_special` appends EOS.
    pub fn add_eos(&self) -> bool {
        match &self.backend {
            Backend::Hf(h) => h.add_eos,
            Backend::Gguf(v) => v.add_eos,
        }
    }

    /// Whether the vocabulary wants SEP appended to sequences (BERT-style; used for pairs).
    pub fn add_sep(&self) -> bool {
        match &self.backend {
            Backend::Hf(h) => h.special.sep.is_some(),
            Backend::Gguf(v) => v.add_sep,
        }
    }

    /// Whether `id` is a control/special token (rendered empty by `decode(.., skip_special = true)`).
    pub fn is_control(&self, id: u32) -> bool {
        match &self.backend {
            Backend::Hf(h) => h.is_special(id),
            Backend::Gguf(v) => v.is_control(id),
        }
    }

    /// A streaming detokenizer over this tokenizer.
    pub fn stream_decoder(&self, skip_special: bool) -> StreamDecoder<'_> {
        StreamDecoder::new(self, skip_special)
    }

    fn is_hf(&self) -> bool {
        matches!(self.backend, Backend::Hf(_))
    }

    /// Whether decoded text can lose a trailing space when more tokens follow.
    fn decode_cleans_spaces(&self) -> bool {
        match &self.backend {
            Backend::Hf(h) => h.decode_cleans_spaces(),
            Backend::Gguf(v) => v.clean_spaces,
        }
    }
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("kind", &self.kind())
            .field("vocab_size", &self.vocab_size())
            .field("special", &self.special)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokenizer_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<super::Tokenizer>();
    }
}
