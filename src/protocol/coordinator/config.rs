//! What the coordinator is told (the job's settings, its limits) and what it asks of its
//! driver ([`Action`]).

use std::time::Duration;

use super::report::{JobError, JobOutput};
use crate::engine::Job;
use crate::net::frame::Outgoing;
use crate::protocol::ids::{JobId, Machine};
use crate::protocol::messages::{DownloadSpec, ServedInputs};

/// What to count, and how to cut the job.
#[derive(Debug, Clone)]
pub struct JobConfig {
    pub job: JobId,
    /// What each map counts, and how.
    pub count: Job,
    pub min_count: u64,
    pub top: Option<usize>,
    /// R; `None`: [`PARTITIONS_PER_WORKER`] per worker.
    pub partitions: Option<u32>,
    /// How long the listed workers have to accept the connection and answer the greeting;
    /// those that have not by then are left out.
    pub greeting_timeout: Duration,
    /// How often workers send a Heartbeat, and how long a worker may stay silent before
    /// it is declared lost.
    pub heartbeat_interval: Duration,
    pub heartbeat_timeout: Duration,
    /// Run backup copies of the last running tasks on idle workers.
    pub backup_tasks: bool,
    /// How workers fetch URL tasks.
    pub downloads: DownloadSpec,
    /// Where workers fetch the other tasks' files, when the coordinator serves them.
    pub served: Option<ServedInputs>,
}

/// How long workers have to accept the connection and answer the greeting, by default.
pub const GREETING_TIMEOUT: Duration = Duration::from_secs(10);

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
/// tasks (see `Timers::allowed_silence`).
pub const SUSPECT_AFTER_INTERVALS: u32 = 4;

/// Threads or slots a worker may claim in its Welcome, at most.
pub const MAX_WORKER_THREADS: u32 = 1 << 16;

/// What the driver must do.
#[derive(Debug)]
pub enum Action {
    /// Open a connection to this worker again, and report it with
    /// [`super::Coordinator::connected`] or [`super::Coordinator::lost`]: a worker not in
    /// the job (lost, or never reached) may join it.
    Connect(Machine),
    Send(Machine, Outgoing),
    /// Close the connection to the worker (after what is queued).
    Close(Machine),
    Log(String),
    /// The job is over, one way or the other. Nothing follows.
    Finished(Box<Result<JobOutput, JobError>>),
}
