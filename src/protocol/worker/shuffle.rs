//! The map side's shuffle: a mapped task's partitions go to their owners (its own partitions
//! to the local merge, and copies of those to the buddy), and the task is reported done
//! once every owner and the buddy have acknowledged.

use std::time::Instant;

use super::outputs::KeptFrames;
use super::{micros, Action, Dest, MapOutput, Reload, Worker};
use crate::net::frame::Outgoing;
use crate::protocol::codec::{self, encode, Kind};
use crate::protocol::ids::{self, Attempt, JobId, PartitionId, TaskId};
use crate::protocol::kept::KeptFrame;
use crate::protocol::messages::{self as msg, Failure, PartitionAck, TaskDone};

mod progress;

pub(super) use progress::Shuffle;

impl Worker {
    /// Keeps a mapped task's partitions and sends each to its owner (its own go straight
    /// to the merge).
    pub(super) fn shuffle(
        &mut self,
        task: TaskId,
        attempt: Attempt,
        map_micros: u64,
        out: MapOutput,
        now: Instant,
    ) {
        let Some(job) = &mut self.job else { return };
        let partitions = job.spec.partitions;
        // Sent from memory first; then kept within the budget (see `keep_outputs`).
        let frames = out
            .frames
            .into_iter()
            .map(|f| Some(KeptFrame::Memory(f)))
            .collect();
        let older = job.kept.own.insert(task, KeptFrames { attempt, frames });
        job.kept.release(older);
        let shuffle = Shuffle::mapped(attempt, partitions, out.file, map_micros, now);
        job.shuffles.insert(task, shuffle);
        let all: Vec<PartitionId> = ids::partitions(partitions).collect();
        self.send_partitions(task, &all, now);
        self.keep_outputs(task);
    }

    /// Sends the kept frames of `task` for `partitions` to their current owners (a copy
    /// of those it owns itself to its buddy), read back first if they were spilled.
    pub(super) fn send_partitions(
        &mut self,
        task: TaskId,
        partitions: &[PartitionId],
        now: Instant,
    ) {
        self.reload(task, partitions, Reload::Send, now);
    }

    /// Sends `task`'s `frames` (of `attempt`) to their current owners: those owned here go
    /// to the local merge, a copy of each to the buddy. Adds the bytes to the task's
    /// shuffle figures.
    pub(super) fn deliver(
        &mut self,
        task: TaskId,
        attempt: Attempt,
        frames: Vec<(PartitionId, Outgoing)>,
        now: Instant,
    ) {
        let Some(job) = &mut self.job else { return };
        let (you, job_id) = (job.spec.you, job.spec.job);
        let mut local = Vec::new();
        let (mut sent, mut kept) = (0, 0);
        for (p, frame) in frames {
            let Some(&owner) = job.placement.owners.get(p.index()) else {
                continue;
            };
            if owner == you {
                kept += frame.len() as u64;
                local.push((p, frame));
            } else {
                sent += frame.len() as u64;
                self.actions
                    .push_back(Action::Send(Dest::Peer(owner), frame));
            }
        }
        if let Some(s) = job.shuffles.get_mut(&task) {
            s.bytes_sent += sent;
            s.bytes_kept += kept;
        }
        // The copies are awaited before the local merges can complete the shuffle.
        let owned: Vec<PartitionId> = local.iter().map(|(p, _)| *p).collect();
        self.await_copies(task, &owned);
        self.push_copies(task, &local);
        for (p, frame) in local {
            let head = PartitionAck {
                job: job_id,
                task,
                attempt,
                partition: p,
            };
            let payload = codec::payload_of(&frame);
            self.apply(None, head, payload, now);
        }
    }

    /// The buddy is to keep copies of `task`'s `partitions` (owned here): their
    /// acknowledgements are awaited.
    fn await_copies(&mut self, task: TaskId, partitions: &[PartitionId]) {
        let Some(job) = &mut self.job else { return };
        if job.placement.buddy.is_none() {
            return;
        }
        let Some(shuffle) = job.shuffles.get_mut(&task) else {
            return;
        };
        for &p in partitions {
            shuffle.await_copy(p);
        }
    }

    /// Pushes copies of `task`'s `frames` to the buddy (their acknowledgements awaited
    /// already, see [`Worker::await_copies`]).
    pub(super) fn push_copies(&mut self, task: TaskId, frames: &[(PartitionId, Outgoing)]) {
        let Some(job) = &mut self.job else { return };
        let Some(buddy) = job.placement.buddy else {
            return;
        };
        let Some(shuffle) = job.shuffles.get_mut(&task) else {
            return;
        };
        for (_, frame) in frames {
            let copy = codec::reframe(frame, Kind::Copy);
            shuffle.bytes_copied += copy.len() as u64;
            self.actions
                .push_back(Action::Send(Dest::Peer(buddy), copy));
        }
    }

    /// The buddy changed (or a connection to it dropped): every unfinished shuffle sends
    /// its copies again, to the buddy now named. With no buddy left, nothing is copied
    /// and the copies are no longer awaited (the caller settles the shuffles).
    pub(super) fn recopy(&mut self, now: Instant) {
        let Some(job) = &mut self.job else { return };
        if job.placement.buddy.is_none() {
            for shuffle in job.shuffles.values_mut() {
                shuffle.forget_copies();
            }
            return;
        }
        let copied: Vec<(TaskId, Vec<PartitionId>)> = job
            .shuffles
            .iter()
            .filter(|(task, _)| job.kept.source(**task).is_some())
            .map(|(&task, s)| (task, s.copied()))
            .collect();
        for (task, parts) in copied {
            // Awaited from now on, even while the frames are read back.
            self.await_copies(task, &parts);
            self.reload(task, &parts, Reload::Copy, now);
        }
    }

    /// A reducer acknowledged one of this worker's partitions.
    pub(super) fn acknowledged(&mut self, ack: PartitionAck, now: Instant) {
        let Some(job) = self.current_mut(ack.job) else {
            return;
        };
        let Some(shuffle) = job.shuffles.get_mut(&ack.task) else {
            return;
        };
        if shuffle.attempt == ack.attempt && shuffle.owner_acknowledged(ack.partition) {
            self.settle(ack.task, now);
        }
    }

    /// The buddy keeps a copy of one of this worker's partitions.
    pub(super) fn copy_kept(&mut self, kept: msg::Kept, now: Instant) {
        let head = kept.head;
        let Some(job) = self.current_mut(head.job) else {
            return;
        };
        if job.placement.buddy != Some(kept.keeper) {
            return;
        }
        let Some(shuffle) = job.shuffles.get_mut(&head.task) else {
            return;
        };
        if shuffle.attempt == head.attempt && shuffle.copy_kept(head.partition) {
            self.settle(head.task, now);
        }
    }

    /// Reports a shuffle whose acknowledgements have all come: TaskDone, or Resent.
    pub(super) fn settle(&mut self, task: TaskId, now: Instant) {
        let Some(job) = &mut self.job else { return };
        if job.shuffles.get(&task).is_none_or(|s| !s.complete()) {
            return;
        }
        let Some(s) = job.shuffles.remove(&task) else {
            return;
        };
        let (job_id, epoch) = (job.spec.job, job.placement.epoch);
        if s.resend {
            let resent = msg::Resent {
                job: job_id,
                task,
                epoch,
                bytes: s.bytes_sent,
                lacking: Vec::new(),
            };
            return self.report(encode(&resent));
        }
        let done = TaskDone {
            job: job_id,
            task,
            attempt: s.attempt,
            file: s.file,
            shuffle_bytes: s.bytes_sent,
            kept_bytes: s.bytes_kept,
            map_micros: s.map_micros,
            shuffle_micros: micros(now.saturating_duration_since(s.started)),
            epoch,
            copied_to: job.placement.buddy,
            copied_bytes: s.bytes_copied,
        };
        self.report(encode(&done));
    }

    /// A map ended: its partitions are shuffled, or its failure reported (nothing, for an
    /// attempt cancelled or stalled meanwhile, or of a job that is over).
    pub(super) fn mapped(
        &mut self,
        job: JobId,
        (task, attempt): (TaskId, Attempt),
        micros: u64,
        result: Result<MapOutput, (Failure, String)>,
        now: Instant,
    ) {
        if let Some(stuck) = self.stuck.remove(&(job, task, attempt)) {
            let threads = stuck.threads;
            return self.log(format!(
                "task {task} attempt {attempt}, stalled on {}, ended after all: {threads} \
                 thread{} free again",
                stuck.what,
                if threads == 1 { "" } else { "s" }
            ));
        }
        if self.job_id() != Some(job) {
            return;
        }
        if let Some(state) = self.job.as_mut() {
            // (An abandoned attempt may end after the next one started here.)
            if state.mapping.get(&task) == Some(&attempt) {
                state.mapping.remove(&task);
            }
            if state.cancelled.contains(&(task, attempt)) {
                return;
            }
        }
        match result {
            Ok(out) => {
                self.report(encode(&msg::Mapped { job, task, attempt }));
                self.shuffle(task, attempt, micros, out, now)
            }
            Err((failure, message)) => self.fail_task(job, task, attempt, failure, message),
        }
    }
}
