//! `--report FILE.html`: one self-contained HTML page (inline SVG, no script, no network)
//! with a job's figures and plots, written atomically with its other outputs.
//!
//! Everything in it comes from what the job has anyway: the frequency spectrum of its
//! counts ([`Spectrum`], one pass over the table at the end, or each reducer's partition), its written words (the
//! top ones), the records' languages (tallied beside the counters), the throughput samples
//! of its watcher, and for a cluster the coordinator's last status (the attempts of every
//! task, its failures and recoveries).

pub mod fit;
mod page;
pub mod plots;

use std::sync::Arc;

use super::samples::Samples;
use super::status::JobStatus;
use crate::count::Spectrum;
use crate::output::stats::RunStats;

/// Everything a report shows.
pub struct ReportData<'a> {
    /// What the job was (its inputs, when it ran).
    pub title: String,
    /// The job's figures: the stats document's, same numbers.
    pub stats: &'a RunStats,
    /// Of every word counted (not only those written).
    pub spectrum: Spectrum,
    /// The most frequent words and their tf.
    pub top: Vec<(String, u64)>,
    pub throughput: Option<Samples>,
    /// A cluster job's last status.
    pub cluster: Option<Arc<JobStatus>>,
}

/// The report's HTML.
pub fn render(data: &ReportData<'_>) -> Result<String, String> {
    page::render(data)
}
