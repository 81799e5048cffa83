//! `tokenizer.json` backend: encoding and decoding through the Hugging Face `tokenizers` crate,
//! plus what that crate does not offer: per-token byte pieces, special-token ids and the
//! end-of-generation set.
//!
//! Reference: Hugging Face `tokenizers` (`Tokenizer::from_bytes`, `encode`, `decode`,
//! `set_encode_special_tokens`) and `transformers` `tokenizer_config.json` conventions
//! (`bos_token`, `eos_token`, `add_bos_token`, ...).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::error::{Result, TokenizerError};
use crate::unicode::char_to_byte;
use crate::SpecialTokens;

/// How a single token's text maps back to bytes, read from the `decoder` section.
#[derive(Clone, Debug, Default)]
struct PieceRules {
    /// GPT-2 byte-level chars.
    byte_level: bool,
    /// `<0xXX>` tokens are raw bytes.
    byte_fallback: bool,
    /// `▁` stands for a space (Metaspace or Replace).
    metaspace: bool,
    /// WordPiece continuation prefix (`##`), if the decoder is WordPiece.
    wordpiece_prefix: Option<String>,
    /// The decoder removes spaces before punctuation (WordPiece `cleanup`), so decoded text can
    /// change when more tokens arrive.
    cleanup: bool,
}

fn collect_rules(decoder: &Value, rules: &mut PieceRules) {
    match decoder.get("type").and_then(Value::as_str) {
        Some("Sequence") => {
            for d in decoder
                .get("decoders")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                collect_rules(d, rules);
            }
        }
        Some("ByteLevel") => rules.byte_level = true,
        Some("ByteFallback") => rules.byte_fallback = true,
        Some("Metaspace") => rules.metaspace = true,
        Some("Replace") => {
            let pattern = decoder
                .get("pattern")
                .and_then(|p| p.get("String"))
                .and_then(Value::as_str);
            if pattern == Some("\u{2581}") {
                rules.metaspace = true;
            }
        }
        Some("WordPiece") => {
            let prefix = decoder
                .get("prefix")
                .and_then(Value::as_str)
                .unwrap_or("##");
            rules.wordpiece_prefix = Some(prefix.to_string());
            rules.cleanup |= decoder
                .get("cleanup")
                .and_then(Value::as_bool)
                .unwrap_or(true);
        }
        _ => {}
    }
}

/// A `tokenizer.json` tokenizer.
pub(crate) struct HfTokenizer {
    tok: tokenizers::Tokenizer,
    /// A copy that treats special tokens in the input as plain text (`parse_special = false`).
    tok_plain: OnceLock<tokenizers::Tokenizer>,
    id_to_token: Vec<String>,
    /// Added tokens: id -> (content, special).
    added: HashMap<u32, (String, bool)>,
    rules: PieceRules,
    pub(crate) special: SpecialTokens,
    pub(crate) add_bos: bool,
    pub(crate) add_eos: bool,
    pub(crate) eog: Vec<u32>,
}

impl HfTokenizer {
    /// Load from the bytes of a `tokenizer.json`.
    pub(crate) fn from_bytes(json: &[u8]) -> Result<Self> {
        let tok = tokenizers::Tokenizer::from_bytes(json)
            .map_err(|e| TokenizerError::HfLoad(e.to_string()))?;
        let doc: Value = serde_json::from_slice(json).map_err(|e| TokenizerError::Json {
            what: "tokenizer.json",
            message: e.to_string(),
        })?;
        let mut rules = PieceRules::default();
        if let Some(d) = doc.get("decoder") {
            collect_rules(d, &mut rules);
        }
        let vocab = tok.get_vocab(true);
        let size = vocab.values().map(|&id| id as usize + 1).max().unwrap_or(0);
        let mut id_to_token = vec![String::new(); size];
        for (text, id) in vocab {
            id_to_token[id as usize] = text;
        }
        let added = tok
            .get_added_tokens_decoder()
            .into_iter()
            .map(|(id, t)| (id, (t.content.clone(), t.special)))
            .collect();
        let mut hf = Self {
            tok,
            tok_plain: OnceLock::new(),
            id_to_token,
            added,
            rules,
            special: SpecialTokens::default(),
            add_bos: false,
            add_eos: false,
            eog: Vec::new(),
        };
        hf.detect_specials();
        Ok(hf)
    }

    /// Special ids from what `encode(.., add_special_tokens = true)` adds and from token texts.
    fn detect_specials(&mut self) {
        // A tokenizer that cannot encode "a" simply gets no template-derived ids.
        let with = self.encode_raw("a", true, true).unwrap_or_default();
        let without = self.encode_raw("a", false, true).unwrap_or_default();
        if let Some(pos) = find_subslice(&with, &without).filter(|_| !without.is_empty()) {
            let (lead, trail) = (&with[..pos], &with[pos + without.len()..]);
            self.add_bos = !lead.is_empty();
            self.add_eos = !trail.is_empty();
            self.special.bos = lead.first().copied();
            if self.special.bos.is_some() {
                self.special.cls = self
                    .special
                    .bos
                    .filter(|&id| self.id_to_token(id) == Some("[CLS]"));
            }
            self.special.sep = trail
                .last()
                .copied()
                .filter(|&id| self.id_to_token(id) == Some("[SEP]"));
            if self.special.sep.is_none() {
                self.special.eos = trail.last().copied();
            }
        }
        if self.special.bos.is_none() {
            self.special.bos = self.find_first(&[
                "<s>",
                "<|begin_of_text|>",
                "<bos>",
                "<|startoftext|>",
                "<|im_start|>",
            ]);
        }
        if self.special.eos.is_none() {
            self.special.eos = self.find_first(&[
                "</s>",
                "<|endoftext|>",
                "<|end_of_text|>",
                "<eos>",
                "<|im_end|>",
                "<|eot_id|>",
            ]);
        }
        self.special.unk = self.find_first(&["<unk>", "[UNK]", "<|unk|>"]);
        self.special.pad = self.find_first(&["<pad>", "[PAD]", "<|pad|>"]);
        self.special.mask = self.find_first(&["<mask>", "[MASK]"]);
        self.special.eot = self.find_first(crate::gguf::EOT_NAMES);
        self.rebuild_eog();
    }

    fn find_first(&self, names: &[&str]) -> Option<u32> {
        names.iter().find_map(|n| self.token_to_id(n))
    }

    fn rebuild_eog(&mut self) {
        let mut eog: Vec<u32> = crate::gguf::EOG_NAMES
            .iter()
            .filter_map(|n| self.token_to_id(n))
            .collect();
        eog.extend([self.special.eos, self.special.eot].into_iter().flatten());
        eog.sort_unstable();
        eog.dedup();
        self.eog = eog;
    }

    /// Apply a `tokenizer_config.json`: `bos_token`, `eos_token`, `unk_token`, `pad_token` (string
    /// or `{"content": ..}`), `add_bos_token`, `add_eos_token`.
    pub(crate) fn apply_config(&mut self, json: &[u8]) -> Result<()> {
        let cfg: Value = serde_json::from_slice(json).map_err(|e| TokenizerError::Json {
            what: "tokenizer_config.json",
            message: e.to_string(),
        })?;
        let token = |key: &str| -> Option<u32> {
            let v = cfg.get(key)?;
            let text = v
                .as_str()
                .or_else(|| v.get("content").and_then(Value::as_str))?;
            self.token_to_id(text)
        };
        let (bos, eos, unk, pad) = (
            token("bos_token"),
            token("eos_token"),
            token("unk_token"),
            token("pad_token"),
        );
        self.special.bos = bos.or(self.special.bos);
        self.special.eos = eos.or(self.special.eos);
        self.special.unk = unk.or(self.special.unk);
        self.special.pad = pad.or(self.special.pad);
        if let Some(b) = cfg.get("add_bos_token").and_then(Value::as_bool) {
            self.add_bos = b;
        }
        if let Some(b) = cfg.get("add_eos_token").and_then(Value::as_bool) {
            self.add_eos = b;
        }
        self.rebuild_eog();
        Ok(())
    }

    fn encode_raw(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>> {
        let tok = if parse_special {
            &self.tok
        } else {
            self.tok_plain.get_or_init(|| {
                let mut t = self.tok.clone();
                t.set_encode_special_tokens(true);
                t
            })
        };
        let enc = tok
            .encode(text, add_special)
            .map_err(|e| TokenizerError::HfEncode(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Encode; `parse_special = false` treats special tokens in the text as plain text.
    pub(crate) fn encode(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>> {
        self.encode_raw(text, add_special, parse_special)
    }

    /// Decode with the tokenizer's decoder.
    pub(crate) fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.check_ids(ids)?;
        self.tok
            .decode(ids, skip_special)
            .map_err(|e| TokenizerError::HfDecode(e.to_string()))
    }

    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        match ids
            .iter()
            .find(|&&id| id as usize >= self.id_to_token.len())
        {
            Some(&id) => Err(TokenizerError::TokenOutOfRange {
                id,
                vocab_size: self.id_to_token.len(),
            }),
            None => Ok(()),
        }
    }

    /// The bytes one token contributes (added tokens: their text).
    pub(crate) fn token_to_piece(&self, id: u32) -> Result<Vec<u8>> {
        self.check_ids(&[id])?;
        if let Some((content, _)) = self.added.get(&id) {
            return Ok(content.as_bytes().to_vec());
        }
        let text = self.id_to_token[id as usize].as_str();
        let r = &self.rules;
        if r.byte_level {
            let mut out = Vec::with_capacity(text.len());
            for c in text.chars() {
                match char_to_byte(c) {
                    Some(b) => out.push(b),
                    None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
            return Ok(out);
        }
        if r.byte_fallback && text.len() == 6 && text.starts_with("<0x") && text.ends_with('>') {
            if let Ok(b) = u8::from_str_radix(&text[3..5], 16) {
                return Ok(vec![b]);
            }
        }
        let mut s = if r.metaspace {
            text.replace('\u{2581}', " ")
        } else {
            text.to_string()
        };
        if let Some(prefix) = &r.wordpiece_prefix {
            s = match s.strip_prefix(prefix.as_str()) {
                Some(rest) => rest.to_string(),
                None => format!(" {s}"),
            };
        }
        Ok(s.into_bytes())
    }

    pub(crate) fn id_to_token(&self, id: u32) -> Option<&str> {
        self.id_to_token.get(id as usize).map(String::as_str)
    }

    pub(crate) fn token_to_id(&self, text: &str) -> Option<u32> {
        self.tok.token_to_id(text)
    }

    pub(crate) fn vocab_size(&self) -> usize {
        self.id_to_token.len()
    }

    /// Added tokens flagged `special`.
    pub(crate) fn is_special(&self, id: u32) -> bool {
        self.added.get(&id).is_some_and(|(_, special)| *special)
    }

    /// Whether decoded text may still change at its end when tokens are appended.
    pub(crate) fn decode_cleans_spaces(&self) -> bool {
        self.rules.cleanup
    }
}

fn find_subslice(hay: &[u32], needle: &[u32]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
