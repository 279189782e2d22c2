//! One remote file as a byte stream: a GET whose body survives cuts, stalls and refusals.
//!
//! [`Download`] implements `Read`. Underneath, every failure that may pass (a 5xx, a rate
//! limit, a timeout, a reset, a body shorter than announced) is retried after a backoff,
//! and a body that had begun resumes where it stopped: `Range: bytes=N-` with N the number
//! of bytes received, `If-Range` with the version first seen. The answer must continue
//! exactly there: a `206` whose `Content-Range` starts at N of the same total, or a `200`
//! of the same version (a server that ignores ranges), whose first N bytes are then read
//! and dropped. A total length that changes, a version that changes, or a body longer than
//! announced fail the download: counting must never mix two versions of a file, and the
//! bytes the reader gets are each byte of the file exactly once, in order.

mod answer;

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::backoff;
use super::client::Client;
use super::limiter::Permit;
use super::RemoteUrl;
use answer::{io_failure, Failure};

/// The most of an error answer's body read (for S3's error code).
const ERROR_BODY_MAX: u64 = 64 << 10;

/// S3 error codes that no retry will change.
const S3_AUTH_CODES: [&str; 8] = [
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AuthorizationHeaderMalformed",
    "RequestTimeTooSkewed",
];

/// One file's download figures (in `--stats`, per file; workers send them to the
/// coordinator).
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Serialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct DownloadStats {
    /// Requests made (the first, and every retry).
    pub attempts: u32,
    /// Requests that continued a body cut short.
    pub resumes: u32,
    /// Retries, by what caused them.
    pub retries: BTreeMap<String, u32>,
    /// Answers to a range request that sent the whole file again (its start was dropped).
    pub ranges_ignored: u32,
    /// Body bytes received, dropped ones included.
    pub bytes: u64,
    /// Time spent waiting to retry.
    #[serde(rename = "backoff_seconds", serialize_with = "as_seconds")]
    pub backoff_ms: u64,
    /// From the first request to the end of the body.
    #[serde(rename = "seconds", serialize_with = "as_seconds")]
    pub ms: u64,
    /// Read from `--cache-dir` rather than downloaded.
    pub cached: bool,
}

/// Milliseconds, written as seconds.
fn as_seconds<S: serde::Serializer>(ms: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(*ms as f64 / 1e3)
}

/// A remote file being read.
pub struct Download<'c> {
    client: &'c Client,
    url: RemoteUrl,
    /// The HTTP URL requested (an S3 object's, for `s3://`).
    target: String,
    body: Option<ureq::BodyReader<'static>>,
    permit: Option<Permit<'c>>,
    /// File bytes handed to the reader so far.
    received: u64,
    /// The file's length, once an answer said it.
    total: Option<u64>,
    /// The version first seen: its `ETag`, else its `Last-Modified`.
    version: Option<String>,
    /// Failures in a row without a byte of progress.
    failures: u32,
    waited: Duration,
    started: Instant,
    /// `--cache-dir`: what was received so far, and where it goes once whole.
    cache: Option<(tempfile::NamedTempFile, std::path::PathBuf)>,
    pub stats: DownloadStats,
}

impl<'c> Download<'c> {
    /// Starts downloading `url`: returns once an answer with a body came, or the download
    /// failed for good (a permanent answer, or retries exhausted), saying why.
    pub fn open(client: &'c Client, url: &RemoteUrl) -> Result<Download<'c>, String> {
        let target = match url {
            RemoteUrl::Http(url) => url.clone(),
            RemoteUrl::S3 { bucket, key } => client.s3()?.object_url(bucket, key),
        };
        let mut download = Download {
            client,
            url: url.clone(),
            target,
            body: None,
            permit: None,
            received: 0,
            total: None,
            version: None,
            failures: 0,
            waited: Duration::ZERO,
            started: Instant::now(),
            cache: None,
            stats: DownloadStats::default(),
        };
        download.connect()?;
        if let Some(path) = client.cache_path(url) {
            download.cache = download.start_caching(path);
        }
        Ok(download)
    }

    /// The file's length, when the server said it.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// Bytes of the file received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Makes requests until one gives a body to read from `received` on.
    fn connect(&mut self) -> Result<(), String> {
        loop {
            let permit = self.client.limiter.acquire();
            self.stats.attempts += 1;
            self.client.totals.requests.fetch_add(1, Ordering::Relaxed);
            match self.request() {
                Ok(body) => {
                    self.client.limiter.succeeded();
                    self.body = Some(body);
                    self.permit = Some(permit);
                    return Ok(());
                }
                Err(Failure::Permanent(what)) => return Err(what),
                Err(Failure::Retry {
                    cause,
                    detail,
                    throttled,
                    retry_after,
                }) => {
                    drop(permit);
                    if throttled {
                        self.client.limiter.throttled();
                    }
                    self.back_off(&cause, &detail, throttled, retry_after)?;
                }
            }
        }
    }

    /// Waits before the next retry, or gives up past the limits.
    fn back_off(
        &mut self,
        cause: &str,
        detail: &str,
        throttled: bool,
        retry_after: Option<Duration>,
    ) -> Result<(), String> {
        let settings = &self.client.settings;
        if self.failures >= settings.max_retries || self.waited >= settings.retry_for {
            return Err(format!(
                "gave up after {} attempts ({} failures in a row, {:.0} s spent waiting): {detail}",
                self.stats.attempts,
                self.failures + 1,
                self.waited.as_secs_f64()
            ));
        }
        let wait = retry_after.unwrap_or_else(|| {
            backoff::wait(
                settings.retry_wait,
                self.failures,
                throttled,
                backoff::unit_random(),
            )
        });
        self.failures += 1;
        self.waited += wait;
        self.stats.backoff_ms += wait.as_millis() as u64;
        *self.stats.retries.entry(cause.to_string()).or_default() += 1;
        self.client.totals.retried(cause, wait);
        self.client.log_retry(format!(
            "{}: {detail}; retry {} in {:.1} s (at byte {})",
            self.url,
            self.failures,
            wait.as_secs_f64(),
            self.received
        ));
        std::thread::sleep(wait);
        Ok(())
    }

    /// A temporary file beside `path` in the cache, to write the body to.
    fn start_caching(
        &self,
        path: std::path::PathBuf,
    ) -> Option<(tempfile::NamedTempFile, std::path::PathBuf)> {
        let dir = path.parent()?;
        let made = std::fs::create_dir_all(dir).and_then(|()| {
            tempfile::Builder::new()
                .prefix(".wetmr-download-")
                .tempfile_in(dir)
        });
        match made {
            Ok(file) => Some((file, path)),
            Err(e) => {
                let dir = crate::error::shown(dir);
                self.client.log(&format!(
                    "{}: not cached: cannot write to {dir}: {e}",
                    self.url
                ));
                None
            }
        }
    }

    /// Adds received bytes to the cached copy (which is given up if the disk refuses).
    fn cache_bytes(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let Some((file, _)) = &mut self.cache else {
            return;
        };
        if let Err(e) = file.write_all(bytes) {
            self.client
                .log(&format!("{}: not cached: cannot write: {e}", self.url));
            self.cache = None;
        }
    }

    /// Puts the cached copy in place, if the whole file came.
    fn keep_cached(&mut self) {
        let Some((file, path)) = self.cache.take() else {
            return;
        };
        if self.total != Some(self.received) {
            return;
        }
        let kept = file
            .as_file()
            .sync_all()
            .map_err(|e| e.to_string())
            .and_then(|()| file.persist(&path).map_err(|e| e.error.to_string()));
        if let Err(e) = kept {
            self.client.log(&format!(
                "{}: not cached: cannot write {}: {e}",
                self.url,
                crate::error::shown(&path)
            ));
        }
    }

    /// Counts `n` body bytes received.
    fn count_bytes(&mut self, n: u64) {
        self.stats.bytes += n;
        self.client.totals.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// The body is over: its place goes to another download.
    fn finish(&mut self) {
        self.body = None;
        self.permit = None;
        self.keep_cached();
        self.stats.ms = self.started.elapsed().as_millis() as u64;
    }
}

impl Read for Download<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.total == Some(self.received) {
                self.finish();
                return Ok(0);
            }
            if self.body.is_none() {
                self.stats.resumes += 1;
                self.client.totals.resumes.fetch_add(1, Ordering::Relaxed);
                self.connect().map_err(io::Error::other)?;
            }
            let body = self.body.as_mut().expect("connected above");
            let (cause, detail) = match body.read(buf) {
                Ok(0) => match self.total {
                    None => {
                        // No length was announced: the end of the body is the end.
                        self.finish();
                        return Ok(0);
                    }
                    Some(total) => (
                        "cut".to_string(),
                        format!("the body ended at byte {} of {total}", self.received),
                    ),
                },
                Ok(n) => {
                    let n64 = n as u64;
                    if self.total.is_some_and(|t| self.received + n64 > t) {
                        return Err(io::Error::other(format!(
                            "the body is longer than the {} bytes announced",
                            self.total.unwrap_or(0)
                        )));
                    }
                    self.received += n64;
                    self.failures = 0;
                    self.count_bytes(n64);
                    self.cache_bytes(&buf[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => match io_failure(&e) {
                    Failure::Retry { cause, .. } if cause == "cut" => {
                        let total = self.total.map_or(String::new(), |t| format!(" of {t}"));
                        let detail = format!("the body ended at byte {}{total}", self.received);
                        (cause, detail)
                    }
                    Failure::Retry { cause, detail, .. } => (cause, detail),
                    Failure::Permanent(what) => return Err(io::Error::other(what)),
                },
            };
            self.body = None;
            self.permit = None;
            self.back_off(&cause, &detail, false, None)
                .map_err(io::Error::other)?;
        }
    }
}

#[cfg(test)]
mod tests;
