//! Zeroed byte buffers for the repacked weights, backed by transparent huge pages where the OS
//! offers them.
//!
//! Generation streams every weight once per token, so the x8 copies are read front to back at
//! tens of GB/s. With 4 KiB pages that is a TLB miss and a page walk every 4 KiB, and the
//! hardware prefetchers stop at each page boundary; on the 2-core EPYC we measure on, a Q6_K GEMV
//! streams 20 GB/s from 4 KiB pages and 34 GB/s from 2 MiB pages
//! (`cargo run --release -p allmende-kernels --example gemv_stream`, which allocates the same way).
//! Linux hands out huge pages for anonymous memory only where `madvise(MADV_HUGEPAGE)` asks
//! (the common `transparent_hugepage=madvise` setting), and only for 2 MiB-aligned ranges.
//!
//! So a buffer of at least [`HUGE_PAGE`] bytes is an anonymous map with room to start on a
//! 2 MiB boundary, and the advice covers only the whole huge pages inside the buffer: the tail
//! (less than 2 MiB) stays on small pages, so rounding never makes a matrix resident beyond its
//! size, and the unused head of the reservation is never touched. Smaller buffers, and any
//! platform or kernel that refuses the advice, get ordinary pages: the advice is a hint, never a
//! requirement.

use std::ops::{Deref, DerefMut};

/// The huge page size the buffers align to (x86-64 and most aarch64 Linux kernels).
pub(crate) const HUGE_PAGE: usize = 2 << 20;

/// A zero-initialised byte buffer, huge-page backed when it is large enough and the OS agrees.
pub(crate) struct HugeBuf {
    storage: HugeStorage,
    start: usize,
    len: usize,
}

enum HugeStorage {
    Small(Vec<u8>),
    Mapped(memmap2::MmapMut),
}

impl HugeBuf {
    /// `len` zero bytes. Fails only when the OS refuses the memory (like `vec!` would abort).
    pub(crate) fn zeroed(len: usize) -> std::io::Result<HugeBuf> {
        if len < HUGE_PAGE {
            return Ok(HugeBuf { storage: HugeStorage::Small(vec![0; len]), start: 0, len });
        }
        let reserve = len.checked_add(HUGE_PAGE).ok_or(std::io::ErrorKind::OutOfMemory)?;
        let map = memmap2::MmapMut::map_anon(reserve)?;
        let start = (HUGE_PAGE - map.as_ptr() as usize % HUGE_PAGE) % HUGE_PAGE;
        let whole_pages = len / HUGE_PAGE * HUGE_PAGE;
        #[cfg(target_os = "linux")]
        {
            // A hint: an error (THP compiled out, an old kernel) leaves ordinary pages.
            let _ = map.advise_range(memmap2::Advice::HugePage, start, whole_pages);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = whole_pages;
        Ok(HugeBuf { storage: HugeStorage::Mapped(map), start, len })
    }

    /// True when the bytes live in a map advised for huge pages (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self.storage, HugeStorage::Mapped(_))
    }
}

impl Deref for HugeBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.storage {
            HugeStorage::Small(v) => v,
            HugeStorage::Mapped(m) => &m[self.start..self.start + self.len],
        }
    }
}

impl DerefMut for HugeBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.storage {
            HugeStorage::Small(v) => v,
            HugeStorage::Mapped(m) => &mut m[self.start..self.start + self.len],
        }
    }
}

impl std::fmt::Debug for HugeBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HugeBuf").field("len", &self.len).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_buffers_are_plain_vectors_and_large_ones_start_on_a_huge_page() {
        let small = HugeBuf::zeroed(1000).unwrap();
        assert!(!small.is_mapped());
        assert_eq!(small.len(), 1000);
        assert!(small.iter().all(|&b| b == 0));

        let len = HUGE_PAGE * 2 + 12345;
        let mut big = HugeBuf::zeroed(len).unwrap();
        assert!(big.is_mapped());
        assert_eq!(big.len(), len);
        assert_eq!(big.as_ptr() as usize % HUGE_PAGE, 0);
        assert!(big.iter().all(|&b| b == 0));
        big[len - 1] = 7;
        big[0] = 3;
        assert_eq!((big[0], big[len - 1]), (3, 7));
    }
}
