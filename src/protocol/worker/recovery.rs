//! After a loss: partitions sent again to their new owners (Reassign, Resend), to peers
//! whose connection dropped, and copies to a new buddy; and leaving a job the worker cannot
//! go on with.

use std::time::Instant;

use super::job::valid_buddy;
use super::shuffle::Shuffle;
use super::{Action, ConnId, Worker};
use crate::protocol::codec::encode;
use crate::protocol::ids::{self, Member, PartitionId, TaskId};
use crate::protocol::messages::{self as msg, RefuseReason};

impl Worker {
    /// Sends again, on a new connection, the partitions that wait on `peer`: the frames may
    /// have been lost with the old connection (a cut, or a refusal). Repeats are applied
    /// once. If the peer is lost for good, the coordinator moves its partitions (Reassign)
    /// and they go to the new owners instead.
    pub(super) fn retry_peer(&mut self, peer: Member, now: Instant) {
        let Some(job) = &mut self.job else { return };
        let job_buddy = job.placement.buddy;
        let owned: Vec<PartitionId> = ids::partitions(job.placement.owners.len() as u32)
            .filter(|p| job.placement.owners[p.index()] == peer)
            .collect();
        let waiting: Vec<(TaskId, Vec<PartitionId>)> = job
            .shuffles
            .iter()
            .map(|(&task, s)| {
                let parts = owned
                    .iter()
                    .copied()
                    .filter(|&p| s.waits_for_owner(p))
                    .collect();
                (task, parts)
            })
            .filter(|(_, parts): &(TaskId, Vec<PartitionId>)| !parts.is_empty())
            .collect();
        for (task, parts) in waiting {
            self.send_partitions(task, &parts, now);
        }
        if job_buddy == Some(peer) {
            self.recopy(now);
        }
    }

    /// The connection to worker `peer` of the job failed or closed. Partitions on their
    /// way to it may be lost: if the peer is lost, the coordinator moves its partitions
    /// and this worker sends them again to the new owners (Reassign); until then the
    /// tasks waiting on it wait.
    pub fn peer_unreachable(&mut self, peer: Member, reason: &str) {
        let Some(job) = &self.job else { return };
        let addr = job
            .placement
            .members
            .get(peer.index())
            .cloned()
            .unwrap_or_default();
        let is_buddy = job.placement.buddy == Some(peer);
        let waiting = job
            .shuffles
            .values()
            .filter(|s| {
                ids::partitions(job.placement.owners.len() as u32)
                    .any(|p| s.waits_for_owner(p) && job.placement.owners[p.index()] == peer)
                    || (is_buddy && s.waits_for_copies())
            })
            .count();
        if waiting > 0 {
            if let Some(job) = &mut self.job {
                job.timers.retry(peer);
            }
        }
        self.log(format!(
            "lost the connection to worker {peer} ({addr}): {reason}; {waiting} tasks wait for it"
        ));
    }

    /// Partitions moved (their owner was lost): every task whose outputs may have gone to
    /// the lost owner — unfinished shuffles, and the finished tasks the coordinator names
    /// — sends its moved partitions again, to the new owners.
    pub(super) fn reassign(&mut self, conn: ConnId, r: msg::Reassign, now: Instant) {
        let Some(job) = self.current_mut(r.job) else {
            return self.refuse(conn, RefuseReason::UnknownJob, "reassign".into(), now);
        };
        let partitions = job.placement.owners.len() as u32;
        if !job.placement.take_members(r.workers)
            || r.owners.len() != job.placement.owners.len()
            || r.owners
                .iter()
                .any(|o| o.index() >= job.placement.members.len())
            || r.moved.iter().any(|p| p.0 >= partitions)
            || r.resend.iter().any(|t| t.0 >= job.spec.tasks)
            || !valid_buddy(r.buddy, job.spec.you, job.placement.members.len())
        {
            return self.refuse(
                conn,
                RefuseReason::Protocol,
                "inconsistent reassignment".into(),
                now,
            );
        }
        job.placement.owners = r.owners;
        job.placement.epoch = r.epoch;
        job.placement.accepting.clear();
        if job.placement.buddy != r.buddy {
            job.placement.buddy = r.buddy;
            self.recopy(now);
        }
        let Some(job) = &mut self.job else { return };
        let mut tasks: Vec<TaskId> = job
            .shuffles
            .iter()
            .filter(|(_, s)| !s.resend)
            .map(|(&t, _)| t)
            .collect();
        tasks.extend(r.resend);
        for task in tasks {
            self.resend(task, &r.moved, now);
        }
        // Only now, once the moved partitions are awaited again: a shuffle that waited
        // only for copies to a buddy gone since is complete.
        let open: Vec<TaskId> = self
            .job
            .iter()
            .flat_map(|j| j.shuffles.keys().copied())
            .collect();
        for task in open {
            self.settle(task, now);
        }
    }

    /// Sends `task`'s kept outputs for `partitions` again and waits for their
    /// acknowledgements: in its unfinished shuffle if there is one (which then ends with
    /// TaskDone), otherwise in a new one that ends with Resent.
    pub(super) fn resend(&mut self, task: TaskId, partitions: &[PartitionId], now: Instant) {
        let Some(job) = &mut self.job else { return };
        // (A task being mapped here is another attempt, or a cancelled backup: what the
        // coordinator asks for is the finished attempt's outputs, or copies of them.)
        let source = job
            .kept
            .own
            .get(&task)
            .or_else(|| job.kept.copies.get(&task));
        let has = |p: PartitionId| {
            source.is_some_and(|s| matches!(s.frames.get(p.index()), Some(Some(_))))
        };
        let lacking: Vec<PartitionId> = partitions.iter().copied().filter(|&p| !has(p)).collect();
        let Some(source) = source.filter(|_| lacking.is_empty()) else {
            // Only some copies are kept here (or nothing): the task must run again.
            let resent = msg::Resent {
                job: job.spec.job,
                task,
                epoch: job.placement.epoch,
                bytes: 0,
                lacking,
            };
            if !resent.lacking.is_empty() {
                self.log(format!(
                    "task {task}: no kept output for {} of the partitions to send again",
                    resent.lacking.len()
                ));
            }
            return self.report(encode(&resent));
        };
        let attempt = source.attempt;
        let n = job.placement.owners.len() as u32;
        let shuffle =
            (job.shuffles.entry(task)).or_insert_with(|| Shuffle::resend(attempt, n, now));
        for &p in partitions {
            shuffle.await_owner(p);
        }
        if shuffle.complete() {
            // Nothing to wait for: done at once (TaskDone, or Resent for a new shuffle).
            return self.settle(task, now);
        }
        self.send_partitions(task, partitions, now);
    }

    /// This worker cannot go on with its job (its spill file failed, or all its threads
    /// are stuck): it tells the coordinator why and drops it (the coordinator recovers as
    /// from a lost worker).
    pub(super) fn leave_job(&mut self, why: String, now: Instant) {
        let Some(job) = self.job.take() else { return };
        self.log(format!("job {}: leaving it: {why}", job.spec.job));
        self.actions.push_back(Action::Release);
        if let Some(conn) = self.coordinator {
            self.refuse(conn, RefuseReason::Leaving, why, now);
        }
    }

    /// The coordinator asks for a finished task's outputs again (its report predates a
    /// reassignment).
    pub(super) fn resend_asked(&mut self, conn: ConnId, r: msg::Resend, now: Instant) {
        let Some(job) = self.current(r.job) else {
            return self.refuse(conn, RefuseReason::UnknownJob, "resend".into(), now);
        };
        if r.partitions
            .iter()
            .any(|p| p.index() >= job.placement.owners.len())
        {
            return self.refuse(conn, RefuseReason::Protocol, "resend".into(), now);
        }
        self.resend(r.task, &r.partitions, now);
    }
}
