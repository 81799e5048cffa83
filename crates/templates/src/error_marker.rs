//! Typed markers carried inside minijinja errors, and the mapping to [`TemplateError`].
//!
//! minijinja errors are stringly typed; `raise_exception` and the unsupported-construct stubs attach
//! a marker as the error's source so that [`to_template_error`] can recover which case it was.

use std::error::Error as StdError;
use std::fmt;

use minijinja::{Error, ErrorKind};

use crate::TemplateError;

/// The template called `raise_exception(message)`.
#[derive(Debug)]
struct Raised(String);

/// The template reached a construct this crate does not implement.
#[derive(Debug)]
struct Unsupported(String);

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Raised {}
impl StdError for Unsupported {}

/// A minijinja error for `raise_exception(message)`.
pub(crate) fn raised(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.clone()).with_source(Raised(message))
}

/// A minijinja error for a construct this crate refuses to render.
pub(crate) fn unsupported(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.clone()).with_source(Unsupported(message))
}

/// Largest text a single operation may build (string repetition, padding, indentation). Python
/// would try and run out of memory; a server must not, so larger requests are refused.
pub(crate) const MAX_TEXT_LEN: usize = 64 << 20;

/// Refuses building a text of `len` bytes above [`MAX_TEXT_LEN`].
pub(crate) fn check_len(len: usize) -> Result<(), Error> {
    if len > MAX_TEXT_LEN {
        return Err(unsupported(format!(
            "an operation would build {len} bytes of text (limit {MAX_TEXT_LEN})"
        )));
    }
    Ok(())
}

/// Maps a render-time minijinja error to the crate error, recovering the markers.
pub(crate) fn to_template_error(err: &Error) -> TemplateError {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<Raised>() {
            return TemplateError::Raised(r.0.clone());
        }
        if let Some(u) = e.downcast_ref::<Unsupported>() {
            return TemplateError::Unsupported(u.0.clone());
        }
        cur = e.source();
    }
    TemplateError::Render(err.to_string())
}
