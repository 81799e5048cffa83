//! [`SchemaError`]: why a JSON schema cannot be compiled into a [`crate::constrain::JsonGrammar`].
//!
//! Every variant names the JSON pointer (RFC 6901, `""` for the root) of the offending keyword or
//! subschema, so the server can answer a 400 that tells the client exactly what to change.

/// A JSON schema that [`crate::constrain::JsonGrammar::from_schema`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// A JSON Schema keyword whose constraint the recognizer does not enforce (e.g. `pattern`,
    /// `format`, `minimum`, `oneOf`); accepting it would let invalid output through.
    #[error("schema keyword `{keyword}` at `{pointer}` is not supported by constrained decoding")]
    Unsupported {
        /// JSON pointer of the keyword.
        pointer: String,
        /// The keyword.
        keyword: String,
    },
    /// A keyword that is not part of JSON Schema (vendor keywords starting with `x-` are ignored).
    #[error("unknown schema keyword `{keyword}` at `{pointer}`")]
    UnknownKeyword {
        /// JSON pointer of the keyword.
        pointer: String,
        /// The keyword.
        keyword: String,
    },
    /// A keyword has a value of the wrong shape (e.g. `required` is not an array of strings).
    #[error("invalid schema at `{pointer}`: {reason}")]
    Invalid {
        /// JSON pointer of the keyword or subschema.
        pointer: String,
        /// What is wrong.
        reason: String,
    },
    /// A `$ref` that is not a local JSON pointer (`#`, `#/$defs/X`, ...) or points nowhere.
    #[error("`$ref` at `{pointer}` cannot be resolved: `{reference}` ({reason})")]
    BadRef {
        /// JSON pointer of the `$ref` keyword.
        pointer: String,
        /// The reference as written.
        reference: String,
        /// Why it cannot be followed.
        reason: &'static str,
    },
    /// The schema nests deeper than the compiler follows (counted along subschemas and `$ref`s).
    #[error("schema at `{pointer}` nests deeper than {limit} levels")]
    TooDeep {
        /// JSON pointer where the bound was hit.
        pointer: String,
        /// The bound.
        limit: usize,
    },
    /// The schema is larger than the compiler accepts.
    #[error("schema at `{pointer}` is too large: more than {limit} {what}")]
    TooLarge {
        /// JSON pointer where the bound was hit.
        pointer: String,
        /// What was counted.
        what: &'static str,
        /// The bound.
        limit: usize,
    },
    /// No document can satisfy the schema within the nesting bound (e.g. an empty `enum`, a required
    /// property whose schema is `false`, a `$ref` cycle with no base case, `minItems > maxItems`).
    #[error("no JSON document satisfies the schema at `{pointer}`{detail}")]
    Unsatisfiable {
        /// JSON pointer of the subschema.
        pointer: String,
        /// Extra explanation, empty or starting with `: `.
        detail: String,
    },
}
