//! Shared, immutable byte storage for weights: a memory-mapped file or an owned buffer, and
//! cheap views into it. Weights stay where the file put them (zero-copy mmap); a view keeps its
//! storage alive. [`ByteView::release`] hands a mapped view's pages back to the OS once their
//! content lives elsewhere (a repacked copy, converted floats), so the file does not count twice
//! in resident memory; the bytes stay readable.

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

    /// Drops the pages of a mapped view from this process's resident memory (`MADV_DONTNEED`
    /// on the pages that lie wholly inside the view; pages shared with a neighbouring range are
    /// kept). Nothing changes for readers: the map is read-only and private and is never written,
    /// so a later read faults the same bytes back in from the file (or the page cache). Owned
    /// storage is left alone, and so are platforms without `madvise`. Returns the bytes released.
    pub fn release(&self) -> usize {
        match &*self.storage {
            #[cfg(unix)]
            Storage::Mapped(m) => {
                let start = self.start.next_multiple_of(PAGE);
                let end = (self.start + self.len) / PAGE * PAGE;
                if end <= start {
                    return 0;
                }
                // SAFETY: DONTNEED on a private, read-only file mapping only unmaps the pages: no
                // byte of it was ever written (the map is created read-only and `Storage` hands
                // out shared slices only), so the next access reads the identical file bytes
                // back and every outstanding `&[u8]` keeps seeing the same values. The file
                // must not change while mapped, which is the existing contract of the readers.
                match unsafe { m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start) } {
                    Ok(()) => end - start,
                    Err(_) => 0,
                }
            }
            _ => 0,
        }
    }
}

/// The smallest page size of the platforms we map files on. Maps start on a page boundary, so
/// multiples of this inside the map are page starts; on systems with larger pages `madvise`
/// widens the range to whole pages, which at worst drops a neighbour's page that then faults
/// back in unchanged.
#[cfg(unix)]
const PAGE: usize = 4096;
