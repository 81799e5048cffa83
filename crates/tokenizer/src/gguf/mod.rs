//! Tokenizers for vocabularies embedded in GGUF files, reimplementing llama.cpp's behaviour.
//!
//! Reference: llama.cpp `src/llama-vocab.cpp` (`llama_vocab::impl::load`, `tokenize`,
//! `token_to_piece`, `detokenize`, `tokenizer_st_partition`) and `src/unicode.cpp`.
//!
//! [`GgufVocab`] is plain data filled by whoever reads the GGUF file; [`load`](vocab::Vocab::load)
//! turns it into a ready tokenizer with llama.cpp's defaults, special-token detection and caches.
//! Supported `tokenizer.ggml.model` values: `llama` (SentencePiece BPE by score), `gpt2` (byte-level
//! BPE with merges and a pre-tokenizer chosen by `tokenizer.ggml.pre`) and `bert` (WordPiece).

mod bpe;
mod detok;
mod pre;
mod pretokenize;
mod spm;
mod vocab;
mod wpm;

pub use vocab::GgufVocab;
pub(crate) use vocab::{Vocab, VocabType, EOG_NAMES, EOT_NAMES};
