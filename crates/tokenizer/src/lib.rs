//! allmende-tokenizer: Tokenizers: tokenizer.json (HF tokenizers crate) and GGUF-embedded SentencePiece/BPE/WordPiece vocabularies; streaming detokenization
