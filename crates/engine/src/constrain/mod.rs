//! Constrained decoding for JSON output (OpenAI `response_format`).
//!
//! `{"type":"json_object"}` compiles to [`JsonGrammar::any_object`]; `{"type":"json_schema", ...}` to
//! [`JsonGrammar::from_schema`]. A [`JsonState`] is an incremental recognizer: it accepts bytes only while
//! they remain a prefix of some valid document, and it never accepts a prefix that cannot be completed
//! (no dead ends), so a loop that only ever emits accepted tokens always ends with a document that parses
//! and validates, provided the vocabulary can spell it and the token budget lasts. [`pick_token`] is the
//! sampling helper: it runs the caller's sampler, rejects tokens the recognizer refuses and resamples.
//!
//! # Wiring into a generation loop
//!
//! ```text
//! let table = TokenTable::new(n_vocab, |id| (!tok.is_control(id)).then(|| tok.token_to_piece(id).ok()).flatten());
//! let g = JsonGrammar::from_schema(&schema)?;          // or JsonGrammar::any_object()
//! let mut st = JsonState::new(&g);
//! loop {
//!     let logits = model.forward(..);
//!     match pick_token(logits, |l| sampler.sample(l), &table, &g, &st, &eog_ids, &mut scratch)? {
//!         Choice::Token { id, state } => { sampler.accept(id)?; st = state; /* emit id */ }
//!         Choice::End { id } => { /* emit id (an EOG) if Some, finish with "stop" */ break }
//!         Choice::Stuck => { /* no token continues the document: finish with an error */ break }
//!     }
//! }
//! ```
//!
//! The recognizer must see the same bytes the detokenizer emits: feed it each token's bytes as
//! [`TokenTable`] holds them (a leading space that a SentencePiece detokenizer strips from the first
//! token is whitespace before the document, which is allowed).
//!
//! # What the recognizer enforces
//!
//! - JSON syntax (RFC 8259): strings with every escape including `\uXXXX` (surrogates must pair up, as
//!   serde_json requires), raw control characters refused, UTF-8 validated byte by byte (a token may end
//!   inside a multi-byte character); numbers per the JSON grammar.
//! - Whitespace outside strings: at most [`DEFAULT_MAX_WHITESPACE`] consecutive whitespace bytes (space, tab,
//!   `\n`, `\r`) in each gap between tokens, before the document and after it
//!   ([`JsonGrammar::with_max_whitespace`] changes the bound), so a model cannot loop on whitespace.
//! - Numbers: at most [`MAX_NUMBER_LEN`] bytes, so a model cannot loop on digits, and at most two
//!   exponent digits, so the value stays finite as an `f64` (serde_json refuses `1e999`); `integer`
//!   allows no fraction and no exponent.
//! - Nesting: at most [`MAX_DOC_DEPTH`] open objects/arrays (serde_json refuses more than 128). The
//!   recognizer offers a nested value only if a valid completion still fits under the bound.
//! - Objects: keys of a schema object are written exactly as serde_json writes the property name (the
//!   canonical escape form: `"` and `\` escaped, control characters as `\n`, `\u0001`, ..., nothing else
//!   escaped); a key is refused as soon as it is no longer a prefix of an unused property; required
//!   properties must all appear before `}`; no key twice (with `additionalProperties`, also free keys,
//!   compared after unescaping).
//! - `enum`/`const`: the value is written in serde_json's compact canonical form.
//! - `anyOf` and `type` lists: alternatives are followed in parallel; at most [`MAX_THREADS`] at once
//!   (further alternatives that start the same way are dropped, which only narrows the output).
//!
//! The supported schema subset and what is refused are listed in [`schema`](mod@schema).

mod error;
mod grammar;
mod pick;
pub mod schema;
mod state;
mod string;

pub use error::SchemaError;
pub use grammar::JsonGrammar;
pub use pick::{pick_token, Choice, TokenTable, MAX_TRIES};
pub use state::JsonState;

/// Default bound on consecutive whitespace bytes outside strings (see the module docs).
pub const DEFAULT_MAX_WHITESPACE: u8 = 2;
/// Most open objects and arrays in a generated document.
pub const MAX_DOC_DEPTH: u8 = 64;
/// Most bytes in one number.
pub const MAX_NUMBER_LEN: u8 = 40;
/// Most alternatives (`anyOf` branches, `type` list entries) the recognizer follows at once.
pub const MAX_THREADS: usize = 32;
