//! The GGUF vocabulary: [`GgufVocab`] (plain metadata) and [`Vocab`] (loaded, ready to tokenize).
//!
//! Reference: llama.cpp `src/llama-vocab.cpp`, `llama_vocab::impl::load` (defaults per model,
//! special-token ids, EOT/EOG detection by token text, attribute fixes) and
//! `llama_vocab::impl::tokenize` / `tokenizer_st_partition` (special tokens in the input text).

use std::collections::HashMap;

use super::pre::pre_config;
use super::pretokenize::PreTokenizer;
use super::{bpe, spm, wpm};
use crate::error::{Result, TokenizerError};

/// Tokenizer metadata as stored in a GGUF file. Every field maps to one metadata key; `None` means
/// the key is absent, so llama.cpp's default for the model applies.
///
/// | field | GGUF key |
/// |---|---|
/// | `model` | `tokenizer.ggml.model` (`llama`, `gpt2`, `bert`) |
/// | `pre` | `tokenizer.ggml.pre` |
/// | `tokens` | `tokenizer.ggml.tokens` |
/// | `scores` | `tokenizer.ggml.scores` |
/// | `token_types` | `tokenizer.ggml.token_type` |
/// | `merges` | `tokenizer.ggml.merges` |
/// | `bos_id`, `eos_id`, `eot_id`, `eom_id`, `unk_id` | `tokenizer.ggml.{bos,eos,eot,eom}_token_id`, `tokenizer.ggml.unknown_token_id` |
/// | `sep_id`, `pad_id`, `cls_id`, `mask_id` | `tokenizer.ggml.seperator_token_id` (sic), `tokenizer.ggml.padding_token_id`, `tokenizer.ggml.cls_token_id`, `tokenizer.ggml.mask_token_id` |
/// | `fim_pre_id` … `fim_sep_id` | `tokenizer.ggml.fim_{pre,suf,mid,pad,rep,sep}_token_id` (older files: `tokenizer.ggml.{prefix,suffix,middle}_token_id` for pre/suf/mid) |
/// | `add_bos`, `add_eos`, `add_sep` | `tokenizer.ggml.add_bos_token`, `tokenizer.ggml.add_eos_token`, `tokenizer.ggml.add_sep_token` |
/// | `add_space_prefix` | `tokenizer.ggml.add_space_prefix` |
/// | `remove_extra_whitespaces` | `tokenizer.ggml.remove_extra_whitespaces` |
/// | `normalizer_lowercase`, `normalizer_strip_accents` | `tokenizer.ggml.normalizer.lowercase`, `tokenizer.ggml.normalizer.strip_accents` |
/// | `model_name` | `general.name` |
/// | `architecture` | `general.architecture` |
/// | `clean_spaces` | no key: an override; `None` keeps llama.cpp's per-model default |
#[derive(Clone, Debug, Default)]
pub struct GgufVocab {
    /// Tokenizer family.
    pub model: String,
    /// Pre-tokenizer name (byte-level BPE only).
    pub pre: Option<String>,
    /// Token texts, indexed by id.
    pub tokens: Vec<String>,
    /// Per-token scores (SentencePiece merge priorities).
    pub scores: Option<Vec<f32>>,
    /// Per-token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    pub token_types: Option<Vec<i32>>,
    /// BPE merges, `"left right"`, highest priority first.
    pub merges: Option<Vec<String>>,
    /// Beginning-of-sequence token.
    pub bos_id: Option<u32>,
    /// End-of-sequence token.
    pub eos_id: Option<u32>,
    /// End-of-turn token.
    pub eot_id: Option<u32>,
    /// End-of-message token.
    pub eom_id: Option<u32>,
    /// Unknown token.
    pub unk_id: Option<u32>,
    /// Separator token.
    pub sep_id: Option<u32>,
    /// Padding token.
    pub pad_id: Option<u32>,
    /// Classifier token (informational; llama.cpp does not use it).
    pub cls_id: Option<u32>,
    /// Mask token.
    pub mask_id: Option<u32>,
    /// Fill-in-the-middle prefix token.
    pub fim_pre_id: Option<u32>,
    /// Fill-in-the-middle suffix token.
    pub fim_suf_id: Option<u32>,
    /// Fill-in-the-middle middle token.
    pub fim_mid_id: Option<u32>,
    /// Fill-in-the-middle padding token.
    pub fim_pad_id: Option<u32>,
    /// Fill-in-the-middle repository token.
    pub fim_rep_id: Option<u32>,
    /// Fill-in-the-middle file-separator token.
    pub fim_sep_id: Option<u32>,
    /// Add BOS when encoding with special tokens.
    pub add_bos: Option<bool>,
    /// Add EOS when encoding with special tokens.
    pub add_eos: Option<bool>,
    /// Add SEP (BERT-style).
    pub add_sep: Option<bool>,
    /// Prepend a space to the text (SentencePiece `add_dummy_prefix`).
    pub add_space_prefix: Option<bool>,
    /// Collapse runs of spaces (SentencePiece option; recorded, unused by the supported models).
    pub remove_extra_whitespaces: Option<bool>,
    /// WordPiece: lowercase the input (default true).
    pub normalizer_lowercase: Option<bool>,
    /// WordPiece: strip accents (default: same as lowercase).
    pub normalizer_strip_accents: Option<bool>,
    /// Override for the detokenizer's space clean-up (no GGUF key).
    pub clean_spaces: Option<bool>,
    /// `general.name`: llama.cpp keys a Phi-3 attribute fix on it.
    pub model_name: Option<String>,
    /// `general.architecture`: llama.cpp keys a mask-token attribute fix on it.
    pub architecture: Option<String>,
}

/// Token attribute bits (llama.cpp `llama_token_attr`).
pub(crate) mod attr {
    pub const UNKNOWN: u16 = 1 << 0;
    pub const UNUSED: u16 = 1 << 1;
    pub const NORMAL: u16 = 1 << 2;
    pub const CONTROL: u16 = 1 << 3;
    pub const USER_DEFINED: u16 = 1 << 4;
    pub const BYTE: u16 = 1 << 5;
    pub const LSTRIP: u16 = 1 << 7;
    pub const RSTRIP: u16 = 1 << 8;
}

/// Tokenizer family of a loaded vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VocabType {
    /// SentencePiece BPE by score (`llama`).
    Spm,
    /// Byte-level BPE with merges (`gpt2`).
    Bpe,
    /// WordPiece (`bert`).
    Wpm,
}

/// Special token ids after llama.cpp's defaults and overrides.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SpecialIds {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub sep: Option<u32>,
    pub pad: Option<u32>,
    pub cls: Option<u32>,
    pub mask: Option<u32>,
    pub fim_pre: Option<u32>,
    pub fim_suf: Option<u32>,
    pub fim_mid: Option<u32>,
    pub fim_pad: Option<u32>,
    pub fim_rep: Option<u32>,
    pub fim_sep: Option<u32>,
}

/// A loaded GGUF vocabulary.
pub(crate) struct Vocab {
    pub typ: VocabType,
    pub tokens: Vec<String>,
    pub scores: Vec<f32>,
    pub attrs: Vec<u16>,
    pub token_to_id: HashMap<String, u32>,
    pub max_token_len: usize,
    /// Merge `"left right"` -> rank (first occurrence wins).
    pub bpe_ranks: HashMap<String, u32>,
    pub pre: Option<PreTokenizer>,
    pub ignore_merges: bool,
    pub special: SpecialIds,
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_sep: bool,
    pub add_space_prefix: bool,
    pub clean_spaces: bool,
    pub lowercase: bool,
    pub strip_accents: bool,
    /// End-of-generation ids, sorted.
    pub eog: Vec<u32>,
    /// Control, user-defined and unknown tokens, longest text first (matched in the input).
    special_cache: Vec<u32>,
    /// `token_to_piece(id, special = true)` for every id, concatenated.
    piece_bytes: Vec<u8>,
    piece_offsets: Vec<usize>,
}

/// A piece of the input after special-token partitioning.
enum Fragment {
    Text(usize, usize),
    Token(u32),
}

/// Token texts llama.cpp treats as end-of-turn, in the order we prefer them.
pub(crate) const EOT_NAMES: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const EOM_NAMES: &[&str] = &["<|eom_id|>"];
const FIM_PRE_NAMES: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_NAMES: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_NAMES: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_NAMES: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_NAMES: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_NAMES: &[&str] = &["<|file_sep|>"];
/// Token texts that end generation (llama.cpp's EOG list).
pub(crate) const EOG_NAMES: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

impl Vocab {
    /// Build a tokenizer from GGUF metadata, applying llama.cpp's defaults and fixes.
    pub(crate) fn load(v: GgufVocab) -> Result<Self> {
        let n = v.tokens.len();
        let pre_name = v.pre.clone().unwrap_or_default();
        let mut special = SpecialIds::default();
        let mut add_bos: bool;
        let (mut add_eos, mut add_sep) = (false, false);
        let (mut add_space_prefix, mut clean_spaces, mut ignore_merges) = (false, false, false);
        let mut pre = None;
        let mut bpe_ranks = HashMap::new();
        let typ = match v.model.as_str() {
            "llama" => {
                (special.bos, special.eos, special.unk) = (Some(1), Some(2), Some(0));
                (add_space_prefix, add_bos) = (true, true);
                VocabType::Spm
            }
            "bert" => {
                (
                    special.bos,
                    special.unk,
                    special.sep,
                    special.pad,
                    special.mask,
                ) = (Some(101), Some(100), Some(102), Some(0), Some(103));
                (add_bos, add_sep, clean_spaces) = (true, true, true);
                VocabType::Wpm
            }
            "gpt2" => {
                let merges = v.merges.as_ref().ok_or(TokenizerError::MissingMerges)?;
                for (rank, line) in merges.iter().enumerate() {
                    // llama.cpp splits at the first space after position 0.
                    if line.as_bytes().iter().skip(1).any(|&b| b == b' ') {
                        bpe_ranks.entry(line.clone()).or_insert(rank as u32);
                    }
                }
                (special.bos, special.eos) = (Some(11), Some(11));
                let cfg = pre_config(&pre_name)?;
                pre = Some(PreTokenizer::new(cfg.patterns, true)?);
                ignore_merges = cfg.ignore_merges;
                clean_spaces = cfg.clean_spaces;
                add_bos = cfg.add_bos;
                add_sep = cfg.add_sep;
                if cfg.no_default_bos {
                    special.bos = None;
                }
                VocabType::Bpe
            }
            other => return Err(TokenizerError::UnsupportedModel(other.to_string())),
        };
        if let Some(x) = v.add_space_prefix {
            add_space_prefix = x;
        }
        if let Some(x) = v.clean_spaces {
            clean_spaces = x;
        }

        let scores = match v.scores {
            Some(s) if s.len() < n => {
                return Err(TokenizerError::LengthMismatch {
                    key: "tokenizer.ggml.scores",
                    expected: n,
                    got: s.len(),
                })
            }
            Some(mut s) => {
                s.truncate(n);
                s
            }
            None => vec![0.0; n],
        };
        let mut attrs = match &v.token_types {
            Some(t) if t.len() < n => {
                return Err(TokenizerError::LengthMismatch {
                    key: "tokenizer.ggml.token_type",
                    expected: n,
                    got: t.len(),
                })
            }
            Some(t) => t[..n].iter().map(|&ty| type_to_attr(ty)).collect(),
            None => vec![attr::NORMAL; n],
        };
        let mut tokens = v.tokens;
        let mut token_to_id = HashMap::with_capacity(n);
        let mut max_token_len = 0;
        for (i, tok) in tokens.iter_mut().enumerate() {
            if tok.is_empty() {
                *tok = format!("[EMPTY_{i}]");
            }
            if let Some(&first) = token_to_id.get(tok.as_str()) {
                return Err(TokenizerError::DuplicateToken {
                    token: tok.clone(),
                    first,
                    second: i as u32,
                });
            }
            token_to_id.insert(tok.clone(), i as u32);
            max_token_len = max_token_len.max(tok.len());
        }

        // Special ids: defaults outside the vocabulary are dropped; in-range keys override.
        let keys = [
            (&mut special.bos, v.bos_id),
            (&mut special.eos, v.eos_id),
            (&mut special.eot, v.eot_id),
            (&mut special.eom, v.eom_id),
            (&mut special.unk, v.unk_id),
            (&mut special.sep, v.sep_id),
            (&mut special.pad, v.pad_id),
            (&mut special.cls, v.cls_id),
            (&mut special.mask, v.mask_id),
            (&mut special.fim_pre, v.fim_pre_id),
            (&mut special.fim_suf, v.fim_suf_id),
            (&mut special.fim_mid, v.fim_mid_id),
            (&mut special.fim_pad, v.fim_pad_id),
            (&mut special.fim_rep, v.fim_rep_id),
            (&mut special.fim_sep, v.fim_sep_id),
        ];
        for (slot, key) in keys {
            if slot.is_some_and(|id| id as usize >= n) {
                *slot = None;
            }
            if let Some(id) = key.filter(|&id| (id as usize) < n) {
                *slot = Some(id);
            }
        }
        if let Some(x) = v.add_bos {
            add_bos = x;
        }
        if let Some(x) = v.add_eos {
            add_eos = x;
        }
        if let Some(x) = v.add_sep {
            add_sep = x;
        }
        for (flag, id, fkey, ikey) in [
            (
                add_bos,
                special.bos,
                "tokenizer.ggml.add_bos_token",
                "tokenizer.ggml.bos_token_id",
            ),
            (
                add_eos,
                special.eos,
                "tokenizer.ggml.add_eos_token",
                "tokenizer.ggml.eos_token_id",
            ),
            (
                add_sep,
                special.sep,
                "tokenizer.ggml.add_sep_token",
                "tokenizer.ggml.seperator_token_id",
            ),
        ] {
            if flag && id.is_none() {
                return Err(TokenizerError::MissingSpecialToken {
                    flag: fkey,
                    key: ikey,
                });
            }
        }
        let lowercase = v.normalizer_lowercase.unwrap_or(true);
        let strip_accents = v.normalizer_strip_accents.unwrap_or(lowercase);

        // EOT / EOM / FIM detection by token text; found tokens become control tokens.
        let mut find_by_text = |slot: &mut Option<u32>, names: &[&str]| {
            if slot.is_none() {
                if let Some(&id) = names.iter().find_map(|name| token_to_id.get(*name)) {
                    *slot = Some(id);
                    attrs[id as usize] |= attr::CONTROL;
                }
            }
        };
        find_by_text(&mut special.eot, EOT_NAMES);
        find_by_text(&mut special.eom, EOM_NAMES);
        find_by_text(&mut special.fim_pre, FIM_PRE_NAMES);
        find_by_text(&mut special.fim_suf, FIM_SUF_NAMES);
        find_by_text(&mut special.fim_mid, FIM_MID_NAMES);
        find_by_text(&mut special.fim_pad, FIM_PAD_NAMES);
        find_by_text(&mut special.fim_rep, FIM_REP_NAMES);
        find_by_text(&mut special.fim_sep, FIM_SEP_NAMES);

        // Control tokens whose text says "unused" are unused.
        for (tok, a) in tokens.iter().zip(attrs.iter_mut()) {
            if *a & attr::CONTROL != 0 && tok.contains("unused") {
                *a |= attr::UNUSED;
            }
        }

        let mut eog: Vec<u32> = [special.fim_pad, special.fim_rep, special.fim_sep]
            .into_iter()
            .flatten()
            .collect();
        for name in EOG_NAMES {
            if let Some(&id) = token_to_id.get(*name) {
                eog.push(id);
                attrs[id as usize] |= attr::CONTROL;
            }
        }
        // gpt-oss: these must always be rendered.
        for name in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let Some(&id) = token_to_id.get(name) {
                attrs[id as usize] = attr::USER_DEFINED;
            }
        }
        eog.extend(
            [special.eos, special.eot, special.eom]
                .into_iter()
                .flatten(),
        );
        eog.sort_unstable();
        eog.dedup();
        let has =
            |eog: &[u32], text: &str| token_to_id.get(text).filter(|id| eog.contains(id)).copied();
        // o200k_harmony / solar-open: `<|end|>` is not end-of-generation there.
        if let Some(end) = has(&eog, "<|end|>") {
            let (ret, call, flush) = (
                has(&eog, "<|return|>"),
                has(&eog, "<|call|>").or(has(&eog, "<|calls|>")),
                has(&eog, "<|flush|>"),
            );
            if (ret.is_some() && call.is_some()) || (call.is_some() && flush.is_some()) {
                eog.retain(|&id| id != end);
                attrs[end as usize] = attr::USER_DEFINED;
            }
        }
        // gemma4 / paddleocr: `</s>` is not end-of-generation when `<|tool_response>` is.
        if let (Some(s), Some(_)) = (has(&eog, "</s>"), has(&eog, "<|tool_response>")) {
            eog.retain(|&id| id != s);
            attrs[s as usize] = attr::NORMAL;
        }

        let mut special_cache: Vec<u32> = (0..n as u32)
            .filter(|&id| {
                attrs[id as usize] & (attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN) != 0
            })
            .collect();
        // Longest first; llama.cpp's unstable sort leaves ties unordered, we keep them by id.
        special_cache.sort_by(|&a, &b| tokens[b as usize].len().cmp(&tokens[a as usize].len()));

        let mut vocab = Self {
            typ,
            tokens,
            scores,
            attrs,
            token_to_id,
            max_token_len,
            bpe_ranks,
            pre,
            ignore_merges,
            special,
            add_bos,
            add_eos,
            add_sep,
            add_space_prefix,
            clean_spaces,
            lowercase,
            strip_accents,
            eog,
            special_cache,
            piece_bytes: Vec::new(),
            piece_offsets: Vec::new(),
        };
        vocab.build_piece_cache();
        vocab.apply_strip_attrs(
            &pre_name,
            v.architecture.as_deref(),
            v.model_name.as_deref(),
        );
        Ok(vocab)
    }

    fn build_piece_cache(&mut self) {
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(self.tokens.len() + 1);
        offsets.push(0);
        for id in 0..self.tokens.len() as u32 {
            self.piece_uncached(id, &mut bytes);
            offsets.push(bytes.len());
        }
        self.piece_bytes = bytes;
        self.piece_offsets = offsets;
    }

    /// The cached piece of `id` rendered with `special = true`.
    pub(crate) fn cached_piece(&self, id: u32) -> &[u8] {
        let i = id as usize;
        &self.piece_bytes[self.piece_offsets[i]..self.piece_offsets[i + 1]]
    }

    /// Set or clear attribute bits of the token with this text, if present.
    fn set_attr(&mut self, text: &str, bit: u16, on: bool) {
        if let Some(&id) = self.token_to_id.get(text) {
            let a = &mut self.attrs[id as usize];
            *a = if on { *a | bit } else { *a & !bit };
        }
    }

    /// llama.cpp sets strip attributes by model name, pre-tokenizer and architecture.
    fn apply_strip_attrs(&mut self, pre: &str, arch: Option<&str>, name: Option<&str>) {
        let name = name.unwrap_or_default().to_ascii_lowercase();
        let arch = arch.unwrap_or_default();
        if ["jina-v2-de", "jina-v2-es", "jina-v2-code"]
            .iter()
            .any(|p| pre.contains(p))
            || ["nomic-bert-moe", "jina-bert-v3"]
                .iter()
                .any(|a| arch.contains(a))
        {
            self.set_attr("<mask>", attr::LSTRIP, true);
        } else if name.contains("phi-3") || name.contains("phi3") {
            for i in 0..self.special_cache.len() {
                let id = self.special_cache[i] as usize;
                self.attrs[id] |= attr::RSTRIP;
            }
            self.set_attr("</s>", attr::RSTRIP, true);
            for t in ["<unk>", "<s>", "<|endoftext|>"] {
                self.set_attr(t, attr::RSTRIP, false);
            }
        } else if name.contains("modern-bert") {
            self.set_attr("[MASK]", attr::LSTRIP, true);
        }
    }

    /// Number of tokens.
    pub(crate) fn n_tokens(&self) -> usize {
        self.tokens.len()
    }

    /// Token id of an exact text.
    pub(crate) fn text_to_token(&self, text: &str) -> Option<u32> {
        self.token_to_id.get(text).copied()
    }

    /// Byte-fallback token of a SentencePiece vocabulary: `<0xXX>`, else the byte as a string.
    pub(crate) fn byte_to_token(&self, b: u8) -> Result<u32> {
        let hex = format!("<0x{b:02X}>");
        if let Some(id) = self.text_to_token(&hex) {
            return Ok(id);
        }
        std::str::from_utf8(&[b])
            .ok()
            .and_then(|s| self.text_to_token(s))
            .ok_or(TokenizerError::MissingByteToken(b))
    }

    /// Split the input at special tokens (llama.cpp `tokenizer_st_partition`). Control and unknown
    /// tokens are only matched with `parse_special`; user-defined tokens always are.
    fn partition(&self, text: &str, parse_special: bool) -> Vec<Fragment> {
        let mut frags = if text.is_empty() {
            Vec::new()
        } else {
            vec![Fragment::Text(0, text.len())]
        };
        for &id in &self.special_cache {
            let a = self.attrs[id as usize];
            if !parse_special && a & (attr::CONTROL | attr::UNKNOWN) != 0 {
                continue;
            }
            let needle = self.tokens[id as usize].as_str();
            if !frags
                .iter()
                .any(|f| matches!(f, Fragment::Text(s, e) if text[*s..*e].contains(needle)))
            {
                continue;
            }
            let mut out = Vec::with_capacity(frags.len() + 2);
            for frag in frags {
                let Fragment::Text(mut start, end) = frag else {
                    out.push(frag);
                    continue;
                };
                while let Some(rel) = text[start..end].find(needle) {
                    let m = start + rel;
                    let mut left_end = m;
                    if a & attr::LSTRIP != 0 {
                        while left_end > start && is_c_space(text.as_bytes()[left_end - 1]) {
                            left_end -= 1;
                        }
                    }
                    if left_end > start {
                        out.push(Fragment::Text(start, left_end));
                    }
                    out.push(Fragment::Token(id));
                    start = m + needle.len();
                    if a & attr::RSTRIP != 0 {
                        while start < end && is_c_space(text.as_bytes()[start]) {
                            start += 1;
                        }
                    }
                }
                if start < end {
                    out.push(Fragment::Text(start, end));
                }
            }
            frags = out;
        }
        frags
    }

    /// Encode text as llama.cpp's `llama_vocab::tokenize`.
    pub(crate) fn tokenize(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>> {
        let frags = self.partition(text, parse_special);
        let mut out = Vec::new();
        match self.typ {
            VocabType::Spm => {
                let mut prev_special = true;
                if add_special && self.add_bos {
                    out.extend(self.special.bos);
                }
                let mut buf = String::new();
                for frag in &frags {
                    match *frag {
                        Fragment::Text(s, e) => {
                            buf.clear();
                            if self.add_space_prefix && prev_special {
                                buf.push(' ');
                            }
                            buf.push_str(&text[s..e]);
                            let escaped = buf.replace(' ', "\u{2581}");
                            spm::tokenize(self, &escaped, &mut out)?;
                            prev_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(id);
                            prev_special = true;
                        }
                    }
                }
                if add_special && self.add_eos {
                    out.extend(self.special.eos);
                }
            }
            VocabType::Bpe => {
                if add_special && self.add_bos {
                    out.extend(self.special.bos);
                }
                for frag in &frags {
                    match *frag {
                        Fragment::Text(s, e) => bpe::tokenize(self, &text[s..e], &mut out)?,
                        Fragment::Token(id) => out.push(id),
                    }
                }
                if add_special && self.add_eos {
                    out.extend(self.special.eos);
                }
            }
            VocabType::Wpm => {
                if add_special {
                    out.extend(self.special.bos);
                }
                for frag in &frags {
                    match *frag {
                        Fragment::Text(s, e) => wpm::tokenize(self, &text[s..e], &mut out),
                        Fragment::Token(id) => out.push(id),
                    }
                }
                if add_special {
                    out.extend(self.special.sep);
                }
            }
        }
        Ok(out)
    }
}

/// C `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// `tokenizer.ggml.token_type` value to attribute bits.
fn type_to_attr(ty: i32) -> u16 {
    match ty {
        1 => attr::NORMAL,
        2 => attr::UNKNOWN,
        3 => attr::CONTROL,
        4 => attr::USER_DEFINED,
        5 => attr::UNUSED,
        6 => attr::BYTE,
        _ => 0,
    }
}

impl Vocab {
    /// Control or unknown token (rendered empty unless special tokens are shown).
    pub(crate) fn is_control(&self, id: u32) -> bool {
        self.attrs
            .get(id as usize)
            .is_some_and(|a| a & (attr::CONTROL | attr::UNKNOWN) != 0)
    }
}
