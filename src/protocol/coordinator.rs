//! The coordinator's protocol logic, as a state machine with no sockets, threads or clock.
//!
//! Phases: greet every worker of the machines list (those that cannot be reached are left
//! out, with a warning), send the job description (R partitions, owner of partition `p` is
//! worker `p mod W`, the partition function named), hand out map tasks dynamically — a
//! worker gets its next file when it has a free slot, so faster machines do more — then,
//! once every task is done (its partitions acknowledged by their reducers), ask every
//! worker to reduce, and collect the ranked partitions. The driver merges them into the
//! output (see [`crate::dist::merge`]).
//!
//! Failures: an input no worker can read, or a damaged input under the strict policy,
//! fails the job with the first such file in input order, as `wetmr count` does. A worker
//! lost after the job started (connection closed, or silent past the heartbeat timeout) is
//! recovered from: the tasks it was running run again, its partitions move to live workers
//! (heirs adopt them first, then everyone gets the new owners and sends its outputs for
//! them again), and reports made under an older assignment (epoch) are followed by a
//! resend of what moved since. Each worker has a buddy that keeps copies of what its tasks
//! produced for the worker's own partitions: the lost worker's finished tasks are sent to
//! the new owners from those copies, and run again only when the copies are gone too. The
//! job fails only when no worker is left.

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;

use super::codec::{self, decode, encode, encode_job_ref, path_to_bytes, Kind, Message, Wire};
use super::messages::{
    self as msg, Failure, FileSummary, JobSpec, PartitionHash, Role, Task, WorkerFigures,
};
use crate::engine::{Policy, Skipped};
use crate::error::Offset;
use crate::net::frame::{Frame, Outgoing, Payload};
use crate::tokenize::TokenizerKind;
use std::time::{Duration, Instant};

/// What to count, and how to cut the job.
#[derive(Debug, Clone)]
pub struct JobConfig {
    pub job: u64,
    pub tokenizer: TokenizerKind,
    pub policy: Policy,
    pub split_bytes: Option<usize>,
    pub spill_at: usize,
    pub min_count: u64,
    pub top: Option<usize>,
    /// R; `None`: [`PARTITIONS_PER_WORKER`] per worker.
    pub partitions: Option<u32>,
    /// How often workers send a Heartbeat, and how long a worker may stay silent before
    /// it is declared lost.
    pub heartbeat_interval: Duration,
    pub heartbeat_timeout: Duration,
    /// Run backup copies of the last running tasks on idle workers.
    pub backup_tasks: bool,
    /// How workers fetch URL tasks.
    pub downloads: crate::protocol::messages::DownloadSpec,
    /// Where workers fetch the other tasks' files, when the coordinator serves them.
    pub served: Option<crate::protocol::messages::ServedInputs>,
}

pub use super::messages::MAX_PARTITIONS;

/// Default number of partitions per worker: several, so that reduce work spreads over a
/// worker's threads and the k-way merge stays small.
pub const PARTITIONS_PER_WORKER: u32 = 4;

/// How often, in heartbeat intervals, the coordinator tries again to reach a listed worker
/// that is not in the job.
pub const REJOIN_AFTER_INTERVALS: u32 = 2;

/// Runs of a task lost with their worker after which the job gives up on it (a file that
/// kills workers would otherwise go round every worker as they restart). A worker taken
/// over as a straggler, or leaving over its spill file, does not count: neither says
/// anything about the task.
pub const MAX_LOST_RUNS: u32 = 3;

/// With backup tasks on, the heartbeats a worker may miss once the job waits on its last
/// tasks (see [`Coordinator::tick`]).
pub const SUSPECT_AFTER_INTERVALS: u32 = 4;

/// Threads or slots a worker may claim in its Welcome, at most.
pub const MAX_WORKER_THREADS: u32 = 1 << 16;

/// What the driver must do.
#[derive(Debug)]
pub enum Action {
    /// Open a connection to worker `w` (index in the machines list) again, and report it
    /// with [`Coordinator::connected`] or [`Coordinator::lost`]: a worker not in the job
    /// (lost, or never reached) may join it.
    Connect(usize),
    /// Send a frame to worker `w` (index in the machines list).
    Send(usize, Outgoing),
    /// Close the connection to worker `w` (after what is queued).
    Close(usize),
    Log(String),
    /// The job is over, one way or the other. Nothing follows.
    Finished(Box<Result<JobOutput, JobError>>),
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// An input failed the job (the message names the file).
    #[error("{0}")]
    Input(String),
    #[error("no worker took the job: {0}")]
    NoWorkers(String),
    #[error("worker {addr}: {reason}")]
    Worker { addr: String, reason: String },
    /// Tasks are left and nothing runs, but every slot is held by a stalled map.
    #[error(
        "{0} tasks left and no worker can take them: every slot is held by a map that made \
         no progress (see the lines above)"
    )]
    Stuck(usize),
}

/// A finished job's results.
#[derive(Debug)]
pub struct JobOutput {
    /// One entry per input, in input order.
    pub files: Vec<FileOutcome>,
    /// Per partition, its Ranked payloads in order (each checked on receipt).
    pub ranked: Vec<Vec<Payload>>,
    pub distinct: u64,
    pub partitions: u32,
    pub workers: Vec<WorkerReport>,
    pub recovery: Recovery,
}

/// What failures cost a job.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Recovery {
    pub workers_lost: u64,
    /// Tasks run again because the worker running them, or keeping their outputs, was lost.
    pub tasks_reexecuted: u64,
    pub partitions_moved: u64,
    /// Requests to send finished tasks' outputs again, and the bytes sent.
    pub resends: u64,
    pub bytes_resent: u64,
    /// Backup copies of slow tasks started, and those that counted their file first (or
    /// finished the task first, when both copies had counted it).
    pub backups_launched: u64,
    pub backups_won: u64,
    /// Workers that joined the running job (restarted, or started late).
    pub workers_joined: u64,
    /// Finished tasks of lost workers sent to the new owners from their buddies' copies
    /// instead of running again.
    pub tasks_from_copies: u64,
}

/// A file's figures, or why it was skipped (no worker could read it, skip policy).
#[derive(Debug, Clone)]
pub enum FileOutcome {
    Counted(FileSummary),
    Unreadable(Skipped),
}

/// One worker's share of the job, for the stats document.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WorkerReport {
    pub address: String,
    /// False when it could not be reached (or turned the job away) and was left out.
    pub took_part: bool,
    pub threads: u32,
    pub slots: u32,
    pub partitions_owned: u32,
    pub tasks: u64,
    pub bytes_in: u64,
    pub records: u64,
    pub shuffle_bytes_sent: u64,
    pub shuffle_bytes_received: u64,
    /// Partition bytes for partitions it owns itself (never sent).
    pub shuffle_bytes_kept: u64,
    /// Bytes of the copies of those pushed to its buddy.
    pub shuffle_bytes_copied: u64,
    /// Kept map outputs (its own, and copies kept as a buddy) written to its spill file
    /// beyond its memory budget, as reported with its reduce.
    pub kept_bytes_spilled: u64,
    pub duplicates_ignored: u64,
    /// Messages it refused as invalid and connections it closed for what their peer did,
    /// as reported with its reduce.
    pub refused: u64,
    /// Sums over its tasks (map and shuffle overlap between tasks).
    pub map_seconds: f64,
    pub shuffle_seconds: f64,
    pub reduce_seconds: f64,
    /// Why it was lost during the job, if it was (the last time).
    pub lost: Option<String>,
    /// Times it joined the job while it ran (after a restart, or started late).
    pub joined: u32,
}

#[derive(Debug, Clone, PartialEq)]
enum Link {
    Connecting,
    Greeted,
    /// Joining a running job: answered, waiting for a reassignment to complete.
    Welcomed,
    Ready,
    Gone(String),
}

#[derive(Debug)]
struct WorkerEntry {
    link: Link,
    running: u32,
    report: WorkerReport,
    /// Its index in the job's worker list, once the job is sent.
    index: Option<u32>,
    /// It answered the job description (JobReady).
    answered: bool,
    /// Reduces sent to it whose ReduceDone has not come yet (a second one names the
    /// partitions it inherited while it ranked its own).
    reducing: u32,
    /// Once the job runs, for a worker outside it: when to try to reach it again (gone),
    /// or when to stop waiting for its answer (connecting, greeted).
    retry_at: Option<Instant>,
}

#[derive(Debug)]
enum TaskState {
    Pending,
    /// Its first copy runs (a backup may run beside it).
    Running(Run),
    Done(FileOutcome),
    Failed,
}

/// One copy of a task handed to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    worker: usize,
    attempt: u32,
    /// Its file is counted (Mapped): it no longer holds one of the worker's slots, only
    /// waits for its partitions to be acknowledged.
    mapped: bool,
}

impl Run {
    fn new(worker: usize, attempt: u32) -> Run {
        Run {
            worker,
            attempt,
            mapped: false,
        }
    }

    fn is(&self, worker: usize, attempt: u32) -> bool {
        self.worker == worker && self.attempt == attempt
    }
}

#[derive(Debug)]
struct TaskEntry {
    path: PathBuf,
    state: TaskState,
    /// The worker that keeps the finished task's outputs: the one whose attempt finished
    /// it, or, once that one is lost, its buddy (which keeps copies of some of them).
    done_by: Option<usize>,
    /// The buddy of `done_by` that keeps copies of its outputs for its own partitions.
    copy_at: Option<usize>,
    /// Its outputs for moved partitions are being sent again.
    resending: bool,
    /// A backup copy running beside the first.
    backup: Option<Run>,
    /// Dispatch order of its current run (the oldest running task is backed up first).
    started: u64,
    attempts: u32,
    /// Workers that could not read the file.
    unreadable_on: Vec<usize>,
    /// Runs lost with their worker.
    lost_runs: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Preparing,
    Mapping,
    Reducing,
    Over,
}

/// See [`Coordinator::progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub counted: usize,
    pub done: usize,
    pub tasks: usize,
}

/// The tasks by where they stand, kept beside their entries so that scheduling never scans
/// them all: with a crawl's 90,000 tasks, a scan per event made the coordinator's work
/// quadratic (70,000 tasks took over 150 s of its CPU). Every change to a task's state or
/// `resending` flag is followed by [`Coordinator::refile`].
#[derive(Debug, Default)]
struct Filed {
    pending: BTreeSet<usize>,
    running: BTreeSet<usize>,
    resending: BTreeSet<usize>,
    done: BTreeSet<usize>,
}

impl Filed {
    /// A task still to finish before `cutoff`: pending, running, or sending again.
    fn open_before(&self, cutoff: usize) -> bool {
        [&self.pending, &self.running, &self.resending]
            .iter()
            .any(|set| set.first().is_some_and(|&t| t < cutoff))
    }
}

/// Puts `t` in `set` or takes it out.
fn file_in(set: &mut BTreeSet<usize>, t: usize, member: bool) {
    if member {
        set.insert(t);
    } else {
        set.remove(&t);
    }
}

/// The coordinator state machine (see the module docs).
#[derive(Debug)]
pub struct Coordinator {
    config: JobConfig,
    workers: Vec<WorkerEntry>,
    tasks: Vec<TaskEntry>,
    filed: Filed,
    phase: Phase,
    partitions: u32,
    /// Job worker index → machines-list index.
    live: Vec<usize>,
    /// Per partition: its Ranked pieces, whether the last one came, its distinct words.
    ranked: Vec<(Vec<Payload>, bool, u64)>,
    /// The owner (job worker index) of each partition.
    owners: Vec<u32>,
    /// The buddy (job worker index) of each job worker, if any.
    buddies: Vec<Option<u32>>,
    /// A Reduce naming the partition went out (to its current owner).
    requested: Vec<bool>,
    /// Reassignments so far, and the partitions each one moved.
    epoch: u32,
    moved_at: Vec<Vec<u32>>,
    /// A reassignment waiting for its heirs' Adopted: the epoch, the heirs still to
    /// answer, and every partition moved since the last completed reassignment.
    adopting: Option<(u32, Vec<usize>, Vec<u32>)>,
    /// When each worker was last heard from (any frame), once the job is out.
    last_heard: Vec<Option<Instant>>,
    /// Tasks dispatched so far (orders the running tasks by age).
    dispatched: u64,
    recovery: Recovery,
    /// The first failing task in input order, with its message.
    failure: Option<(usize, String)>,
    actions: VecDeque<Action>,
}

impl TaskEntry {
    /// Back to the queue: whatever it produced or was producing is lost.
    fn run_again(&mut self) {
        self.state = TaskState::Pending;
        self.done_by = None;
        self.copy_at = None;
        self.resending = false;
    }

    /// The copy `(worker, attempt)`, if it runs.
    fn run_mut(&mut self, worker: usize, attempt: u32) -> Option<&mut Run> {
        let first = match &mut self.state {
            TaskState::Running(run) => Some(run),
            _ => None,
        };
        first
            .into_iter()
            .chain(self.backup.as_mut())
            .find(|r| r.is(worker, attempt))
    }
}

impl Coordinator {
    /// A job over `paths` (expanded, non-empty) on the workers at `addresses`.
    pub fn new(config: JobConfig, addresses: Vec<String>, paths: Vec<PathBuf>) -> Coordinator {
        let workers = addresses
            .into_iter()
            .map(|address| WorkerEntry {
                link: Link::Connecting,
                running: 0,
                report: WorkerReport {
                    address,
                    ..WorkerReport::default()
                },
                index: None,
                answered: false,
                reducing: 0,
                retry_at: None,
            })
            .collect();
        let tasks: Vec<TaskEntry> = paths
            .into_iter()
            .map(|path| TaskEntry {
                path,
                state: TaskState::Pending,
                done_by: None,
                copy_at: None,
                resending: false,
                backup: None,
                started: 0,
                attempts: 0,
                unreadable_on: Vec::new(),
                lost_runs: 0,
            })
            .collect();
        let filed = Filed {
            pending: (0..tasks.len()).collect(),
            ..Filed::default()
        };
        Coordinator {
            config,
            workers,
            tasks,
            filed,
            phase: Phase::Connecting,
            partitions: 0,
            live: Vec::new(),
            ranked: Vec::new(),
            owners: Vec::new(),
            buddies: Vec::new(),
            requested: Vec::new(),
            epoch: 0,
            moved_at: Vec::new(),
            adopting: None,
            last_heard: Vec::new(),
            dispatched: 0,
            recovery: Recovery::default(),
            failure: None,
            actions: VecDeque::new(),
        }
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// How far the map phase is: tasks whose file is counted (mapped, their shuffle
    /// perhaps under way), tasks done (shuffled too), and all tasks.
    pub fn progress(&self) -> Progress {
        let mapped = |&&t: &&usize| match &self.tasks[t].state {
            TaskState::Running(run) => run.mapped || self.tasks[t].backup.is_some_and(|b| b.mapped),
            _ => false,
        };
        let done = self.filed.done.len();
        Progress {
            counted: done + self.filed.running.iter().filter(mapped).count(),
            done,
            tasks: self.tasks.len(),
        }
    }

    /// Files task `t` by its state after a change (see [`Filed`]).
    fn refile(&mut self, t: usize) {
        let entry = &self.tasks[t];
        let (pending, running, done) = match entry.state {
            TaskState::Pending => (true, false, false),
            TaskState::Running(_) => (false, true, false),
            TaskState::Done(_) => (false, false, true),
            TaskState::Failed => (false, false, false),
        };
        let resending = entry.resending;
        file_in(&mut self.filed.pending, t, pending);
        file_in(&mut self.filed.running, t, running);
        file_in(&mut self.filed.done, t, done);
        file_in(&mut self.filed.resending, t, resending);
    }

    /// The connection to worker `w` is up: greet it.
    pub fn connected(&mut self, w: usize) {
        let hello = msg::Hello {
            role: Role::Coordinator,
            job: self.config.job,
            worker: 0,
        };
        self.workers[w].link = Link::Greeted;
        self.send(w, &hello);
    }

    /// Worker `w` could not be reached, or its connection closed.
    pub fn lost(&mut self, w: usize, reason: &str) {
        self.lose(w, reason, false);
    }

    /// Worker `w` is out of the job. `blameless`: the loss says nothing about the tasks it
    /// ran (it was taken over as too slow for the job's tail, see
    /// [`Coordinator::allowed_silence`], or left over its own spill file), so they do not
    /// count toward [`MAX_LOST_RUNS`].
    fn lose(&mut self, w: usize, reason: &str, blameless: bool) {
        let entry = &mut self.workers[w];
        if matches!(entry.link, Link::Gone(_)) || self.phase == Phase::Over {
            return;
        }
        entry.link = Link::Gone(reason.to_string());
        entry.retry_at = None;
        let addr = entry.report.address.clone();
        if self.phase == Phase::Connecting {
            self.log(format!(
                "worker {addr}: {reason}; the job goes on without it"
            ));
            self.check_greetings();
        } else if entry.index.is_some() {
            self.recover(w, &addr, reason, blameless);
        }
        // Otherwise it was trying to join: it will be tried again.
    }

    /// The time allowed for greetings is over: workers that have not answered are left out.
    pub fn greeting_deadline_passed(&mut self, waited: std::time::Duration) {
        if self.phase != Phase::Connecting {
            return;
        }
        let late: Vec<usize> = (0..self.workers.len())
            .filter(|&w| matches!(self.workers[w].link, Link::Connecting | Link::Greeted))
            .collect();
        for w in late {
            self.actions.push_back(Action::Close(w));
            self.lost(
                w,
                &format!("no answer within {:.0} s", waited.as_secs_f64()),
            );
        }
    }

    /// Time passes: a worker of the job silent for longer than its allowed silence
    /// ([`Coordinator::allowed_silence`]) is declared lost (a hung or cut-off machine) and
    /// its connection closed.
    pub fn tick(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Connecting | Phase::Over) {
            return;
        }
        self.last_heard.resize(self.workers.len(), None);
        let (allowed, tail) = self.allowed_silence();
        for w in self.alive() {
            let heard = *self.last_heard[w].get_or_insert(now);
            let silent = now.saturating_duration_since(heard);
            if silent > allowed {
                self.actions.push_back(Action::Close(w));
                let reason = if tail {
                    format!(
                        "no heartbeat for {:.1} s while the job's last tasks wait on it \
                         (taken over as a straggler)",
                        silent.as_secs_f64()
                    )
                } else {
                    format!(
                        "silent for {:.1} s (heartbeat timeout)",
                        silent.as_secs_f64()
                    )
                };
                self.lose(w, &reason, tail);
            }
        }
        self.retry_outsiders(now);
    }

    /// The coordinator itself did not run for `stall` (it was stopped, its machine paused,
    /// or a turn took that long): its workers' silence is counted as if that time had
    /// not passed, since it could not hear them. (Their frames sent meanwhile wait in the
    /// sockets and are read before the next judgement.)
    pub fn stalled(&mut self, stall: Duration) {
        for heard in self.last_heard.iter_mut().flatten() {
            *heard += stall;
        }
        for entry in &mut self.workers {
            if let Some(at) = &mut entry.retry_at {
                *at += stall;
            }
        }
    }

    /// Listed workers outside the running job are tried again every
    /// [`REJOIN_AFTER_INTERVALS`] heartbeat intervals
    /// (a restarted or late worker joins); one that connects but does not answer within
    /// the heartbeat timeout is dropped until the next try.
    fn retry_outsiders(&mut self, now: Instant) {
        for w in 0..self.workers.len() {
            let entry = &mut self.workers[w];
            match entry.link {
                Link::Gone(_) => match entry.retry_at {
                    None => {
                        let every = self.config.heartbeat_interval * REJOIN_AFTER_INTERVALS;
                        entry.retry_at = Some(now + every);
                    }
                    Some(at) if at <= now => {
                        entry.link = Link::Connecting;
                        entry.retry_at = Some(now + self.config.heartbeat_timeout);
                        self.actions.push_back(Action::Connect(w));
                    }
                    Some(_) => {}
                },
                Link::Connecting | Link::Greeted if entry.retry_at.is_some_and(|at| at <= now) => {
                    self.actions.push_back(Action::Close(w));
                    self.lost(w, "no answer to a new greeting");
                }
                _ => {}
            }
        }
    }

    /// How long a worker may stay silent now, and whether that is the shorter tail limit.
    /// The heartbeat timeout, except with backup tasks on once no task is left to hand
    /// out: then the job's end waits on every worker (its running tasks, and its partitions
    /// as a reducer), so a worker that misses [`SUSPECT_AFTER_INTERVALS`] heartbeats is
    /// taken over at once, as MapReduce backs up its last tasks. Wrongly suspecting a slow
    /// worker costs only the work redone: exactly-once holds whatever it does afterwards.
    fn allowed_silence(&self) -> (Duration, bool) {
        let timeout = self.config.heartbeat_timeout;
        let tail = self.config.backup_tasks
            && match self.phase {
                Phase::Mapping => self.filed.pending.is_empty(),
                Phase::Reducing => true,
                _ => false,
            };
        let suspect = self.config.heartbeat_interval * SUSPECT_AFTER_INTERVALS;
        if tail && suspect < timeout {
            (suspect, true)
        } else {
            (timeout, false)
        }
    }

    /// When [`Coordinator::tick`] may have something to do, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        if matches!(self.phase, Phase::Connecting | Phase::Over) {
            return None;
        }
        let (allowed, _) = self.allowed_silence();
        let silence = self
            .alive()
            .into_iter()
            .filter_map(|w| self.last_heard.get(w).copied().flatten())
            .map(|t| t + allowed);
        let outsiders = self.workers.iter().filter_map(|e| match e.link {
            Link::Gone(_) | Link::Connecting | Link::Greeted => e.retry_at,
            _ => None,
        });
        // (A worker just gone gets its retry time at the tick that follows every event.)
        silence.chain(outsiders).min()
    }

    /// True until the job description has gone out.
    pub fn greeting(&self) -> bool {
        self.phase == Phase::Connecting
    }

    /// A frame arrived from worker `w`.
    pub fn frame(&mut self, w: usize, frame: Frame, now: Instant) {
        if let Some(heard) = self.last_heard.get_mut(w) {
            *heard = Some(now);
        }
        if self.phase == Phase::Over {
            return;
        }
        match decode(frame) {
            Ok(m) => self.message(w, m),
            Err(e) => self.protocol_error(w, e.to_string()),
        }
    }

    fn message(&mut self, w: usize, m: Message) {
        match (m, self.phase) {
            (Message::Welcome(welcome), _) if !plausible(&welcome) => {
                let what = format!(
                    "implausible Welcome ({} threads, {} slots)",
                    welcome.threads, welcome.slots
                );
                self.protocol_error(w, what);
            }
            (Message::Welcome(welcome), Phase::Connecting)
                if self.workers[w].link == Link::Greeted =>
            {
                let entry = &mut self.workers[w];
                entry.link = Link::Ready;
                entry.report.threads = welcome.threads;
                entry.report.slots = welcome.slots.max(1);
                self.check_greetings();
            }
            // A worker outside the running job answered a new greeting: it joins.
            (Message::Welcome(welcome), Phase::Preparing | Phase::Mapping | Phase::Reducing)
                if self.workers[w].link == Link::Greeted =>
            {
                let entry = &mut self.workers[w];
                entry.link = Link::Welcomed;
                entry.retry_at = None;
                entry.report.threads = welcome.threads;
                entry.report.slots = welcome.slots.max(1);
                self.admit_joiners();
            }
            // At the start, or from a worker trying to join (e.g. busy with another job).
            (Message::Refused(r), _)
                if self.phase == Phase::Connecting || self.workers[w].index.is_none() =>
            {
                let reason = format!("refused the job ({:?}): {}", r.reason, r.detail);
                self.actions.push_back(Action::Close(w));
                self.lost(w, &reason);
            }
            // A worker of the job that cannot go on with it.
            (Message::Refused(r), _) if r.reason == msg::RefuseReason::Leaving => {
                self.actions.push_back(Action::Close(w));
                self.lose(w, &format!("left the job: {}", r.detail), true);
            }
            (Message::JobReady(j), _)
                if j.job == self.config.job
                    && self.workers[w].index.is_some()
                    && !self.workers[w].answered =>
            {
                self.workers[w].answered = true;
                self.check_prepared();
            }
            (Message::Mapped(m), Phase::Mapping)
                if self.is_running_ids(m.job, m.task, m.attempt, w) =>
            {
                self.release_slot(m.task as usize, w, m.attempt);
                self.cancel_unmapped_copy(m.task as usize, w, m.attempt);
                self.advance();
            }
            (Message::Mapped(_), _) => {}
            (Message::TaskDone(done), Phase::Mapping) if self.is_running(&done, w) => {
                self.release_slot(done.task as usize, w, done.attempt);
                let r = &mut self.workers[w].report;
                r.tasks += 1;
                r.bytes_in += done.file.bytes_in;
                r.records += done.file.counters.records;
                r.shuffle_bytes_sent += done.shuffle_bytes;
                r.shuffle_bytes_kept += done.kept_bytes;
                r.shuffle_bytes_copied += done.copied_bytes;
                r.map_seconds += done.map_micros as f64 / 1e6;
                r.shuffle_seconds += done.shuffle_micros as f64 / 1e6;
                let task = done.task as usize;
                self.settle_copies(task, w, done.attempt);
                self.tasks[task].state = TaskState::Done(FileOutcome::Counted(done.file));
                self.tasks[task].done_by = Some(w);
                self.tasks[task].copy_at = done.copied_to.and_then(|i| self.current(i));
                self.refile(task);
                if done.epoch < self.epoch {
                    // Acknowledged (in part) by owners since lost: send the moved ones again.
                    self.request_resend(task, done.epoch);
                }
                self.advance();
            }
            (Message::TaskFailed(f), Phase::Mapping)
                if self.is_running_ids(f.job, f.task, f.attempt, w) =>
            {
                let task = f.task as usize;
                if f.failure != Failure::Stalled {
                    // (A stalled map still holds its thread: its slot stays taken.)
                    self.release_slot(task, w, f.attempt);
                }
                let other = self.drop_copy(task, w, f.attempt);
                if other && matches!(f.failure, Failure::Unreadable | Failure::Stalled) {
                    // The other copy goes on; this worker cannot read the file.
                    self.tasks[task].unreadable_on.push(w);
                } else {
                    self.task_failed(w, f);
                    self.refile(task);
                }
                self.advance();
            }
            // A report on a task that is not running there with that attempt: a repeated
            // or duplicated task. Its data was applied once at most; the report is stale.
            (Message::TaskDone(msg::TaskDone { task, attempt, .. }), _)
            | (Message::TaskFailed(msg::TaskFailed { task, attempt, .. }), _) => {
                let addr = &self.workers[w].report.address;
                self.log(format!(
                    "worker {addr}: stale report on task {task} attempt {attempt}, ignored"
                ));
            }
            (Message::Resent(r), _)
                if r.job == self.config.job
                    && self
                        .tasks
                        .get(r.task as usize)
                        .is_some_and(|t| t.resending && t.done_by == Some(w)) =>
            {
                self.recovery.bytes_resent += r.bytes;
                let task = r.task as usize;
                if !r.lacking.is_empty() {
                    // It held copies of only some of the task's outputs: run it again.
                    let addr = &self.workers[w].report.address;
                    self.log(format!(
                        "task {task}: worker {addr} keeps no output for {} moved partitions; \
                         it runs again",
                        r.lacking.len()
                    ));
                    self.tasks[task].run_again();
                    self.refile(task);
                    self.recovery.tasks_reexecuted += 1;
                    self.advance();
                } else if r.epoch < self.epoch {
                    self.request_resend(task, r.epoch);
                } else {
                    self.tasks[task].resending = false;
                    self.refile(task);
                    self.advance();
                }
            }
            (Message::Resent(_), _) | (Message::Heartbeat(_), _) => {}
            (Message::Adopted(a), _) if a.job == self.config.job => {
                if let Some((epoch, waiting, _)) = &mut self.adopting {
                    if *epoch == a.epoch {
                        waiting.retain(|&h| h != w);
                        if waiting.is_empty() {
                            self.reassign_all();
                        }
                    }
                }
            }
            // Pieces and ReduceDone may arrive while moved partitions are rebuilt.
            (Message::Ranked(bulk), _) if self.workers[w].reducing > 0 => self.ranked(w, bulk),
            (Message::ReduceDone(done), _)
                if done.job == self.config.job && self.workers[w].reducing > 0 =>
            {
                self.workers[w].reducing -= 1;
                self.absorb_figures(w, &done.figures);
                self.check_reduced();
            }
            (other, _) => {
                let what = format!("unexpected {} message", other.kind().name());
                self.protocol_error(w, what)
            }
        }
    }

    /// All workers answered (or are gone): send the job to those that took part.
    fn check_greetings(&mut self) {
        if self
            .workers
            .iter()
            .any(|e| matches!(e.link, Link::Connecting | Link::Greeted))
        {
            return;
        }
        self.live = (0..self.workers.len())
            .filter(|&w| self.workers[w].link == Link::Ready)
            .collect();
        if self.live.is_empty() {
            let reasons: Vec<String> = self
                .workers
                .iter()
                .map(|e| match &e.link {
                    Link::Gone(r) => format!("{}: {r}", e.report.address),
                    _ => e.report.address.clone(),
                })
                .collect();
            return self.finish(Err(JobError::NoWorkers(reasons.join("; "))));
        }
        let n = self.live.len() as u32;
        self.partitions = self
            .config
            .partitions
            .unwrap_or(PARTITIONS_PER_WORKER * n)
            .clamp(1, MAX_PARTITIONS);
        self.ranked = (0..self.partitions)
            .map(|_| (Vec::new(), false, 0))
            .collect();
        self.owners = (0..self.partitions).map(|p| p % n).collect();
        self.buddies = (0..n)
            .map(|i| Some((i + 1) % n).filter(|&b| b != i))
            .collect();
        self.requested = vec![false; self.partitions as usize];
        for (i, &w) in self.live.clone().iter().enumerate() {
            self.send_job(w, i as u32);
        }
        self.log(format!(
            "job {:016x}: {} file{} on {} worker{}, R = {} partitions ({})",
            self.config.job,
            self.tasks.len(),
            if self.tasks.len() == 1 { "" } else { "s" },
            self.live.len(),
            if self.live.len() == 1 { "" } else { "s" },
            self.partitions,
            crate::partition::PARTITION_HASH
        ));
        self.phase = Phase::Preparing;
    }

    /// Makes worker `w` the job's worker `index` (listed in `live` already) and sends it
    /// the job description, with the current owners table.
    fn send_job(&mut self, w: usize, index: u32) {
        let spec = JobSpec {
            job: self.config.job,
            tokenizer: self.config.tokenizer,
            policy: self.config.policy,
            split_bytes: self.config.split_bytes.map(|b| b as u64),
            spill_at: self.config.spill_at as u64,
            hash: PartitionHash::Xxh3Seed0Mod,
            partitions: self.partitions,
            workers: self.members(),
            you: index,
            owners: self.owners.clone(),
            epoch: self.epoch,
            buddy: self.buddy_of(index),
            heartbeat_ms: self
                .config
                .heartbeat_interval
                .as_millis()
                .clamp(1, u32::MAX as u128) as u32,
            tasks: self.tasks.len() as u32,
            downloads: self.config.downloads.clone(),
            served: self.config.served.clone(),
        };
        let entry = &mut self.workers[w];
        entry.index = Some(index);
        entry.answered = false;
        entry.running = 0;
        entry.reducing = 0;
        entry.report.took_part = true;
        entry.report.partitions_owned = self.owners.iter().filter(|&&o| o == index).count() as u32;
        self.send(w, &spec);
    }

    /// The machine that is the job's worker `index` now, if it is alive.
    fn current(&self, index: u32) -> Option<usize> {
        let w = *self.live.get(index as usize)?;
        let entry = &self.workers[w];
        (entry.index == Some(index) && entry.link == Link::Ready).then_some(w)
    }

    /// The buddy of the job's worker `index`, if it has one.
    fn buddy_of(&self, index: u32) -> Option<u32> {
        self.buddies.get(index as usize).copied().flatten()
    }

    /// A buddy for the job's worker `index`: the next live worker after it, in index
    /// order, wrapping around.
    fn pick_buddy(&self, index: u32) -> Option<u32> {
        let mut alive: Vec<u32> = self
            .alive()
            .into_iter()
            .filter_map(|w| self.workers[w].index)
            .filter(|&i| i != index)
            .collect();
        alive.sort_unstable();
        alive
            .iter()
            .copied()
            .find(|&i| i > index)
            .or(alive.first().copied())
    }

    /// The job's workers' addresses, by job index (lost ones included: indices stay).
    fn members(&self) -> Vec<String> {
        self.live
            .iter()
            .map(|&w| self.workers[w].report.address.clone())
            .collect()
    }

    /// Workers that answered a new greeting join the job, unless a reassignment is under
    /// way (they would miss its Adopt): then they join when it completes. A joiner owns
    /// no partition at first; it takes tasks, and may inherit partitions later.
    fn admit_joiners(&mut self) {
        if self.adopting.is_some() {
            return;
        }
        let waiting: Vec<usize> = (0..self.workers.len())
            .filter(|&w| self.workers[w].link == Link::Welcomed)
            .collect();
        for w in waiting {
            let index = self.live.len() as u32;
            let buddy = self.pick_buddy(index);
            self.buddies.push(buddy);
            self.live.push(w);
            self.workers[w].link = Link::Ready;
            self.workers[w].report.joined += 1;
            self.recovery.workers_joined += 1;
            if let Some(heard) = self.last_heard.get_mut(w) {
                *heard = None;
            }
            let addr = self.workers[w].report.address.clone();
            self.log(format!("worker {addr} joined the job (worker #{index})"));
            self.send_job(w, index);
            if self.phase == Phase::Mapping {
                self.dispatch();
            }
        }
    }

    fn is_running(&self, done: &msg::TaskDone, w: usize) -> bool {
        self.is_running_ids(done.job, done.task, done.attempt, w)
    }

    fn is_running_ids(&self, job: u64, task: u32, attempt: u32, w: usize) -> bool {
        let Some(t) = self.tasks.get(task as usize) else {
            return false;
        };
        let first = matches!(t.state, TaskState::Running(run) if run.is(w, attempt));
        job == self.config.job && (first || t.backup.is_some_and(|b| b.is(w, attempt)))
    }

    /// The copy `(w, attempt)` of `task` no longer needs a slot of its worker (its file is
    /// counted, or it finished or failed): the slot is free, if the copy still held it.
    fn release_slot(&mut self, task: usize, w: usize, attempt: u32) {
        let held = self.tasks[task]
            .run_mut(w, attempt)
            .is_some_and(|run| !std::mem::replace(&mut run.mapped, true));
        if held {
            self.free_slot(w);
        }
    }

    fn free_slot(&mut self, w: usize) {
        let entry = &mut self.workers[w];
        entry.running = entry.running.saturating_sub(1);
    }

    fn task_failed(&mut self, w: usize, f: msg::TaskFailed) {
        let task = f.task as usize;
        let addr = self.workers[w].report.address.clone();
        self.log(format!(
            "task {task} failed on worker {addr} ({:?}): {}",
            f.failure, f.message
        ));
        let alive = self.alive();
        let entry = &mut self.tasks[task];
        if matches!(f.failure, Failure::Unreadable | Failure::Stalled) {
            entry.unreadable_on.push(w);
            if alive.iter().any(|l| !entry.unreadable_on.contains(l)) {
                entry.state = TaskState::Pending;
                return;
            }
            let message = format!("{} (on every worker; last on {addr})", f.message);
            if self.config.policy == Policy::Skip {
                entry.state = TaskState::Done(FileOutcome::Unreadable(Skipped {
                    at: Offset::Plain { offset: 0 },
                    what: message,
                    bytes: 0,
                }));
                return;
            }
            entry.state = TaskState::Failed;
            self.set_failure(task, message);
        } else {
            entry.state = TaskState::Failed;
            self.set_failure(task, f.message);
        }
    }

    fn set_failure(&mut self, task: usize, message: String) {
        if !matches!(&self.failure, Some((t, _)) if *t <= task) {
            self.failure = Some((task, message));
        }
    }

    /// After a task changed state: hand out more, fail, or start the reduce.
    fn advance(&mut self) {
        let cutoff = self.failure.as_ref().map_or(self.tasks.len(), |f| f.0);
        let open_before_cutoff = self.filed.open_before(cutoff);
        if let Some((_, message)) = &self.failure {
            if !open_before_cutoff {
                return self.finish(Err(JobError::Input(message.clone())));
            }
        } else if !open_before_cutoff && self.adopting.is_none() {
            return self.start_reduce();
        }
        self.dispatch();
        // Nothing runs and nothing can start: the only slots taken are stalled maps'.
        let stuck = self.phase == Phase::Mapping
            && self.filed.running.is_empty()
            && self.filed.resending.is_empty()
            && self.adopting.is_none()
            && self.filed.pending.range(..cutoff).next().is_some()
            && self
                .alive()
                .iter()
                .all(|&w| self.workers[w].running >= self.workers[w].report.slots);
        if stuck {
            let waiting = self.filed.pending.range(..cutoff).count();
            self.finish(Err(JobError::Stuck(waiting)));
        }
    }

    /// Gives pending tasks, in input order, to workers with free slots (the one with the
    /// most free slots first), skipping workers known not to read a file. Each task handed
    /// out costs O(log n + W); it stops as soon as no slot is free.
    fn dispatch(&mut self) {
        let cutoff = self.failure.as_ref().map_or(self.tasks.len(), |f| f.0);
        let alive = self.alive();
        let mut next = self.filed.pending.range(..cutoff).next().copied();
        while let Some(t) = next {
            next = self.filed.pending.range(t + 1..cutoff).next().copied();
            let free = |w: &usize| self.workers[*w].running < self.workers[*w].report.slots;
            if !alive.iter().any(free) {
                break;
            }
            let best = alive
                .iter()
                .copied()
                .filter(|w| !self.tasks[t].unreadable_on.contains(w))
                .filter(free)
                .max_by_key(|&w| {
                    let e = &self.workers[w];
                    (e.report.slots - e.running, std::cmp::Reverse(w))
                });
            let Some(w) = best else { continue };
            let entry = &mut self.tasks[t];
            entry.attempts += 1;
            let task = Task {
                job: self.config.job,
                task: t as u32,
                attempt: entry.attempts,
                path: path_to_bytes(&entry.path),
            };
            entry.state = TaskState::Running(Run::new(w, entry.attempts));
            entry.backup = None;
            self.dispatched += 1;
            entry.started = self.dispatched;
            self.refile(t);
            self.workers[w].running += 1;
            if !self.send(w, &task) {
                return;
            }
        }
        if self.config.backup_tasks {
            self.launch_backups(cutoff);
        }
    }

    /// When no task is left to hand out, idle slots run backup copies of the oldest
    /// running tasks (a straggler's); the first copy to finish wins (MapReduce's backup
    /// tasks). Each task has at most one backup, never on the worker of the first copy,
    /// and none once its file is counted (only its shuffle is left: a copy would wait on
    /// the same reducers).
    fn launch_backups(&mut self, cutoff: usize) {
        if self.filed.pending.range(..cutoff).next().is_some() {
            return;
        }
        let mut running: Vec<usize> = (self.filed.running.range(..cutoff).copied())
            .filter(|&t| {
                matches!(self.tasks[t].state, TaskState::Running(run) if !run.mapped)
                    && self.tasks[t].backup.is_none()
            })
            .collect();
        running.sort_by_key(|&t| self.tasks[t].started);
        for t in running {
            let TaskState::Running(Run { worker: first, .. }) = self.tasks[t].state else {
                continue;
            };
            let idle = self
                .alive()
                .into_iter()
                .filter(|&w| w != first && !self.tasks[t].unreadable_on.contains(&w))
                .find(|&w| self.workers[w].running < self.workers[w].report.slots);
            let Some(w) = idle else { return };
            let entry = &mut self.tasks[t];
            entry.attempts += 1;
            entry.backup = Some(Run::new(w, entry.attempts));
            let task = Task {
                job: self.config.job,
                task: t as u32,
                attempt: entry.attempts,
                path: path_to_bytes(&entry.path),
            };
            self.workers[w].running += 1;
            self.recovery.backups_launched += 1;
            let addr = self.workers[w].report.address.clone();
            self.log(format!("task {t}: backup copy on worker {addr}"));
            if !self.send(w, &task) {
                return;
            }
        }
    }

    /// Copy `(w, attempt)` of `task` has counted its file: the other copy, if it is still
    /// mapping, could only count it again, so it is cancelled (its worker abandons the map
    /// and frees the slot) and the mapped copy goes on alone. Two copies that have both
    /// mapped are settled at the first TaskDone ([`Coordinator::settle_copies`]).
    fn cancel_unmapped_copy(&mut self, task: usize, w: usize, attempt: u32) {
        let entry = &mut self.tasks[task];
        let (&TaskState::Running(first), Some(backup)) = (&entry.state, entry.backup) else {
            return;
        };
        let (winner, other) = if backup.is(w, attempt) {
            (backup, first)
        } else {
            (first, backup)
        };
        if other.mapped {
            return;
        }
        entry.state = TaskState::Running(winner);
        entry.backup = None;
        if winner == backup {
            self.recovery.backups_won += 1;
        }
        self.free_slot(other.worker);
        self.cancel(task, other.worker, other.attempt);
    }

    fn cancel(&mut self, task: usize, w: usize, attempt: u32) {
        let cancel = msg::Cancel {
            job: self.config.job,
            task: task as u32,
            attempt,
        };
        self.send(w, &cancel);
    }

    /// Queues `message` for worker `w`. One that cannot be encoded (over the frame size
    /// limit) fails the job; returns whether it was queued.
    fn send<T: Wire>(&mut self, w: usize, message: &T) -> bool {
        match encode(message) {
            Ok(frame) => {
                self.actions
                    .push_back(Action::Send(w, Outgoing::new(frame)));
                true
            }
            Err(e) => {
                self.finish(Err(JobError::Input(e.to_string())));
                false
            }
        }
    }

    /// Task `task` finished on `(w, attempt)`: cancel the other copy, if any.
    fn settle_copies(&mut self, task: usize, w: usize, attempt: u32) {
        let entry = &mut self.tasks[task];
        let first = match entry.state {
            TaskState::Running(run) => Some(run),
            _ => None,
        };
        let backup = entry.backup.take();
        if backup.is_some_and(|b| b.is(w, attempt)) {
            self.recovery.backups_won += 1;
        }
        for run in [first, backup].into_iter().flatten() {
            if run.is(w, attempt) {
                continue;
            }
            if !run.mapped {
                self.free_slot(run.worker);
            }
            self.cancel(task, run.worker, run.attempt);
        }
    }

    /// Copy `(w, attempt)` of `task` failed: forget it. Returns whether another copy runs.
    fn drop_copy(&mut self, task: usize, w: usize, attempt: u32) -> bool {
        let entry = &mut self.tasks[task];
        if entry.backup.is_some_and(|b| b.is(w, attempt)) {
            entry.backup = None;
            return true;
        }
        if let Some(backup) = entry.backup.take() {
            entry.state = TaskState::Running(backup);
            return true;
        }
        false
    }

    /// Asks each live worker to rank the partitions it owns that are not complete yet
    /// (all of them the first time; after a loss, those that moved).
    fn start_reduce(&mut self) {
        self.phase = Phase::Reducing;
        for w in self.alive() {
            let Some(index) = self.workers[w].index else {
                continue;
            };
            let partitions: Vec<u32> = (0..self.partitions)
                .filter(|&p| {
                    let p = p as usize;
                    self.owners[p] == index && !self.ranked[p].1 && !self.requested[p]
                })
                .collect();
            if partitions.is_empty() {
                continue;
            }
            for &p in &partitions {
                self.requested[p as usize] = true;
            }
            let reduce = msg::Reduce {
                job: self.config.job,
                partitions,
                min_count: self.config.min_count,
                top: self.config.top.map(|k| k as u64),
            };
            if !self.send(w, &reduce) {
                return;
            }
            self.workers[w].reducing += 1;
        }
        self.check_reduced();
    }

    /// Every partition complete and no Reduce outstanding: the job is done.
    fn check_reduced(&mut self) {
        let waiting = self.workers.iter().any(|e| e.reducing > 0);
        if self.phase == Phase::Reducing && !waiting && self.ranked.iter().all(|r| r.1) {
            self.reduced();
        }
    }

    /// Every live worker answered the job description: hand out tasks.
    fn check_prepared(&mut self) {
        if self.phase == Phase::Preparing && self.alive().iter().all(|&l| self.workers[l].answered)
        {
            self.phase = Phase::Mapping;
            self.advance();
        }
    }

    /// The workers of the job still alive (machines-list indices).
    fn alive(&self) -> Vec<usize> {
        // A worker that joined again appears under its old index too: only its current
        // index counts.
        self.live
            .iter()
            .enumerate()
            .filter(|&(i, &w)| {
                self.workers[w].index == Some(i as u32) && self.workers[w].link == Link::Ready
            })
            .map(|(_, &w)| w)
            .collect()
    }

    /// Second step of a reassignment: every live worker gets the owners table and sends
    /// again what it produced for the moved partitions.
    fn reassign_all(&mut self) {
        let Some((epoch, _, moved)) = self.adopting.take() else {
            return;
        };
        for v in self.alive() {
            let resend: Vec<u32> = (0..self.tasks.len())
                .filter(|&t| {
                    matches!(
                        self.tasks[t].state,
                        TaskState::Done(FileOutcome::Counted(_))
                    ) && self.tasks[t].done_by == Some(v)
                })
                .map(|t| t as u32)
                .collect();
            for &t in &resend {
                self.tasks[t as usize].resending = true;
                self.refile(t as usize);
            }
            self.recovery.resends += resend.len() as u64;
            let buddy = self.workers[v].index.and_then(|i| self.buddy_of(i));
            let reassign = msg::Reassign {
                job: self.config.job,
                epoch,
                owners: self.owners.clone(),
                workers: self.members(),
                moved: moved.clone(),
                resend,
                buddy,
            };
            self.send(v, &reassign);
        }
        self.admit_joiners();
        self.advance();
    }

    /// Asks the worker that finished `task` to send its outputs again for the partitions
    /// moved after `epoch`.
    fn request_resend(&mut self, task: usize, epoch: u32) {
        let mut partitions: Vec<u32> = self.moved_at[epoch as usize..].concat();
        partitions.sort_unstable();
        partitions.dedup();
        let Some(w) = self.tasks[task].done_by else {
            return;
        };
        self.tasks[task].resending = true;
        self.refile(task);
        self.recovery.resends += 1;
        let resend = msg::Resend {
            job: self.config.job,
            task: task as u32,
            partitions,
        };
        self.send(w, &resend);
    }

    /// Worker `w` was lost after the job started: its running tasks run again elsewhere,
    /// its partitions move to live workers (round robin), and every live worker sends its
    /// outputs for them again — the outputs of the lost worker's finished tasks from its
    /// buddy's copies, or, where those are gone too, by running the tasks again.
    fn recover(&mut self, w: usize, addr: &str, reason: &str, blameless: bool) {
        let Some(dead) = self.workers[w].index.take() else {
            return;
        };
        self.workers[w].reducing = 0;
        self.workers[w].running = 0;
        self.workers[w].report.lost = Some(reason.to_string());
        self.recovery.workers_lost += 1;
        let alive = self.alive();
        if alive.is_empty() {
            return self.finish(Err(JobError::Worker {
                addr: addr.to_string(),
                reason: format!("lost during the job ({reason}), and no live worker is left"),
            }));
        }
        let mut again = 0;
        let mut from_copies = 0;
        let mut give_up = None;
        for t in &mut self.tasks {
            if t.copy_at == Some(w) {
                t.copy_at = None;
            }
            let mut lost_output = matches!(t.state, TaskState::Done(_)) && t.done_by == Some(w);
            // The buddy's copies stand for the outputs the lost worker owned, not for
            // those it was still sending again to other new owners (resending).
            if lost_output && !t.resending {
                if let Some(b) = t.copy_at.take().filter(|b| alive.contains(b)) {
                    // The buddy sends its copies (asked with the reassignment below).
                    t.done_by = Some(b);
                    from_copies += 1;
                    lost_output = false;
                }
            }
            if t.backup.is_some_and(|b| b.worker == w) {
                t.backup = None;
            }
            let mut lost_run = matches!(t.state, TaskState::Running(run) if run.worker == w);
            if lost_run {
                if let Some(backup) = t.backup.take() {
                    t.state = TaskState::Running(backup);
                    lost_run = false;
                }
            }
            if lost_run && !blameless {
                t.lost_runs += 1;
                if t.lost_runs >= MAX_LOST_RUNS && self.failure.is_none() {
                    let path = crate::error::shown(&t.path);
                    give_up = Some(format!(
                        "{path}: its worker was lost on each of {MAX_LOST_RUNS} runs"
                    ));
                }
            }
            if lost_output || lost_run {
                t.run_again();
                again += 1;
            }
        }
        for t in 0..self.tasks.len() {
            self.refile(t);
        }
        self.recovery.tasks_reexecuted += again;
        self.recovery.tasks_from_copies += from_copies;
        if let Some(reason) = give_up {
            return self.finish(Err(JobError::Worker {
                addr: addr.to_string(),
                reason: format!("lost during the job ({reason}); giving up"),
            }));
        }
        let moved: Vec<u32> = (0..self.partitions)
            .filter(|&p| self.owners[p as usize] == dead)
            .collect();
        for (i, &p) in moved.iter().enumerate() {
            let heir = alive[i % alive.len()];
            self.owners[p as usize] = self.workers[heir].index.unwrap_or_default();
            let slot = &mut self.ranked[p as usize];
            if !slot.1 {
                // Pieces of a partition the lost worker had not finished sending.
                slot.0.clear();
                self.requested[p as usize] = false;
            }
        }
        self.recovery.partitions_moved += moved.len() as u64;
        self.epoch += 1;
        self.moved_at.push(moved.clone());
        for i in 0..self.buddies.len() as u32 {
            if self.buddies[i as usize] == Some(dead) && self.current(i).is_some() {
                self.buddies[i as usize] = self.pick_buddy(i);
            }
        }
        self.log(format!(
            "worker {addr} lost ({reason}); tasks to run again: {again}, sent from copies: \
             {from_copies}, partitions moved: {}",
            moved.len()
        ));
        // Heirs first (Adopt), everyone once they have answered (Reassign): nobody sends
        // a moved partition to a worker that does not know it owns it yet.
        let mut all_moved = self.adopting.take().map(|a| a.2).unwrap_or_default();
        all_moved.extend(moved);
        all_moved.sort_unstable();
        all_moved.dedup();
        let heirs: Vec<usize> = self
            .alive()
            .into_iter()
            .filter(|&v| {
                let index = self.workers[v].index;
                all_moved
                    .iter()
                    .any(|&p| Some(self.owners[p as usize]) == index)
            })
            .collect();
        let adopt = msg::Adopt {
            job: self.config.job,
            epoch: self.epoch,
            owners: self.owners.clone(),
            workers: self.members(),
        };
        for &h in &heirs {
            self.send(h, &adopt);
        }
        self.adopting = Some((self.epoch, heirs.clone(), all_moved));
        if heirs.is_empty() {
            self.reassign_all();
        }
        match self.phase {
            Phase::Preparing => self.check_prepared(),
            Phase::Reducing => {
                // Rebuild the moved partitions, then ask their new owners to rank them.
                self.phase = Phase::Mapping;
                self.advance();
            }
            _ => self.advance(),
        }
    }

    fn ranked(&mut self, w: usize, bulk: codec::Bulk<codec::RankedHead>) {
        let head = bulk.head;
        let p = head.partition as usize;
        let valid = head.job == self.config.job
            && p < self.ranked.len()
            && self.workers[w].index == Some(self.owners[p])
            && self.requested[p]
            && !self.ranked[p].1;
        if !valid {
            return self.protocol_error(w, format!("unexpected Ranked piece {head:?}"));
        }
        if let Err(e) = codec::bulk_words(Kind::Ranked, &bulk.payload) {
            return self.protocol_error(w, e.to_string());
        }
        let slot = &mut self.ranked[head.partition as usize];
        slot.0.push(bulk.payload);
        if head.last {
            slot.1 = true;
            slot.2 = head.distinct;
        }
    }

    fn absorb_figures(&mut self, w: usize, f: &WorkerFigures) {
        let r = &mut self.workers[w].report;
        r.shuffle_bytes_received = f.shuffle_bytes_received;
        r.duplicates_ignored = f.duplicates_ignored;
        r.refused = f.refused;
        r.kept_bytes_spilled = f.kept_bytes_spilled;
        r.reduce_seconds = f.reduce_micros as f64 / 1e6;
    }

    fn reduced(&mut self) {
        let files = self
            .tasks
            .iter_mut()
            .map(
                |t| match std::mem::replace(&mut t.state, TaskState::Pending) {
                    TaskState::Done(outcome) => outcome,
                    // Unreachable: the reduce starts only when every task is done.
                    _ => FileOutcome::Unreadable(Skipped {
                        at: Offset::Plain { offset: 0 },
                        what: "not counted".into(),
                        bytes: 0,
                    }),
                },
            )
            .collect();
        let distinct = self.ranked.iter().map(|r| r.2).sum();
        let output = JobOutput {
            files,
            ranked: std::mem::take(&mut self.ranked)
                .into_iter()
                .map(|r| r.0)
                .collect(),
            distinct,
            partitions: self.partitions,
            workers: self.workers.iter().map(|e| e.report.clone()).collect(),
            recovery: self.recovery.clone(),
        };
        self.finish(Ok(output));
    }

    fn protocol_error(&mut self, w: usize, what: String) {
        let addr = self.workers[w].report.address.clone();
        self.actions.push_back(Action::Close(w));
        if self.phase == Phase::Connecting {
            return self.lost(w, &format!("protocol error: {what}"));
        }
        self.finish(Err(JobError::Worker {
            addr,
            reason: format!("protocol error: {what}"),
        }));
    }

    /// Ends the job: tells the workers to drop it, then reports the outcome.
    fn finish(&mut self, outcome: Result<JobOutput, JobError>) {
        if self.phase == Phase::Over {
            return;
        }
        self.phase = Phase::Over;
        for w in self.alive() {
            self.actions.push_back(Action::Send(
                w,
                Outgoing::new(encode_job_ref(Kind::JobEnd, self.config.job)),
            ));
        }
        self.actions.push_back(Action::Finished(Box::new(outcome)));
    }

    fn log(&mut self, line: String) {
        self.actions.push_back(Action::Log(line));
    }
}

/// A Welcome whose figures a real worker could send (they size the work it is given).
fn plausible(welcome: &super::messages::Welcome) -> bool {
    (1..=MAX_WORKER_THREADS).contains(&welcome.threads) && welcome.slots <= MAX_WORKER_THREADS
}
