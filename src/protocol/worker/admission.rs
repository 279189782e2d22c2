//! Who may talk to the worker: the coordinator's and peers' Hello, messages out of their
//! place, refusals (counted, logged at a bounded rate), connections that close, and maps
//! stalled on a read that does not return (their threads are counted out).

use std::time::{Duration, Instant};

use super::{Action, ConnId, Dest, Worker, REFUSALS_LOGGED_PER_SECOND};
use crate::log_limit::LineLimit;
use crate::protocol::codec::{encode, Bulk, Message};
use crate::protocol::ids::{Attempt, JobId, TaskId};
use crate::protocol::messages::{
    self as msg, Failure, PartitionAck, RefuseReason, Refused, Role, Welcome,
};

/// A map reported stalled whose threads have not come back.
#[derive(Debug)]
pub(super) struct Stuck {
    pub(super) threads: u32,
    /// What it was reading, for messages.
    pub(super) what: String,
}

/// Refused messages and connections: counted, and logged at a bounded rate.
#[derive(Debug)]
pub(super) struct Refusals {
    pub(super) total: u64,
    pub(super) log: LineLimit,
}

impl Default for Refusals {
    fn default() -> Refusals {
        Refusals {
            total: 0,
            log: LineLimit::new(REFUSALS_LOGGED_PER_SECOND, "refusals"),
        }
    }
}

impl Refusals {
    /// Counts a refusal at `now`: the lines to log (none past
    /// [`REFUSALS_LOGGED_PER_SECOND`] in a second; the first of the next second says how
    /// many were left out).
    pub(super) fn note(&mut self, now: Instant, line: String) -> Vec<String> {
        self.total += 1;
        self.log.note(Some(now), line)
    }
}

impl Worker {
    /// Pool threads held by maps that made no progress.
    pub fn stuck_threads(&self) -> u32 {
        self.stuck.values().map(|s| s.threads).sum()
    }

    /// A map made no progress for `stalled_for` while holding `threads` threads of the
    /// pool (a read that does not return, as on a hung network file system). Its task
    /// fails here as `Stalled` (the coordinator gives it to another worker and keeps its
    /// slot taken), it is abandoned (should its read ever return, it stops at the next
    /// record), and its threads are counted out until it ends: a worker whose threads are
    /// all stuck refuses jobs instead of taking work it cannot do.
    pub fn map_stalled(
        &mut self,
        (job, task, attempt): (JobId, TaskId, Attempt),
        threads: u32,
        what: String,
        stalled_for: Duration,
        now: Instant,
    ) {
        let message = format!(
            "{what}: no progress for {:.0} s (a read that does not return?); {} thread{} \
             of this worker held by it",
            stalled_for.as_secs_f64(),
            threads.max(1),
            if threads.max(1) == 1 { "" } else { "s" }
        );
        self.log(format!("task {task} attempt {attempt}: {message}"));
        self.stuck.insert(
            (job, task, attempt),
            Stuck {
                threads: threads.max(1),
                what,
            },
        );
        self.actions
            .push_back(Action::Abandon { job, task, attempt });
        if let Some(state) = self.current_mut(job) {
            if state.mapping.get(&task) == Some(&attempt) {
                state.mapping.remove(&task);
                self.fail_task(job, task, attempt, Failure::Stalled, message);
            }
        }
        if self.stuck_threads() >= self.threads && self.job.is_some() {
            let why = format!(
                "all {} threads are stuck in maps that make no progress",
                self.threads
            );
            self.leave_job(why, now);
        }
    }

    /// Messages refused as invalid and connections closed for what their peer did, since
    /// the worker started.
    pub fn refusals(&self) -> u64 {
        self.refusals.total
    }

    /// The driver closed a connection from `peer` for what it did (failed authentication,
    /// broke the framing, came over a limit): counted and logged.
    pub fn rejected(&mut self, peer: &str, reason: &str, now: Instant) {
        self.note_refusal(format!("refused a connection from {peer}: {reason}"), now);
    }

    pub(super) fn hello(&mut self, conn: ConnId, hello: msg::Hello, now: Instant) {
        match hello.role {
            Role::Coordinator => {
                if let Some(other) = self.coordinator.filter(|&c| c != conn) {
                    if self.job.is_some() {
                        return self.refuse(
                            conn,
                            RefuseReason::Busy,
                            format!("serving another coordinator's job (connection {other})"),
                            now,
                        );
                    }
                }
                let stuck = self.stuck_threads();
                if stuck >= self.threads {
                    let what = self.stuck.values().next().map_or("", |s| s.what.as_str());
                    let detail = format!(
                        "all {} threads stuck in maps that make no progress (e.g. {what}); \
                         restart this worker once its storage answers",
                        self.threads
                    );
                    return self.refuse(conn, RefuseReason::Stuck, detail, now);
                }
                self.coordinator = Some(conn);
                self.roles.insert(conn, Role::Coordinator);
                let welcome = Welcome {
                    threads: self.threads - stuck,
                    slots: self.slots,
                };
                self.send_encoded(Dest::Conn(conn), encode(&welcome));
            }
            Role::Peer => {
                // (Its index may be one this worker does not know yet: a worker that joins
                // the job sends before the others hear of it.)
                if self.current(hello.job).is_none() {
                    let detail = format!("a peer of job {}", hello.job);
                    return self.refuse(conn, RefuseReason::UnknownJob, detail, now);
                }
                self.roles.insert(conn, Role::Peer);
            }
        }
    }

    /// Why `m` cannot be taken on `conn` whatever the job's state, if so: anything but a
    /// reply before a Hello, or a task id beyond the job's.
    pub(super) fn out_of_place(&self, conn: ConnId, m: &Message) -> Option<String> {
        let (job, task) = match m {
            Message::Hello(_) => return None,
            // Replies on the connections this worker opened to its peers.
            Message::PartitionAck(_) | Message::Kept(_) | Message::Refused(_) => return None,
            _ if !self.roles.contains_key(&conn) => {
                return Some(format!("{} before Hello", m.kind().name()))
            }
            Message::Task(msg::Task { job, task, .. })
            | Message::Resend(msg::Resend { job, task, .. })
            | Message::Partition(Bulk {
                head: PartitionAck { job, task, .. },
                ..
            })
            | Message::Copy(Bulk {
                head: PartitionAck { job, task, .. },
                ..
            }) => (*job, *task),
            _ => return None,
        };
        let tasks = self.current(job)?.spec.tasks;
        (task.0 >= tasks).then(|| format!("{} for task {task} of {tasks}", m.kind().name()))
    }

    /// Tells a peer why it is turned away, and closes its connection.
    pub(super) fn refuse(
        &mut self,
        conn: ConnId,
        reason: RefuseReason,
        detail: String,
        now: Instant,
    ) {
        let line = format!("connection {conn}: refused ({reason:?}): {detail}");
        match reason {
            RefuseReason::Protocol | RefuseReason::UnknownJob => self.note_refusal(line, now),
            RefuseReason::Busy | RefuseReason::Leaving | RefuseReason::Stuck => self.log(line),
        }
        let refused = Refused { reason, detail };
        self.send_encoded(Dest::Conn(conn), encode(&refused));
        self.actions.push_back(Action::Close(conn));
        self.refused.insert(conn);
    }

    /// Counts a refusal (for the worker, and for its job) and logs it, at a bounded rate.
    pub(super) fn note_refusal(&mut self, line: String, now: Instant) {
        if let Some(job) = &mut self.job {
            job.figures.refused += 1;
        }
        for line in self.refusals.note(now, line) {
            self.log(line);
        }
    }

    /// A connection closed (either side, any reason).
    pub fn closed(&mut self, conn: ConnId) {
        self.roles.remove(&conn);
        self.refused.remove(&conn);
        self.inflight.paused.remove(&conn);
        if self.coordinator == Some(conn) {
            self.coordinator = None;
            if let Some(job) = self.job.take() {
                self.log(format!(
                    "job {}: coordinator gone, job dropped",
                    job.spec.job
                ));
                self.actions.push_back(Action::Release);
            }
        }
    }
}
