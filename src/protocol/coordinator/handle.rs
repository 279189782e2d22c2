//! The coordinator's answer to each message, by kind and by where the job stands.

use super::members::{plausible, Link};
use super::{Action, Coordinator, Phase};
use crate::observe::status::{AttemptOutcome, EventKind};
use crate::protocol::codec::{bulk_words, Bulk, Kind, Message, RankedHead};
use crate::protocol::ids::{Attempt, JobId, Machine, TaskId};
use crate::protocol::messages::{self as msg, Failure, RefuseReason};

impl Coordinator {
    pub(super) fn message(&mut self, w: Machine, m: Message) {
        match (m, self.phase) {
            (Message::Welcome(welcome), _) if !plausible(&welcome) => {
                let what = format!(
                    "implausible Welcome ({} threads, {} slots)",
                    welcome.threads, welcome.slots
                );
                self.protocol_error(w, what);
            }
            (Message::Welcome(welcome), Phase::Connecting)
                if self.members[w].link == Link::Greeted =>
            {
                let entry = &mut self.members[w];
                entry.link = Link::Ready;
                entry.welcomed(&welcome);
                self.check_greetings();
            }
            // A worker outside the running job answered a new greeting: it joins.
            (Message::Welcome(welcome), Phase::Preparing | Phase::Mapping | Phase::Reducing)
                if self.members[w].link == Link::Greeted =>
            {
                let entry = &mut self.members[w];
                entry.link = Link::Welcomed;
                entry.welcomed(&welcome);
                self.timers.retry[w.0] = None;
                self.admit_joiners();
            }
            // At the start, or from a worker trying to join (e.g. busy with another job).
            (Message::Refused(r), _)
                if self.phase == Phase::Connecting || self.members[w].member.is_none() =>
            {
                let reason = format!("refused the job ({:?}): {}", r.reason, r.detail);
                self.actions.push_back(Action::Close(w));
                self.lost(w, &reason);
            }
            // A worker of the job that cannot go on with it.
            (Message::Refused(r), _) if r.reason == RefuseReason::Leaving => {
                self.actions.push_back(Action::Close(w));
                self.lose(w, &format!("left the job: {}", r.detail), true);
            }
            (Message::JobReady(j), _)
                if j.job == self.config.job
                    && self.members[w].member.is_some()
                    && !self.members[w].answered =>
            {
                self.members[w].answered = true;
                self.check_prepared();
            }
            (Message::Mapped(m), Phase::Mapping) if self.runs(m.job, m.task, m.attempt, w) => {
                let (t, attempt) = (m.task, m.attempt);
                self.journal.mapped(t, attempt);
                let schedule = &mut self.schedule;
                schedule.release_slot(t, w, attempt, &mut self.members);
                let other = schedule.mapped(t, w, attempt, &mut self.members, &mut self.recovery);
                if let Some((v, attempt)) = other {
                    self.cancel(t, v, attempt);
                }
                self.advance();
            }
            (Message::Mapped(_), _) => {}
            (Message::TaskDone(done), Phase::Mapping)
                if self.runs(done.job, done.task, done.attempt, w) =>
            {
                self.task_done(w, done)
            }
            (Message::TaskFailed(f), Phase::Mapping) if self.runs(f.job, f.task, f.attempt, w) => {
                self.task_failed(w, f)
            }
            // A report on a task that is not running there with that attempt: a repeated
            // or duplicated task. Its data was applied once at most; the report is stale.
            (Message::TaskDone(msg::TaskDone { task, attempt, .. }), _)
            | (Message::TaskFailed(msg::TaskFailed { task, attempt, .. }), _) => {
                let addr = self.members.address(w);
                let line = format!(
                    "worker {addr}: stale report on task {task} attempt {attempt}, ignored"
                );
                self.log(line);
            }
            (Message::Resent(r), _)
                if r.job == self.config.job && self.schedule.is_resending(r.task, w) =>
            {
                self.resent(w, r)
            }
            (Message::Heartbeat(beat), _) => {
                for map in beat.maps {
                    if self.runs(beat.job, map.task, map.attempt, w) {
                        self.journal.read(map.task, map.attempt, map.bytes);
                    }
                }
            }
            (Message::Resent(_), _) => {}
            (Message::Adopted(a), _) if a.job == self.config.job => {
                if let Some(adoption) = &mut self.placement.adopting {
                    if adoption.epoch == a.epoch {
                        adoption.heirs.retain(|&h| h != w);
                        if adoption.heirs.is_empty() {
                            self.reassign_all();
                        }
                    }
                }
            }
            // Pieces and ReduceDone may arrive while moved partitions are rebuilt.
            (Message::Ranked(bulk), _) if self.members[w].reducing > 0 => self.ranked(w, bulk),
            (Message::ReduceDone(done), _)
                if done.job == self.config.job && self.members[w].reducing > 0 =>
            {
                let entry = &mut self.members[w];
                entry.reducing -= 1;
                entry.report.add_reduce(&done.figures);
                self.check_reduced();
            }
            (other, _) => {
                let what = format!("unexpected {} message", other.kind().name());
                self.protocol_error(w, what)
            }
        }
    }

    /// Copy `(w, attempt)` of `task` of this job runs.
    fn runs(&self, job: JobId, task: TaskId, attempt: Attempt, w: Machine) -> bool {
        job == self.config.job && self.schedule.is_running(task, w, attempt)
    }

    fn task_done(&mut self, w: Machine, done: msg::TaskDone) {
        let (t, attempt) = (done.task, done.attempt);
        self.journal.ended(t, attempt, AttemptOutcome::Done);
        self.schedule.release_slot(t, w, attempt, &mut self.members);
        self.members[w].report.add_task(&done);
        let copy_at = (done.copied_to).and_then(|i| self.members.current(i));
        let cancel = self.schedule.done(
            t,
            (w, attempt),
            done.file,
            copy_at,
            &mut self.members,
            &mut self.recovery,
        );
        for (v, attempt) in cancel {
            self.cancel(t, v, attempt);
        }
        if done.epoch < self.placement.epoch {
            // Acknowledged (in part) by owners since lost: send the moved ones again.
            self.request_resend(t, done.epoch);
        }
        self.advance();
    }

    fn task_failed(&mut self, w: Machine, f: msg::TaskFailed) {
        let (t, attempt) = (f.task, f.attempt);
        self.journal.ended(t, attempt, AttemptOutcome::Failed);
        let detail = format!("{:?}: {}", f.failure, f.message);
        self.journal
            .event(EventKind::TaskFailed, Some(w), Some(t), detail);
        if f.failure != Failure::Stalled {
            // (A stalled map still holds its thread: its slot stays taken.)
            self.schedule.release_slot(t, w, attempt, &mut self.members);
        }
        let addr = self.members.address(w).to_string();
        let line = format!(
            "task {t} failed on worker {addr} ({:?}): {}",
            f.failure, f.message
        );
        let alive = self.members.alive();
        let policy = self.config.count.policy;
        let (failure, message) = (f.failure, f.message);
        if (self.schedule).failed(t, (w, attempt), failure, message, &addr, &alive, policy) {
            self.log(line);
        }
        self.advance();
    }

    fn resent(&mut self, w: Machine, r: msg::Resent) {
        self.recovery.bytes_resent += r.bytes;
        let t = r.task;
        if !r.lacking.is_empty() {
            // It held copies of only some of the task's outputs: run it again.
            let addr = self.members.address(w);
            let line = format!(
                "task {t}: worker {addr} keeps no output for {} moved partitions; it runs again",
                r.lacking.len()
            );
            self.log(line);
            self.schedule.run_again(t);
            self.recovery.tasks_reexecuted += 1;
            self.advance();
        } else if r.epoch < self.placement.epoch {
            self.request_resend(t, r.epoch);
        } else {
            self.schedule.resent(t);
            self.advance();
        }
    }

    fn ranked(&mut self, w: Machine, bulk: Bulk<RankedHead>) {
        let head = bulk.head;
        let valid = head.job == self.config.job
            && head.partition.0 < self.placement.partitions
            && self.members.is(w, self.placement.owner(head.partition))
            && self.collect.expects(&head);
        if !valid {
            return self.protocol_error(w, format!("unexpected Ranked piece {head:?}"));
        }
        if let Err(e) = bulk_words(Kind::Ranked, &bulk.payload) {
            return self.protocol_error(w, e.to_string());
        }
        self.collect.piece(head, bulk.payload);
    }

    /// Tells the worker running copy `attempt` of task `t` that another copy won.
    pub(super) fn cancel(&mut self, t: TaskId, w: Machine, attempt: Attempt) {
        self.journal.ended(t, attempt, AttemptOutcome::Cancelled);
        let cancel = msg::Cancel {
            job: self.config.job,
            task: t,
            attempt,
        };
        self.send(w, &cancel);
    }
}
