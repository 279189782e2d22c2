//! A job's spill file: where a worker's kept map outputs beyond their memory budget go
//! (the bookkeeping, which frame goes where, is `crate::protocol::kept`'s). The executor
//! writes and reads it on a thread of its own, never on the event loop.
//!
//! The file is created at the first write, already unlinked, so nothing is left behind,
//! even by a killed worker; it goes with the job. A file that cannot be created, written
//! or read is an error naming its directory, for the worker to act on (it leaves the job,
//! and the coordinator recovers as from a lost worker): a frame is never silently lost.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::net::frame::Outgoing;

/// A spill file failed.
#[derive(Debug, thiserror::Error)]
#[error("spill file in {dir}: {what}: {source}")]
pub struct SpillError {
    dir: String,
    what: &'static str,
    source: io::Error,
}

/// One job's spill file, made at its first write.
#[derive(Debug)]
pub struct SpillFile {
    dir: PathBuf,
    file: Mutex<Option<Arc<File>>>,
}

impl SpillFile {
    pub fn new(dir: PathBuf) -> SpillFile {
        SpillFile {
            dir,
            file: Mutex::new(None),
        }
    }

    /// Writes each frame at its offset.
    pub fn write(&self, frames: &[(u64, Outgoing)]) -> Result<(), SpillError> {
        let file = self.file()?;
        for (offset, frame) in frames {
            file.write_all_at(frame, *offset)
                .map_err(|e| self.error("cannot write it", e))?;
        }
        Ok(())
    }

    /// Reads back `len` bytes written at `offset`.
    pub fn read(&self, offset: u64, len: usize) -> Result<Outgoing, SpillError> {
        let file = self.file.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut bytes = vec![0; len];
        let read = match file {
            Some(file) => file.read_exact_at(&mut bytes, offset),
            None => Err(io::ErrorKind::NotFound.into()),
        };
        read.map_err(|e| self.error("cannot read it back", e))?;
        Ok(Arc::new(bytes))
    }

    fn file(&self) -> Result<Arc<File>, SpillError> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = &*file {
            return Ok(file.clone());
        }
        let made =
            tempfile::tempfile_in(&self.dir).map_err(|e| self.error("cannot create it", e))?;
        Ok(file.insert(Arc::new(made)).clone())
    }

    fn error(&self, what: &'static str, source: io::Error) -> SpillError {
        SpillError {
            dir: self.dir.display().to_string(),
            what,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_written_at_their_offsets_are_read_back_intact_and_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let spill = SpillFile::new(dir.path().to_path_buf());
        let a: Outgoing = Arc::new(vec![1; 100]);
        let b: Outgoing = Arc::new(vec![2; 50]);
        // Written out of order, in two calls.
        spill.write(&[(100, b.clone())]).unwrap();
        spill.write(&[(0, a.clone())]).unwrap();
        assert_eq!(spill.read(0, 100).unwrap(), a);
        assert_eq!(spill.read(100, 50).unwrap(), b);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // Past the end: an error, not zeros.
        assert!(spill.read(120, 50).is_err());
    }

    #[test]
    fn a_directory_that_cannot_be_used_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let spill = SpillFile::new(missing.clone());
        let error = spill.write(&[(0, Arc::new(vec![1; 10]))]).unwrap_err();
        assert!(
            error.to_string().contains(&missing.display().to_string()),
            "{error}"
        );
        let error = spill.read(0, 10).unwrap_err().to_string();
        assert!(error.contains("cannot read it back"), "{error}");
    }
}
