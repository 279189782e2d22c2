//! The messages of the wire protocol: one rkyv type per message. How they become frames,
//! and which kind each one is, is [`super::codec`]'s.
//!
//! The conversation, for one job:
//!
//! ```text
//! coordinator → worker   Hello, Job, Task…, Reduce, JobEnd
//! worker → coordinator   Welcome, JobReady, (Mapped, TaskDone) | TaskFailed…, Ranked…,
//!                        ReduceDone
//! worker → worker        Hello (as a peer), Partition…    (replies: PartitionAck…)
//!                        Copy… to its buddy               (replies: Kept…)
//! either way             Refused, then the connection is closed
//! ```

use super::ids::{Attempt, JobId, Member, PartitionId, TaskId};
use crate::engine::{FileResult, Job};
use crate::partition::WordBlock;

/// Who opens a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Role {
    Coordinator,
    /// Another worker of the job, pushing partitions.
    Peer,
}

/// The first message on every connection, from the side that opened it.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Hello {
    pub role: Role,
    /// For a peer: the job and its own index in the job's worker list.
    pub job: JobId,
    pub worker: Member,
}

/// A worker's answer to a coordinator's Hello.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Welcome {
    pub threads: u32,
    /// Map tasks it runs at once.
    pub slots: u32,
}

/// The partition function of a job. There is one; naming it in the job keeps every
/// process honest about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum PartitionHash {
    /// [`crate::partition::PARTITION_HASH`].
    Xxh3Seed0Mod,
}

/// The job description, sent to every worker of the job.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct JobSpec {
    pub job: JobId,
    /// What each map counts, and how: the engine's own job description.
    pub count: Job,
    pub hash: PartitionHash,
    /// R, the number of partitions.
    pub partitions: u32,
    /// Addresses of the job's workers, by index. A worker that joins a running job gets
    /// the next index; later lists (Adopt, Reassign) extend this one.
    pub workers: Vec<String>,
    /// The receiver's index in `workers`.
    pub you: Member,
    /// The owner (index in `workers`) of each partition: `p mod W` when the job starts,
    /// the table of the last reassignment for a worker that joins later.
    pub owners: Vec<Member>,
    /// The reassignment `owners` comes from (0 at the start).
    pub epoch: u32,
    /// The worker that keeps a copy of what the receiver produces for its own partitions
    /// (see [`Kind::Copy`](super::codec::Kind::Copy)); `None` when it is the only worker.
    pub buddy: Option<Member>,
    /// How often a worker says it is alive (Heartbeat).
    pub heartbeat_ms: u32,
    /// The job's tasks: every task id is below it.
    pub tasks: u32,
    /// How URL tasks are fetched (the coordinator's download options; credentials are
    /// each worker's own).
    pub downloads: DownloadSpec,
    /// The coordinator serves the job's files (`--serve-inputs`): a worker fetches each
    /// task that is not a URL from it.
    pub served: Option<ServedInputs>,
}

/// Where a worker fetches a served job's files: `http://COORDINATOR:PORT/TOKEN/TASK`, the
/// coordinator's address being the one the worker's connection comes from.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct ServedInputs {
    pub port: u16,
    pub token: String,
}

/// The download options of a job, as `count`'s command line gives them.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct DownloadSpec {
    pub downloads: u32,
    pub max_retries: u32,
    pub retry_for_ms: u64,
    pub retry_wait_ms: u64,
    pub read_timeout_ms: u64,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    /// `--cache-dir`, on each worker's own disk.
    pub cache_dir: Option<String>,
}

impl DownloadSpec {
    pub fn new(settings: &crate::remote::Settings) -> DownloadSpec {
        let ms = |d: std::time::Duration| d.as_millis().min(u64::MAX as u128) as u64;
        DownloadSpec {
            downloads: settings.downloads as u32,
            max_retries: settings.max_retries,
            retry_for_ms: ms(settings.retry_for),
            retry_wait_ms: ms(settings.retry_wait),
            read_timeout_ms: ms(settings.read_timeout),
            s3_endpoint: settings.s3_endpoint.clone(),
            s3_region: settings.s3_region.clone(),
            cache_dir: settings
                .cache_dir
                .as_ref()
                .map(|dir| dir.to_string_lossy().into_owned()),
        }
    }

    /// The settings a worker fetches with (`log`: print its retry lines).
    pub fn settings(&self, log: bool) -> crate::remote::Settings {
        let ms = std::time::Duration::from_millis;
        crate::remote::Settings {
            downloads: (self.downloads as usize).clamp(1, 10),
            max_retries: self.max_retries,
            retry_for: ms(self.retry_for_ms),
            retry_wait: ms(self.retry_wait_ms.max(1)),
            read_timeout: ms(self.read_timeout_ms.max(1)),
            s3_endpoint: self.s3_endpoint.clone(),
            s3_region: self.s3_region.clone(),
            cache_dir: self.cache_dir.as_ref().map(std::path::PathBuf::from),
            log,
        }
    }
}

/// Names a job in messages that need nothing else.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct JobRef {
    pub job: JobId,
}

/// A worker is alive and serving the job (every `heartbeat_ms`), and how far its maps have
/// read (for the coordinator's progress bar and status page; nothing is decided on it).
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Heartbeat {
    pub job: JobId,
    pub maps: Vec<MapReading>,
}

/// Input bytes a running map attempt has read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct MapReading {
    pub task: TaskId,
    pub attempt: Attempt,
    pub bytes: u64,
}

/// A map task: count one input file.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Task {
    pub job: JobId,
    pub task: TaskId,
    pub attempt: Attempt,
    /// The path as bytes (paths need not be UTF-8).
    pub path: Vec<u8>,
}

/// A map task's file is counted; its partitions are on their way (TaskDone follows when
/// they are all acknowledged). The worker's slot is free for another task meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Mapped {
    pub job: JobId,
    pub task: TaskId,
    pub attempt: Attempt,
}

/// A map task finished and every reducer acknowledged its partitions.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct TaskDone {
    pub job: JobId,
    pub task: TaskId,
    pub attempt: Attempt,
    /// The engine's result for the task's file (its path is the task's).
    pub file: FileResult,
    /// Bytes of partition frames sent to other workers.
    pub shuffle_bytes: u64,
    /// Bytes of partition frames for partitions this worker owns (not sent).
    pub kept_bytes: u64,
    pub map_micros: u64,
    pub shuffle_micros: u64,
    /// The sender's reassignment epoch when every partition was acknowledged.
    pub epoch: u32,
    /// The buddy that acknowledged a copy of every partition the sender owns (see
    /// [`Kind::Copy`](super::codec::Kind::Copy)), if any.
    pub copied_to: Option<Member>,
    /// Bytes of those copies.
    pub copied_bytes: u64,
}

/// Why a task failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Failure {
    /// This worker cannot read the file: another worker may.
    Unreadable,
    /// The file is damaged (under the strict policy): no worker will do better.
    Damaged,
    /// Anything else that no retry will change (e.g. a partition too large to send).
    Fatal,
    /// The map made no progress for the worker's `--stall-timeout` (a read that does not
    /// return, as on a hung network file system): another worker may do better. The
    /// thread it holds is not free: the task keeps its slot on this worker.
    Stalled,
}

#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct TaskFailed {
    pub job: JobId,
    pub task: TaskId,
    pub attempt: Attempt,
    pub failure: Failure,
    /// The error as the local engine words it.
    pub message: String,
}

/// One map task's words for one partition, pushed to the partition's owner.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Partition {
    pub job: JobId,
    pub task: TaskId,
    pub attempt: Attempt,
    pub partition: PartitionId,
    pub words: WordBlock,
}

/// A reducer has applied (or already had) a task's data for a partition. The same fields
/// head a copy ([`Kind::Copy`](super::codec::Kind::Copy)) and, as [`Kept`], acknowledge one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct PartitionAck {
    pub job: JobId,
    pub task: TaskId,
    pub attempt: Attempt,
    pub partition: PartitionId,
}

/// A buddy keeps a copy ([`Kind::Copy`](super::codec::Kind::Copy)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Kept {
    pub head: PartitionAck,
    /// The buddy's index in the job (a late answer from a former buddy does not count).
    pub keeper: Member,
}

/// Partitions changed owner (their owner was lost): every live worker gets the new owner of
/// each partition, and the tasks whose outputs it must send again for the partitions that
/// moved (it keeps its map outputs until the job ends).
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Reassign {
    pub job: JobId,
    /// Counts reassignments; reports carry the epoch their sender had.
    pub epoch: u32,
    /// The owner (job worker index) of each partition.
    pub owners: Vec<Member>,
    /// The job's workers by index (those that joined since included).
    pub workers: Vec<String>,
    /// The partitions that moved.
    pub moved: Vec<PartitionId>,
    /// Finished tasks of the receiver whose outputs for `moved` must be sent again (from
    /// its own outputs, or from the copies it keeps as a buddy).
    pub resend: Vec<TaskId>,
    /// The receiver's buddy from now on (see [`JobSpec::buddy`]).
    pub buddy: Option<Member>,
}

/// First step of a reassignment, to the workers that inherit partitions only: take the new
/// owners table, so that partitions sent to them after the Reassign are theirs. Answered
/// with Adopted; the Reassign to every worker follows when all heirs answered.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Adopt {
    pub job: JobId,
    pub epoch: u32,
    pub owners: Vec<Member>,
    /// The job's workers by index (those that joined since included).
    pub workers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Adopted {
    pub job: JobId,
    pub epoch: u32,
}

/// Another copy of this task won: drop this attempt (its map result, its shuffle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Cancel {
    pub job: JobId,
    pub task: TaskId,
    pub attempt: Attempt,
}

/// Send a finished task's outputs for these partitions again (its report predates a
/// reassignment).
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Resend {
    pub job: JobId,
    pub task: TaskId,
    pub partitions: Vec<PartitionId>,
}

/// A task's outputs for moved partitions were sent again and acknowledged, or could not
/// be: the sender keeps no output for the partitions in `lacking` (it held only copies of
/// some), and the task must run again.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Resent {
    pub job: JobId,
    pub task: TaskId,
    pub epoch: u32,
    pub bytes: u64,
    pub lacking: Vec<PartitionId>,
}

/// All map tasks are done: rank these partitions (owned by the receiver) and send them.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Reduce {
    pub job: JobId,
    pub partitions: Vec<PartitionId>,
    pub min_count: u64,
    /// Each partition sends at most this many words (the global top K is among them).
    pub top: Option<u64>,
}

/// A piece of a reduced partition, in output order; pieces come in order, the last one
/// says so.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Ranked {
    pub job: JobId,
    pub partition: PartitionId,
    pub last: bool,
    /// On the last piece: the partition's frequency spectrum, of every word before
    /// `min_count` and `top` (`(tf, words)`, tf strictly descending); empty on the others.
    pub spectrum: Vec<(u64, u64)>,
    pub words: WordBlock,
}

/// A worker's figures for the job, sent after its last Ranked piece.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct WorkerFigures {
    pub shuffle_bytes_received: u64,
    pub duplicates_ignored: u64,
    pub reduce_micros: u64,
    /// Kept map outputs written to the spill file, beyond the memory budget.
    pub kept_bytes_spilled: u64,
    /// Messages refused as invalid (malformed, or naming what does not exist) and
    /// connections closed for what their peer did, while the job ran.
    pub refused: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct ReduceDone {
    pub job: JobId,
    pub figures: WorkerFigures,
}

/// Why a peer was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum RefuseReason {
    /// The worker serves another coordinator's job.
    Busy,
    /// The message names a job the receiver does not have.
    UnknownJob,
    /// The message is not valid where it arrived.
    Protocol,
    /// The worker cannot go on with its job (e.g. its spill file failed) and leaves it:
    /// the coordinator recovers as from a lost worker.
    Leaving,
    /// Every thread of the worker is stuck in a map that made no progress: it takes no
    /// job until they come back (or it is restarted).
    Stuck,
}

#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Refused {
    pub reason: RefuseReason,
    pub detail: String,
}

/// The largest R a job may have (workers refuse more).
pub const MAX_PARTITIONS: u32 = 1 << 16;
