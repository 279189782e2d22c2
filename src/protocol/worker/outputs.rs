//! The map outputs a worker keeps until its job ends — its own tasks' Partition frames, and
//! the copies it keeps as a buddy — to send them again to a partition's new owner. They sit
//! in a [`KeptStore`] (memory within a budget, a spill file beyond); the spill file's writes
//! and reads are actions ([`Action::Spill`], [`Action::Load`]) that complete later, off the
//! event loop.

use std::collections::HashMap;
use std::time::Instant;

use super::{Action, ConnId, Dest, LoadOrder, Reload, Worker};
use crate::net::frame::Outgoing;
use crate::protocol::codec::{self, encode, Bulk, Kind};
use crate::protocol::ids::{Attempt, JobId, PartitionId, TaskId};
use crate::protocol::kept::{Found, KeptFrame, KeptStore};
use crate::protocol::messages::{self as msg, PartitionAck, RefuseReason};

/// The Partition frames of one task, kept until the job ends.
#[derive(Debug)]
pub(super) struct KeptFrames {
    pub(super) attempt: Attempt,
    /// By partition; `None` where a buddy got no copy (partitions its peer did not own).
    pub(super) frames: Vec<Option<KeptFrame>>,
}

/// Every task's kept frames: this worker's own outputs and the copies it keeps as a buddy.
#[derive(Debug)]
pub(super) struct KeptOutputs {
    /// The Partition frames of every task this worker mapped, by task, kept until the job
    /// ends so they can be sent again to a partition's new owner.
    pub(super) own: HashMap<TaskId, KeptFrames>,
    /// The copies kept as a buddy, by task (the last attempt received).
    pub(super) copies: HashMap<TaskId, KeptFrames>,
    /// Where the frames are (memory, or the spill file).
    pub(super) store: KeptStore,
}

impl KeptOutputs {
    /// Kept outputs within `memory` bytes of memory.
    pub(super) fn new(memory: u64) -> KeptOutputs {
        KeptOutputs {
            own: HashMap::new(),
            copies: HashMap::new(),
            store: KeptStore::new(memory),
        }
    }

    /// The frames kept for `task`: its outputs if it was mapped here, else the copies kept
    /// here.
    pub(super) fn source(&self, task: TaskId) -> Option<&KeptFrames> {
        self.own.get(&task).or_else(|| self.copies.get(&task))
    }

    /// Where the kept frames of `task` for `partitions` are (see [`KeptOutputs::source`]),
    /// with their attempt. Partitions with no frame kept are left out.
    fn find(
        &self,
        task: TaskId,
        partitions: &[PartitionId],
    ) -> Option<(Attempt, Vec<(PartitionId, Found)>)> {
        let source = self.source(task)?;
        let found = partitions
            .iter()
            .filter_map(|&p| match source.frames.get(p.index()) {
                Some(Some(kept)) => Some((p, self.store.find(kept))),
                _ => None,
            })
            .collect();
        Some((source.attempt, found))
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
    pub(super) fn keep_outputs(&mut self, task: TaskId) {
        let Some(job) = &mut self.job else { return };
        let Some(mut outputs) = job.kept.own.remove(&task) else {
            return;
        };
        for slot in &mut outputs.frames {
            let Some(KeptFrame::Memory(frame)) = slot.take() else {
                continue;
            };
            *slot = Some(job.kept.store.keep(frame));
        }
        job.kept.own.insert(task, outputs);
        self.write_spilled();
    }

    /// A peer's copy of a partition it owns: kept, unapplied, and acknowledged.
    pub(super) fn keep_copy(&mut self, conn: ConnId, bulk: Bulk<PartitionAck>, now: Instant) {
        let head = bulk.head;
        let Some(job) = self.current_mut(head.job) else {
            return self.refuse(
                conn,
                RefuseReason::UnknownJob,
                format!("copy for job {}", head.job),
                now,
            );
        };
        let partitions = job.placement.owners.len();
        if head.partition.index() >= partitions {
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
        let frame = job
            .kept
            .store
            .keep(codec::frame_of(Kind::Partition, &bulk.payload));
        let copies = job
            .kept
            .copies
            .entry(head.task)
            .or_insert_with(|| KeptFrames {
                attempt: head.attempt,
                frames: (0..partitions).map(|_| None).collect(),
            });
        let older = copies.frames[head.partition.index()].replace(frame);
        if let Some(older) = older {
            job.kept.store.release(&older);
        }
        let ack = msg::Kept {
            head,
            keeper: job.spec.you,
        };
        self.write_spilled();
        self.send_encoded(Dest::Conn(conn), encode(&ack));
    }

    /// Hands the writes to the spill file decided so far to the executor.
    fn write_spilled(&mut self) {
        let Some(job) = &mut self.job else { return };
        let frames = job.kept.store.take_writes();
        if !frames.is_empty() {
            let job = job.spec.job;
            self.actions.push_back(Action::Spill { job, frames });
        }
    }

    /// Kept frames were written to the spill file (or could not be: the worker leaves the
    /// job).
    pub(super) fn spilled(
        &mut self,
        job: JobId,
        offsets: &[u64],
        result: Result<(), String>,
        now: Instant,
    ) {
        let Some(state) = self.current_mut(job) else {
            return;
        };
        match result {
            Ok(()) => state.kept.store.written(offsets),
            Err(e) => self.leave_job(e, now),
        }
    }

    /// Has `task`'s kept frames for `partitions` in memory, then sends them as `then` says:
    /// at once when they are in memory, after the executor reads them back when some are in
    /// the spill file.
    pub(super) fn reload(
        &mut self,
        task: TaskId,
        partitions: &[PartitionId],
        then: Reload,
        now: Instant,
    ) {
        let Some(job) = &self.job else { return };
        let Some((attempt, found)) = job.kept.find(task, partitions) else {
            return;
        };
        let ready: Option<Vec<(PartitionId, Outgoing)>> = found
            .iter()
            .map(|(p, f)| match f {
                Found::Ready(frame) => Some((*p, frame.clone())),
                Found::OnDisk { .. } => None,
            })
            .collect();
        match ready {
            Some(frames) => self.reloaded(task, attempt, then, frames, now),
            None => self.actions.push_back(Action::Load(LoadOrder {
                job: job.spec.job,
                task,
                attempt,
                then,
                frames: found,
            })),
        }
    }

    /// Kept frames were read back from the spill file (or could not be: the worker leaves
    /// the job). They are sent as they would have been had they been in memory: a frame in
    /// the spill file never changes, and its owners and buddy are the current ones.
    pub(super) fn loaded(
        &mut self,
        job: JobId,
        (task, attempt): (TaskId, Attempt),
        then: Reload,
        frames: Result<Vec<(PartitionId, Outgoing)>, String>,
        now: Instant,
    ) {
        if self.job_id() != Some(job) {
            return;
        }
        match frames {
            Ok(frames) => self.reloaded(task, attempt, then, frames, now),
            Err(e) => self.leave_job(e, now),
        }
    }

    fn reloaded(
        &mut self,
        task: TaskId,
        attempt: Attempt,
        then: Reload,
        frames: Vec<(PartitionId, Outgoing)>,
        now: Instant,
    ) {
        match then {
            Reload::Send => self.deliver(task, attempt, frames, now),
            Reload::Copy => self.push_copies(task, &frames),
        }
    }
}
