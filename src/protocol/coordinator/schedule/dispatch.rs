//! Handing out tasks: pending ones to the workers with the most free slots, then, in the
//! job's tail, backup copies of the oldest running ones.

use super::task::{Run, TaskState};
use super::Schedule;
use crate::protocol::coordinator::members::Members;
use crate::protocol::coordinator::report::Recovery;
use crate::protocol::ids::{JobId, Machine, TaskId};
use crate::protocol::messages::Task;

/// A task handed to a worker.
#[derive(Debug)]
pub(in crate::protocol::coordinator) struct Handout {
    pub worker: Machine,
    pub task: Task,
    /// A backup copy of a running task.
    pub backup: bool,
}
impl Schedule {
    /// Gives pending tasks, in input order, to workers with free slots (the one with the
    /// most free slots first), skipping workers known not to read a file; then, with
    /// `backups`, idle slots to backup copies. Each task handed out costs O(log n + W); it
    /// stops as soon as no slot is free.
    pub fn dispatch(
        &mut self,
        job: JobId,
        backups: bool,
        members: &mut Members,
        recovery: &mut Recovery,
    ) -> Vec<Handout> {
        let cutoff = self.cutoff();
        let alive = members.alive();
        let mut out = Vec::new();
        let mut next = self.filed.pending.range(..cutoff).next().copied();
        while let Some(t) = next {
            next = self
                .filed
                .pending
                .range(TaskId(t.0 + 1)..cutoff)
                .next()
                .copied();
            if !alive.iter().any(|&w| members[w].has_free_slot()) {
                break;
            }
            let best = alive
                .iter()
                .copied()
                .filter(|w| !self.tasks[t].unreadable_on.contains(w))
                .filter(|&w| members[w].has_free_slot())
                .max_by_key(|&w| {
                    let e = &members[w];
                    (e.report.slots - e.running, std::cmp::Reverse(w))
                });
            let Some(w) = best else { continue };
            let entry = &mut self.tasks[t];
            let (attempt, task) = entry.next_attempt(job, t);
            entry.state = TaskState::Running(Run::new(w, attempt));
            entry.backup = None;
            self.dispatched += 1;
            entry.started = self.dispatched;
            self.refile(t);
            members[w].running += 1;
            out.push(Handout {
                worker: w,
                task,
                backup: false,
            });
        }
        if backups {
            self.launch_backups(job, &alive, members, recovery, &mut out);
        }
        out
    }

    /// When no task is left to hand out, idle slots run backup copies of the oldest
    /// running tasks (a straggler's); the first copy to finish wins (MapReduce's backup
    /// tasks). Each task has at most one backup, never on the worker of the first copy,
    /// and none once its file is counted (only its shuffle is left: a copy would wait on
    /// the same reducers).
    fn launch_backups(
        &mut self,
        job: JobId,
        alive: &[Machine],
        members: &mut Members,
        recovery: &mut Recovery,
        out: &mut Vec<Handout>,
    ) {
        let cutoff = self.cutoff();
        if self.filed.pending.range(..cutoff).next().is_some() {
            return;
        }
        let mut running: Vec<TaskId> = (self.filed.running.range(..cutoff).copied())
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
            let idle = alive
                .iter()
                .copied()
                .filter(|&w| w != first && !self.tasks[t].unreadable_on.contains(&w))
                .find(|&w| members[w].has_free_slot());
            let Some(w) = idle else { return };
            let entry = &mut self.tasks[t];
            let (attempt, task) = entry.next_attempt(job, t);
            entry.backup = Some(Run::new(w, attempt));
            members[w].running += 1;
            recovery.backups_launched += 1;
            out.push(Handout {
                worker: w,
                task,
                backup: true,
            });
        }
    }
}
