//! The coordinator's watcher: one thread that takes each status the event loop publishes
//! ([`Board`]) and shows it — the job's bar and one line per worker on a terminal — and
//! keeps the throughput samples of the report.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::ProgressBar;

use super::samples::Samples;
use super::status::{Board, JobStatus, WorkerState, WorkerStatus};
use super::terminal::{BarKind, Bars};
use crate::error::{Error, Result};

/// The watcher thread of a cluster job; it ends with the job's last status.
pub struct Watcher {
    thread: JoinHandle<Samples>,
}

impl Watcher {
    /// Watches `board`, drawing bars if `bars`.
    pub fn start(board: Arc<Board>, bars: bool) -> Result<Watcher> {
        let thread = std::thread::Builder::new()
            .name("wetmr-watch".into())
            .spawn(move || watch(&board, bars))
            .map_err(|e| Error::Resources(format!("cannot start a thread: {e}")))?;
        Ok(Watcher { thread })
    }

    /// Waits for the job's last status (published before the job's outcome returns), and
    /// returns the throughput samples.
    pub fn finish(self) -> Option<Samples> {
        self.thread.join().ok()
    }
}

fn watch(board: &Board, draw: bool) -> Samples {
    let mut samples = Samples::new(super::local::SAMPLE_EVERY);
    let bars = draw.then(Bars::new);
    let mut shown: Option<Shown> = None;
    let mut serial = 0;
    loop {
        let (status, newest, last) = board.wait_newer(serial, Duration::from_secs(1));
        serial = newest;
        if let Some(status) = &status {
            samples.offer(status.elapsed, status.progress.bytes_done);
            if let Some(bars) = &bars {
                shown
                    .get_or_insert_with(|| Shown::new(bars, status))
                    .update(bars, status);
            }
            if last {
                samples.last(status.elapsed, status.progress.bytes_done);
            }
        }
        if last {
            return samples;
        }
    }
}

/// The bars on the terminal: the job's, and one line per worker.
struct Shown {
    job: ProgressBar,
    workers: Vec<ProgressBar>,
}

impl Shown {
    fn new(bars: &Bars, status: &JobStatus) -> Shown {
        Shown {
            job: bars.add(BarKind::Bytes(status.progress.bytes_total)),
            workers: Vec::new(),
        }
    }

    fn update(&mut self, bars: &Bars, status: &JobStatus) {
        let p = &status.progress;
        self.job.set_position(p.bytes_done);
        self.job.set_message(format!(
            "files {}/{} · {}",
            p.files_done,
            p.files,
            status.phase.name()
        ));
        while self.workers.len() < status.workers.len() {
            self.workers.push(bars.add(BarKind::Text));
        }
        for (bar, worker) in self.workers.iter().zip(&status.workers) {
            bar.set_message(worker_line(worker));
        }
    }
}

/// One worker's line: where it is, what it runs, how fast.
fn worker_line(w: &WorkerStatus) -> String {
    let state = match w.state {
        WorkerState::Connecting => "connecting".to_string(),
        WorkerState::Joining => "joining".to_string(),
        WorkerState::Working if w.running.is_empty() => "idle".to_string(),
        WorkerState::Working => {
            let tasks: Vec<String> = w.running.iter().map(u32::to_string).collect();
            format!("task {}", tasks.join(","))
        }
        WorkerState::Lost => format!("LOST: {}", w.lost.as_deref().unwrap_or("?")),
    };
    let joined = match w.joined {
        0 => String::new(),
        n => format!(" · rejoined {n}x"),
    };
    format!(
        "{:<21} {:<24} {:>4} done {:>8.1} MB/s{joined}",
        w.address,
        state,
        w.tasks_done,
        w.rate / 1e6
    )
}
