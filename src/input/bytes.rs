//! The bytes of one input file, memory-mapped when possible.
//!
//! Plain WET records are zero-copy slices of this map; `.gz` files are decoded from it member
//! by member. When mapping fails (an empty file, a file system without mmap) the file is
//! read into memory instead.
//!
//! What may be opened: a regular file always; a pipe (`/dev/stdin`, a FIFO) only where the
//! caller allows it (a path named on `count`'s command line), read into memory up to
//! [`PIPE_MAX`] once its first bytes show WET data; never a device (`/dev/zero`, a
//! terminal), which may never end. Where pipes are not allowed the file is opened without
//! blocking (`O_NONBLOCK`), so a FIFO that stands where a file should be is refused at
//! once instead of hanging the open until a writer comes.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::ops::Deref;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use memmap2::{Advice, Mmap, UncheckedAdvice};

use crate::error::{Error, Result};

/// The most a pipe may bring: it is held in memory whole.
pub const PIPE_MAX: u64 = 1 << 30;

/// The contents of an input file.
pub enum FileBytes {
    Mapped(Mmap),
    Read(Vec<u8>),
}

impl FileBytes {
    /// Opens and maps `path`, falling back to reading it; a pipe only if `pipe_ok`.
    pub fn open(path: &Path, pipe_ok: bool) -> Result<FileBytes> {
        let open_err = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let refuse = |why: String| open_err(io::Error::new(io::ErrorKind::InvalidInput, why));
        let mut options = OpenOptions::new();
        options.read(true);
        if !pipe_ok {
            options.custom_flags(libc::O_NONBLOCK);
        }
        let mut file = options.open(path).map_err(open_err)?;
        let meta = file.metadata().map_err(open_err)?;
        let kind = meta.file_type();
        if kind.is_char_device() || kind.is_block_device() {
            return Err(refuse("a device, not a WET file or a pipe".into()));
        }
        if !meta.is_file() {
            if !pipe_ok || !(kind.is_fifo() || kind.is_socket()) {
                return Err(refuse(format!("{}, not a regular file", kind_name(&meta))));
            }
            return read_pipe(&mut file).map_err(|e| match e {
                PipeError::Io(e) => open_err(e),
                PipeError::Refused(why) => refuse(why),
            });
        }
        if meta.len() > 0 {
            // SAFETY: the map is read-only and private to this process. If another process
            // truncates the file while it is mapped, reading the lost pages raises SIGBUS;
            // like every mmap-based reader we accept that risk for input files, which are
            // not expected to change during a run (the README says so).
            match unsafe { Mmap::map(&file) } {
                Ok(map) => {
                    let _ = map.advise(Advice::Sequential);
                    return Ok(FileBytes::Mapped(map));
                }
                // Out of maps or address space: reading the file would not fare better.
                Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => {
                    return Err(Error::Resources(format!(
                        "{}: cannot map it: {e}",
                        crate::error::shown(path)
                    )))
                }
                Err(_) => {}
            }
        }
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(open_err)?;
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

enum PipeError {
    Io(io::Error),
    Refused(String),
}

/// Reads a pipe into memory: refused at once if its first bytes are not WET data (a WARC
/// header or a gzip member), and past [`PIPE_MAX`] bytes.
fn read_pipe(file: &mut File) -> Result<FileBytes, PipeError> {
    let mut data = Vec::new();
    let mut limited = file.take(PIPE_MAX + 1);
    // Enough to see where the data starts (line breaks may come first).
    while data.len() < 4096 {
        let before = data.len();
        data.resize(before + 4096, 0);
        let n = loop {
            match limited.read(&mut data[before..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other.map_err(PipeError::Io)?,
            }
        };
        data.truncate(before + n);
        if n == 0 {
            break;
        }
    }
    let start = data.iter().position(|&b| b != b'\r' && b != b'\n');
    let wet = start.map_or(data.is_empty(), |at| {
        let head = &data[at..];
        head.starts_with(&b"WARC/"[..head.len().min(5)]) || head.starts_with(&[0x1f, 0x8b])
    });
    if !wet {
        return Err(PipeError::Refused(
            "a pipe whose data is not WET (no WARC header or gzip member at its start)".into(),
        ));
    }
    limited.read_to_end(&mut data).map_err(PipeError::Io)?;
    if data.len() as u64 > PIPE_MAX {
        return Err(PipeError::Refused(format!(
            "a pipe of more than {} MiB (a pipe is held in memory: save the data to a file)",
            PIPE_MAX >> 20
        )));
    }
    Ok(FileBytes::Read(data))
}

/// What a file that is not a regular one is, for messages.
fn kind_name(meta: &std::fs::Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
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
