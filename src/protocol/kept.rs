//! Kept map outputs: the Partition frames a worker keeps until its job ends (the outputs
//! of the tasks it mapped, and the copies it keeps as a buddy), so that a lost peer's
//! partitions can be rebuilt without running its tasks again.
//!
//! They stay in memory up to a budget; beyond it they go to a spill file in a local
//! directory and are read back only when they must be sent again (after a loss). The file
//! is created already unlinked, so nothing is left behind, even by a killed worker; it goes
//! with the job's store.
//!
//! Its reads and writes run on the caller's thread (the worker's event loop): nothing
//! within the budget; beyond it, one write per frame (to the page cache, as a rule), and
//! reads only after a loss. A spill file that cannot be written or read is an error for
//! the caller to act on (the worker leaves the job, and the coordinator recovers as from a
//! lost worker): a frame is never silently lost.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::net::frame::Outgoing;

/// How much of the kept frames a worker holds in memory, and where the rest goes.
#[derive(Debug, Clone)]
pub struct KeptConfig {
    /// Bytes of kept frames held in memory; beyond, frames are spilled.
    pub memory: u64,
    /// Where the spill file is created.
    pub spill_dir: PathBuf,
}

impl Default for KeptConfig {
    /// No limit: everything in memory.
    fn default() -> KeptConfig {
        KeptConfig {
            memory: u64::MAX,
            spill_dir: std::env::temp_dir(),
        }
    }
}

/// One kept frame.
#[derive(Debug)]
pub enum KeptFrame {
    Memory(Outgoing),
    Spilled { offset: u64, len: usize },
}

/// A spill file failed.
#[derive(Debug, thiserror::Error)]
#[error("spill file in {dir}: {what}: {source}")]
pub struct SpillError {
    dir: String,
    what: &'static str,
    source: io::Error,
}

/// The kept frames of one job (see the module docs).
#[derive(Debug)]
pub struct KeptStore {
    config: KeptConfig,
    in_memory: u64,
    file: Option<File>,
    /// Bytes written to the spill file (it only grows: the job's end frees it at once).
    spilled: u64,
}

impl KeptStore {
    pub fn new(config: KeptConfig) -> KeptStore {
        KeptStore {
            config,
            in_memory: 0,
            file: None,
            spilled: 0,
        }
    }

    /// Keeps a frame: in memory while the budget allows, in the spill file beyond.
    pub fn keep(&mut self, frame: Outgoing) -> Result<KeptFrame, SpillError> {
        let len = frame.len() as u64;
        if self.in_memory.saturating_add(len) <= self.config.memory {
            self.in_memory += len;
            return Ok(KeptFrame::Memory(frame));
        }
        let offset = self.spilled;
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let file = tempfile::tempfile_in(&self.config.spill_dir)
                    .map_err(|e| self.error("cannot create it", e))?;
                self.file.insert(file)
            }
        };
        if let Err(e) = file.write_all_at(&frame, offset) {
            return Err(self.error("cannot write it", e));
        }
        self.spilled += len;
        Ok(KeptFrame::Spilled {
            offset,
            len: frame.len(),
        })
    }

    /// A kept frame, read back from the spill file if it went there.
    pub fn load(&self, kept: &KeptFrame) -> Result<Outgoing, SpillError> {
        match kept {
            KeptFrame::Memory(frame) => Ok(frame.clone()),
            &KeptFrame::Spilled { offset, len } => {
                let mut bytes = vec![0; len];
                let read = match &self.file {
                    Some(file) => file.read_exact_at(&mut bytes, offset),
                    None => Err(io::ErrorKind::NotFound.into()),
                };
                read.map_err(|e| self.error("cannot read it back", e))?;
                Ok(Arc::new(bytes))
            }
        }
    }

    /// A kept frame is dropped: its memory goes back to the budget.
    pub fn release(&mut self, kept: &KeptFrame) {
        if let KeptFrame::Memory(frame) = kept {
            self.in_memory = self.in_memory.saturating_sub(frame.len() as u64);
        }
    }

    /// Bytes written to the spill file.
    pub fn spilled_bytes(&self) -> u64 {
        self.spilled
    }

    fn error(&self, what: &'static str, source: io::Error) -> SpillError {
        SpillError {
            dir: self.config.spill_dir.display().to_string(),
            what,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(byte: u8, len: usize) -> Outgoing {
        Arc::new(vec![byte; len])
    }

    fn store(memory: u64, dir: &std::path::Path) -> KeptStore {
        KeptStore::new(KeptConfig {
            memory,
            spill_dir: dir.to_path_buf(),
        })
    }

    #[test]
    fn frames_beyond_the_budget_are_spilled_and_read_back_intact() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store(250, dir.path());
        let frames: Vec<Outgoing> = (0..6).map(|i| frame(i, 100 + i as usize)).collect();
        let kept: Vec<KeptFrame> = frames
            .iter()
            .map(|f| store.keep(f.clone()).unwrap())
            .collect();
        let in_memory = kept
            .iter()
            .filter(|k| matches!(k, KeptFrame::Memory(_)))
            .count();
        assert_eq!(in_memory, 2, "two frames fit in 250 bytes");
        assert_eq!(store.spilled_bytes(), (102..106).sum::<u64>());
        for (f, k) in frames.iter().zip(&kept) {
            assert_eq!(store.load(k).unwrap(), *f);
        }
        // The spill file is unlinked: nothing in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // Released memory is used again.
        store.release(&kept[0]);
        assert!(matches!(
            store.keep(frame(9, 100)).unwrap(),
            KeptFrame::Memory(_)
        ));
    }

    #[test]
    fn a_spill_directory_that_cannot_be_used_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let mut store = store(0, &missing);
        let error = store.keep(frame(1, 10)).unwrap_err().to_string();
        assert!(error.contains(&missing.display().to_string()), "{error}");
        // With no budget, an empty frame still fits; a spilled frame needs the file.
        assert!(matches!(
            store.keep(frame(1, 0)).unwrap(),
            KeptFrame::Memory(_)
        ));
    }
}
