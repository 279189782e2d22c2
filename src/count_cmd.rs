//! `wetmr count`: the whole local job, from a resolved config to written outputs.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cli::CountConfig;
use crate::count::WordCount;
use crate::engine::{self, FileResult, Job, Policy};
use crate::error::{Error, Result};
use crate::input::expand_inputs;
use crate::output::atomic::write_atomically;
use crate::output::stats::{ClusterStats, RunStats};
use crate::output::tsv::write_tsv;

/// Runs a count job and writes its outputs.
pub fn count(config: &CountConfig) -> Result<()> {
    let started = Instant::now();
    let paths = input_paths(config)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .thread_name(|i| format!("wetmr-count-{i}"))
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {} threads: {e}", config.threads)))?;
    let job = Job {
        tokenizer: config.tokenizer,
        policy: config.policy,
        split_bytes: config.split_bytes,
        spill_at: config.spill_at,
    };
    let control = engine::Control::default();
    let finished = AtomicBool::new(false);
    let outcome = std::thread::scope(|scope| {
        let reporter = config.progress.filter(|_| !config.quiet).map(|every| {
            let total: u64 = paths
                .iter()
                .filter_map(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum();
            let (progress, finished) = (&control.progress, &finished);
            scope.spawn(move || report_progress(every, total, started, progress, finished))
        });
        let outcome = pool.install(|| engine::run(&job, &paths, &control));
        finished.store(true, Ordering::Relaxed);
        if let Some(reporter) = reporter {
            reporter.thread().unpark();
        }
        outcome
    })?;
    let words = pool.install(|| outcome.counted.ranked(config.min_count, config.top));
    deliver(
        config,
        Delivery {
            words: &words,
            files: &outcome.files,
            distinct: outcome.counted.distinct(),
            threads: config.threads,
            cluster: None,
        },
        started,
    )
}

/// The inputs of a job, expanded (directories listed, list files read); never empty.
pub fn input_paths(config: &CountConfig) -> Result<Vec<PathBuf>> {
    if config.inputs.paths.is_empty() && config.inputs.list.is_none() {
        return Err(Error::Usage(
            "no inputs: give WET files or directories, or --inputs LIST".into(),
        ));
    }
    let paths = expand_inputs(&config.inputs)?;
    if paths.is_empty() {
        return Err(Error::NoInputs);
    }
    Ok(paths)
}

/// A finished job's results, local or distributed, ready to be written.
pub struct Delivery<'a> {
    /// The output lines, in output order (`--min-count` and `--top` applied).
    pub words: &'a [WordCount<'a>],
    pub files: &'a [FileResult],
    pub distinct: u64,
    pub threads: usize,
    pub cluster: Option<ClusterStats>,
}

/// Writes a job's outputs: the TSV (atomically, or to stdout), the stats document, the
/// skipped-damage lines and the summary.
pub fn deliver(config: &CountConfig, d: Delivery<'_>, started: Instant) -> Result<()> {
    match &config.output {
        Some(path) => write_atomically("writing output", path, |w| write_tsv(w, d.words))?,
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::with_capacity(1 << 20, stdout.lock());
            match write_tsv(&mut out, d.words).and_then(|()| out.flush()) {
                // A closed pipe (`| head`) is the reader's choice, not a failure.
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(Error::Stdout(e)),
                _ => {}
            }
        }
    }

    let mut stats = RunStats::new(
        config.tokenizer.name(),
        d.threads,
        config.policy == Policy::Skip,
        d.files,
        d.distinct,
        d.words.len() as u64,
        started.elapsed(),
    );
    stats.cluster = d.cluster;
    if let Some(path) = &config.stats {
        write_atomically("writing stats", path, |w| {
            serde_json::to_writer_pretty(&mut *w, &stats)?;
            w.write_all(b"\n")
        })?;
    }
    if !config.quiet {
        for file in d.files {
            for skipped in &file.skipped {
                eprintln!(
                    "wetmr: skipped: {}: {} ({} bytes)",
                    file.path.display(),
                    skipped.damage(),
                    skipped.bytes
                );
            }
        }
        eprintln!("{}", stats.summary());
    }
    Ok(())
}

/// Prints a plain progress line on stderr every `every` until `finished` (cron has no
/// terminal to draw a bar on). The thread parks between lines; it is unparked when the run
/// ends, so it never delays the exit.
fn report_progress(
    every: Duration,
    total: u64,
    started: Instant,
    done: &AtomicU64,
    finished: &AtomicBool,
) {
    let mut next = every;
    while !finished.load(Ordering::Relaxed) {
        let elapsed = started.elapsed();
        if elapsed < next {
            // Wakes early when unparked (or spuriously): the loop checks again.
            std::thread::park_timeout(next - elapsed);
            continue;
        }
        next += every;
        let done = done.load(Ordering::Relaxed);
        eprintln!(
            "wetmr: progress: {:.1}/{:.1} MB read ({:.0}%), {:.0} s, {:.1} MB/s",
            done as f64 / 1e6,
            total as f64 / 1e6,
            100.0 * done as f64 / total.max(1) as f64,
            elapsed.as_secs_f64(),
            done as f64 / 1e6 / elapsed.as_secs_f64()
        );
    }
}
