//! The crate's error type: everything that can go wrong compiling or rendering a chat template.
//!
//! Each variant names the problem the way transformers/jinja2 would report it, so a caller can tell a
//! template that rejects its input on purpose (`raise_exception`) from a construct this crate cannot render.

/// An error from compiling or rendering a chat template.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template source does not parse (jinja2 would fail in `from_string` too).
    #[error("chat template syntax error: {0}")]
    Syntax(String),
    /// The template uses a filter or test that jinja2 does not know, outside an `if`, which jinja2
    /// rejects when it compiles the template.
    #[error("chat template uses unknown {kind} `{name}` (line {line})")]
    UnknownFilterOrTest {
        /// "filter" or "test".
        kind: &'static str,
        /// The name as written in the template.
        name: String,
        /// 1-based line in the template source.
        line: usize,
    },
    /// The template called `raise_exception(message)`: it rejects this conversation on purpose.
    #[error("chat template raised: {0}")]
    Raised(String),
    /// The template uses a construct that this crate does not implement (so it refuses rather than
    /// risk a prompt that differs from transformers').
    #[error("chat template construct not supported: {0}")]
    Unsupported(String),
    /// Rendering failed: a type error, an undefined value used where Python would fail, a
    /// sandbox violation (e.g. `list.append`), etc.
    #[error("chat template render error: {0}")]
    Render(String),
    /// The render input could not be turned into template values.
    #[error("invalid chat template input: {0}")]
    Input(String),
}
