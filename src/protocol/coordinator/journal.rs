//! The job's history, for people: every copy of every task handed out (when, where, how it
//! ended) and every failure and recovery, timed from the job's start. The scheduling state
//! ([`super::schedule`]) keeps only what decides what happens next; this is what the
//! status page's timeline and the report's Gantt chart are drawn from. Nothing here is
//! read back by the coordinator's decisions.

use std::collections::HashMap;
use std::time::Instant;

use crate::observe::status::{AttemptOutcome, AttemptStatus, Event, EventKind, TaskList};
use crate::protocol::ids::{Attempt, Machine, TaskId};

/// Events kept at most (a job losing workers in a loop would otherwise grow it without
/// bound); past it, the oldest half goes.
const MAX_EVENTS: usize = 10_000;

#[derive(Debug)]
pub(super) struct Journal {
    started: Instant,
    /// The time of the event being handled (the driver's clock, as last given).
    now: Instant,
    pub attempts: Vec<AttemptStatus>,
    /// Each task's attempt records (indices in `attempts`), by task number.
    by_task: Vec<Vec<u32>>,
    /// By page of [`TaskList::PAGE`] tasks: a record of one of its tasks changed since
    /// [`Journal::take_touched`] was last called.
    touched: Vec<bool>,
    /// The records of the attempts still running, by (task, attempt).
    open: HashMap<(TaskId, Attempt), usize>,
    pub events: Vec<Event>,
}

impl Journal {
    pub fn new(started: Instant) -> Journal {
        Journal {
            started,
            now: started,
            attempts: Vec::new(),
            by_task: Vec::new(),
            touched: Vec::new(),
            open: HashMap::new(),
            events: Vec::new(),
        }
    }

    /// The time is `now` (never earlier than before).
    pub fn at(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// Seconds since the job started, now.
    pub fn secs(&self) -> f64 {
        self.now
            .saturating_duration_since(self.started)
            .as_secs_f64()
    }

    pub fn started(&mut self, t: TaskId, attempt: Attempt, w: Machine, backup: bool) {
        let record = AttemptStatus {
            attempt: attempt.0,
            worker: w.0 as u32,
            backup,
            started: self.secs(),
            mapped: None,
            ended: None,
            outcome: AttemptOutcome::Running,
            bytes_read: 0,
        };
        let index = self.attempts.len();
        self.open.insert((t, attempt), index);
        self.attempts.push(record);
        let task = t.0 as usize;
        if self.by_task.len() <= task {
            self.by_task.resize_with(task + 1, Vec::new);
        }
        self.by_task[task].push(index as u32);
        self.touch(t);
    }

    fn touch(&mut self, t: TaskId) {
        let page = t.0 as usize / TaskList::PAGE;
        if self.touched.len() <= page {
            self.touched.resize(page + 1, false);
        }
        self.touched[page] = true;
    }

    /// Task `t`'s attempt records, oldest first.
    pub fn attempts_of(&self, t: usize) -> impl Iterator<Item = &AttemptStatus> {
        (self.by_task.get(t).into_iter().flatten()).map(|&i| &self.attempts[i as usize])
    }

    /// Whether a record of a task of page `page` changed since the last call; clears it.
    pub fn take_touched(&mut self, page: usize) -> bool {
        self.touched.get_mut(page).is_some_and(std::mem::take)
    }

    pub fn mapped(&mut self, t: TaskId, attempt: Attempt) {
        let secs = self.secs();
        if let Some(&i) = self.open.get(&(t, attempt)) {
            self.attempts[i].mapped.get_or_insert(secs);
            self.touch(t);
        }
    }

    /// What the worker running `(t, attempt)` says it has read.
    pub fn read(&mut self, t: TaskId, attempt: Attempt, bytes: u64) {
        if let Some(&i) = self.open.get(&(t, attempt)) {
            let record = &mut self.attempts[i];
            if bytes > record.bytes_read {
                record.bytes_read = bytes;
                self.touch(t);
            }
        }
    }

    pub fn ended(&mut self, t: TaskId, attempt: Attempt, outcome: AttemptOutcome) {
        let secs = self.secs();
        if let Some(i) = self.open.remove(&(t, attempt)) {
            let record = &mut self.attempts[i];
            record.ended = Some(secs);
            record.outcome = outcome;
            self.touch(t);
        }
    }

    /// Worker `w` was lost: the copies it ran end with it.
    pub fn lost_worker(&mut self, w: Machine) {
        let gone: Vec<(TaskId, Attempt)> = (self.open.iter())
            .filter(|(_, &i)| self.attempts[i].worker == w.0 as u32)
            .map(|(&key, _)| key)
            .collect();
        for (t, attempt) in gone {
            self.ended(t, attempt, AttemptOutcome::Lost);
        }
    }

    /// The attempts running now, by (task, attempt).
    pub fn running(&self) -> impl Iterator<Item = (TaskId, &AttemptStatus)> {
        (self.open.iter()).map(|(&(t, _), &i)| (t, &self.attempts[i]))
    }

    pub fn event(
        &mut self,
        kind: EventKind,
        w: Option<Machine>,
        t: Option<TaskId>,
        detail: String,
    ) {
        if self.events.len() >= MAX_EVENTS {
            self.events.drain(..MAX_EVENTS / 2);
        }
        self.events.push(Event {
            at: self.secs(),
            kind,
            worker: w.map(|w| w.0 as u32),
            task: t.map(|t| t.0),
            detail,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn attempts_end_once_and_a_lost_worker_ends_its_own() {
        let t0 = Instant::now();
        let mut journal = Journal::new(t0);
        journal.started(TaskId(0), Attempt(1), Machine(0), false);
        journal.started(TaskId(1), Attempt(1), Machine(1), false);
        journal.at(t0 + Duration::from_secs(2));
        journal.started(TaskId(0), Attempt(2), Machine(1), true);
        journal.read(TaskId(0), Attempt(1), 500);
        journal.mapped(TaskId(0), Attempt(1));
        journal.ended(TaskId(0), Attempt(1), AttemptOutcome::Done);
        journal.ended(TaskId(0), Attempt(2), AttemptOutcome::Cancelled);
        // A late report on an ended attempt changes nothing.
        journal.at(t0 + Duration::from_secs(3));
        journal.ended(TaskId(0), Attempt(1), AttemptOutcome::Failed);
        journal.lost_worker(Machine(1));
        let outcomes: Vec<_> = journal.attempts.iter().map(|a| a.outcome).collect();
        assert_eq!(
            outcomes,
            [
                AttemptOutcome::Done,
                AttemptOutcome::Lost,
                AttemptOutcome::Cancelled
            ]
        );
        let first = &journal.attempts[0];
        assert_eq!(
            (first.mapped, first.ended, first.bytes_read),
            (Some(2.0), Some(2.0), 500)
        );
        assert_eq!(journal.attempts[1].ended, Some(3.0));
        assert_eq!(journal.running().count(), 0);
        let of = |t| {
            journal
                .attempts_of(t)
                .map(|a| a.attempt)
                .collect::<Vec<_>>()
        };
        assert_eq!((of(0), of(1), of(2)), (vec![1, 2], vec![1], vec![]));
        assert!(journal.take_touched(0), "tasks 0 and 1 are on page 0");
        assert!(!journal.take_touched(0) && !journal.take_touched(1));
        journal.read(TaskId(0), Attempt(1), 900);
        assert!(
            !journal.take_touched(0),
            "an ended copy's reading is old news"
        );
        journal.started(TaskId(TaskList::PAGE as u32), Attempt(1), Machine(0), false);
        assert!(!journal.take_touched(0) && journal.take_touched(1));
    }
}
