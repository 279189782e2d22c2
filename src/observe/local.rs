//! `count`'s watcher: one thread that reads the run's counters ([`engine::Control`]) and
//! shows them — a live bar on a terminal, or a plain line every `--progress` seconds — and
//! keeps the throughput samples of the report. The counting threads only bump atomics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use super::samples::Samples;
use super::terminal::{BarKind, Bars};
use crate::config::Progress;
use crate::engine;
use crate::error::{Error, Result};
use crate::remote::Client;

/// How often the bar is updated (it is drawn at most as often).
const BAR_EVERY: Duration = Duration::from_millis(100);
/// The first interval between throughput samples (it doubles as the job goes on).
pub(super) const SAMPLE_EVERY: f64 = 0.1;

/// A local run, as its watcher sees it.
#[derive(Clone, Copy)]
pub struct LocalRun<'a> {
    pub control: &'a engine::Control,
    pub started: Instant,
    /// The inputs' total size, when it is known (not for URLs).
    pub bytes: Option<u64>,
    pub files: usize,
    /// The downloads' client, when the run downloads.
    pub client: Option<&'a Client>,
}

/// The watcher thread of a run: stop it with [`Watcher::finish`].
pub struct Watcher<'scope> {
    finished: &'scope AtomicBool,
    thread: Option<ScopedJoinHandle<'scope, Option<Samples>>>,
}

impl<'scope> Watcher<'scope> {
    /// Starts watching `run`, showing `progress` and keeping samples if `sample`; no thread
    /// when there is nothing to do.
    pub fn start<'env>(
        scope: &'scope Scope<'scope, 'env>,
        finished: &'scope AtomicBool,
        run: LocalRun<'scope>,
        progress: Progress,
        sample: bool,
    ) -> Result<Watcher<'scope>> {
        if progress == Progress::Off && !sample {
            return Ok(Watcher {
                finished,
                thread: None,
            });
        }
        let thread = std::thread::Builder::new()
            .name("wetmr-progress".into())
            .spawn_scoped(scope, move || watch(run, progress, sample, finished))
            .map_err(|e| Error::Resources(format!("cannot start a thread: {e}")))?;
        Ok(Watcher {
            finished,
            thread: Some(thread),
        })
    }

    /// The run is over: the bar goes away, and the samples (if kept) come back.
    pub fn finish(self) -> Option<Samples> {
        self.finished.store(true, Ordering::Relaxed);
        let thread = self.thread?;
        thread.thread().unpark();
        thread.join().ok().flatten()
    }
}

/// The watcher's loop. It parks between turns and is unparked when the run ends, so it
/// never delays the exit.
fn watch(
    run: LocalRun<'_>,
    progress: Progress,
    sample: bool,
    finished: &AtomicBool,
) -> Option<Samples> {
    let mut samples = sample.then(|| Samples::new(SAMPLE_EVERY));
    let mut lines = match progress {
        Progress::Lines(every) => Some((every, every)),
        _ => None,
    };
    let bars = (progress == Progress::Bar).then(Bars::new);
    let bar = bars
        .as_ref()
        .map(|bars| bars.add(BarKind::Bytes(run.bytes)));
    loop {
        let elapsed = run.started.elapsed();
        let done = run.control.progress.load(Ordering::Relaxed);
        if let Some(samples) = &mut samples {
            samples.offer(elapsed.as_secs_f64(), done);
        }
        if let Some(bar) = &bar {
            bar.set_position(done);
            bar.set_message(status(&run, elapsed));
        }
        if let Some((every, next)) = &mut lines {
            if elapsed >= *next {
                eprintln!("wetmr: progress: {}", line(&run, done, elapsed));
                *next += *every;
            }
        }
        if finished.load(Ordering::Relaxed) {
            break;
        }
        // The next thing due: a sample, a line, a redraw.
        let due = [
            samples
                .as_ref()
                .map(|s| Duration::from_secs_f64(s.next_at())),
            lines.map(|(_, next)| next),
            bar.as_ref().map(|_| elapsed + BAR_EVERY),
        ];
        let wake = due
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(elapsed + BAR_EVERY);
        // Wakes early when unparked (or spuriously): the loop checks again.
        std::thread::park_timeout(wake.saturating_sub(run.started.elapsed()));
    }
    drop(bar);
    drop(bars);
    if let Some(samples) = &mut samples {
        let done = run.control.progress.load(Ordering::Relaxed);
        samples.last(run.started.elapsed().as_secs_f64(), done);
    }
    samples
}

/// The bar's message: files done, and the downloads when there are some.
fn status(run: &LocalRun<'_>, elapsed: Duration) -> String {
    let files = run.control.files_done.load(Ordering::Relaxed);
    let mut text = format!("files {files}/{}", run.files);
    if let Some(client) = run.client {
        let figures = client.figures(elapsed);
        text += &format!(
            " · downloaded {:.1} MB, {} retries",
            figures.bytes as f64 / 1e6,
            figures.retries
        );
    }
    text
}

/// A plain progress line (cron logs): unchanged in form, so that scripts reading it go on
/// working.
fn line(run: &LocalRun<'_>, done: u64, elapsed: Duration) -> String {
    let read = match run.bytes {
        // URL inputs' sizes are not known in advance.
        None => format!("{:.1} MB read", done as f64 / 1e6),
        Some(total) => format!(
            "{:.1}/{:.1} MB read ({:.0}%)",
            done as f64 / 1e6,
            total as f64 / 1e6,
            100.0 * done as f64 / total.max(1) as f64
        ),
    };
    let downloads = run.client.map_or(String::new(), |client| {
        format!("; {}", client.figures(elapsed).line())
    });
    format!(
        "{read}, {:.0} s, {:.1} MB/s{downloads}",
        elapsed.as_secs_f64(),
        done as f64 / 1e6 / elapsed.as_secs_f64()
    )
}
