//! One task's record: its state, its running copies, and who keeps its outputs; and the
//! index of tasks by state.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::engine::FileResult;
use crate::protocol::codec::path_to_bytes;
use crate::protocol::ids::{Attempt, JobId, Machine, TaskId};
use crate::protocol::messages::Task;

#[derive(Debug)]
pub(super) enum TaskState {
    Pending,
    /// Its first copy runs (a backup may run beside it).
    Running(Run),
    Done(FileResult),
    Failed,
}

/// One copy of a task handed to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    pub worker: Machine,
    pub attempt: Attempt,
    /// Its file is counted (Mapped): it no longer holds one of the worker's slots, only
    /// waits for its partitions to be acknowledged.
    pub mapped: bool,
}

impl Run {
    pub fn new(worker: Machine, attempt: Attempt) -> Run {
        Run {
            worker,
            attempt,
            mapped: false,
        }
    }

    pub fn is(&self, worker: Machine, attempt: Attempt) -> bool {
        self.worker == worker && self.attempt == attempt
    }
}

#[derive(Debug)]
pub(super) struct TaskEntry {
    pub path: PathBuf,
    pub state: TaskState,
    /// The worker that keeps the finished task's outputs: the one whose attempt finished
    /// it, or, once that one is lost, its buddy (which keeps copies of some of them).
    pub done_by: Option<Machine>,
    /// The buddy of `done_by` that keeps copies of its outputs for its own partitions.
    pub copy_at: Option<Machine>,
    /// Its outputs for moved partitions are being sent again.
    pub resending: bool,
    /// A backup copy running beside the first.
    pub backup: Option<Run>,
    /// Dispatch order of its current run (the oldest running task is backed up first).
    pub started: u64,
    pub attempts: u32,
    /// Workers that could not read the file.
    pub unreadable_on: Vec<Machine>,
    /// Runs lost with their worker.
    pub lost_runs: u32,
}

impl TaskEntry {
    /// Back to the queue: whatever it produced or was producing is lost.
    pub fn run_again(&mut self) {
        self.state = TaskState::Pending;
        self.done_by = None;
        self.copy_at = None;
        self.resending = false;
    }

    /// The copy `(worker, attempt)`, if it runs.
    pub fn run_mut(&mut self, worker: Machine, attempt: Attempt) -> Option<&mut Run> {
        let first = match &mut self.state {
            TaskState::Running(run) => Some(run),
            _ => None,
        };
        first
            .into_iter()
            .chain(self.backup.as_mut())
            .find(|r| r.is(worker, attempt))
    }

    /// A new attempt of it, for `job`.
    pub fn next_attempt(&mut self, job: JobId, t: TaskId) -> (Attempt, Task) {
        self.attempts += 1;
        let attempt = Attempt(self.attempts);
        let task = Task {
            job,
            task: t,
            attempt,
            path: path_to_bytes(&self.path),
        };
        (attempt, task)
    }
}

/// The tasks by where they stand, kept beside their entries so that scheduling never scans
/// them all: with a crawl's 90,000 tasks, a scan per event made the coordinator's work
/// quadratic (70,000 tasks took over 150 s of its CPU). Every change to a task's state or
/// `resending` flag is followed by [`super::Schedule::refile`].
#[derive(Debug, Default)]
pub(super) struct Filed {
    pub pending: BTreeSet<TaskId>,
    pub running: BTreeSet<TaskId>,
    pub resending: BTreeSet<TaskId>,
    pub done: BTreeSet<TaskId>,
}

/// Puts `t` in `set` or takes it out.
pub(super) fn file_in(set: &mut BTreeSet<TaskId>, t: TaskId, member: bool) {
    if member {
        set.insert(t);
    } else {
        set.remove(&t);
    }
}
