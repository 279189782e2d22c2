//! The coordinator's status document: what `/status.json` serves and the status page, the
//! terminal bars and the report are drawn from. The coordinator's event loop builds one
//! ([`crate::protocol::coordinator::Coordinator::status`]) now and then and publishes it
//! ([`Board`]); readers take the latest and never wait for the loop.
//!
//! Times are seconds since the job started. The document's fields are listed in the
//! README ("Status page"); `version` changes when one changes meaning.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

use crate::protocol::coordinator::Recovery;

/// The version of the document's layout.
pub const STATUS_VERSION: u32 = 1;

/// A running (or finished) cluster job, as the coordinator sees it. Serialized through
/// [`JobStatus::document`] (its `files` and `tasks` whole, or only what changed).
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub version: u32,
    /// This status's number: 1, 2, … as the coordinator publishes them.
    pub seq: u64,
    /// The job's id, in hex (as workers' logs name it).
    pub job: String,
    pub phase: JobPhase,
    /// Why the job failed, once it has.
    pub error: Option<String>,
    pub elapsed: f64,
    pub progress: JobProgress,
    /// R, once the job has started.
    pub partitions: u32,
    pub workers: Vec<WorkerStatus>,
    /// The inputs, by task number.
    #[serde(skip)]
    pub files: Arc<Vec<String>>,
    /// By task number.
    #[serde(skip)]
    pub tasks: TaskList,
    /// Failures and recoveries, in the order they happened.
    pub events: Vec<Event>,
    pub recovery: Recovery,
    /// The downloads of the finished URL tasks (none when no input is a URL).
    pub downloads: Option<DownloadTotals>,
}

/// The serialized status: every file and task, or (`since`) those of the tasks that
/// changed after status number `since` (at least those: pages of tasks go whole).
#[derive(Serialize)]
#[serde(untagged)]
pub enum Document<'a> {
    Whole {
        #[serde(flatten)]
        status: &'a JobStatus,
        files: &'a [String],
        tasks: &'a TaskList,
    },
    Changes {
        #[serde(flatten)]
        status: &'a JobStatus,
        tasks_since: u64,
        task_changes: Changes<'a>,
    },
}

impl JobStatus {
    pub fn document(&self, since: Option<u64>) -> Document<'_> {
        match since {
            None => Document::Whole {
                status: self,
                files: &self.files,
                tasks: &self.tasks,
            },
            Some(since) => Document::Changes {
                status: self,
                tasks_since: since,
                task_changes: Changes {
                    status: self,
                    since,
                },
            },
        }
    }
}

/// The tasks by task number, in pages of [`TaskList::PAGE`] shared between successive
/// statuses: the coordinator rebuilds only the pages where a task changed, so a status of a
/// job of 100,000 files costs what its changes cost, and a reader can ask for those alone.
#[derive(Debug, Clone, Default)]
pub struct TaskList {
    pages: Vec<Arc<TaskPage>>,
}

/// Tasks `first..first + tasks.len()`, as of status `seq`.
#[derive(Debug)]
pub struct TaskPage {
    pub seq: u64,
    pub tasks: Vec<TaskStatus>,
}

impl TaskList {
    pub const PAGE: usize = 256;

    pub fn new(pages: Vec<Arc<TaskPage>>) -> TaskList {
        TaskList { pages }
    }

    pub fn pages(&self) -> &[Arc<TaskPage>] {
        &self.pages
    }

    pub fn len(&self) -> usize {
        self.pages.iter().map(|p| p.tasks.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, t: usize) -> Option<&TaskStatus> {
        self.pages.get(t / Self::PAGE)?.tasks.get(t % Self::PAGE)
    }

    pub fn iter(&self) -> impl Iterator<Item = &TaskStatus> {
        self.pages.iter().flat_map(|p| p.tasks.iter())
    }

    /// `(task number, task)` of the pages changed after status `since`.
    pub fn changed_since(&self, since: u64) -> impl Iterator<Item = (usize, &TaskStatus)> {
        (self.pages.iter().enumerate())
            .filter(move |(_, p)| p.seq > since)
            .flat_map(|(i, p)| {
                (p.tasks.iter().enumerate()).map(move |(j, t)| (i * Self::PAGE + j, t))
            })
    }
}

impl Serialize for TaskList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// The tasks changed after a status, each with its number and file.
pub struct Changes<'a> {
    status: &'a JobStatus,
    since: u64,
}

#[derive(Serialize)]
struct Change<'a> {
    task: usize,
    file: Option<&'a String>,
    #[serde(flatten)]
    status: &'a TaskStatus,
}

impl Serialize for Changes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let files = &self.status.files;
        serializer.collect_seq(
            self.status
                .tasks
                .changed_since(self.since)
                .map(|(task, status)| Change {
                    task,
                    file: files.get(task),
                    status,
                }),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobPhase {
    /// Greeting the workers of the machines list.
    Connecting,
    /// Sending them the job.
    Preparing,
    Mapping,
    Reducing,
    /// Every partition ranked: the coordinator merges and writes the outputs.
    Finished,
    Failed,
}

impl JobPhase {
    /// Its name in the document.
    pub fn name(self) -> &'static str {
        match self {
            JobPhase::Connecting => "connecting",
            JobPhase::Preparing => "preparing",
            JobPhase::Mapping => "mapping",
            JobPhase::Reducing => "reducing",
            JobPhase::Finished => "finished",
            JobPhase::Failed => "failed",
        }
    }
}

/// How far the job is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct JobProgress {
    pub files: u64,
    pub files_done: u64,
    pub files_running: u64,
    pub files_pending: u64,
    pub files_failed: u64,
    /// The inputs' total size, when every one's is known (not for URLs).
    pub bytes_total: Option<u64>,
    /// Bytes of finished tasks' files, plus what running maps have read.
    pub bytes_done: u64,
    /// Bytes per second over the last few seconds.
    pub rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkerStatus {
    pub address: String,
    pub state: WorkerState,
    pub threads: u32,
    pub slots: u32,
    pub partitions_owned: u32,
    /// The tasks it runs now (task numbers).
    pub running: Vec<u32>,
    pub tasks_done: u64,
    /// Bytes of its finished tasks' files.
    pub bytes_in: u64,
    /// Bytes its running maps have read so far.
    pub bytes_reading: u64,
    pub records: u64,
    pub shuffle_bytes_sent: u64,
    pub shuffle_bytes_received: u64,
    pub shuffle_bytes_kept: u64,
    /// Input bytes per second over the last few seconds.
    pub rate: f64,
    /// Seconds since it was last heard from, and the heartbeats that makes it miss.
    pub silent_for: f64,
    pub heartbeats_missed: u32,
    /// Why it was lost, the last time it was.
    pub lost: Option<String>,
    /// Times it joined the running job.
    pub joined: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Not answered yet.
    Connecting,
    /// Joining the running job.
    Joining,
    Working,
    /// Out of the job (lost, or never reached): see `lost`.
    Lost,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskStatus {
    pub state: TaskState,
    pub attempts: Vec<AttemptStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Pending,
    Running,
    Done,
    Failed,
}

/// One copy of a task handed to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AttemptStatus {
    pub attempt: u32,
    /// Index in `workers`.
    pub worker: u32,
    /// A backup copy of a running task.
    pub backup: bool,
    pub started: f64,
    /// When its file was counted (its shuffle then finishes).
    pub mapped: Option<f64>,
    pub ended: Option<f64>,
    pub outcome: AttemptOutcome,
    /// Input bytes read, as its worker last said.
    pub bytes_read: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Running,
    Done,
    Failed,
    /// Another copy won.
    Cancelled,
    /// Its worker was lost.
    Lost,
}

/// A failure or a recovery.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at: f64,
    pub kind: EventKind,
    /// Index in `workers`, if it concerns one.
    pub worker: Option<u32>,
    /// Task number, if it concerns one.
    pub task: Option<u32>,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    WorkerLost,
    WorkerJoined,
    TaskFailed,
    BackupStarted,
    JobFailed,
}

/// The finished URL tasks' downloads, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DownloadTotals {
    pub files: u64,
    pub bytes: u64,
    pub requests: u64,
    pub retries: u64,
    pub resumes: u64,
    pub backoff_seconds: f64,
}

/// Where the coordinator's loop publishes its latest status, and readers take it: a
/// pointer swap under a lock held for no longer than that.
#[derive(Debug, Default)]
pub struct Board {
    latest: Mutex<Published>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Published {
    status: Option<Arc<JobStatus>>,
    /// Bumped at each publication; the job's last one is `closed`.
    serial: u64,
    closed: bool,
}

impl Board {
    pub fn publish(&self, status: JobStatus, last: bool) {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        latest.status = Some(Arc::new(status));
        latest.serial += 1;
        latest.closed |= last;
        drop(latest);
        self.changed.notify_all();
    }

    /// No status will follow (the job ended, perhaps before its last was published).
    pub fn close(&self) {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        latest.closed = true;
        drop(latest);
        self.changed.notify_all();
    }

    /// The latest status, if one was published.
    pub fn latest(&self) -> Option<Arc<JobStatus>> {
        let latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        latest.status.clone()
    }

    /// Waits up to `timeout` for a status newer than `serial`: the newest, its serial, and
    /// whether it is the job's last.
    pub fn wait_newer(
        &self,
        serial: u64,
        timeout: Duration,
    ) -> (Option<Arc<JobStatus>>, u64, bool) {
        let latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        let (latest, _) = self
            .changed
            .wait_timeout_while(latest, timeout, |p| p.serial == serial && !p.closed)
            .unwrap_or_else(PoisonError::into_inner);
        (latest.status.clone(), latest.serial, latest.closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_names_are_the_documents() {
        use JobPhase::*;
        for phase in [Connecting, Preparing, Mapping, Reducing, Finished, Failed] {
            let json = serde_json::to_string(&phase).unwrap();
            assert_eq!(json, format!("\"{}\"", phase.name()));
        }
    }

    #[test]
    fn a_reader_waits_for_news_or_the_end() {
        let board = Board::default();
        let (none, serial, closed) = board.wait_newer(0, Duration::from_millis(1));
        assert!(none.is_none() && serial == 0 && !closed);
        board.close();
        // Closed: no wait, whatever the serial.
        let started = std::time::Instant::now();
        let (_, _, closed) = board.wait_newer(0, Duration::from_secs(30));
        assert!(closed && started.elapsed() < Duration::from_secs(5));
    }
}
