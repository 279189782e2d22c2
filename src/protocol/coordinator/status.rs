//! The coordinator's status document ([`JobStatus`]), built from its state and journal
//! when the driver asks (a few times a second at most, and only when someone watches).
//! Its task list is rebuilt page by page, only where a task changed: what a status costs
//! the event loop grows with the job's changes, not with its number of files.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::members::Link;
use super::{Coordinator, Phase};
use crate::observe::status::{
    DownloadTotals, JobPhase, JobProgress, JobStatus, TaskList, TaskPage, TaskState, TaskStatus,
    WorkerState, WorkerStatus, STATUS_VERSION,
};

/// Rates are measured over this much of the recent past.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// What a status keeps from one publication to the next.
#[derive(Debug, Default)]
pub(super) struct Shown {
    /// The last status's number.
    seq: u64,
    /// Its tasks (pages not changed since are shared with the next).
    tasks: TaskList,
    /// Recent `(seconds, bytes done)` figures of the job and of each worker.
    job_rate: VecDeque<(f64, u64)>,
    worker_rates: Vec<VecDeque<(f64, u64)>>,
}

/// Adds `(secs, bytes)` to `history` and returns the rate over the window it covers.
fn rate(history: &mut VecDeque<(f64, u64)>, secs: f64, bytes: u64) -> f64 {
    history.push_back((secs, bytes));
    while history
        .front()
        .is_some_and(|&(t, _)| secs - t > RATE_WINDOW.as_secs_f64())
    {
        history.pop_front();
    }
    let (t0, b0) = history.front().copied().unwrap_or((secs, bytes));
    if secs - t0 < 1e-3 {
        return 0.0;
    }
    bytes.saturating_sub(b0) as f64 / (secs - t0)
}

impl Coordinator {
    /// Where the job stands now, for people (see [`JobStatus`]).
    pub fn status(&mut self) -> JobStatus {
        let secs = self.journal.secs();
        self.shown.seq += 1;
        let mut states: Vec<TaskState> = Vec::with_capacity(self.schedule.len());
        let mut progress = JobProgress {
            files: self.schedule.len() as u64,
            files_done: 0,
            files_running: 0,
            files_pending: 0,
            files_failed: 0,
            bytes_total: self.sizes.as_ref().map(|s| s.iter().sum()),
            bytes_done: 0,
            rate: 0.0,
        };
        let mut downloads = DownloadTotals::default();
        for (state, result) in self.schedule.states() {
            match state {
                TaskState::Pending => progress.files_pending += 1,
                TaskState::Running => progress.files_running += 1,
                TaskState::Done => progress.files_done += 1,
                TaskState::Failed => progress.files_failed += 1,
            }
            if let Some(result) = result {
                progress.bytes_done += result.bytes_in;
                if let Some(d) = result.download.as_ref().filter(|d| !d.cached) {
                    downloads.files += 1;
                    downloads.bytes += d.bytes;
                    downloads.requests += u64::from(d.attempts);
                    downloads.retries += d.retries.values().map(|&n| u64::from(n)).sum::<u64>();
                    downloads.resumes += u64::from(d.resumes);
                    downloads.backoff_seconds += d.backoff_ms as f64 / 1e3;
                }
            }
            states.push(state);
        }
        let machines = self.members.machines().count();
        let mut reading = vec![0u64; machines];
        let mut running: Vec<Vec<u32>> = vec![Vec::new(); machines];
        // A running task's bytes count once, by its copy that has read the most.
        let mut task_reading = std::collections::HashMap::<u32, u64>::new();
        for (t, attempt) in self.journal.running() {
            let w = attempt.worker as usize;
            if w < machines {
                reading[w] += attempt.bytes_read;
                running[w].push(t.0);
            }
            let most = task_reading.entry(t.0).or_default();
            *most = (*most).max(attempt.bytes_read);
        }
        let running_bytes: u64 = (task_reading.iter())
            .filter(|(&t, _)| states.get(t as usize) == Some(&TaskState::Running))
            .map(|(_, &b)| b)
            .sum();
        progress.bytes_done += running_bytes;
        if let Some(total) = progress.bytes_total {
            progress.bytes_done = progress.bytes_done.min(total);
        }
        progress.rate = rate(&mut self.shown.job_rate, secs, progress.bytes_done);
        self.shown.worker_rates.resize_with(machines, VecDeque::new);
        let interval = self.config.heartbeat_interval.as_secs_f64();
        let now = self.journal.now();
        let mut workers = Vec::with_capacity(machines);
        for w in self.members.machines() {
            let entry = &self.members[w];
            let report = &entry.report;
            let state = match &entry.link {
                Link::Connecting | Link::Greeted => WorkerState::Connecting,
                Link::Welcomed => WorkerState::Joining,
                Link::Ready => WorkerState::Working,
                Link::Gone(_) => WorkerState::Lost,
            };
            let lost = match &entry.link {
                Link::Gone(reason) => Some(reason.clone()),
                _ => report.lost.clone(),
            };
            let silent = match state {
                WorkerState::Working => self.timers.silence(w, now).as_secs_f64(),
                _ => 0.0,
            };
            let mut running = std::mem::take(&mut running[w.0]);
            running.sort_unstable();
            let done = report.bytes_in + reading[w.0];
            workers.push(WorkerStatus {
                address: report.address.clone(),
                state,
                threads: report.threads,
                slots: report.slots,
                partitions_owned: report.partitions_owned,
                running,
                tasks_done: report.tasks,
                bytes_in: report.bytes_in,
                bytes_reading: reading[w.0],
                records: report.records,
                shuffle_bytes_sent: report.shuffle_bytes_sent,
                shuffle_bytes_received: report.shuffle_bytes_received,
                shuffle_bytes_kept: report.shuffle_bytes_kept,
                rate: rate(&mut self.shown.worker_rates[w.0], secs, done),
                silent_for: silent,
                heartbeats_missed: (silent / interval.max(1e-3)) as u32,
                lost,
                joined: report.joined,
            });
        }
        JobStatus {
            version: STATUS_VERSION,
            seq: self.shown.seq,
            job: self.config.job.to_string(),
            phase: match (self.phase, &self.failed) {
                (Phase::Connecting, _) => JobPhase::Connecting,
                (Phase::Preparing, _) => JobPhase::Preparing,
                (Phase::Mapping, _) => JobPhase::Mapping,
                (Phase::Reducing, _) => JobPhase::Reducing,
                (Phase::Over, None) => JobPhase::Finished,
                (Phase::Over, Some(_)) => JobPhase::Failed,
            },
            error: self.failed.clone(),
            elapsed: secs,
            progress,
            partitions: self.placement.partitions,
            workers,
            files: Arc::clone(&self.files_shown),
            tasks: self.shown_tasks(&states),
            events: self.journal.events.clone(),
            recovery: self.recovery.clone(),
            downloads: (downloads.files > 0).then_some(downloads),
        }
    }

    /// The tasks in `states` (by task number) with their attempts: the last status's pages
    /// where nothing changed, new pages where something did.
    fn shown_tasks(&mut self, states: &[TaskState]) -> TaskList {
        let seq = self.shown.seq;
        let pages = (states.chunks(TaskList::PAGE).enumerate())
            .map(|(i, page_states)| {
                let touched = self.journal.take_touched(i);
                match self.shown.tasks.pages().get(i) {
                    Some(page)
                        if !touched
                            && page.tasks.len() == page_states.len()
                            && (page.tasks.iter().zip(page_states)).all(|(t, s)| t.state == *s) =>
                    {
                        Arc::clone(page)
                    }
                    _ => {
                        let first = i * TaskList::PAGE;
                        let tasks = (page_states.iter().enumerate())
                            .map(|(j, &state)| TaskStatus {
                                state,
                                attempts: self.journal.attempts_of(first + j).copied().collect(),
                            })
                            .collect();
                        Arc::new(TaskPage { seq, tasks })
                    }
                }
            })
            .collect();
        self.shown.tasks = TaskList::new(pages);
        self.shown.tasks.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_cover_the_recent_window_only() {
        let mut history = VecDeque::new();
        assert_eq!(rate(&mut history, 0.0, 0), 0.0);
        assert_eq!(rate(&mut history, 1.0, 100), 100.0);
        for s in 2..=10 {
            rate(&mut history, s as f64, 100);
        }
        // Nothing moved in the last five seconds.
        assert_eq!(rate(&mut history, 11.0, 100), 0.0);
        assert_eq!(rate(&mut history, 12.0, 600), 500.0 / 5.0);
    }

    #[test]
    fn only_the_pages_where_a_task_changed_are_rebuilt() {
        use crate::observe::status::AttemptOutcome;
        use crate::protocol::ids::{Attempt, Machine, TaskId};
        let t0 = std::time::Instant::now();
        let paths = (0..600).map(|t| format!("f{t}").into()).collect();
        let addresses = vec!["w0".to_string()];
        let mut c = Coordinator::new(super::super::tests_config(), addresses, paths, t0);
        let first = c.status();
        assert_eq!(
            (first.seq, first.tasks.len(), first.tasks.pages().len()),
            (1, 600, 3)
        );
        let same = c.status();
        assert!(
            (first.tasks.pages().iter().zip(same.tasks.pages())).all(|(a, b)| Arc::ptr_eq(a, b))
        );
        // A copy of task 300 (page 1) starts, reads, ends: page 1 alone is new each time.
        let task = TaskId(300);
        for change in 0..3 {
            match change {
                0 => c.journal.started(task, Attempt(1), Machine(0), false),
                1 => c.journal.read(task, Attempt(1), 77),
                _ => c.journal.ended(task, Attempt(1), AttemptOutcome::Failed),
            }
            let before = c.shown.tasks.clone();
            let now = c.status();
            let rebuilt: Vec<bool> = (before.pages().iter().zip(now.tasks.pages()))
                .map(|(a, b)| !Arc::ptr_eq(a, b))
                .collect();
            assert_eq!(rebuilt, [false, true, false], "change {change}");
            assert_eq!(now.tasks.pages()[1].seq, now.seq);
            let changed: Vec<usize> = now
                .tasks
                .changed_since(now.seq - 1)
                .map(|(t, _)| t)
                .collect();
            assert_eq!(changed, (256..512).collect::<Vec<_>>());
            let attempt = now.tasks.get(300).unwrap().attempts[0];
            assert_eq!(attempt.bytes_read, if change == 0 { 0 } else { 77 });
        }
        assert_eq!(c.status().tasks.changed_since(first.seq).count(), 256);
        assert_eq!(c.status().tasks.changed_since(0).count(), 600);
    }
}
