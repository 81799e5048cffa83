//! Shared, immutable byte storage for weights: a memory-mapped file or an owned buffer, and
//! cheap views into it. Weights stay where the file put them (zero-copy mmap); a view keeps its
//! storage alive.

use std::ops::Range;
use std::sync::Arc;

/// Where the bytes live.
#[derive(Debug)]
pub enum Storage {
    /// A read-only memory map of a model file.
    Mapped(memmap2::Mmap),
    /// Bytes owned in memory (converted or generated weights, tests).
    Owned(Vec<u8>),
}

impl Storage {
    /// All bytes of the storage.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// A cheap, cloneable view of a byte range inside a shared [`Storage`].
#[derive(Clone, Debug)]
pub struct ByteView {
    storage: Arc<Storage>,
    start: usize,
    len: usize,
}

impl ByteView {
    /// A view of the whole storage.
    pub fn whole(storage: Arc<Storage>) -> ByteView {
        let len = storage.as_slice().len();
        ByteView { storage, start: 0, len }
    }

    /// A view of `range` inside `storage`, or `None` if the range is out of bounds.
    pub fn new(storage: Arc<Storage>, range: Range<usize>) -> Option<ByteView> {
        if range.start > range.end || range.end > storage.as_slice().len() {
            return None;
        }
        Some(ByteView { storage, start: range.start, len: range.end - range.start })
    }

    /// An owned buffer as a view.
    pub fn from_vec(v: Vec<u8>) -> ByteView {
        ByteView::whole(Arc::new(Storage::Owned(v)))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.storage.as_slice()[self.start..self.start + self.len]
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the view is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A sub-view of `range` (relative to this view), or `None` if out of bounds.
    pub fn slice(&self, range: Range<usize>) -> Option<ByteView> {
        if range.start > range.end || range.end > self.len {
            return None;
        }
        Some(ByteView { storage: self.storage.clone(), start: self.start + range.start, len: range.end - range.start })
    }

    /// True when the bytes come from a memory map (zero-copy).
    pub fn is_mapped(&self) -> bool {
        matches!(*self.storage, Storage::Mapped(_))
    }
}
