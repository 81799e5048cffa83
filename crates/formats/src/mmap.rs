//! Opening model files as shared [`Storage`]: a read-only memory map (zero-copy), or an empty
//! owned buffer for empty files (which cannot be mapped on every platform).

use std::path::Path;

use allmende_tensor::Storage;

use crate::FormatError;

/// Map the file at `path` read-only.
pub(crate) fn map_file(path: &Path) -> Result<Storage, FormatError> {
    let file = std::fs::File::open(path).map_err(|e| FormatError::io(path, e))?;
    let len = file.metadata().map_err(|e| FormatError::io(path, e))?.len();
    if len == 0 {
        return Ok(Storage::Owned(Vec::new()));
    }
    // SAFETY: the map is read-only and private to this process. Like every mmap-based model
    // loader (llama.cpp, safetensors), we rely on the file not being truncated or rewritten
    // while it is mapped; doing so is outside this crate's contract (documented on the readers).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| FormatError::io(path, e))?;
    Ok(Storage::Mapped(map))
}
