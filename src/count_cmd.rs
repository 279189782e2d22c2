//! `wetmr count`: the whole local job, from a resolved config to written outputs.

use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cli::CountConfig;
use crate::count::WordCount;
use crate::engine::{self, FileResult, Job, Policy};
use crate::error::{Error, Result};
use crate::input::{expand_inputs, Input};
use crate::output::atomic::stage;
use crate::output::destinations;
use crate::output::stats::{ClusterStats, RunStats};
use crate::output::tsv::write_tsv;
use crate::remote::{Client, DownloadTotals};

/// Runs a count job and writes its outputs.
pub fn count(config: &CountConfig) -> Result<()> {
    let started = Instant::now();
    let client = Client::new(config.download.clone());
    let Inputs { files, bytes } = inputs(config, &client)?;
    // The client when the job downloads: its figures go in progress lines and stats.
    let downloading = files.iter().any(|f| f.remote.is_some()).then_some(&client);
    crate::malloc::share_heaps(config.threads);
    let pool = thread_pool(config.threads, "count")?;
    let job = Job {
        tokenizer: config.tokenizer,
        policy: config.policy,
        split_bytes: config.split_bytes,
        spill_at: config.spill_at,
    };
    let control = engine::Control::default();
    let finished = AtomicBool::new(false);
    let outcome = std::thread::scope(|scope| {
        let reporter = match config.progress.filter(|_| !config.quiet) {
            None => None,
            Some(every) => {
                let (progress, finished) = (&control.progress, &finished);
                let client = downloading;
                let spawned = std::thread::Builder::new()
                    .name("wetmr-progress".into())
                    .spawn_scoped(scope, move || {
                        report_progress(every, bytes, started, progress, finished, client)
                    })
                    .map_err(|e| Error::Resources(format!("cannot start a thread: {e}")))?;
                Some(spawned)
            }
        };
        let outcome = engine::run_on(&pool, &job, &files, &control, &client);
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
            downloads: downloading.map(|client| client.figures(started.elapsed())),
        },
        started,
    )
}

/// A rayon pool of `threads` threads named `wetmr-NAME-I`.
pub fn thread_pool(threads: usize, name: &'static str) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("wetmr-{name}-{i}"))
        .build()
        .map_err(|e| Error::Resources(format!("cannot start {threads} threads: {e}")))
}

/// A job's inputs, expanded.
pub struct Inputs {
    /// Never empty.
    pub files: Vec<Input>,
    /// Their total size, as far as it is known (for progress lines).
    pub bytes: u64,
}

/// The inputs of a job, expanded (directories listed, list files read), after checking
/// that no output would overwrite one of them or another output.
pub fn inputs(config: &CountConfig, client: &Client) -> Result<Inputs> {
    if config.inputs.paths.is_empty() && config.inputs.list.is_none() {
        return Err(Error::Usage(
            "no inputs: give WET files or directories, or --inputs LIST".into(),
        ));
    }
    let files = expand_inputs(&config.inputs, Some(client))?;
    if files.is_empty() {
        return Err(Error::NoInputs);
    }
    let outputs: Vec<(&'static str, &Path)> = [
        ("--output", config.output.as_deref()),
        ("--stats", config.stats.as_deref()),
    ]
    .into_iter()
    .filter_map(|(flag, path)| Some((flag, path?)))
    .collect();
    let bytes = destinations::check(&outputs, &files, config.inputs.list.as_deref())?;
    Ok(Inputs { files, bytes })
}

/// A finished job's results, local or distributed, ready to be written.
pub struct Delivery<'a> {
    /// The output lines, in output order (`--min-count` and `--top` applied).
    pub words: &'a [WordCount<'a>],
    pub files: &'a [FileResult],
    pub distinct: u64,
    pub threads: usize,
    pub cluster: Option<ClusterStats>,
    /// The download figures of a job with URL inputs.
    pub downloads: Option<DownloadTotals>,
}

/// Writes a job's outputs: the TSV (atomically, or to stdout), the stats document, the
/// skipped-damage lines and the summary. Both files are written in full before either
/// replaces its older version; standard output, which cannot wait, is written between.
pub fn deliver(config: &CountConfig, d: Delivery<'_>, started: Instant) -> Result<()> {
    if !config.quiet {
        for file in d.files {
            for skipped in &file.skipped {
                eprintln!(
                    "wetmr: skipped: {}: {} ({} bytes)",
                    crate::error::shown(&file.path),
                    skipped.damage(),
                    skipped.bytes
                );
            }
        }
    }
    // Under --skip-bad-input a job can lose every input: that is no result to deliver.
    if d.files.iter().all(|f| f.counters.records == 0) {
        return Err(Error::NothingCounted {
            files: d.files.len(),
        });
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
    stats.downloads = d.downloads;
    let tsv = config
        .output
        .as_deref()
        .map(|path| stage("writing output", path, |w| write_tsv(w, d.words)))
        .transpose()?;
    let json = config
        .stats
        .as_deref()
        .map(|path| {
            stage("writing stats", path, |w| {
                serde_json::to_writer_pretty(&mut *w, &stats)?;
                w.write_all(b"\n")
            })
        })
        .transpose()?;
    if config.output.is_none() {
        let stdout = io::stdout();
        let mut out = io::BufWriter::with_capacity(1 << 20, stdout.lock());
        // A closed pipe (`| head`) is an output error too: the reader got part of it.
        write_tsv(&mut out, d.words)
            .and_then(|()| out.flush())
            .map_err(Error::Stdout)?;
    }
    for staged in [tsv, json].into_iter().flatten() {
        staged.commit()?;
    }
    if !config.quiet {
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
    client: Option<&Client>,
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
        let read = match client {
            // URL inputs' sizes are not known in advance.
            Some(_) => format!("{:.1} MB read", done as f64 / 1e6),
            None => format!(
                "{:.1}/{:.1} MB read ({:.0}%)",
                done as f64 / 1e6,
                total as f64 / 1e6,
                100.0 * done as f64 / total.max(1) as f64
            ),
        };
        let downloads = client.map_or(String::new(), |client| {
            format!("; {}", client.figures(elapsed).line())
        });
        eprintln!(
            "wetmr: progress: {read}, {:.0} s, {:.1} MB/s{downloads}",
            elapsed.as_secs_f64(),
            done as f64 / 1e6 / elapsed.as_secs_f64()
        );
    }
}
