//! What a job gives back: its outcome ([`JobOutput`] or [`JobError`]), each file's figures,
//! each worker's share, and what failures cost it.

use crate::count::Spectrum;
use crate::engine::FileResult;
use crate::net::frame::Payload;

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
    /// One entry per input, in input order: the result its worker reported, or why it was
    /// skipped (no worker could read it, skip policy). Its path is the task's.
    pub files: Vec<FileResult>,
    /// Per partition, its Ranked payloads in order (each checked on receipt).
    pub ranked: Vec<Vec<Payload>>,
    /// Of every word of the job, before `min_count` and `top` (its `words()` are the
    /// distinct words).
    pub spectrum: Spectrum,
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

/// How far the map phase is (see [`super::Coordinator::progress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Tasks whose file is counted (mapped, their shuffle perhaps under way).
    pub counted: usize,
    /// Tasks done (shuffled too).
    pub done: usize,
    pub tasks: usize,
}

impl WorkerReport {
    /// Adds a finished task's figures.
    pub(super) fn add_task(&mut self, done: &crate::protocol::messages::TaskDone) {
        self.tasks += 1;
        self.bytes_in += done.file.bytes_in;
        self.records += done.file.counters.records;
        self.shuffle_bytes_sent += done.shuffle_bytes;
        self.shuffle_bytes_kept += done.kept_bytes;
        self.shuffle_bytes_copied += done.copied_bytes;
        self.map_seconds += done.map_micros as f64 / 1e6;
        self.shuffle_seconds += done.shuffle_micros as f64 / 1e6;
    }

    /// Takes the figures a worker sends with its reduce.
    pub(super) fn add_reduce(&mut self, f: &crate::protocol::messages::WorkerFigures) {
        self.shuffle_bytes_received = f.shuffle_bytes_received;
        self.duplicates_ignored = f.duplicates_ignored;
        self.refused = f.refused;
        self.kept_bytes_spilled = f.kept_bytes_spilled;
        self.reduce_seconds = f.reduce_micros as f64 / 1e6;
    }
}
