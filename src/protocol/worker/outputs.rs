//! The map outputs a worker keeps until its job ends — its own tasks' Partition frames, and
//! the copies it keeps as a buddy — to send them again to a partition's new owner. They sit
//! in a [`KeptStore`] (memory within a budget, a spill file beyond).

use std::collections::HashMap;
use std::time::Instant;

use super::{ConnId, Dest, Worker};
use crate::net::frame::Outgoing;
use crate::protocol::codec::{self, encode, Bulk, Kind};
use crate::protocol::kept::{KeptConfig, KeptFrame, KeptStore, SpillError};
use crate::protocol::messages::{self as msg, PartitionAck, RefuseReason};

/// The Partition frames of one task, kept until the job ends.
#[derive(Debug)]
pub(super) struct KeptFrames {
    pub(super) attempt: u32,
    /// By partition; `None` where a buddy got no copy (partitions its peer did not own).
    pub(super) frames: Vec<Option<KeptFrame>>,
}

/// Kept frames of one task, in memory to be sent: (partition, frame).
pub(super) struct LoadedFrames {
    pub(super) attempt: u32,
    pub(super) frames: Vec<(u32, Outgoing)>,
}

/// Every task's kept frames: this worker's own outputs and the copies it keeps as a buddy.
#[derive(Debug)]
pub(super) struct KeptOutputs {
    /// The Partition frames of every task this worker mapped, by task, kept until the job
    /// ends so they can be sent again to a partition's new owner.
    pub(super) own: HashMap<u32, KeptFrames>,
    /// The copies kept as a buddy, by task (the last attempt received).
    pub(super) copies: HashMap<u32, KeptFrames>,
    /// Where the frames are (memory, or the spill file).
    pub(super) store: KeptStore,
}

impl KeptOutputs {
    pub(super) fn new(config: KeptConfig) -> KeptOutputs {
        KeptOutputs {
            own: HashMap::new(),
            copies: HashMap::new(),
            store: KeptStore::new(config),
        }
    }

    /// The frames kept for `task`: its outputs if it was mapped here, else the copies kept
    /// here.
    pub(super) fn source(&self, task: u32) -> Option<&KeptFrames> {
        self.own.get(&task).or_else(|| self.copies.get(&task))
    }

    /// The kept frames of `task` for `partitions`, with their attempt (see
    /// [`KeptOutputs::source`]); read back from the spill file where needed. Partitions
    /// with no frame kept are left out.
    pub(super) fn frames(
        &self,
        task: u32,
        partitions: &[u32],
    ) -> Result<Option<LoadedFrames>, SpillError> {
        let Some(source) = self.source(task) else {
            return Ok(None);
        };
        let mut frames = Vec::with_capacity(partitions.len());
        for &p in partitions {
            if let Some(Some(kept)) = source.frames.get(p as usize) {
                frames.push((p, self.store.load(kept)?));
            }
        }
        Ok(Some(LoadedFrames {
            attempt: source.attempt,
            frames,
        }))
    }

    /// Drops the frames of one task, their memory back to the budget.
    pub(super) fn release(&mut self, frames: Option<KeptFrames>) {
        for kept in frames.iter().flat_map(|f| f.frames.iter().flatten()) {
            self.store.release(kept);
        }
    }
}

impl Worker {
    /// Accounts a freshly mapped task's frames (sent already) against the memory budget,
    /// spilling those beyond it.
    pub(super) fn keep_outputs(&mut self, task: u32, now: Instant) {
        let Some(job) = &mut self.job else { return };
        let Some(mut outputs) = job.kept.own.remove(&task) else {
            return;
        };
        for slot in &mut outputs.frames {
            let Some(KeptFrame::Memory(frame)) = slot.take() else {
                continue;
            };
            match job.kept.store.keep(frame) {
                Ok(kept) => *slot = Some(kept),
                Err(e) => return self.leave_job(e.to_string(), now),
            }
        }
        job.kept.own.insert(task, outputs);
    }

    /// A peer's copy of a partition it owns: kept, unapplied, and acknowledged.
    pub(super) fn keep_copy(&mut self, conn: ConnId, bulk: Bulk<PartitionAck>, now: Instant) {
        let head = bulk.head;
        let Some(job) = self.current_mut(head.job) else {
            return self.refuse(
                conn,
                RefuseReason::UnknownJob,
                format!("copy for job {:016x}", head.job),
                now,
            );
        };
        let partitions = job.placement.owners.len();
        if head.partition as usize >= partitions {
            let detail = format!("copy of partition {} of {partitions}", head.partition);
            return self.refuse(conn, RefuseReason::Protocol, detail, now);
        }
        if job
            .kept
            .copies
            .get(&head.task)
            .is_some_and(|c| c.attempt != head.attempt)
        {
            let older = job.kept.copies.remove(&head.task);
            job.kept.release(older);
        }
        let frame = match job
            .kept
            .store
            .keep(codec::frame_of(Kind::Partition, &bulk.payload))
        {
            Ok(frame) => frame,
            Err(e) => return self.leave_job(e.to_string(), now),
        };
        let copies = job
            .kept
            .copies
            .entry(head.task)
            .or_insert_with(|| KeptFrames {
                attempt: head.attempt,
                frames: (0..partitions).map(|_| None).collect(),
            });
        let older = copies.frames[head.partition as usize].replace(frame);
        if let Some(older) = older {
            job.kept.store.release(&older);
        }
        let ack = msg::Kept {
            head,
            keeper: job.spec.you,
        };
        self.send_encoded(Dest::Conn(conn), encode(&ack));
    }
}
