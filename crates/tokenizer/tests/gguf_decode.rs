//! GGUF vocabularies beyond the test vectors: detokenization (llama.cpp `detokenize` semantics),
//! special tokens in the text, BOS/EOS handling, end-of-generation sets and error paths.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use allmende_tokenizer::{GgufVocab, Tokenizer, TokenizerError, TokenizerKind};
use common::{load_cases, load_tokenizer};

const LOSSLESS: &[&str] = &["llama-spm", "phi-3", "qwen2", "deepseek-coder", "command-r"];
const CLEANING: &[&str] = &["gpt-2", "llama-bpe", "starcoder", "falcon"];

/// Patterns llama.cpp's `clean_spaces` rewrites.
fn has_cleanable(text: &str) -> bool {
    [" ?", " !", " .", " ,", " '"]
        .iter()
        .any(|p| text.contains(p))
}

#[test]
fn lossless_vocabs_round_trip_every_case() {
    for name in LOSSLESS {
        let tok = load_tokenizer(name);
        for (text, ids) in load_cases(name) {
            assert_eq!(tok.decode(&ids, false).unwrap(), text, "{name}: {text:?}");
        }
    }
}

#[test]
fn cleaning_vocabs_round_trip_unless_spaces_are_cleaned() {
    for name in CLEANING {
        let tok = load_tokenizer(name);
        let mut checked = 0;
        for (text, ids) in load_cases(name) {
            if !has_cleanable(&text) {
                assert_eq!(tok.decode(&ids, false).unwrap(), text, "{name}: {text:?}");
                checked += 1;
            }
        }
        assert!(checked >= 40, "{name}: {checked}");
    }
}

#[test]
fn clean_spaces_removes_spaces_before_punctuation() {
    let tok = load_tokenizer("gpt-2");
    let ids = tok
        .encode("Hello , world ! it 's a ' quote '", false, false)
        .unwrap();
    assert_eq!(
        tok.decode(&ids, false).unwrap(),
        "Hello, world! it's a'quote '"
    );
    // qwen2 does not clean.
    let tok = load_tokenizer("qwen2");
    let ids = tok.encode("Hello , world !", false, false).unwrap();
    assert_eq!(tok.decode(&ids, false).unwrap(), "Hello , world !");
}

#[test]
fn spm_bos_and_leading_space() {
    let tok = load_tokenizer("llama-spm");
    assert_eq!(tok.kind(), TokenizerKind::SentencePiece);
    assert!(tok.add_bos());
    assert_eq!(tok.encode("Hello", true, false).unwrap(), vec![1, 15043]);
    assert_eq!(tok.encode("Hello", false, false).unwrap(), vec![15043]);
    // llama.cpp: removing BOS also keeps the next token's leading space.
    assert_eq!(tok.decode(&[1, 15043], true).unwrap(), " Hello");
    assert_eq!(tok.decode(&[1, 15043], false).unwrap(), "<s> Hello");
    assert_eq!(tok.decode(&[15043, 3186], false).unwrap(), "Hello world");
    assert_eq!(tok.token_to_piece(15043).unwrap(), b" Hello".to_vec());
    assert_eq!(tok.token_to_piece(13).unwrap(), b"\n".to_vec());
    assert_eq!(tok.token_to_piece(243).unwrap(), vec![0xF0]);
    assert_eq!(tok.token_to_piece(2).unwrap(), b"</s>".to_vec());
    assert_eq!(tok.id_to_token(15043), Some("\u{2581}Hello"));
    assert_eq!(tok.token_to_id("<0x0A>"), Some(13));
    assert_eq!(tok.vocab_size(), 32000);
    assert_eq!(tok.eog_ids(), &[2]);
}

#[test]
fn spm_special_tokens_and_phi3_rstrip() {
    let tok = load_tokenizer("phi-3");
    // <|user|> is a control token with llama.cpp's Phi-3 RSTRIP fix: the newline after it goes.
    assert_eq!(
        tok.encode("<|user|>\nHello<|end|>", false, true).unwrap(),
        vec![32010, 15043, 32007]
    );
    let plain = tok.encode("<|user|>", false, false).unwrap();
    assert!(!plain.contains(&32010));
    assert_eq!(tok.decode(&[32010, 15043, 32007], true).unwrap(), " Hello");
    assert_eq!(
        tok.decode(&[32010, 15043, 32007], false).unwrap(),
        "<|user|> Hello<|end|>"
    );
    assert_eq!(tok.eos_id(), Some(32000));
    assert_eq!(tok.eot_id(), Some(32007));
    assert_eq!(tok.eog_ids(), &[2, 32000, 32007]);
}

#[test]
fn bpe_special_tokens() {
    let tok = load_tokenizer("llama-bpe");
    assert_eq!(tok.kind(), TokenizerKind::ByteLevelBpe);
    assert!(tok.add_bos());
    assert_eq!(tok.encode("Hi", true, false).unwrap(), vec![128000, 13347]);
    let ids = tok
        .encode("<|begin_of_text|>Hi<|eot_id|>", false, true)
        .unwrap();
    assert_eq!(ids, vec![128000, 13347, 128009]);
    assert!(!tok
        .encode("<|begin_of_text|>Hi", false, false)
        .unwrap()
        .contains(&128000));
    assert_eq!(tok.decode(&ids, true).unwrap(), "Hi");
    assert_eq!(
        tok.decode(&ids, false).unwrap(),
        "<|begin_of_text|>Hi<|eot_id|>"
    );
    assert_eq!(tok.eot_id(), Some(128009));
    assert_eq!(tok.eog_ids(), &[128001, 128009]);
    assert!(tok.is_control(128009) && !tok.is_control(13347));

    let tok = load_tokenizer("qwen2");
    let text = "<|im_start|>user\nhi<|im_end|>";
    assert_eq!(
        tok.encode(text, false, true).unwrap(),
        vec![151644, 872, 198, 6023, 151645]
    );
    let plain = tok.encode(text, false, false).unwrap();
    assert!(!plain.contains(&151644) && !plain.contains(&151645));
    assert_eq!(tok.decode(&plain, false).unwrap(), text);
    assert!(!tok.add_bos());
    assert_eq!(tok.encode("hi", true, false).unwrap(), vec![6023]);
    // 128247 is a plain-text "</s>" in Qwen's vocabulary; llama.cpp's text rule makes it EOG too.
    assert_eq!(tok.id_to_token(128247), Some("</s>"));
    assert_eq!(tok.eog_ids(), &[128247, 151643, 151645]);
    assert!(tok.is_eog(151645));
}

#[test]
fn eog_follows_llama_cpp_text_rules() {
    // starcoder: <|endoftext|> plus <fim_pad> (llama.cpp marks FIM pad as end of generation).
    assert_eq!(load_tokenizer("starcoder").eog_ids(), &[0, 4]);
    // command-r: EOS, and <PAD> which llama.cpp takes for a FIM pad token.
    assert_eq!(load_tokenizer("command-r").eog_ids(), &[0, 255001]);
}

#[test]
fn wordpiece_encode_decode() {
    let tok = load_tokenizer("bert-bge");
    assert_eq!(tok.kind(), TokenizerKind::WordPiece);
    let ids = tok.encode("Hello World!", true, false).unwrap();
    assert_eq!(ids, vec![101, 7592, 2088, 999, 102]);
    assert_eq!(tok.decode(&ids[1..4], false).unwrap(), " hello world!");
    assert_eq!(tok.decode(&ids, true).unwrap(), " hello world!");
    assert_eq!(tok.decode(&ids, false).unwrap(), "[CLS] hello world![SEP]");
    // Accents are stripped, case folded.
    assert_eq!(
        tok.encode("Café NAÏVE", false, false).unwrap(),
        vec![7668, 15743]
    );
    assert_eq!(
        (tok.special_tokens().sep, tok.special_tokens().mask),
        (Some(102), Some(103))
    );
}

fn tiny(model: &str, tokens: &[&str]) -> GgufVocab {
    GgufVocab {
        model: model.to_string(),
        tokens: tokens.iter().map(|t| t.to_string()).collect(),
        ..GgufVocab::default()
    }
}

#[test]
fn load_errors_are_typed() {
    let err = Tokenizer::from_gguf_vocab(tiny("t5", &["a"])).unwrap_err();
    assert!(matches!(err, TokenizerError::UnsupportedModel(m) if m == "t5"));
    let err = Tokenizer::from_gguf_vocab(tiny("gpt2", &["a"])).unwrap_err();
    assert!(matches!(err, TokenizerError::MissingMerges));
    let mut v = tiny("gpt2", &["a", "b", "ab"]);
    v.merges = Some(vec!["a b".into()]);
    v.pre = Some("no-such-pre".into());
    assert!(matches!(
        Tokenizer::from_gguf_vocab(v).unwrap_err(),
        TokenizerError::UnknownPreTokenizer(_)
    ));
    let err = Tokenizer::from_gguf_vocab(tiny("llama", &["<unk>", "a", "a"])).unwrap_err();
    assert!(matches!(
        err,
        TokenizerError::DuplicateToken {
            first: 1,
            second: 2,
            ..
        }
    ));
    // SentencePiece defaults to add_bos with BOS id 1; a one-token vocabulary has no id 1.
    let err = Tokenizer::from_gguf_vocab(tiny("llama", &["<unk>"])).unwrap_err();
    assert!(matches!(err, TokenizerError::MissingSpecialToken { .. }));
    let mut v = tiny("llama", &["<unk>", "<s>", "</s>", "a"]);
    v.scores = Some(vec![0.0]);
    assert!(matches!(
        Tokenizer::from_gguf_vocab(v).unwrap_err(),
        TokenizerError::LengthMismatch { .. }
    ));
}

#[test]
fn runtime_errors_are_typed() {
    let tok = Tokenizer::from_gguf_vocab(tiny("llama", &["<unk>", "<s>", "</s>", "\u{2581}", "a"]))
        .unwrap();
    assert_eq!(tok.encode("a", false, false).unwrap(), vec![3, 4]);
    assert!(matches!(
        tok.encode("é", false, false).unwrap_err(),
        TokenizerError::MissingByteToken(0xC3)
    ));
    assert!(matches!(
        tok.decode(&[9], false).unwrap_err(),
        TokenizerError::TokenOutOfRange {
            id: 9,
            vocab_size: 5
        }
    ));
    assert!(tok.token_to_piece(5).is_err());
}

#[test]
fn tiny_bpe_merges_by_rank_leftmost_first() {
    let mut v = tiny("gpt2", &["a", "b", "ab", "ba", "aba", "c"]);
    // "b a" has a better rank than "a b": "aba" -> "a" + "ba".
    v.merges = Some(vec!["b a".into(), "a b".into()]);
    v.pre = Some("gpt-2".into());
    let tok = Tokenizer::from_gguf_vocab(v).unwrap();
    assert_eq!(tok.encode("aba", false, false).unwrap(), vec![0, 3]);
    // Equal ranks do not happen in one list; leftmost wins between two "a b" pairs.
    assert_eq!(tok.encode("abab", false, false).unwrap(), vec![0, 3, 1]);
    assert_eq!(tok.decode(&[0, 3, 1], false).unwrap(), "abab");
    assert!(tok.eog_ids().is_empty());
}
