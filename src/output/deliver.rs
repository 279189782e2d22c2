//! Writing a finished job's outputs, local or distributed: the result (atomically, or to
//! standard output), the stats document, the skipped-damage lines and the summary.

use std::io::{self, Write};
use std::time::Instant;

use super::atomic::{stage, Staged};
use super::stats::{ClusterStats, RunStats};
use crate::config::{CountConfig, ResultConfig};
use crate::count::WordCount;
use crate::engine::{FileResult, Policy};
use crate::error::{Error, Result};
use crate::remote::DownloadTotals;

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
        config.job.tokenizer.name(),
        d.threads,
        config.job.policy == Policy::Skip,
        d.files,
        d.distinct,
        d.words.len() as u64,
        started.elapsed(),
    );
    stats.cluster = d.cluster;
    stats.downloads = d.downloads;
    let counts = stage_result(&config.result, d.words)?;
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
    print_result(&config.result, d.words)?;
    for staged in [counts, json].into_iter().flatten() {
        staged.commit()?;
    }
    if !config.quiet {
        eprintln!("{}", stats.summary());
    }
    Ok(())
}

/// Writes the counts to the result's `--output` in full, not yet in place (see
/// [`super::atomic`]); `None` when they go to standard output.
pub fn stage_result(result: &ResultConfig, words: &[WordCount<'_>]) -> Result<Option<Staged>> {
    result
        .output
        .as_deref()
        .map(|path| stage("writing output", path, |w| result.format.write(w, words)))
        .transpose()
}

/// Writes the counts to standard output when the result has no `--output`.
pub fn print_result(result: &ResultConfig, words: &[WordCount<'_>]) -> Result<()> {
    if result.output.is_some() {
        return Ok(());
    }
    // (Not the lock: the Parquet writer needs a writer it could send to another thread.)
    let mut out = io::BufWriter::with_capacity(1 << 20, io::stdout());
    // A closed pipe (`| head`) is an output error too: the reader got part of it.
    result
        .format
        .write(&mut out, words)
        .and_then(|()| out.flush())
        .map_err(Error::Stdout)
}
