//! The AI-BOM document `GET /v1/bom` serves, built on the first request rather than at start-up:
//! models given as plain files have to be hashed for it (seconds for a multi-GB GGUF), and most
//! servers are never asked for their BOM.

use std::sync::OnceLock;

use serde_json::Value;

/// Builds the BOM document; an error is a message for the client.
pub type BomBuilder = Box<dyn Fn() -> Result<Value, String> + Send + Sync>;

/// A BOM document built once, on first use.
pub struct LazyBom {
    doc: OnceLock<Result<Value, String>>,
    build: BomBuilder,
}

impl LazyBom {
    /// A BOM that `build` makes when it is first asked for.
    pub fn new(build: BomBuilder) -> LazyBom {
        LazyBom { doc: OnceLock::new(), build }
    }

    /// A BOM that is already built.
    pub fn ready(doc: Value) -> LazyBom {
        let cell = OnceLock::new();
        let _ = cell.set(Ok(doc));
        LazyBom { doc: cell, build: Box::new(|| Err("unreachable: the BOM was given built".into())) }
    }

    /// The document, building it first if needed (blocking: call off the async workers).
    pub fn get(&self) -> &Result<Value, String> {
        self.doc.get_or_init(|| (self.build)())
    }

    /// The document if it is built already.
    pub fn built(&self) -> Option<&Result<Value, String>> {
        self.doc.get()
    }
}

impl std::fmt::Debug for LazyBom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyBom").field("built", &self.doc.get().is_some()).finish_non_exhaustive()
    }
}
