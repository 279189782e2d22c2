//! Kept map outputs: the Partition frames a worker keeps until its job ends (the outputs
//! of the tasks it mapped, and the copies it keeps as a buddy), so that a lost peer's
//! partitions can be rebuilt without running its tasks again.
//!
//! They stay in memory up to a budget; beyond it they go to a spill file and are read back
//! only when they must be sent again (after a loss). [`KeptStore`] is the bookkeeping: it
//! decides where each frame goes and at which offset of the spill file, and does no I/O.
//! The writes and reads are actions that the executor runs off the event loop
//! (`crate::cluster::spill` holds the file): a frame handed to a write stays in memory
//! until the write is done, so a frame can always be had, from memory or from the file.

use std::collections::HashMap;

use crate::net::frame::Outgoing;

/// One kept frame.
#[derive(Debug)]
pub enum KeptFrame {
    Memory(Outgoing),
    Spilled { offset: u64, len: usize },
}

/// Where a kept frame can be had now.
#[derive(Debug, Clone)]
pub enum Found {
    /// In memory (within the budget, or on its way to the spill file).
    Ready(Outgoing),
    /// In the spill file, to be read back.
    OnDisk { offset: u64, len: usize },
}

/// The kept frames of one job (see the module docs).
#[derive(Debug)]
pub struct KeptStore {
    /// Bytes of kept frames held in memory; beyond, frames are spilled.
    memory: u64,
    in_memory: u64,
    /// Bytes given out in the spill file (it only grows: the job's end frees it at once).
    spilled: u64,
    /// Frames whose write to the spill file is not done yet, by offset.
    writing: HashMap<u64, Outgoing>,
    /// Writes decided and not yet handed to the executor.
    to_write: Vec<(u64, Outgoing)>,
}

impl KeptStore {
    pub fn new(memory: u64) -> KeptStore {
        KeptStore {
            memory,
            in_memory: 0,
            spilled: 0,
            writing: HashMap::new(),
            to_write: Vec::new(),
        }
    }

    /// Keeps a frame: in memory while the budget allows, in the spill file beyond (a write
    /// for [`KeptStore::take_writes`]).
    pub fn keep(&mut self, frame: Outgoing) -> KeptFrame {
        let len = frame.len() as u64;
        if self.in_memory.saturating_add(len) <= self.memory {
            self.in_memory += len;
            return KeptFrame::Memory(frame);
        }
        let offset = self.spilled;
        self.spilled += len;
        self.writing.insert(offset, frame.clone());
        self.to_write.push((offset, frame.clone()));
        KeptFrame::Spilled {
            offset,
            len: frame.len(),
        }
    }

    /// The writes to the spill file decided since the last call, by offset.
    pub fn take_writes(&mut self) -> Vec<(u64, Outgoing)> {
        std::mem::take(&mut self.to_write)
    }

    /// The writes at `offsets` are done: those frames are read from the file from now on.
    pub fn written(&mut self, offsets: &[u64]) {
        for offset in offsets {
            self.writing.remove(offset);
        }
    }

    /// Where a kept frame can be had.
    pub fn find(&self, kept: &KeptFrame) -> Found {
        match kept {
            KeptFrame::Memory(frame) => Found::Ready(frame.clone()),
            &KeptFrame::Spilled { offset, len } => match self.writing.get(&offset) {
                Some(frame) => Found::Ready(frame.clone()),
                None => Found::OnDisk { offset, len },
            },
        }
    }

    /// A kept frame is dropped: its memory goes back to the budget.
    pub fn release(&mut self, kept: &KeptFrame) {
        if let KeptFrame::Memory(frame) = kept {
            self.in_memory = self.in_memory.saturating_sub(frame.len() as u64);
        }
    }

    /// Bytes given to the spill file.
    pub fn spilled_bytes(&self) -> u64 {
        self.spilled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn frame(byte: u8, len: usize) -> Outgoing {
        Arc::new(vec![byte; len])
    }

    fn bytes(found: Found) -> Option<Outgoing> {
        match found {
            Found::Ready(frame) => Some(frame),
            Found::OnDisk { .. } => None,
        }
    }

    #[test]
    fn frames_beyond_the_budget_are_written_at_their_own_offsets() {
        let mut store = KeptStore::new(250);
        let frames: Vec<Outgoing> = (0..6).map(|i| frame(i, 100 + i as usize)).collect();
        let kept: Vec<KeptFrame> = frames.iter().map(|f| store.keep(f.clone())).collect();
        let in_memory = kept
            .iter()
            .filter(|k| matches!(k, KeptFrame::Memory(_)))
            .count();
        assert_eq!(in_memory, 2, "two frames fit in 250 bytes");
        assert_eq!(store.spilled_bytes(), (102..106).sum::<u64>());
        // The writes cover the spill file end to end, each frame at its offset.
        let writes = store.take_writes();
        let mut end = 0;
        for ((offset, written), original) in writes.iter().zip(&frames[2..]) {
            assert_eq!((*offset, written), (end, original));
            end += written.len() as u64;
        }
        assert_eq!(end, store.spilled_bytes());
        assert!(
            store.take_writes().is_empty(),
            "each write is handed out once"
        );
        // Until its write is done, a spilled frame is had from memory; then from the file.
        for (f, k) in frames.iter().zip(&kept) {
            assert_eq!(bytes(store.find(k)).as_ref(), Some(f));
        }
        store.written(&[writes[0].0]);
        assert!(matches!(
            store.find(&kept[2]),
            Found::OnDisk {
                offset: 0,
                len: 102
            }
        ));
        assert_eq!(bytes(store.find(&kept[3])).as_ref(), Some(&frames[3]));
        // Released memory is used again.
        store.release(&kept[0]);
        assert!(matches!(store.keep(frame(9, 100)), KeptFrame::Memory(_)));
    }

    #[test]
    fn with_no_budget_only_empty_frames_stay_in_memory() {
        let mut store = KeptStore::new(0);
        assert!(matches!(store.keep(frame(1, 0)), KeptFrame::Memory(_)));
        assert!(matches!(
            store.keep(frame(1, 10)),
            KeptFrame::Spilled { offset: 0, len: 10 }
        ));
    }
}
