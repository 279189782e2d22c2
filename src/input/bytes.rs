//! The bytes of one input file, memory-mapped when possible.
//!
//! Plain WET records are zero-copy slices of this map; `.gz` files are decoded from it member
//! by member. When mapping fails (an empty file, a pipe, a file system without mmap) the file
//! is read into memory instead. Devices (`/dev/zero`, a terminal) are refused: they may never
//! end, and reading one would hang the run or exhaust memory.

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use memmap2::{Advice, Mmap, UncheckedAdvice};

use crate::error::{Error, Result};

/// The contents of an input file.
pub enum FileBytes {
    Mapped(Mmap),
    Read(Vec<u8>),
}

impl FileBytes {
    /// Opens and maps `path`, falling back to reading it.
    pub fn open(path: &Path) -> Result<FileBytes> {
        let open_err = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(open_err)?;
        let meta = file.metadata().map_err(open_err)?;
        let kind = meta.file_type();
        if kind.is_char_device() || kind.is_block_device() {
            return Err(open_err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a device, not a WET file or a pipe",
            )));
        }
        if meta.is_file() && meta.len() > 0 {
            // SAFETY: the map is read-only and private to this process. If another process
            // truncates the file while it is mapped, reading the lost pages raises SIGBUS;
            // like every mmap-based reader we accept that risk for input files, which are
            // not expected to change during a run (the README says so).
            if let Ok(map) = unsafe { Mmap::map(&file) } {
                let _ = map.advise(Advice::Sequential);
                return Ok(FileBytes::Mapped(map));
            }
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut data).map_err(open_err)?;
        Ok(FileBytes::Read(data))
    }

    /// Tells the kernel this process is done with `range` of the map, so its pages stop
    /// counting toward the resident set (they stay in the page cache). A no-op for read files.
    pub fn release(&self, start: usize, end: usize) {
        if let FileBytes::Mapped(map) = self {
            const PAGE: usize = 4096;
            let first = start.div_ceil(PAGE) * PAGE;
            let last = (end.min(map.len()) / PAGE) * PAGE;
            if last > first {
                // SAFETY: the map is a read-only shared file mapping, so dropping its pages
                // loses nothing: a later read faults the same bytes back in from the file.
                // Callers release only ranges they have finished with.
                let _ = unsafe {
                    map.unchecked_advise_range(UncheckedAdvice::DontNeed, first, last - first)
                };
            }
        }
    }
}

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(map) => map,
            FileBytes::Read(data) => data,
        }
    }
}
