//! The map tasks: where each one stands (pending, running with perhaps a backup copy,
//! done, failed), who keeps a finished task's outputs, and which worker gets the next one.
//! Tasks are also filed by state ([`Filed`]) so that scheduling never scans them all.

mod dispatch;
mod task;

use std::path::PathBuf;

use super::members::Members;
use super::report::{Progress, Recovery};
use crate::engine::{FileResult, Policy, Skipped};
use crate::error::Offset;
use crate::observe::status;
use crate::protocol::ids::{Attempt, Machine, TaskId};
use crate::protocol::messages::Failure;
use task::{file_in, Filed, TaskEntry, TaskState};

/// What the loss of a worker did to the tasks.
#[derive(Debug, Default)]
pub(super) struct LostTasks {
    /// Tasks to run again.
    pub again: u64,
    /// Finished tasks whose outputs its buddy will send from its copies.
    pub from_copies: u64,
    /// A task lost with its worker too often: why the job gives up.
    pub give_up: Option<String>,
}

#[derive(Debug)]
pub(super) struct Schedule {
    tasks: Tasks,
    filed: Filed,
    /// Tasks dispatched so far (orders the running tasks by age).
    dispatched: u64,
    /// The first failing task in input order, with its message.
    failure: Option<(TaskId, String)>,
}

impl Schedule {
    pub fn new(paths: Vec<PathBuf>) -> Schedule {
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
            pending: (0..tasks.len() as u32).map(TaskId).collect(),
            ..Filed::default()
        };
        Schedule {
            tasks: Tasks(tasks),
            filed,
            dispatched: 0,
            failure: None,
        }
    }

    pub fn len(&self) -> usize {
        self.tasks.0.len()
    }

    pub fn progress(&self) -> Progress {
        let mapped = |&&t: &&TaskId| match &self.tasks[t].state {
            TaskState::Running(run) => run.mapped || self.tasks[t].backup.is_some_and(|b| b.mapped),
            _ => false,
        };
        let done = self.filed.done.len();
        Progress {
            counted: done + self.filed.running.iter().filter(mapped).count(),
            done,
            tasks: self.tasks.0.len(),
        }
    }

    /// Files task `t` by its state after a change (see [`Filed`]).
    fn refile(&mut self, t: TaskId) {
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

    /// Tasks from this one on need not finish: an earlier one failed the job.
    pub fn cutoff(&self) -> TaskId {
        self.failure.as_ref().map_or(self.tasks.end(), |f| f.0)
    }

    /// The first failing task's message, if one failed.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_ref().map(|f| f.1.as_str())
    }

    /// A task before the cutoff still to finish: pending, running, or sending again.
    pub fn open(&self) -> bool {
        let cutoff = self.cutoff();
        [
            &self.filed.pending,
            &self.filed.running,
            &self.filed.resending,
        ]
        .iter()
        .any(|set| set.first().is_some_and(|&t| t < cutoff))
    }

    /// Tasks before the cutoff waiting for a worker.
    pub fn pending(&self) -> usize {
        self.filed.pending.range(..self.cutoff()).count()
    }

    /// Nothing runs and nothing is being sent again.
    pub fn idle(&self) -> bool {
        self.filed.running.is_empty() && self.filed.resending.is_empty()
    }

    /// No task is left to hand out (the job's tail).
    pub fn all_handed_out(&self) -> bool {
        self.filed.pending.is_empty()
    }

    /// Copy `(w, attempt)` of task `t` is running.
    pub fn is_running(&self, t: TaskId, w: Machine, attempt: Attempt) -> bool {
        let Some(t) = self.tasks.get(t) else {
            return false;
        };
        let first = matches!(t.state, TaskState::Running(run) if run.is(w, attempt));
        first || t.backup.is_some_and(|b| b.is(w, attempt))
    }

    /// Task `t`'s outputs are being sent again by `w`.
    pub fn is_resending(&self, t: TaskId, w: Machine) -> bool {
        self.tasks
            .get(t)
            .is_some_and(|t| t.resending && t.done_by == Some(w))
    }

    /// The copy `(w, attempt)` of `t` no longer needs a slot of its worker (its file is
    /// counted, or it finished or failed): the slot is free, if the copy still held it.
    pub fn release_slot(&mut self, t: TaskId, w: Machine, attempt: Attempt, members: &mut Members) {
        let held = self.tasks[t]
            .run_mut(w, attempt)
            .is_some_and(|run| !std::mem::replace(&mut run.mapped, true));
        if held {
            members[w].free_slot();
        }
    }

    /// Copy `(w, attempt)` of `t` has counted its file: the other copy, if it is still
    /// mapping, could only count it again, so it is cancelled (its worker abandons the map
    /// and frees the slot; the returned copy is to be told) and the mapped copy goes on
    /// alone. Two copies that have both mapped are settled at the first TaskDone
    /// ([`Schedule::done`]).
    pub fn mapped(
        &mut self,
        t: TaskId,
        w: Machine,
        attempt: Attempt,
        members: &mut Members,
        recovery: &mut Recovery,
    ) -> Option<(Machine, Attempt)> {
        let entry = &mut self.tasks[t];
        let (&TaskState::Running(first), Some(backup)) = (&entry.state, entry.backup) else {
            return None;
        };
        let (winner, other) = if backup.is(w, attempt) {
            (backup, first)
        } else {
            (first, backup)
        };
        if other.mapped {
            return None;
        }
        entry.state = TaskState::Running(winner);
        entry.backup = None;
        if winner == backup {
            recovery.backups_won += 1;
        }
        members[other.worker].free_slot();
        Some((other.worker, other.attempt))
    }

    /// Task `t` finished on `(w, attempt)`, its buddy's copies (if any) at `copy_at`: the
    /// other copy, if any, is cancelled (returned, to be told).
    pub fn done(
        &mut self,
        t: TaskId,
        (w, attempt): (Machine, Attempt),
        file: FileResult,
        copy_at: Option<Machine>,
        members: &mut Members,
        recovery: &mut Recovery,
    ) -> Vec<(Machine, Attempt)> {
        let entry = &mut self.tasks[t];
        let first = match entry.state {
            TaskState::Running(run) => Some(run),
            _ => None,
        };
        let backup = entry.backup.take();
        if backup.is_some_and(|b| b.is(w, attempt)) {
            recovery.backups_won += 1;
        }
        let mut cancel = Vec::new();
        for run in [first, backup].into_iter().flatten() {
            if run.is(w, attempt) {
                continue;
            }
            if !run.mapped {
                members[run.worker].free_slot();
            }
            cancel.push((run.worker, run.attempt));
        }
        let file = FileResult {
            path: entry.path.clone(),
            ..file
        };
        entry.state = TaskState::Done(file);
        entry.done_by = Some(w);
        entry.copy_at = copy_at;
        self.refile(t);
        cancel
    }

    /// Copy `(w, attempt)` of `t` failed: forget it. Returns whether another copy runs.
    fn drop_copy(&mut self, t: TaskId, w: Machine, attempt: Attempt) -> bool {
        let entry = &mut self.tasks[t];
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

    /// Copy `(w, attempt)` of `t` (on the worker at `addr`) failed. The task runs again
    /// elsewhere if another worker may read its file; otherwise it is skipped (skip policy)
    /// or fails the job. Returns false when the failure changes nothing (another copy goes
    /// on, and this worker just cannot read the file).
    #[allow(clippy::too_many_arguments)]
    pub fn failed(
        &mut self,
        t: TaskId,
        (w, attempt): (Machine, Attempt),
        failure: Failure,
        message: String,
        addr: &str,
        alive: &[Machine],
        policy: Policy,
    ) -> bool {
        let other = self.drop_copy(t, w, attempt);
        let elsewhere = matches!(failure, Failure::Unreadable | Failure::Stalled);
        let entry = &mut self.tasks[t];
        if elsewhere {
            entry.unreadable_on.push(w);
        }
        if other && elsewhere {
            return false;
        }
        if !elsewhere {
            entry.state = TaskState::Failed;
            self.set_failure(t, message);
        } else if alive.iter().any(|l| !entry.unreadable_on.contains(l)) {
            entry.state = TaskState::Pending;
        } else {
            let message = format!("{message} (on every worker; last on {addr})");
            if policy == Policy::Skip {
                entry.state = TaskState::Done(unread(&entry.path, message));
            } else {
                entry.state = TaskState::Failed;
                self.set_failure(t, message);
            }
        }
        self.refile(t);
        true
    }

    fn set_failure(&mut self, t: TaskId, message: String) {
        if !matches!(&self.failure, Some((f, _)) if *f <= t) {
            self.failure = Some((t, message));
        }
    }

    /// Every stall-free slot is taken and tasks wait: with nothing running or sent again,
    /// the only slots taken are stalled maps'.
    pub fn stuck(&self, members: &Members) -> bool {
        self.idle()
            && self.filed.pending.range(..self.cutoff()).next().is_some()
            && members.alive().iter().all(|&w| !members[w].has_free_slot())
    }

    /// Worker `w` was lost: its running copies stop (a backup beside them takes over), the
    /// finished tasks whose outputs it kept run again unless its buddy (alive) keeps
    /// copies of them. `blameless`: the loss says nothing about its tasks (see
    /// [`super::config::MAX_LOST_RUNS`]).
    pub fn lose(&mut self, w: Machine, alive: &[Machine], blameless: bool) -> LostTasks {
        use super::config::MAX_LOST_RUNS;
        let mut lost = LostTasks::default();
        for t in &mut self.tasks.0 {
            if t.copy_at == Some(w) {
                t.copy_at = None;
            }
            let mut lost_output = matches!(t.state, TaskState::Done(_)) && t.done_by == Some(w);
            // The buddy's copies stand for the outputs the lost worker owned, not for
            // those it was still sending again to other new owners (resending).
            if lost_output && !t.resending {
                if let Some(b) = t.copy_at.take().filter(|b| alive.contains(b)) {
                    // The buddy sends its copies (asked with the reassignment).
                    t.done_by = Some(b);
                    lost.from_copies += 1;
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
                    lost.give_up = Some(format!(
                        "{path}: its worker was lost on each of {MAX_LOST_RUNS} runs"
                    ));
                }
            }
            if lost_output || lost_run {
                t.run_again();
                lost.again += 1;
            }
        }
        for t in self.tasks.ids() {
            self.refile(t);
        }
        lost
    }

    /// The counted tasks whose outputs `v` keeps: they are all to be sent again (to the
    /// moved partitions' new owners).
    pub fn resend_all(&mut self, v: Machine) -> Vec<TaskId> {
        let resend: Vec<TaskId> = (self.tasks.ids())
            .filter(|&t| {
                // (A file no worker could read has no format, and no outputs.)
                matches!(&self.tasks[t].state, TaskState::Done(r) if r.format.is_some())
                    && self.tasks[t].done_by == Some(v)
            })
            .collect();
        for &t in &resend {
            self.tasks[t].resending = true;
            self.refile(t);
        }
        resend
    }

    /// Task `t`'s outputs are to be sent again: by the worker returned.
    pub fn resend(&mut self, t: TaskId) -> Option<Machine> {
        let w = self.tasks[t].done_by?;
        self.tasks[t].resending = true;
        self.refile(t);
        Some(w)
    }

    /// Task `t`'s outputs were sent again.
    pub fn resent(&mut self, t: TaskId) {
        self.tasks[t].resending = false;
        self.refile(t);
    }

    /// Task `t`'s outputs are lost after all: it runs again.
    pub fn run_again(&mut self, t: TaskId) {
        self.tasks[t].run_again();
        self.refile(t);
    }

    /// Every task's outcome, in input order (the job is over: every task is done).
    pub fn outcomes(&self) -> Vec<FileResult> {
        (self.tasks.0.iter())
            .map(|t| match &t.state {
                TaskState::Done(result) => result.clone(),
                // Unreachable: the reduce starts only when every task is done.
                _ => unread(&t.path, "not counted".into()),
            })
            .collect()
    }

    /// Each task's state as the status shows it, with a finished task's result.
    pub fn states(&self) -> impl Iterator<Item = (status::TaskState, Option<&FileResult>)> {
        self.tasks.0.iter().map(|t| match &t.state {
            TaskState::Pending => (status::TaskState::Pending, None),
            TaskState::Running(_) => (status::TaskState::Running, None),
            TaskState::Done(result) => (status::TaskState::Done, Some(result)),
            TaskState::Failed => (status::TaskState::Failed, None),
        })
    }
}

/// The tasks' entries, by task.
#[derive(Debug)]
struct Tasks(Vec<TaskEntry>);

impl Tasks {
    fn get(&self, t: TaskId) -> Option<&TaskEntry> {
        self.0.get(t.index())
    }

    /// The task after the last one.
    fn end(&self) -> TaskId {
        TaskId(self.0.len() as u32)
    }

    fn ids(&self) -> impl Iterator<Item = TaskId> {
        (0..self.0.len() as u32).map(TaskId)
    }
}

impl std::ops::Index<TaskId> for Tasks {
    type Output = TaskEntry;

    fn index(&self, t: TaskId) -> &TaskEntry {
        &self.0[t.index()]
    }
}

impl std::ops::IndexMut<TaskId> for Tasks {
    fn index_mut(&mut self, t: TaskId) -> &mut TaskEntry {
        &mut self.0[t.index()]
    }
}

/// The result of a file skipped unread, for `what` reason.
fn unread(path: &std::path::Path, what: String) -> FileResult {
    let mut result = FileResult::new(path);
    result.skipped.push(Skipped {
        at: Offset::Plain { offset: 0 },
        what,
        bytes: 0,
    });
    result
}

#[cfg(test)]
mod tests;
