//! The run's figures: the `--stats` JSON document and the summary line on stderr.

use std::time::Duration;

use serde::Serialize;

use crate::engine::languages;
use crate::engine::{Counters, FileResult, LanguageShare};
use crate::protocol::coordinator::{Recovery, WorkerReport};
use crate::remote::DownloadTotals;

/// The `--stats` document.
#[derive(Debug, Serialize)]
pub struct RunStats {
    pub wetmr_version: &'static str,
    pub tokenizer: &'static str,
    pub threads: usize,
    pub skip_bad_input: bool,
    pub files: usize,
    #[serde(flatten)]
    pub counters: Counters,
    pub distinct_words: u64,
    pub words_written: u64,
    /// Bytes of the input files as stored (compressed size for `.gz`).
    pub bytes_in: u64,
    pub seconds: f64,
    /// `bytes_in` per second, in MB (10^6 bytes).
    pub mb_per_s: f64,
    /// Decompressed WARC bytes per second, in MB.
    pub warc_mb_per_s: f64,
    /// Peak resident set size of the process.
    pub peak_rss_bytes: u64,
    /// Conversion records and tokens by language, over every file, most tokens first.
    pub languages: Vec<LanguageShare>,
    pub per_file: Vec<FileResult>,
    /// Distributed runs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStats>,
    /// Runs with URL inputs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downloads: Option<DownloadTotals>,
}

/// The distributed engine's figures.
#[derive(Debug, Serialize)]
pub struct ClusterStats {
    pub partitions: u32,
    pub partition_hash: &'static str,
    pub workers: Vec<WorkerReport>,
    pub recovery: Recovery,
}

impl RunStats {
    /// Builds the document from a run's results.
    pub fn new(
        tokenizer: &'static str,
        threads: usize,
        skip_bad_input: bool,
        files: &[FileResult],
        distinct_words: u64,
        words_written: u64,
        elapsed: Duration,
    ) -> RunStats {
        let mut counters = Counters::default();
        for f in files {
            counters += f.counters;
        }
        let bytes_in = files.iter().map(|f| f.bytes_in).sum();
        let seconds = elapsed.as_secs_f64();
        let rate = |bytes: u64| bytes as f64 / 1e6 / seconds.max(1e-9);
        RunStats {
            wetmr_version: env!("CARGO_PKG_VERSION"),
            tokenizer,
            threads,
            skip_bad_input,
            files: files.len(),
            counters,
            distinct_words,
            words_written,
            bytes_in,
            seconds,
            mb_per_s: rate(bytes_in),
            warc_mb_per_s: rate(counters.warc_bytes),
            peak_rss_bytes: peak_rss_bytes(),
            languages: languages::total(files.iter().map(|f| &f.languages[..])),
            per_file: files.to_vec(),
            cluster: None,
            downloads: None,
        }
    }

    /// The one-line summary printed on stderr.
    pub fn summary(&self) -> String {
        format!(
            "wetmr: {} file{}, {} records ({} conversion), {} tokens, {} distinct words, \
             {:.1} MB in ({:.1} MB WARC), {:.3} s, {:.1} MB/s in, {:.1} MB/s WARC",
            self.files,
            if self.files == 1 { "" } else { "s" },
            self.counters.records,
            self.counters.conversion_records,
            self.counters.tokens,
            self.distinct_words,
            self.bytes_in as f64 / 1e6,
            self.counters.warc_bytes as f64 / 1e6,
            self.seconds,
            self.mb_per_s,
            self.warc_mb_per_s,
        ) + &self
            .downloads
            .as_ref()
            .map_or(String::new(), |d| format!("; {}", d.line()))
    }
}

/// Peak resident set size of this process, from `getrusage`.
pub fn peak_rss_bytes() -> u64 {
    // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    (usage.ru_maxrss.max(0) as u64) * 1024
}
