//! Remote inputs: WET files counted where they live, over HTTP(S) or from S3.
//!
//! A URL input is never saved whole: [`Download`] is a byte stream over one GET, which the
//! engine decodes and counts as it arrives (`engine::stream`). Underneath, the stream
//! survives what Common Crawl's servers and the networks between do to long downloads:
//!
//! - a body cut short, a reset, or a read that stalls resumes with `Range: bytes=N-`,
//!   where N is the first byte not yet received (`If-Range` names the version first seen,
//!   and a `206` must say it starts at N of the same total), so every byte is received and
//!   counted exactly once;
//! - 5xx answers, timeouts and resets are retried after an exponential backoff with
//!   jitter ([`backoff`]), and 403/429 (CloudFront's rate limits) after a longer one, which
//!   also lowers the number of downloads the whole process runs at once ([`limiter`]);
//! - permanent answers (404, 401, a refused S3 signature) are not retried;
//! - every request says who it is (`User-Agent: wetmr/VERSION`).
//!
//! [`Client`] holds what downloads share: the HTTP agent, the limiter, the retry settings,
//! the S3 credentials and the process-wide figures.

pub mod backoff;
pub mod cache;
pub mod client;
pub mod download;
pub mod limiter;
pub mod s3;

use std::fmt;

pub use client::{Client, DownloadTotals, Settings, Totals};
pub use download::{Download, DownloadStats};

/// The schemes wetmr fetches.
const SCHEMES: [&str; 3] = ["http://", "https://", "s3://"];

/// A URL input.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RemoteUrl {
    /// An `http://` or `https://` URL, as given.
    Http(String),
    /// `s3://bucket/key`.
    S3 { bucket: String, key: String },
}

impl RemoteUrl {
    /// True when `text` names a URL (of any scheme wetmr fetches) rather than a path.
    pub fn is_url(text: &str) -> bool {
        SCHEMES.iter().any(|scheme| {
            text.len() >= scheme.len() && text[..scheme.len()].eq_ignore_ascii_case(scheme)
        })
    }

    /// Parses a URL input, or says what is wrong with it.
    pub fn parse(text: &str) -> Result<RemoteUrl, String> {
        let bad = |why: &str| Err(format!("{text}: not a usable URL ({why})"));
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("it contains spaces or control characters");
        }
        let (scheme, rest) = text.split_once("://").unwrap_or(("", text));
        match scheme.to_ascii_lowercase().as_str() {
            "http" | "https" => {
                let host = rest.split(['/', '?', '#']).next().unwrap_or("");
                if host.is_empty() {
                    return bad("no host");
                }
                Ok(RemoteUrl::Http(text.to_string()))
            }
            "s3" => {
                let Some((bucket, key)) = rest.split_once('/') else {
                    return bad("s3://BUCKET/KEY expected");
                };
                if bucket.is_empty() || key.is_empty() {
                    return bad("s3://BUCKET/KEY expected");
                }
                Ok(RemoteUrl::S3 {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                })
            }
            _ => bad("only http://, https:// and s3:// are fetched"),
        }
    }

    /// The URL that `entry` (a line of a list) names relative to `base`: `base` and
    /// `entry` joined by one `/` (`--input-base https://data.commoncrawl.org/` with Common
    /// Crawl's `crawl-data/...` paths), or `entry` itself when it is a URL.
    pub fn join(base: &str, entry: &str) -> String {
        if RemoteUrl::is_url(entry) {
            return entry.to_string();
        }
        format!(
            "{}/{}",
            base.trim_end_matches('/'),
            entry.trim_start_matches('/')
        )
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteUrl::Http(url) => crate::error::escaped(url, f),
            RemoteUrl::S3 { bucket, key } => {
                f.write_str("s3://")?;
                crate::error::escaped(&format!("{bucket}/{key}"), f)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths() {
        assert!(RemoteUrl::is_url("https://data.commoncrawl.org/x"));
        assert!(RemoteUrl::is_url("HTTP://a/b"));
        assert!(RemoteUrl::is_url("s3://commoncrawl/crawl-data/x"));
        assert!(!RemoteUrl::is_url("crawl-data/x.warc.wet.gz"));
        assert!(!RemoteUrl::is_url("/data/http://x"));
        assert!(!RemoteUrl::is_url("ftp://x/y"));
    }

    #[test]
    fn parsing_checks_the_parts() {
        assert_eq!(
            RemoteUrl::parse("s3://commoncrawl/crawl-data/a.gz"),
            Ok(RemoteUrl::S3 {
                bucket: "commoncrawl".into(),
                key: "crawl-data/a.gz".into()
            })
        );
        assert!(RemoteUrl::parse("s3://commoncrawl").is_err());
        assert!(RemoteUrl::parse("s3:///key").is_err());
        assert!(RemoteUrl::parse("https:///path").is_err());
        assert!(RemoteUrl::parse("https://host/a b").is_err());
        assert!(RemoteUrl::parse("https://data.commoncrawl.org/a").is_ok());
    }

    #[test]
    fn list_entries_join_the_base() {
        let base = "https://data.commoncrawl.org/";
        assert_eq!(
            RemoteUrl::join(base, "crawl-data/CC/x.warc.wet.gz"),
            "https://data.commoncrawl.org/crawl-data/CC/x.warc.wet.gz"
        );
        assert_eq!(
            RemoteUrl::join("s3://commoncrawl", "/crawl-data/x"),
            "s3://commoncrawl/crawl-data/x"
        );
        assert_eq!(RemoteUrl::join(base, "s3://b/k"), "s3://b/k");
    }
}
