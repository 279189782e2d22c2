//! Writing a finished job's outputs, local or distributed: the result (atomically, or to
//! standard output), the stats document, the skipped-damage lines and the summary.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Instant;

use super::atomic::{stage, Staged};
use super::stats::{ClusterStats, RunStats};
use crate::config::{CountConfig, ResultConfig};
use crate::count::Spectrum;
use crate::count::WordCount;
use crate::engine::{FileResult, Policy};
use crate::error::{Error, Result};
use crate::observe::report::{self, ReportData};
use crate::observe::samples::Samples;
use crate::observe::status::JobStatus;
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
    /// What only the report needs (when one is asked for).
    pub report: Option<ReportInputs>,
}

/// What the report shows beyond the outputs' figures.
pub struct ReportInputs {
    /// Of every word counted, not only those written.
    pub spectrum: Spectrum,
    pub throughput: Option<Samples>,
    pub cluster: Option<Arc<JobStatus>>,
}

/// Words the report shows in its top words.
const REPORT_TOP: usize = 25;

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
    let report = match (&config.report, d.report) {
        (Some(path), Some(inputs)) => Some(stage_report(path, &stats, d.words, inputs)?),
        _ => None,
    };
    print_result(&config.result, d.words)?;
    for staged in [counts, json, report].into_iter().flatten() {
        staged.commit()?;
    }
    if !config.quiet {
        eprintln!("{}", stats.summary());
    }
    Ok(())
}

/// Renders the report and writes it in full, not yet in place.
fn stage_report(
    path: &std::path::Path,
    stats: &RunStats,
    words: &[WordCount<'_>],
    inputs: ReportInputs,
) -> Result<Staged> {
    let first = stats
        .per_file
        .first()
        .map(|f| crate::error::shown(&f.path).to_string());
    let title = match (stats.files, first) {
        (1, Some(first)) => format!("{first} · tokenizer {}", stats.tokenizer),
        (n, Some(first)) => format!("{n} files ({first}, …) · tokenizer {}", stats.tokenizer),
        (n, None) => format!("{n} files · tokenizer {}", stats.tokenizer),
    };
    let data = ReportData {
        title,
        stats,
        spectrum: inputs.spectrum,
        top: (words.iter().take(REPORT_TOP))
            .map(|w| (String::from_utf8_lossy(w.word).into_owned(), w.tf))
            .collect(),
        throughput: inputs.throughput,
        cluster: inputs.cluster,
    };
    let html = report::render(&data).map_err(|e| Error::Output {
        what: "drawing the report for",
        path: path.to_path_buf(),
        source: io::Error::other(e),
    })?;
    stage("writing the report", path, |w| w.write_all(html.as_bytes()))
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
