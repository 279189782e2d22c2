//! What every download of a process shares: the HTTP agent, the limiter, the retry
//! settings, S3's credentials, the retry log and the process-wide figures.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::limiter::Limiter;
use super::s3::S3Config;
use crate::log_limit::LineLimit;

/// The User-Agent every request carries.
pub const USER_AGENT: &str = concat!(
    "wetmr/",
    env!("CARGO_PKG_VERSION"),
    " (word counts over Common Crawl)"
);

/// Retry log lines, at most, per second: the rest are counted and summed up.
pub const RETRIES_LOGGED_PER_SECOND: u32 = 5;

/// How downloads behave (the command line's download options).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Files downloaded at once, at most (`--downloads`).
    pub downloads: usize,
    /// Retries of one download in a row without a byte of progress (`--max-retries`).
    pub max_retries: u32,
    /// The most time one download may spend waiting to retry (`--retry-for`).
    pub retry_for: Duration,
    /// The first wait before a retry (`--retry-wait`).
    pub retry_wait: Duration,
    /// A connection not made, or a read that brings nothing, for this long is a failure
    /// (`--read-timeout`).
    pub read_timeout: Duration,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    /// Keep downloaded files here, and read them from here later (`--cache-dir`).
    pub cache_dir: Option<std::path::PathBuf>,
    /// Print retry lines on stderr.
    pub log: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            downloads: 4,
            max_retries: 1000,
            retry_for: Duration::from_secs(2 * 3600),
            retry_wait: Duration::from_secs(1),
            read_timeout: Duration::from_secs(60),
            s3_endpoint: None,
            s3_region: None,
            cache_dir: None,
            log: true,
        }
    }
}

/// Shared by the downloads of a process.
pub struct Client {
    pub settings: Settings,
    pub(super) agent: ureq::Agent,
    pub(super) limiter: Limiter,
    /// Loaded at the first `s3://` input.
    s3: OnceLock<Result<S3Config, String>>,
    log: Mutex<LineLimit>,
    pub totals: Totals,
}

/// The process-wide download figures, kept as they happen (progress lines read them).
#[derive(Debug, Default)]
pub struct Totals {
    pub bytes: AtomicU64,
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub resumes: AtomicU64,
    pub backoff_ms: AtomicU64,
    by_cause: Mutex<BTreeMap<String, u64>>,
}

/// The download figures of a run, for `--stats` and the summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DownloadTotals {
    pub bytes: u64,
    pub seconds: f64,
    pub mb_per_s: f64,
    pub requests: u64,
    pub retries: u64,
    pub retries_by_cause: BTreeMap<String, u64>,
    pub resumes: u64,
    pub backoff_seconds: f64,
    /// The most and the fewest downloads allowed at once (rate limits lower it).
    pub concurrency: usize,
    pub lowest_concurrency: usize,
}

impl DownloadTotals {
    /// The figures as the summary and progress lines show them.
    pub fn line(&self) -> String {
        let counted = |n: u64, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        format!(
            "downloaded {:.1} MB at {:.1} MB/s ({}, {}, {}, {:.1} s in backoff)",
            self.bytes as f64 / 1e6,
            self.mb_per_s,
            counted(self.requests, "request"),
            counted(self.retries, "retry"),
            counted(self.resumes, "resume"),
            self.backoff_seconds
        )
    }
}

impl Totals {
    pub(super) fn retried(&self, cause: &str, wait: Duration) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        self.backoff_ms
            .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
        *self
            .by_cause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(cause.to_string())
            .or_default() += 1;
    }
}

impl Client {
    pub fn new(settings: Settings) -> Client {
        let timeout = Some(settings.read_timeout);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(5)
            .user_agent(USER_AGENT)
            .timeout_connect(timeout)
            .timeout_recv_response(timeout)
            .timeout_per_read(timeout)
            .build()
            .into();
        Client {
            limiter: Limiter::new(settings.downloads),
            settings,
            agent,
            s3: OnceLock::new(),
            log: Mutex::new(LineLimit::new(RETRIES_LOGGED_PER_SECOND, "retries")),
            totals: Totals::default(),
        }
    }

    /// S3's settings, loaded once.
    pub(super) fn s3(&self) -> Result<&S3Config, String> {
        self.s3
            .get_or_init(|| {
                S3Config::load(
                    self.settings.s3_endpoint.as_deref(),
                    self.settings.s3_region.as_deref(),
                )
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Where `url` is kept in the cache, if there is one.
    pub fn cache_path(&self, url: &super::RemoteUrl) -> Option<std::path::PathBuf> {
        Some(super::cache::path(self.settings.cache_dir.as_deref()?, url))
    }

    /// The cached copy of `url`, if the cache has it whole.
    pub fn cached(&self, url: &super::RemoteUrl) -> Option<std::path::PathBuf> {
        self.cache_path(url).filter(|path| path.is_file())
    }

    /// Logs a line on stderr (unless quiet).
    pub(super) fn log(&self, line: &str) {
        if self.settings.log {
            eprintln!("wetmr: {line}");
        }
    }

    /// Logs a retry on stderr, within [`RETRIES_LOGGED_PER_SECOND`].
    pub(super) fn log_retry(&self, line: String) {
        if !self.settings.log {
            return;
        }
        let lines = self
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .note(Some(Instant::now()), line);
        for line in lines {
            eprintln!("wetmr: {line}");
        }
    }

    /// The figures so far, over `elapsed`.
    pub fn figures(&self, elapsed: Duration) -> DownloadTotals {
        let bytes = self.totals.bytes.load(Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        let (_, lowest) = self.limiter.allowed();
        DownloadTotals {
            bytes,
            seconds,
            mb_per_s: bytes as f64 / 1e6 / seconds.max(1e-9),
            requests: self.totals.requests.load(Ordering::Relaxed),
            retries: self.totals.retries.load(Ordering::Relaxed),
            retries_by_cause: self
                .totals
                .by_cause
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            resumes: self.totals.resumes.load(Ordering::Relaxed),
            backoff_seconds: self.totals.backoff_ms.load(Ordering::Relaxed) as f64 / 1e3,
            concurrency: self.settings.downloads,
            lowest_concurrency: lowest,
        }
    }
}
