//! What the worker asks of its driver ([`Action`]), the CPU work it hands out and what that
//! work gives back ([`Completion`]), and the worker's limits.

use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::FileResult;
use crate::net::frame::{Outgoing, Payload};
use crate::protocol::ids::{Attempt, JobId, Member, PartitionId, TaskId};
use crate::protocol::kept::Found;
use crate::protocol::messages::{Failure, JobSpec, PartitionAck};

/// A connection, as the driver names it.
pub use crate::net::conns::ConnId;

/// Where a frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dest {
    /// An open connection (to the coordinator, or back to a peer).
    Conn(ConnId),
    /// The job's worker of this index; the driver connects to it on first use and opens
    /// the connection with [`super::Worker::peer_hello`].
    Peer(Member),
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
        owned: Vec<PartitionId>,
    },
    Map(MapOrder),
    /// Stop the map of this attempt early (another copy won): it completes at once with an
    /// error that is ignored.
    Abandon {
        job: JobId,
        task: TaskId,
        attempt: Attempt,
    },
    Merge(MergeOrder),
    /// Rank the owned partitions' words (tf ≥ `min_count`, at most `top` each) and complete
    /// with [`Completion::Ranked`].
    Rank {
        job: JobId,
        owned: Vec<PartitionId>,
        min_count: u64,
        top: Option<u64>,
    },
    /// Write kept frames to the job's spill file, each at its offset, and complete with
    /// [`Completion::Spilled`].
    Spill {
        job: JobId,
        frames: Vec<(u64, Outgoing)>,
    },
    /// Read kept frames back from the job's spill file and complete with
    /// [`Completion::Loaded`].
    Load(LoadOrder),
    /// The job is over: drop its tables (and its spill file).
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
    pub task: TaskId,
    pub attempt: Attempt,
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

/// Kept frames of one task to have in memory, for `then`.
#[derive(Debug)]
pub struct LoadOrder {
    pub job: JobId,
    pub task: TaskId,
    pub attempt: Attempt,
    pub then: Reload,
    /// By partition: the frame, in memory or in the spill file.
    pub frames: Vec<(PartitionId, Found)>,
}

/// What kept frames are read back for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// To send them to their owners (a copy of those owned here to the buddy).
    Send,
    /// To copy them to the buddy.
    Copy,
}

/// What a map task produced.
#[derive(Debug)]
pub struct MapOutput {
    pub file: FileResult,
    /// One encoded Partition frame per partition, by partition number.
    pub frames: Vec<Outgoing>,
}

/// CPU work finished.
#[derive(Debug)]
pub enum Completion {
    Mapped {
        job: JobId,
        task: TaskId,
        attempt: Attempt,
        micros: u64,
        result: Result<MapOutput, (Failure, String)>,
    },
    Merged {
        job: JobId,
        from: Option<ConnId>,
        head: PartitionAck,
        result: Result<(), String>,
    },
    /// The encoded Ranked frames of every owned partition.
    Ranked {
        job: JobId,
        frames: Result<Vec<Vec<u8>>, String>,
    },
    /// Kept frames written to the spill file, by offset.
    Spilled {
        job: JobId,
        offsets: Vec<u64>,
        result: Result<(), String>,
    },
    /// Kept frames read back, by partition.
    Loaded {
        job: JobId,
        task: TaskId,
        attempt: Attempt,
        then: Reload,
        frames: Result<Vec<(PartitionId, Outgoing)>, String>,
    },
}
