//! The reduce side: received partitions applied exactly once (the ledger of (partition,
//! task) pairs), merges in flight bounded by bytes (connections paused above the limit),
//! and the ranking of the owned partitions.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::{micros, Action, ConnId, Dest, MergeOrder, Worker};
use crate::net::frame::Payload;
use crate::protocol::codec::{self, encode, Bulk};
use crate::protocol::ids::{Attempt, JobId, PartitionId, TaskId};
use crate::protocol::messages::{self as msg, Failure, PartitionAck, RefuseReason};

/// A reducer's record of the (partition, task) pairs it has applied or is applying: what
/// makes a partition's data count once however often it comes.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    pairs: HashMap<(PartitionId, TaskId), Pair>,
}

#[derive(Debug)]
enum Pair {
    /// Being merged; these senders wait for the acknowledgement.
    Applying(Vec<Waiter>),
    Applied,
}

/// A sender waiting for an acknowledgement: its connection (`None`: this worker), and the
/// attempt it sent.
pub(super) type Waiter = (Option<ConnId>, Attempt);

/// What to do with a partition's data that arrived.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Arrival {
    /// The first of its pair: merge it.
    Apply,
    /// Its pair is being merged: it is acknowledged with that merge.
    Wait,
    /// Its pair is applied: acknowledge it now.
    Applied,
}

impl Ledger {
    /// Data for `(partition, task)` arrived from `waiter`.
    pub(super) fn arrive(
        &mut self,
        partition: PartitionId,
        task: TaskId,
        waiter: Waiter,
    ) -> Arrival {
        match self.pairs.get_mut(&(partition, task)) {
            Some(Pair::Applied) => Arrival::Applied,
            Some(Pair::Applying(waiters)) => {
                waiters.push(waiter);
                Arrival::Wait
            }
            None => {
                let applying = Pair::Applying(vec![waiter]);
                self.pairs.insert((partition, task), applying);
                Arrival::Apply
            }
        }
    }

    /// The merge of `(partition, task)` succeeded: the senders to acknowledge.
    pub(super) fn applied(&mut self, partition: PartitionId, task: TaskId) -> Vec<Waiter> {
        match self.pairs.insert((partition, task), Pair::Applied) {
            Some(Pair::Applying(waiters)) => waiters,
            _ => Vec::new(),
        }
    }

    /// The merge of `(partition, task)` failed: nothing of it counts, and its next copy
    /// is applied.
    pub(super) fn failed(&mut self, partition: PartitionId, task: TaskId) {
        self.pairs.remove(&(partition, task));
    }
}

/// Received partitions waiting for their merge, and the connections paused for them.
#[derive(Debug)]
pub(super) struct Inflight {
    /// Their bytes, by (job, partition, task).
    pub(super) bytes: HashMap<(JobId, PartitionId, TaskId), u64>,
    pub(super) total: u64,
    /// Pause above the first, resume under the second.
    pub(super) high: u64,
    pub(super) low: u64,
    pub(super) paused: BTreeSet<ConnId>,
}

impl Inflight {
    /// `bytes` came on `conn` for `key`: whether to pause `conn` now.
    pub(super) fn add(
        &mut self,
        key: (JobId, PartitionId, TaskId),
        bytes: u64,
        conn: ConnId,
    ) -> bool {
        self.bytes.insert(key, bytes);
        self.total += bytes;
        self.total > self.high && self.paused.insert(conn)
    }

    /// The merge of `key` ended: the connections to resume.
    pub(super) fn remove(&mut self, key: (JobId, PartitionId, TaskId)) -> BTreeSet<ConnId> {
        if let Some(bytes) = self.bytes.remove(&key) {
            self.total -= bytes;
            if self.total < self.low {
                return std::mem::take(&mut self.paused);
            }
        }
        BTreeSet::new()
    }
}

impl Worker {
    /// Pauses connections above `high` received bytes waiting to be merged, until under
    /// `low` (by default [`super::INFLIGHT_HIGH`] and [`super::INFLIGHT_LOW`]).
    pub fn with_inflight_limits(mut self, high: u64, low: u64) -> Worker {
        self.inflight.high = high;
        self.inflight.low = low.min(high);
        self
    }

    pub(super) fn partition(&mut self, conn: ConnId, bulk: Bulk<PartitionAck>, now: Instant) {
        let head = bulk.head;
        let Some(job) = self.current_mut(head.job) else {
            return self.refuse(
                conn,
                RefuseReason::UnknownJob,
                format!("partition for job {}", head.job),
                now,
            );
        };
        let owned = job.placement.owners.get(head.partition.index()) == Some(&job.spec.you)
            || job.placement.accepting.contains(&head.partition);
        if !owned {
            let detail = format!("partition {} is not owned here", head.partition);
            return self.refuse(conn, RefuseReason::Protocol, detail, now);
        }
        job.figures.shuffle_bytes_received += codec::frame_len(bulk.payload.len()) as u64;
        self.apply(Some(conn), head, bulk.payload, now);
    }

    /// Applies a partition's data exactly once (see the module docs).
    pub(super) fn apply(
        &mut self,
        from: Option<ConnId>,
        head: PartitionAck,
        payload: Payload,
        now: Instant,
    ) {
        let Some(job) = &mut self.job else { return };
        match job
            .ledger
            .arrive(head.partition, head.task, (from, head.attempt))
        {
            Arrival::Applied => {
                job.figures.duplicates_ignored += 1;
                self.ack(from, head, now);
            }
            Arrival::Wait => job.figures.duplicates_ignored += 1,
            Arrival::Apply => {
                if let Some(conn) = from {
                    let key = (head.job, head.partition, head.task);
                    if self.inflight.add(key, payload.len() as u64, conn) {
                        self.actions.push_back(Action::Pause(conn));
                    }
                }
                self.actions.push_back(Action::Merge(MergeOrder {
                    from,
                    head,
                    payload,
                }));
            }
        }
    }

    pub(super) fn ack(&mut self, to: Option<ConnId>, head: PartitionAck, now: Instant) {
        match to {
            Some(conn) => self.send_encoded(Dest::Conn(conn), encode(&head)),
            None => self.acknowledged(head, now),
        }
    }

    /// Rank the owned partitions named (all tasks are done).
    pub(super) fn reduce(&mut self, conn: ConnId, r: msg::Reduce, now: Instant) {
        let Some(job) = self.current_mut(r.job) else {
            return self.refuse(conn, RefuseReason::UnknownJob, "reduce".into(), now);
        };
        if r.partitions
            .iter()
            .any(|&p| job.placement.owners.get(p.index()) != Some(&job.spec.you))
        {
            let detail = "asked to reduce a partition it does not own".to_string();
            return self.refuse(conn, RefuseReason::Protocol, detail, now);
        }
        job.reduce_started = Some(now);
        let action = Action::Rank {
            job: r.job,
            owned: r.partitions,
            min_count: r.min_count,
            top: r.top,
        };
        self.actions.push_back(action);
    }

    /// A merge ended: its senders are acknowledged (or refused, if the data was bad).
    pub(super) fn merged(
        &mut self,
        job: JobId,
        from: Option<ConnId>,
        head: PartitionAck,
        result: Result<(), String>,
        now: Instant,
    ) {
        for conn in self.inflight.remove((job, head.partition, head.task)) {
            self.actions.push_back(Action::Resume(conn));
        }
        let Some(state) = self.current_mut(job) else {
            return;
        };
        match result {
            Ok(()) => {
                for (to, attempt) in state.ledger.applied(head.partition, head.task) {
                    self.ack(to, PartitionAck { attempt, ..head }, now);
                }
            }
            Err(reason) => {
                state.ledger.failed(head.partition, head.task);
                match from {
                    Some(conn) => self.refuse(conn, RefuseReason::Protocol, reason, now),
                    None => self.fail_task(job, head.task, head.attempt, Failure::Fatal, reason),
                }
            }
        }
    }

    /// The owned partitions are ranked: their pieces go to the coordinator, then the
    /// worker's figures.
    pub(super) fn ranked(
        &mut self,
        job: JobId,
        frames: Result<Vec<Vec<u8>>, String>,
        now: Instant,
    ) {
        if self.job_id() != Some(job) {
            return;
        }
        let frames = match frames {
            Ok(frames) => frames,
            Err(reason) => {
                let detail = format!("cannot rank the partitions: {reason}");
                return match self.coordinator {
                    Some(c) => self.refuse(c, RefuseReason::Protocol, detail, now),
                    None => self.log(detail),
                };
            }
        };
        let Some(state) = self.job.as_mut() else {
            return;
        };
        let started = state.reduce_started.unwrap_or(now);
        state.figures.reduce_micros = micros(now.saturating_duration_since(started));
        state.figures.kept_bytes_spilled = state.kept.store.spilled_bytes();
        let done = msg::ReduceDone {
            job,
            figures: state.figures.clone(),
        };
        for frame in frames {
            self.report(Ok(frame));
        }
        self.report(encode(&done));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_applied_once_and_every_sender_is_acknowledged() {
        let mut ledger = Ledger::default();
        let (p, t) = (PartitionId(3), TaskId(7));
        let first = (Some(ConnId(1)), Attempt(1));
        let again = (Some(ConnId(2)), Attempt(2));
        assert_eq!(ledger.arrive(p, t, first), Arrival::Apply);
        assert_eq!(ledger.arrive(p, t, again), Arrival::Wait);
        // Another pair of the same partition or task is its own.
        assert_eq!(ledger.arrive(p, TaskId(8), first), Arrival::Apply);
        assert_eq!(ledger.arrive(PartitionId(4), t, first), Arrival::Apply);
        assert_eq!(ledger.applied(p, t), [first, again]);
        assert_eq!(ledger.arrive(p, t, (None, Attempt(1))), Arrival::Applied);
        assert!(ledger.applied(p, t).is_empty(), "acknowledged once");
    }

    #[test]
    fn a_failed_merge_counts_nothing_and_the_next_copy_applies() {
        let mut ledger = Ledger::default();
        let (p, t) = (PartitionId(0), TaskId(0));
        assert_eq!(ledger.arrive(p, t, (None, Attempt(1))), Arrival::Apply);
        ledger.failed(p, t);
        assert_eq!(ledger.arrive(p, t, (None, Attempt(2))), Arrival::Apply);
    }
}
