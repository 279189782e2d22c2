//! The worker's protocol logic, as a state machine with no sockets, threads or clock.
//!
//! A driver (the mio loop of `wetmr worker`, or the in-memory router of the tests) feeds it
//! connection events, decoded frames and the completions of CPU work, each with the current
//! time, and carries out the [`Action`]s it queues: frames to send, connections to close,
//! and CPU work (map a file, merge a received partition, rank the owned partitions) to run
//! off the event loop.
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

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::codec::{
    self, decode, encode, encode_job_ref, path_from_bytes, Bulk, Kind, Message, ProtocolError,
};
use super::kept::{KeptConfig, KeptFrame, KeptStore, SpillError};
use super::messages::{
    self as msg, Failure, FileSummary, JobSpec, PartitionAck, RefuseReason, Refused, Role,
    TaskDone, TaskFailed, Welcome, WorkerFigures, MAX_PARTITIONS,
};
use crate::log_limit::LineLimit;
use crate::net::frame::{Frame, Outgoing, Payload};

/// A connection, as the driver names it.
pub type ConnId = u64;

/// Where a frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dest {
    /// An open connection (to the coordinator, or back to a peer).
    Conn(ConnId),
    /// The job's worker of this index; the driver connects to it on first use and opens
    /// the connection with [`Worker::peer_hello`].
    Peer(u32),
}

/// What the driver must do.
#[derive(Debug)]
pub enum Action {
    Send(Dest, Outgoing),
    /// Close a connection once what is queued for it has been sent.
    Close(ConnId),
    /// A job starts: make an empty table for every partition (dropping any earlier job's
    /// tables); `owned` are this worker's now, others may move here if their owner is lost.
    Prepare {
        partitions: u32,
        owned: Vec<u32>,
    },
    Map(MapOrder),
    /// Stop the map of this attempt early (another copy won): it completes at once with an
    /// error that is ignored.
    Abandon {
        job: u64,
        task: u32,
        attempt: u32,
    },
    Merge(MergeOrder),
    /// Rank the owned partitions' words (tf ≥ `min_count`, at most `top` each) and complete
    /// with [`Completion::Ranked`].
    Rank {
        job: u64,
        owned: Vec<u32>,
        min_count: u64,
        top: Option<u64>,
    },
    /// The job is over: drop its tables.
    Release,
    /// Stop reading this connection: what came on it waits to be merged, over
    /// [`INFLIGHT_HIGH`] bytes in all (its peer then blocks on a full socket).
    Pause(ConnId),
    /// Read it again.
    Resume(ConnId),
    Log(String),
}

/// Received partition bytes waiting to be merged, at most: beyond it, a connection that
/// brings more is paused until the merges bring the total under [`INFLIGHT_LOW`].
pub const INFLIGHT_HIGH: u64 = 512 << 20;
/// See [`INFLIGHT_HIGH`].
pub const INFLIGHT_LOW: u64 = 256 << 20;
/// Log lines about refused messages and connections, at most, per second: a flood is
/// counted, and summed up in one line, rather than drowning the log.
pub const REFUSALS_LOGGED_PER_SECOND: u32 = 20;

/// Count one file and split its words into the job's partitions.
#[derive(Debug, Clone)]
pub struct MapOrder {
    pub job: Arc<JobSpec>,
    pub task: u32,
    pub attempt: u32,
    pub path: PathBuf,
}

/// Add a received partition's words into the owned partition's table.
#[derive(Debug)]
pub struct MergeOrder {
    /// The connection it came on (`None`: produced by this worker).
    pub from: Option<ConnId>,
    pub head: PartitionAck,
    pub payload: Payload,
}

/// What a map task produced.
#[derive(Debug)]
pub struct MapOutput {
    pub file: FileSummary,
    /// One encoded Partition frame per partition, by partition number.
    pub frames: Vec<Outgoing>,
}

/// CPU work finished.
#[derive(Debug)]
pub enum Completion {
    Mapped {
        job: u64,
        task: u32,
        attempt: u32,
        micros: u64,
        result: Result<MapOutput, (Failure, String)>,
    },
    Merged {
        job: u64,
        from: Option<ConnId>,
        head: PartitionAck,
        result: Result<(), String>,
    },
    /// The encoded Ranked frames of every owned partition.
    Ranked {
        job: u64,
        frames: Result<Vec<Vec<u8>>, String>,
    },
}

/// A reducer's record of one (partition, task) pair.
#[derive(Debug)]
enum Ledger {
    /// Being merged; these senders wait for the acknowledgement.
    Applying(Vec<(Option<ConnId>, u32)>),
    Applied,
}

/// A mapped task whose partitions are not all acknowledged yet.
#[derive(Debug)]
struct Shuffle {
    attempt: u32,
    /// Sending again after a reassignment: completes with Resent, not TaskDone.
    resend: bool,
    /// Per partition: its owner's acknowledgement is awaited.
    waiting: Vec<bool>,
    /// Per partition: where its copy at the buddy stands.
    copies: Vec<CopyState>,
    /// Acknowledgements awaited, from owners and from the buddy.
    left: usize,
    file: FileSummary,
    bytes_sent: u64,
    bytes_kept: u64,
    bytes_copied: u64,
    map_micros: u64,
    started: Instant,
}

/// A shuffle's copy of one of its partitions (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CopyState {
    /// No copy belongs with it (the partition is not this worker's, or was not sent).
    None,
    Waiting,
    Kept,
}

/// The Partition frames of one task, kept until the job ends.
#[derive(Debug)]
struct KeptFrames {
    attempt: u32,
    /// By partition; `None` where a buddy got no copy (partitions its peer did not own).
    frames: Vec<Option<KeptFrame>>,
}

/// Kept frames of one task, in memory to be sent: (partition, frame).
struct LoadedFrames {
    attempt: u32,
    frames: Vec<(u32, Outgoing)>,
}

/// The maps whose order decides the order of actions are ordered (B-trees), so that the
/// actions are a function of the events alone: a simulation seed replays exactly.
#[derive(Debug)]
struct JobState {
    spec: Arc<JobSpec>,
    /// The job's workers' addresses by index: the job's list, extended by Adopt and
    /// Reassign when workers join.
    members: Vec<String>,
    /// The owner (job worker index) of each partition; changes with Reassign.
    owners: Vec<u32>,
    /// The Partition frames of every task this worker mapped, by task, kept until the job
    /// ends so they can be sent again to a partition's new owner.
    outputs: HashMap<u32, KeptFrames>,
    /// The copies kept as a buddy, by task (the last attempt received).
    copies: HashMap<u32, KeptFrames>,
    /// Where the frames of `outputs` and `copies` are (memory, or the spill file).
    kept: KeptStore,
    /// Where this worker's copies go.
    buddy: Option<u32>,
    /// Tasks being mapped, with the attempt (the latest, when an abandoned one still runs).
    mapping: HashMap<u32, u32>,
    /// Attempts another copy of which won (Cancel).
    cancelled: std::collections::HashSet<(u32, u32)>,
    /// Partitions adopted (Adopt) and not yet in `owners` (Reassign).
    accepting: std::collections::HashSet<u32>,
    /// The coordinator's reassignment epoch, as last heard.
    epoch: u32,
    /// When the next Heartbeat is due.
    next_beat: Instant,
    /// Peers whose connection dropped while partitions waited on them, and when to send
    /// those partitions again (`None`: at the next tick's retry time).
    retry_peers: BTreeMap<u32, Option<Instant>>,
    ledger: HashMap<(u32, u32), Ledger>,
    shuffles: BTreeMap<u32, Shuffle>,
    figures: WorkerFigures,
    reduce_started: Option<Instant>,
}

impl JobState {
    /// The kept frames of `task` for `partitions` — its outputs if it was mapped here,
    /// else the copies kept here — with their attempt; read back from the spill file where
    /// needed. Partitions with no frame kept are left out.
    fn kept_frames(
        &self,
        task: u32,
        partitions: &[u32],
    ) -> Result<Option<LoadedFrames>, SpillError> {
        let Some(source) = self.outputs.get(&task).or_else(|| self.copies.get(&task)) else {
            return Ok(None);
        };
        let mut frames = Vec::with_capacity(partitions.len());
        for &p in partitions {
            if let Some(Some(kept)) = source.frames.get(p as usize) {
                frames.push((p, self.kept.load(kept)?));
            }
        }
        Ok(Some(LoadedFrames {
            attempt: source.attempt,
            frames,
        }))
    }

    /// Drops the frames of one task, their memory back to the budget.
    fn release(&mut self, frames: Option<KeptFrames>) {
        for kept in frames.iter().flat_map(|f| f.frames.iter().flatten()) {
            self.kept.release(kept);
        }
    }

    /// Takes a newer list of the job's workers: the same list, extended by workers that
    /// joined. False (nothing changed) for anything else.
    fn take_members(&mut self, workers: Vec<String>) -> bool {
        let extends = workers.len() >= self.members.len()
            && workers[..self.members.len()] == self.members[..]
            && all_socket_addresses(&workers[self.members.len()..]);
        if extends {
            self.members = workers;
        }
        extends
    }
}

/// A buddy named by the coordinator is another worker of the job.
fn valid_buddy(buddy: Option<u32>, you: u32, members: usize) -> bool {
    match buddy {
        Some(b) => b != you && (b as usize) < members,
        None => true,
    }
}

/// Peers are given as socket addresses, so the event loop never waits on DNS.
fn all_socket_addresses(addresses: &[String]) -> bool {
    addresses
        .iter()
        .all(|a| a.parse::<std::net::SocketAddr>().is_ok())
}

/// The worker state machine (see the module docs).
#[derive(Debug)]
pub struct Worker {
    threads: u32,
    slots: u32,
    kept: KeptConfig,
    roles: HashMap<ConnId, Role>,
    coordinator: Option<ConnId>,
    job: Option<JobState>,
    actions: VecDeque<Action>,
    inflight: Inflight,
    refusals: Refusals,
    /// Connections refused and closing: what still arrives on them is ignored.
    refused: BTreeSet<ConnId>,
    /// The time of the last event fed in.
    clock: Option<Instant>,
    /// Maps that made no progress for too long, by (job, task, attempt), whatever job
    /// runs now: the pool threads they hold (see [`Worker::map_stalled`]).
    stuck: BTreeMap<(u64, u32, u32), Stuck>,
}

/// A map reported stalled whose threads have not come back.
#[derive(Debug)]
struct Stuck {
    threads: u32,
    /// What it was reading, for messages.
    what: String,
}

/// Received partitions waiting for their merge, and the connections paused for them.
#[derive(Debug)]
struct Inflight {
    /// Their bytes, by (job, partition, task).
    bytes: HashMap<(u64, u32, u32), u64>,
    total: u64,
    /// Pause above the first, resume under the second.
    high: u64,
    low: u64,
    paused: BTreeSet<ConnId>,
}

impl Inflight {
    /// `bytes` came on `conn` for `key`: whether to pause `conn` now.
    fn add(&mut self, key: (u64, u32, u32), bytes: u64, conn: ConnId) -> bool {
        self.bytes.insert(key, bytes);
        self.total += bytes;
        self.total > self.high && self.paused.insert(conn)
    }

    /// The merge of `key` ended: the connections to resume.
    fn remove(&mut self, key: (u64, u32, u32)) -> BTreeSet<ConnId> {
        if let Some(bytes) = self.bytes.remove(&key) {
            self.total -= bytes;
            if self.total < self.low {
                return std::mem::take(&mut self.paused);
            }
        }
        BTreeSet::new()
    }
}

/// Refused messages and connections: counted, and logged at a bounded rate.
#[derive(Debug)]
struct Refusals {
    total: u64,
    log: LineLimit,
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
    fn note(&mut self, now: Option<Instant>, line: String) -> Vec<String> {
        self.total += 1;
        self.log.note(now, line)
    }
}

impl Worker {
    pub fn new(threads: u32, slots: u32) -> Worker {
        Worker {
            threads,
            slots,
            kept: KeptConfig::default(),
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
            clock: None,
            stuck: BTreeMap::new(),
        }
    }

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
        (job, task, attempt): (u64, u32, u32),
        threads: u32,
        what: String,
        stalled_for: Duration,
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
            self.leave_job(why);
        }
    }

    /// Pauses connections above `high` received bytes waiting to be merged, until under
    /// `low` (by default [`INFLIGHT_HIGH`] and [`INFLIGHT_LOW`]).
    pub fn with_inflight_limits(mut self, high: u64, low: u64) -> Worker {
        self.inflight.high = high;
        self.inflight.low = low.min(high);
        self
    }

    /// Messages refused as invalid and connections closed for what their peer did, since
    /// the worker started.
    pub fn refusals(&self) -> u64 {
        self.refusals.total
    }

    /// The driver closed a connection from `peer` for what it did (failed authentication,
    /// broke the framing, came over a limit): counted and logged.
    pub fn rejected(&mut self, peer: &str, reason: &str, now: Instant) {
        self.clock = Some(now);
        self.note_refusal(format!("refused a connection from {peer}: {reason}"));
    }

    /// Keeps map outputs in memory up to `kept.memory` bytes, and in a spill file in
    /// `kept.spill_dir` beyond (by default, everything in memory).
    pub fn with_kept(mut self, kept: KeptConfig) -> Worker {
        self.kept = kept;
        self
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The frame that opens a connection to another worker of the current job.
    pub fn peer_hello(&self) -> Option<Vec<u8>> {
        let job = self.job.as_ref()?;
        encode(&msg::Hello {
            role: Role::Peer,
            job: job.spec.job,
            worker: job.spec.you,
        })
        .ok()
    }

    /// Time passes: sends a Heartbeat when one is due, and partitions again to peers whose
    /// connection dropped.
    pub fn tick(&mut self, now: Instant) {
        self.clock = Some(now);
        let Some(job) = &mut self.job else { return };
        let every = Duration::from_millis(u64::from(job.spec.heartbeat_ms));
        let mut due = Vec::new();
        for (&peer, at) in &mut job.retry_peers {
            match at {
                None => *at = Some(now + every),
                Some(at) if *at <= now => due.push(peer),
                Some(_) => {}
            }
        }
        for peer in due {
            self.retry_peer(peer, now);
        }
        let Some(job) = &mut self.job else { return };
        if now < job.next_beat {
            return;
        }
        job.next_beat = now + every;
        let frame = encode_job_ref(Kind::Heartbeat, job.spec.job);
        self.report(Ok(frame));
    }

    /// When [`Worker::tick`] has something to do next, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        let job = self.job.as_ref()?;
        let retries = job.retry_peers.values().flatten().copied();
        retries.chain([job.next_beat]).min()
    }

    /// Sends again, on a new connection, the partitions that wait on `peer`: the frames may
    /// have been lost with the old connection (a cut, or a refusal). Repeats are applied
    /// once. If the peer is lost for good, the coordinator moves its partitions (Reassign)
    /// and they go to the new owners instead.
    fn retry_peer(&mut self, peer: u32, now: Instant) {
        let Some(job) = &mut self.job else { return };
        job.retry_peers.remove(&peer);
        let job_buddy = job.buddy;
        let owned: Vec<u32> = (0..job.owners.len() as u32)
            .filter(|&p| job.owners[p as usize] == peer)
            .collect();
        let waiting: Vec<(u32, Vec<u32>)> = job
            .shuffles
            .iter()
            .map(|(&task, s)| {
                let parts = owned
                    .iter()
                    .copied()
                    .filter(|&p| s.waiting[p as usize])
                    .collect();
                (task, parts)
            })
            .filter(|(_, parts): &(u32, Vec<u32>)| !parts.is_empty())
            .collect();
        for (task, parts) in waiting {
            self.send_partitions(task, &parts, now);
        }
        if job_buddy == Some(peer) {
            self.recopy();
        }
    }

    /// The address of the job's worker `peer`, if there is one.
    pub fn peer_address(&self, peer: u32) -> Option<&str> {
        let job = self.job.as_ref()?;
        job.members.get(peer as usize).map(String::as_str)
    }

    /// The description of the job being served, if any.
    pub fn spec(&self) -> Option<Arc<JobSpec>> {
        self.job.as_ref().map(|j| j.spec.clone())
    }

    /// The job being served, if any.
    /// The coordinator's connection, when one is up.
    pub fn coordinator(&self) -> Option<ConnId> {
        self.coordinator
    }

    pub fn job_id(&self) -> Option<u64> {
        self.job.as_ref().map(|j| j.spec.job)
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
                    "job {:016x}: coordinator gone, job dropped",
                    job.spec.job
                ));
                self.actions.push_back(Action::Release);
            }
        }
    }

    /// The connection to worker `peer` of the job failed or closed. Partitions on their
    /// way to it may be lost: if the peer is lost, the coordinator moves its partitions
    /// and this worker sends them again to the new owners (Reassign); until then the
    /// tasks waiting on it wait.
    pub fn peer_unreachable(&mut self, peer: u32, reason: &str) {
        let Some(job) = &self.job else { return };
        let addr = job.members.get(peer as usize).cloned().unwrap_or_default();
        let is_buddy = job.buddy == Some(peer);
        let waiting = job
            .shuffles
            .values()
            .filter(|s| {
                (0..s.waiting.len()).any(|p| s.waiting[p] && job.owners.get(p) == Some(&peer))
                    || (is_buddy && s.copies.contains(&CopyState::Waiting))
            })
            .count();
        if waiting > 0 {
            if let Some(job) = &mut self.job {
                job.retry_peers.entry(peer).or_insert(None);
            }
        }
        self.log(format!(
            "lost the connection to worker {peer} ({addr}): {reason}; {waiting} tasks wait for it"
        ));
    }

    /// A frame arrived on `conn`.
    pub fn frame(&mut self, conn: ConnId, frame: Frame, now: Instant) {
        self.clock = Some(now);
        if self.refused.contains(&conn) {
            // Already read when it was refused: nothing more from it is heard.
            return;
        }
        match decode(frame) {
            Ok(m) => self.message(conn, m, now),
            Err(e) => self.refuse(conn, RefuseReason::Protocol, e.to_string()),
        }
    }

    fn message(&mut self, conn: ConnId, m: Message, now: Instant) {
        let from_coordinator = self.coordinator == Some(conn);
        if let Some(detail) = self.out_of_place(conn, &m) {
            return self.refuse(conn, RefuseReason::Protocol, detail);
        }
        match m {
            Message::Hello(h) => self.hello(conn, h),
            Message::Job(spec) if from_coordinator => self.start_job(conn, spec, now),
            Message::Task(t) if from_coordinator => {
                let Some(job) = self.current(t.job) else {
                    return self.refuse(conn, RefuseReason::UnknownJob, "task".into());
                };
                // The same attempt twice (a repeated delivery): mapped once. A second map
                // would replace a resend under way with a shuffle that ends in a stale
                // TaskDone instead of the Resent the coordinator waits for.
                let repeated = job.mapping.get(&t.task) == Some(&t.attempt)
                    || job
                        .outputs
                        .get(&t.task)
                        .is_some_and(|o| o.attempt == t.attempt);
                if repeated {
                    return self.log(format!(
                        "task {} attempt {}: received again, ignored",
                        t.task, t.attempt
                    ));
                }
                let spec = job.spec.clone();
                if let Some(job) = self.job.as_mut() {
                    job.mapping.insert(t.task, t.attempt);
                }
                let order = MapOrder {
                    job: spec,
                    task: t.task,
                    attempt: t.attempt,
                    path: path_from_bytes(t.path),
                };
                self.actions.push_back(Action::Map(order));
            }
            Message::Reassign(r) if from_coordinator => self.reassign(conn, r, now),
            Message::Cancel(c) if from_coordinator => {
                let Some(job) = self.current_mut(c.job) else {
                    return;
                };
                job.cancelled.insert((c.task, c.attempt));
                let mapping = job.mapping.get(&c.task) == Some(&c.attempt);
                if job
                    .shuffles
                    .get(&c.task)
                    .is_some_and(|s| s.attempt == c.attempt && !s.resend)
                {
                    job.shuffles.remove(&c.task);
                    let frames = job.outputs.remove(&c.task);
                    job.release(frames);
                }
                if mapping {
                    self.actions.push_back(Action::Abandon {
                        job: c.job,
                        task: c.task,
                        attempt: c.attempt,
                    });
                }
            }
            Message::Adopt(a) if from_coordinator => {
                let Some(job) = self.current_mut(a.job) else {
                    return self.refuse(conn, RefuseReason::UnknownJob, "adopt".into());
                };
                if !job.take_members(a.workers)
                    || a.owners.len() != job.owners.len()
                    || a.owners.iter().any(|&o| o as usize >= job.members.len())
                {
                    return self.refuse(conn, RefuseReason::Protocol, "inconsistent adopt".into());
                }
                // Accept the partitions that come here from now on. The table used for
                // sending, and the epoch that vouches for acknowledgements, change with the
                // Reassign that follows (other heirs may not have adopted yet).
                let you = job.spec.you;
                for (p, &owner) in a.owners.iter().enumerate() {
                    if owner == you {
                        job.accepting.insert(p as u32);
                    }
                }
                let adopted = msg::Adopted {
                    job: a.job,
                    epoch: a.epoch,
                };
                self.send_encoded(Dest::Conn(conn), encode(&adopted));
            }
            Message::Resend(r) if from_coordinator => {
                let Some(job) = self.current(r.job) else {
                    return self.refuse(conn, RefuseReason::UnknownJob, "resend".into());
                };
                if r.partitions.iter().any(|&p| p as usize >= job.owners.len()) {
                    return self.refuse(conn, RefuseReason::Protocol, "resend".into());
                }
                self.resend(r.task, &r.partitions, now);
            }
            Message::Partition(bulk) => self.partition(conn, bulk, now),
            Message::PartitionAck(ack) => self.acknowledged(ack, now),
            Message::Copy(bulk) => self.keep_copy(conn, bulk),
            Message::Kept(kept) => self.copy_kept(kept, now),
            Message::Reduce(r) if from_coordinator => {
                let Some(job) = self.current_mut(r.job) else {
                    return self.refuse(conn, RefuseReason::UnknownJob, "reduce".into());
                };
                if r.partitions
                    .iter()
                    .any(|&p| job.owners.get(p as usize) != Some(&job.spec.you))
                {
                    let detail = "asked to reduce a partition it does not own".to_string();
                    return self.refuse(conn, RefuseReason::Protocol, detail);
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
            Message::JobEnd(j) if from_coordinator => {
                if self.job_id() == Some(j.job) {
                    self.job = None;
                    self.actions.push_back(Action::Release);
                    self.log(format!("job {:016x}: ended", j.job));
                }
            }
            Message::Refused(r) => {
                self.log(format!("refused by a peer ({:?}): {}", r.reason, r.detail));
                self.actions.push_back(Action::Close(conn));
            }
            other => self.refuse(
                conn,
                RefuseReason::Protocol,
                format!("unexpected message {:?}", other.kind().name()),
            ),
        }
    }

    /// Why `m` cannot be taken on `conn` whatever the job's state, if so: anything but a
    /// reply before a Hello, or a task id beyond the job's.
    fn out_of_place(&self, conn: ConnId, m: &Message) -> Option<String> {
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
        (task >= tasks).then(|| format!("{} for task {task} of {tasks}", m.kind().name()))
    }

    fn hello(&mut self, conn: ConnId, hello: msg::Hello) {
        match hello.role {
            Role::Coordinator => {
                if let Some(other) = self.coordinator.filter(|&c| c != conn) {
                    if self.job.is_some() {
                        return self.refuse(
                            conn,
                            RefuseReason::Busy,
                            format!("serving another coordinator's job (connection {other})"),
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
                    return self.refuse(conn, RefuseReason::Stuck, detail);
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
                    let detail = format!("a peer of job {:016x}", hello.job);
                    return self.refuse(conn, RefuseReason::UnknownJob, detail);
                }
                self.roles.insert(conn, Role::Peer);
            }
        }
    }

    fn start_job(&mut self, conn: ConnId, spec: JobSpec, now: Instant) {
        let consistent = !spec.workers.is_empty()
            && all_socket_addresses(&spec.workers)
            && (spec.you as usize) < spec.workers.len()
            && (1..=MAX_PARTITIONS).contains(&spec.partitions)
            && spec.owners.len() == spec.partitions as usize
            && spec
                .owners
                .iter()
                .all(|&o| (o as usize) < spec.workers.len())
            && spec.split_bytes != Some(0)
            && spec.heartbeat_ms > 0
            && valid_buddy(spec.buddy, spec.you, spec.workers.len());
        if !consistent {
            return self.refuse(conn, RefuseReason::Protocol, "inconsistent job".into());
        }
        let owners = spec.owners.clone();
        let owned: Vec<u32> = (0..spec.partitions)
            .filter(|&p| owners[p as usize] == spec.you)
            .collect();
        self.log(format!(
            "job {:016x}: worker {} of {}, {} of {} partitions, {} tokenizer",
            spec.job,
            spec.you,
            spec.workers.len(),
            owned.len(),
            spec.partitions,
            spec.tokenizer.name()
        ));
        self.actions.push_back(Action::Prepare {
            partitions: spec.partitions,
            owned: owned.clone(),
        });
        let job = spec.job;
        let next_beat = now + Duration::from_millis(u64::from(spec.heartbeat_ms));
        let epoch = spec.epoch;
        self.job = Some(JobState {
            members: spec.workers.clone(),
            buddy: spec.buddy,
            spec: Arc::new(spec),
            owners,
            outputs: HashMap::new(),
            copies: HashMap::new(),
            kept: KeptStore::new(self.kept.clone()),
            mapping: Default::default(),
            accepting: Default::default(),
            cancelled: Default::default(),
            epoch,
            next_beat,
            retry_peers: BTreeMap::new(),
            ledger: HashMap::new(),
            shuffles: BTreeMap::new(),
            figures: WorkerFigures::default(),
            reduce_started: None,
        });
        self.actions.push_back(Action::Send(
            Dest::Conn(conn),
            Outgoing::new(encode_job_ref(Kind::JobReady, job)),
        ));
    }

    fn partition(&mut self, conn: ConnId, bulk: Bulk<PartitionAck>, now: Instant) {
        let head = bulk.head;
        let Some(job) = self.current_mut(head.job) else {
            return self.refuse(
                conn,
                RefuseReason::UnknownJob,
                format!("partition for job {:016x}", head.job),
            );
        };
        let owned = job.owners.get(head.partition as usize) == Some(&job.spec.you)
            || job.accepting.contains(&head.partition);
        if !owned {
            let detail = format!("partition {} is not owned here", head.partition);
            return self.refuse(conn, RefuseReason::Protocol, detail);
        }
        job.figures.shuffle_bytes_received += codec::frame_len(bulk.payload.len()) as u64;
        self.apply(Some(conn), head, bulk.payload, now);
    }

    /// Applies a partition's data exactly once (see the module docs).
    fn apply(&mut self, from: Option<ConnId>, head: PartitionAck, payload: Payload, now: Instant) {
        let Some(job) = &mut self.job else { return };
        match job.ledger.get_mut(&(head.partition, head.task)) {
            Some(Ledger::Applied) => {
                job.figures.duplicates_ignored += 1;
                self.ack(from, head, now);
            }
            Some(Ledger::Applying(waiters)) => {
                job.figures.duplicates_ignored += 1;
                waiters.push((from, head.attempt));
            }
            None => {
                job.ledger.insert(
                    (head.partition, head.task),
                    Ledger::Applying(vec![(from, head.attempt)]),
                );
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

    fn ack(&mut self, to: Option<ConnId>, head: PartitionAck, now: Instant) {
        match to {
            Some(conn) => self.send_encoded(Dest::Conn(conn), encode(&head)),
            None => self.acknowledged(head, now),
        }
    }

    /// A reducer acknowledged one of this worker's partitions.
    fn acknowledged(&mut self, ack: PartitionAck, now: Instant) {
        let Some(job) = self.current_mut(ack.job) else {
            return;
        };
        let Some(shuffle) = job.shuffles.get_mut(&ack.task) else {
            return;
        };
        let slot = shuffle.waiting.get_mut(ack.partition as usize);
        if shuffle.attempt != ack.attempt || slot.as_deref() != Some(&true) {
            return;
        }
        if let Some(w) = slot {
            *w = false;
        }
        shuffle.left -= 1;
        self.settle(ack.task, now);
    }

    /// The buddy keeps a copy of one of this worker's partitions.
    fn copy_kept(&mut self, kept: msg::Kept, now: Instant) {
        let head = kept.head;
        let Some(job) = self.current_mut(head.job) else {
            return;
        };
        if job.buddy != Some(kept.keeper) {
            return;
        }
        let Some(shuffle) = job.shuffles.get_mut(&head.task) else {
            return;
        };
        if shuffle.attempt != head.attempt {
            return;
        }
        match shuffle.copies.get_mut(head.partition as usize) {
            Some(state @ CopyState::Waiting) => *state = CopyState::Kept,
            _ => return,
        }
        shuffle.left -= 1;
        self.settle(head.task, now);
    }

    /// Reports a shuffle whose acknowledgements have all come: TaskDone, or Resent.
    fn settle(&mut self, task: u32, now: Instant) {
        let Some(job) = &mut self.job else { return };
        if job.shuffles.get(&task).is_none_or(|s| s.left != 0) {
            return;
        }
        let Some(s) = job.shuffles.remove(&task) else {
            return;
        };
        let (job_id, epoch) = (job.spec.job, job.epoch);
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
            copied_to: job.buddy,
            copied_bytes: s.bytes_copied,
        };
        self.report(encode(&done));
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
            } => {
                if let Some(stuck) = self.stuck.remove(&(job, task, attempt)) {
                    let threads = stuck.threads;
                    return self.log(format!(
                        "task {task} attempt {attempt}, stalled on {}, ended after all: \
                         {threads} thread{} free again",
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
            Completion::Merged {
                job,
                from,
                head,
                result,
            } => {
                for conn in self.inflight.remove((job, head.partition, head.task)) {
                    self.actions.push_back(Action::Resume(conn));
                }
                let Some(state) = self.current_mut(job) else {
                    return;
                };
                let key = (head.partition, head.task);
                match result {
                    Ok(()) => {
                        let Some(Ledger::Applying(waiters)) =
                            state.ledger.insert(key, Ledger::Applied)
                        else {
                            return;
                        };
                        for (to, attempt) in waiters {
                            self.ack(to, PartitionAck { attempt, ..head }, now);
                        }
                    }
                    Err(reason) => {
                        state.ledger.remove(&key);
                        match from {
                            Some(conn) => self.refuse(conn, RefuseReason::Protocol, reason),
                            None => {
                                self.fail_task(job, head.task, head.attempt, Failure::Fatal, reason)
                            }
                        }
                    }
                }
            }
            Completion::Ranked { job, frames } => {
                if self.job_id() != Some(job) {
                    return;
                }
                let frames = match frames {
                    Ok(frames) => frames,
                    Err(reason) => {
                        let detail = format!("cannot rank the partitions: {reason}");
                        return match self.coordinator {
                            Some(c) => self.refuse(c, RefuseReason::Protocol, detail),
                            None => self.log(detail),
                        };
                    }
                };
                let Some(state) = self.job.as_mut() else {
                    return;
                };
                let started = state.reduce_started.unwrap_or(now);
                state.figures.reduce_micros = micros(now.saturating_duration_since(started));
                state.figures.kept_bytes_spilled = state.kept.spilled_bytes();
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
    }

    /// Keeps a mapped task's partitions and sends each to its owner (its own go straight
    /// to the merge).
    fn shuffle(&mut self, task: u32, attempt: u32, map_micros: u64, out: MapOutput, now: Instant) {
        let Some(job) = &mut self.job else { return };
        let partitions = job.spec.partitions;
        // Sent from memory first; then kept within the budget (see `keep_outputs`).
        let frames = out
            .frames
            .into_iter()
            .map(|f| Some(KeptFrame::Memory(f)))
            .collect();
        let older = job.outputs.insert(task, KeptFrames { attempt, frames });
        job.release(older);
        job.shuffles.insert(
            task,
            Shuffle {
                attempt,
                resend: false,
                waiting: vec![true; partitions as usize],
                copies: vec![CopyState::None; partitions as usize],
                left: partitions as usize,
                file: out.file,
                bytes_sent: 0,
                bytes_kept: 0,
                bytes_copied: 0,
                map_micros,
                started: now,
            },
        );
        let all: Vec<u32> = (0..partitions).collect();
        self.send_partitions(task, &all, now);
        self.keep_outputs(task);
    }

    /// Accounts a freshly mapped task's frames (sent already) against the memory budget,
    /// spilling those beyond it.
    fn keep_outputs(&mut self, task: u32) {
        let Some(job) = &mut self.job else { return };
        let Some(mut outputs) = job.outputs.remove(&task) else {
            return;
        };
        for slot in &mut outputs.frames {
            let Some(KeptFrame::Memory(frame)) = slot.take() else {
                continue;
            };
            match job.kept.keep(frame) {
                Ok(kept) => *slot = Some(kept),
                Err(e) => return self.leave_job(e.to_string()),
            }
        }
        job.outputs.insert(task, outputs);
    }

    /// Sends the kept frames of `task` for `partitions` to their current owners (a copy
    /// of those it owns itself to its buddy), and adds the bytes to the task's shuffle
    /// figures.
    fn send_partitions(&mut self, task: u32, partitions: &[u32], now: Instant) {
        let Some(job) = &mut self.job else { return };
        let LoadedFrames { attempt, frames } = match job.kept_frames(task, partitions) {
            Ok(Some(found)) => found,
            Ok(None) => return,
            Err(e) => return self.leave_job(e.to_string()),
        };
        let (you, job_id) = (job.spec.you, job.spec.job);
        let mut local = Vec::new();
        let (mut sent, mut kept) = (0, 0);
        for (p, frame) in frames {
            let Some(&owner) = job.owners.get(p as usize) else {
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
        self.send_copies(task, &local);
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

    /// Pushes copies of `task`'s `frames` (of partitions owned here) to the buddy, and
    /// waits for them to be kept.
    fn send_copies(&mut self, task: u32, frames: &[(u32, Outgoing)]) {
        let Some(job) = &mut self.job else { return };
        let Some(buddy) = job.buddy else { return };
        let Some(shuffle) = job.shuffles.get_mut(&task) else {
            return;
        };
        for (p, frame) in frames {
            let Some(state) = shuffle.copies.get_mut(*p as usize) else {
                continue;
            };
            if *state != CopyState::Waiting {
                *state = CopyState::Waiting;
                shuffle.left += 1;
            }
            let copy = codec::reframe(frame, Kind::Copy);
            shuffle.bytes_copied += copy.len() as u64;
            self.actions
                .push_back(Action::Send(Dest::Peer(buddy), copy));
        }
    }

    /// The buddy changed (or a connection to it dropped): every unfinished shuffle sends
    /// its copies again, to the buddy now named. With no buddy left, nothing is copied
    /// and the copies are no longer awaited (the caller settles the shuffles).
    fn recopy(&mut self) {
        let Some(job) = &mut self.job else { return };
        if job.buddy.is_none() {
            for shuffle in job.shuffles.values_mut() {
                for state in &mut shuffle.copies {
                    if *state == CopyState::Waiting {
                        shuffle.left -= 1;
                    }
                    *state = CopyState::None;
                }
            }
            return;
        }
        let copied: Vec<(u32, Vec<u32>)> = job
            .shuffles
            .iter()
            .map(|(&task, s)| {
                let parts = (0..s.copies.len() as u32)
                    .filter(|&p| s.copies[p as usize] != CopyState::None)
                    .collect();
                (task, parts)
            })
            .collect();
        for (task, parts) in copied {
            let Some(job) = &self.job else { return };
            match job.kept_frames(task, &parts) {
                Ok(Some(loaded)) => self.send_copies(task, &loaded.frames),
                Ok(None) => {}
                Err(e) => return self.leave_job(e.to_string()),
            }
        }
    }

    /// A peer's copy of a partition it owns: kept, unapplied, and acknowledged.
    fn keep_copy(&mut self, conn: ConnId, bulk: Bulk<PartitionAck>) {
        let head = bulk.head;
        let Some(job) = self.current_mut(head.job) else {
            return self.refuse(
                conn,
                RefuseReason::UnknownJob,
                format!("copy for job {:016x}", head.job),
            );
        };
        let partitions = job.owners.len();
        if head.partition as usize >= partitions {
            let detail = format!("copy of partition {} of {partitions}", head.partition);
            return self.refuse(conn, RefuseReason::Protocol, detail);
        }
        if job
            .copies
            .get(&head.task)
            .is_some_and(|c| c.attempt != head.attempt)
        {
            let older = job.copies.remove(&head.task);
            job.release(older);
        }
        let frame = match job
            .kept
            .keep(codec::frame_of(Kind::Partition, &bulk.payload))
        {
            Ok(frame) => frame,
            Err(e) => return self.leave_job(e.to_string()),
        };
        let copies = job.copies.entry(head.task).or_insert_with(|| KeptFrames {
            attempt: head.attempt,
            frames: (0..partitions).map(|_| None).collect(),
        });
        let older = copies.frames[head.partition as usize].replace(frame);
        if let Some(older) = older {
            job.kept.release(&older);
        }
        let ack = msg::Kept {
            head,
            keeper: job.spec.you,
        };
        self.send_encoded(Dest::Conn(conn), encode(&ack));
    }

    /// Partitions moved (their owner was lost): every task whose outputs may have gone to
    /// the lost owner — unfinished shuffles, and the finished tasks the coordinator names
    /// — sends its moved partitions again, to the new owners.
    fn reassign(&mut self, conn: ConnId, r: msg::Reassign, now: Instant) {
        let Some(job) = self.current_mut(r.job) else {
            return self.refuse(conn, RefuseReason::UnknownJob, "reassign".into());
        };
        let partitions = job.owners.len() as u32;
        if !job.take_members(r.workers)
            || r.owners.len() != job.owners.len()
            || r.owners.iter().any(|&o| o as usize >= job.members.len())
            || r.moved.iter().any(|&p| p >= partitions)
            || r.resend.iter().any(|&t| t >= job.spec.tasks)
            || !valid_buddy(r.buddy, job.spec.you, job.members.len())
        {
            return self.refuse(
                conn,
                RefuseReason::Protocol,
                "inconsistent reassignment".into(),
            );
        }
        job.owners = r.owners;
        job.epoch = r.epoch;
        job.accepting.clear();
        if job.buddy != r.buddy {
            job.buddy = r.buddy;
            self.recopy();
        }
        let Some(job) = &mut self.job else { return };
        let mut tasks: Vec<u32> = job
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
        let open: Vec<u32> = self
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
    fn resend(&mut self, task: u32, partitions: &[u32], now: Instant) {
        let Some(job) = &mut self.job else { return };
        // (A task being mapped here is another attempt, or a cancelled backup: what the
        // coordinator asks for is the finished attempt's outputs, or copies of them.)
        let source = job.outputs.get(&task).or_else(|| job.copies.get(&task));
        let has =
            |p: u32| source.is_some_and(|s| matches!(s.frames.get(p as usize), Some(Some(_))));
        let lacking: Vec<u32> = partitions.iter().copied().filter(|&p| !has(p)).collect();
        let Some(source) = source.filter(|_| lacking.is_empty()) else {
            // Only some copies are kept here (or nothing): the task must run again.
            let resent = msg::Resent {
                job: job.spec.job,
                task,
                epoch: job.epoch,
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
        let n = job.owners.len();
        let shuffle = job.shuffles.entry(task).or_insert_with(|| Shuffle {
            attempt,
            resend: true,
            waiting: vec![false; n],
            copies: vec![CopyState::None; n],
            left: 0,
            file: FileSummary {
                format: None,
                bytes_in: 0,
                chunks: 0,
                false_splits: 0,
                counters: Default::default(),
                skipped: Vec::new(),
                download: None,
            },
            bytes_sent: 0,
            bytes_kept: 0,
            bytes_copied: 0,
            map_micros: 0,
            started: now,
        });
        for &p in partitions {
            if let Some(w) = shuffle.waiting.get_mut(p as usize) {
                if !*w {
                    *w = true;
                    shuffle.left += 1;
                }
            }
        }
        if shuffle.left == 0 {
            // Nothing to wait for: done at once (TaskDone, or Resent for a new shuffle).
            return self.settle(task, now);
        }
        self.send_partitions(task, partitions, now);
    }

    fn fail_task(&mut self, job: u64, task: u32, attempt: u32, failure: Failure, message: String) {
        let failed = TaskFailed {
            job,
            task,
            attempt,
            failure,
            message,
        };
        self.report(encode(&failed));
    }

    fn report(&mut self, frame: Result<Vec<u8>, ProtocolError>) {
        match self.coordinator {
            Some(c) => self.send_encoded(Dest::Conn(c), frame),
            None => self.log("no coordinator to report to; message dropped".into()),
        }
    }

    fn send_encoded(&mut self, dest: Dest, frame: Result<Vec<u8>, ProtocolError>) {
        match frame {
            Ok(f) => self.actions.push_back(Action::Send(dest, Outgoing::new(f))),
            Err(e) => self.log(format!("cannot encode a message: {e}")),
        }
    }

    /// The worker cannot go on with its job (its spill file failed): it drops the job and
    /// tells the coordinator why, which recovers as from a lost worker.
    /// This worker cannot go on with its job: it tells the coordinator why and drops it
    /// (the coordinator recovers as from a lost worker).
    fn leave_job(&mut self, why: String) {
        let Some(job) = self.job.take() else { return };
        self.log(format!("job {:016x}: leaving it: {why}", job.spec.job));
        self.actions.push_back(Action::Release);
        if let Some(conn) = self.coordinator {
            self.refuse(conn, RefuseReason::Leaving, why);
        }
    }

    /// Tells a peer why it is turned away, and closes its connection.
    fn refuse(&mut self, conn: ConnId, reason: RefuseReason, detail: String) {
        let line = format!("connection {conn}: refused ({reason:?}): {detail}");
        match reason {
            RefuseReason::Protocol | RefuseReason::UnknownJob => self.note_refusal(line),
            RefuseReason::Busy | RefuseReason::Leaving | RefuseReason::Stuck => self.log(line),
        }
        let refused = Refused { reason, detail };
        self.send_encoded(Dest::Conn(conn), encode(&refused));
        self.actions.push_back(Action::Close(conn));
        self.refused.insert(conn);
    }

    /// The job `job`, if it is this worker's current one.
    fn current(&self, job: u64) -> Option<&JobState> {
        self.job.as_ref().filter(|j| j.spec.job == job)
    }

    fn current_mut(&mut self, job: u64) -> Option<&mut JobState> {
        self.job.as_mut().filter(|j| j.spec.job == job)
    }

    fn log(&mut self, line: String) {
        self.actions.push_back(Action::Log(line));
    }

    /// Counts a refusal (for the worker, and for its job) and logs it, at a bounded rate.
    fn note_refusal(&mut self, line: String) {
        if let Some(job) = &mut self.job {
            job.figures.refused += 1;
        }
        for line in self.refusals.note(self.clock, line) {
            self.log(line);
        }
    }
}

pub(crate) fn micros(d: std::time::Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}
