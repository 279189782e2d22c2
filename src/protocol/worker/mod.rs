//! The worker's protocol logic, as a state machine with no sockets, threads or clock.
//!
//! A driver (the mio loop of `wetmr worker`, or the in-memory router of the tests) feeds it
//! connection events, decoded frames and the completions of CPU work, each with the current
//! time, and carries out the [`Action`]s it queues: frames to send, connections to close,
//! and work (map a file, merge a received partition, rank the owned partitions, write or
//! read back kept outputs) to run off the event loop.
//!
//! Exactly once: a reducer keeps a ledger of the (partition, task) pairs it has applied.
//! Data for a pair already applied (a repeated or duplicated task) is acknowledged and
//! dropped; data for a pair being applied waits for that merge and is acknowledged with
//! it. A task is reported done to the coordinator only when every partition it produced is
//! acknowledged by its owner, so when all tasks are done all their data sits in the reducers.
//!
//! Surviving a loss: a worker keeps the frames of every task it mapped until the job ends,
//! to send them again to a partition's new owner. The frames for partitions it owns itself
//! are applied only in its own memory, so it also pushes a copy of each to its buddy (a
//! worker the coordinator names), which keeps them unapplied; a task is done only once its
//! buddy has them too. If the worker is lost, its buddy sends those copies to the new
//! owners, and only the tasks it was still running run again. Kept frames stay in memory
//! within a budget and go to a spill file beyond it ([`super::kept`]); a worker whose spill
//! file fails leaves the job (Refused, Leaving), and the coordinator recovers as from a loss.
//!
//! Strangers and broken peers: a message is taken only in its place (after a Hello, from
//! the coordinator when only it may send it, naming the current job and its tasks,
//! partitions and workers); anything else is refused (Refused, then the connection
//! closes, and what still arrives on it is ignored), counted, and logged at a bounded
//! rate. Received partitions waiting for their merge are bounded too: past
//! [`INFLIGHT_HIGH`] bytes, the connections that bring more are paused.
//!
//! The state is split by what owns it: the connections and refusals (`admission`), the
//! job's description and placement (`job`), the map outputs kept for resends (`outputs`,
//! over [`super::kept`]), the shuffles under way and their copies (`shuffle`), the
//! exactly-once ledger and merges in flight (`reducer`), and the moves after a loss
//! (`recovery`); this module dispatches each message and completion to them.

mod actions;
mod admission;
mod job;
mod outputs;
mod recovery;
mod reducer;
mod shuffle;
mod timers;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

pub use actions::*;
use admission::{Refusals, Stuck};
use job::JobState;
use reducer::Inflight;

use super::codec::{decode, encode, Message, ProtocolError};
use super::ids::{Attempt, JobId, TaskId};
use super::messages::{Failure, Heartbeat, MapReading, RefuseReason, Role, TaskFailed};
use crate::net::frame::{Frame, Outgoing};

/// The worker state machine (see the module docs).
#[derive(Debug)]
pub struct Worker {
    threads: u32,
    slots: u32,
    /// Bytes of kept map outputs held in memory (see [`super::kept`]).
    kept_memory: u64,
    roles: HashMap<ConnId, Role>,
    coordinator: Option<ConnId>,
    job: Option<JobState>,
    actions: VecDeque<Action>,
    inflight: Inflight,
    refusals: Refusals,
    /// Connections refused and closing: what still arrives on them is ignored.
    refused: BTreeSet<ConnId>,
    /// Maps that made no progress for too long, by (job, task, attempt), whatever job
    /// runs now: the pool threads they hold (see [`Worker::map_stalled`]).
    stuck: BTreeMap<(JobId, TaskId, Attempt), Stuck>,
}

impl Worker {
    pub fn new(threads: u32, slots: u32) -> Worker {
        Worker {
            threads,
            slots,
            kept_memory: u64::MAX,
            roles: HashMap::new(),
            coordinator: None,
            job: None,
            actions: VecDeque::new(),
            inflight: Inflight {
                bytes: HashMap::new(),
                total: 0,
                high: INFLIGHT_HIGH,
                low: INFLIGHT_LOW,
                paused: BTreeSet::new(),
            },
            refusals: Refusals::default(),
            refused: BTreeSet::new(),
            stuck: BTreeMap::new(),
        }
    }

    /// Keeps map outputs in memory up to `bytes`, and in the spill file beyond (by
    /// default, everything in memory).
    pub fn with_kept_memory(mut self, bytes: u64) -> Worker {
        self.kept_memory = bytes;
        self
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The coordinator's connection, when one is up.
    pub fn coordinator(&self) -> Option<ConnId> {
        self.coordinator
    }

    /// Time passes: sends a Heartbeat when one is due, and partitions again to peers whose
    /// connection dropped.
    pub fn tick(&mut self, now: Instant) {
        let Some(job) = &mut self.job else { return };
        let every = Duration::from_millis(u64::from(job.spec.heartbeat_ms));
        for peer in job.timers.due_peers(now, every) {
            self.retry_peer(peer, now);
        }
        let Some(job) = &mut self.job else { return };
        if job.timers.beat(now, every) {
            let beat = Heartbeat {
                job: job.spec.job,
                maps: (job.reading.iter())
                    .filter(|m| job.mapping.get(&m.task) == Some(&m.attempt))
                    .copied()
                    .collect(),
            };
            let frame = encode(&beat);
            self.report(frame);
        }
    }

    /// How far the maps of `job` have read (the executor's figures), for the next Heartbeat.
    pub fn maps_read(&mut self, job: JobId, reading: Vec<MapReading>) {
        if let Some(state) = self.job.as_mut().filter(|s| s.spec.job == job) {
            state.reading = reading;
        }
    }

    /// When [`Worker::tick`] has something to do next, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        let job = self.job.as_ref()?;
        Some(job.timers.next())
    }

    /// A frame arrived on `conn`.
    pub fn frame(&mut self, conn: ConnId, frame: Frame, now: Instant) {
        if self.refused.contains(&conn) {
            // Already read when it was refused: nothing more from it is heard.
            return;
        }
        match decode(frame) {
            Ok(m) => self.message(conn, m, now),
            Err(e) => self.refuse(conn, RefuseReason::Protocol, e.to_string(), now),
        }
    }

    fn message(&mut self, conn: ConnId, m: Message, now: Instant) {
        let from_coordinator = self.coordinator == Some(conn);
        if let Some(detail) = self.out_of_place(conn, &m) {
            return self.refuse(conn, RefuseReason::Protocol, detail, now);
        }
        match m {
            Message::Hello(h) => self.hello(conn, h, now),
            Message::Job(spec) if from_coordinator => self.start_job(conn, spec, now),
            Message::Task(t) if from_coordinator => self.task(conn, t, now),
            Message::Reassign(r) if from_coordinator => self.reassign(conn, r, now),
            Message::Cancel(c) if from_coordinator => self.cancel(c),
            Message::Adopt(a) if from_coordinator => self.adopt(conn, a, now),
            Message::Resend(r) if from_coordinator => self.resend_asked(conn, r, now),
            Message::Partition(bulk) => self.partition(conn, bulk, now),
            Message::PartitionAck(ack) => self.acknowledged(ack, now),
            Message::Copy(bulk) => self.keep_copy(conn, bulk, now),
            Message::Kept(kept) => self.copy_kept(kept, now),
            Message::Reduce(r) if from_coordinator => self.reduce(conn, r, now),
            Message::JobEnd(j) if from_coordinator => self.end_job(j.job),
            Message::Refused(r) => {
                self.log(format!("refused by a peer ({:?}): {}", r.reason, r.detail));
                self.actions.push_back(Action::Close(conn));
            }
            other => self.refuse(
                conn,
                RefuseReason::Protocol,
                format!("unexpected message {:?}", other.kind().name()),
                now,
            ),
        }
    }

    /// CPU work finished.
    pub fn complete(&mut self, done: Completion, now: Instant) {
        match done {
            Completion::Mapped {
                job,
                task,
                attempt,
                micros,
                result,
            } => self.mapped(job, (task, attempt), micros, result, now),
            Completion::Merged {
                job,
                from,
                head,
                result,
            } => self.merged(job, from, head, result, now),
            Completion::Ranked { job, frames } => self.ranked(job, frames, now),
            Completion::Spilled {
                job,
                offsets,
                result,
            } => self.spilled(job, &offsets, result, now),
            Completion::Loaded {
                job,
                task,
                attempt,
                then,
                frames,
            } => self.loaded(job, (task, attempt), then, frames, now),
        }
    }

    pub(super) fn fail_task(
        &mut self,
        job: JobId,
        task: TaskId,
        attempt: Attempt,
        failure: Failure,
        message: String,
    ) {
        let failed = TaskFailed {
            job,
            task,
            attempt,
            failure,
            message,
        };
        self.report(encode(&failed));
    }

    pub(super) fn report(&mut self, frame: Result<Vec<u8>, ProtocolError>) {
        match self.coordinator {
            Some(c) => self.send_encoded(Dest::Conn(c), frame),
            None => self.log("no coordinator to report to; message dropped".into()),
        }
    }

    pub(super) fn send_encoded(&mut self, dest: Dest, frame: Result<Vec<u8>, ProtocolError>) {
        match frame {
            Ok(f) => self.actions.push_back(Action::Send(dest, Outgoing::new(f))),
            Err(e) => self.log(format!("cannot encode a message: {e}")),
        }
    }

    pub(super) fn log(&mut self, line: String) {
        self.actions.push_back(Action::Log(line));
    }
}

pub(crate) fn micros(d: std::time::Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}
