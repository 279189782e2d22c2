//! One task's shuffle as it stands: the acknowledgements it waits for — from each
//! partition's owner, and from the buddy for each copy — and the figures it reports.

use std::time::Instant;

use crate::engine::FileResult;
use crate::protocol::ids::{self, Attempt, PartitionId};

/// A mapped task whose partitions are not all acknowledged yet.
#[derive(Debug)]
pub(in crate::protocol::worker) struct Shuffle {
    pub attempt: Attempt,
    /// Sending again after a reassignment: completes with Resent, not TaskDone.
    pub resend: bool,
    /// Per partition: its owner's acknowledgement is awaited.
    waiting: Vec<bool>,
    /// Per partition: where its copy at the buddy stands.
    copies: Vec<CopyState>,
    /// Acknowledgements awaited, from owners and from the buddy.
    left: usize,
    pub file: FileResult,
    pub bytes_sent: u64,
    pub bytes_kept: u64,
    pub bytes_copied: u64,
    pub map_micros: u64,
    pub started: Instant,
}

/// A shuffle's copy of one of its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CopyState {
    /// No copy belongs with it (the partition is not this worker's, or was not sent).
    None,
    Waiting,
    Kept,
}

impl Shuffle {
    /// A mapped task's shuffle: every one of its `partitions` awaits its owner.
    pub fn mapped(
        attempt: Attempt,
        partitions: u32,
        file: FileResult,
        map_micros: u64,
        now: Instant,
    ) -> Shuffle {
        let n = partitions as usize;
        Shuffle {
            resend: false,
            waiting: vec![true; n],
            left: n,
            file,
            map_micros,
            ..Shuffle::resend(attempt, partitions, now)
        }
    }

    /// A finished task's outputs sent again: nothing awaited yet (see
    /// [`Shuffle::await_owner`]). It reports Resent, without the file's figures.
    pub fn resend(attempt: Attempt, partitions: u32, now: Instant) -> Shuffle {
        let n = partitions as usize;
        Shuffle {
            attempt,
            resend: true,
            waiting: vec![false; n],
            copies: vec![CopyState::None; n],
            left: 0,
            file: FileResult::default(),
            bytes_sent: 0,
            bytes_kept: 0,
            bytes_copied: 0,
            map_micros: 0,
            started: now,
        }
    }

    /// Partition `p` is (sent again) to its owner: its acknowledgement is awaited.
    pub fn await_owner(&mut self, p: PartitionId) {
        if let Some(waiting @ false) = self.waiting.get_mut(p.index()) {
            *waiting = true;
            self.left += 1;
        }
    }

    /// Whether partition `p`'s owner has yet to acknowledge it.
    pub fn waits_for_owner(&self, p: PartitionId) -> bool {
        self.waiting.get(p.index()).is_some_and(|&w| w)
    }

    /// Partition `p`'s owner acknowledged it: false if that was not awaited.
    pub fn owner_acknowledged(&mut self, p: PartitionId) -> bool {
        let Some(waiting @ true) = self.waiting.get_mut(p.index()) else {
            return false;
        };
        *waiting = false;
        self.left -= 1;
        true
    }

    /// A copy of partition `p` goes to the buddy: its acknowledgement is awaited.
    pub fn await_copy(&mut self, p: PartitionId) {
        if let Some(state) = self.copies.get_mut(p.index()) {
            if *state != CopyState::Waiting {
                *state = CopyState::Waiting;
                self.left += 1;
            }
        }
    }

    /// Whether a copy of some partition has yet to be acknowledged by the buddy.
    pub fn waits_for_copies(&self) -> bool {
        self.copies.contains(&CopyState::Waiting)
    }

    /// The buddy keeps its copy of partition `p`: false if that was not awaited.
    pub fn copy_kept(&mut self, p: PartitionId) -> bool {
        let Some(state @ CopyState::Waiting) = self.copies.get_mut(p.index()) else {
            return false;
        };
        *state = CopyState::Kept;
        self.left -= 1;
        true
    }

    /// The partitions a copy of which went to the buddy (awaited or kept).
    pub fn copied(&self) -> Vec<PartitionId> {
        ids::partitions(self.copies.len() as u32)
            .filter(|p| self.copies[p.index()] != CopyState::None)
            .collect()
    }

    /// No buddy is left: the copies are no longer awaited.
    pub fn forget_copies(&mut self) {
        for state in &mut self.copies {
            if *state == CopyState::Waiting {
                self.left -= 1;
            }
            *state = CopyState::None;
        }
    }

    /// Every acknowledgement awaited has come.
    pub fn complete(&self) -> bool {
        self.left == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shuffle_completes_once_every_owner_and_the_buddy_acknowledged() {
        let [p0, p1, p2] = [0, 1, 2].map(PartitionId);
        let mut s = Shuffle::mapped(Attempt(1), 3, FileResult::default(), 0, Instant::now());
        assert!(s.waits_for_owner(p1));
        s.await_copy(p1);
        assert!(s.owner_acknowledged(p0));
        assert!(!s.owner_acknowledged(p0), "counted once");
        assert!(s.owner_acknowledged(p1) && s.owner_acknowledged(p2));
        assert!(!s.complete(), "the copy is still awaited");
        assert!(s.waits_for_copies());
        assert!(s.copy_kept(p1));
        assert!(!s.copy_kept(p1), "counted once");
        assert!(s.complete());
        assert_eq!(s.copied(), [p1]);
        // A new buddy: the copy is awaited again, from it.
        s.await_copy(p1);
        assert!(!s.complete());
        s.forget_copies();
        assert!(s.complete() && s.copied().is_empty());
    }

    #[test]
    fn a_resend_awaits_only_the_partitions_sent_again() {
        let mut s = Shuffle::resend(Attempt(2), 4, Instant::now());
        assert!(s.complete() && s.resend);
        s.await_owner(PartitionId(3));
        s.await_owner(PartitionId(3));
        s.await_owner(PartitionId(9));
        assert!(!s.complete());
        assert!(!s.waits_for_owner(PartitionId(0)));
        assert!(s.owner_acknowledged(PartitionId(3)));
        assert!(s.complete(), "partition 3 was awaited once");
    }
}
