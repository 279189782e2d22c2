//! A download's request and what its answer means: a body to read (from the start, or
//! from where the last one stopped), a wait and a retry (with its cause), or a failure.

use std::io::{self, Read};
use std::time::Duration;

use super::{Download, ERROR_BODY_MAX, S3_AUTH_CODES};
use crate::remote::{backoff, RemoteUrl};
/// Why a request did not give a body.
pub(super) enum Failure {
    /// Not worth retrying.
    Permanent(String),
    /// Worth retrying: `cause` (a short, stable name), `detail` (for the log).
    Retry {
        cause: String,
        detail: String,
        throttled: bool,
        retry_after: Option<Duration>,
    },
}

impl Failure {
    pub(super) fn retry(cause: impl Into<String>, detail: impl Into<String>) -> Failure {
        Failure::Retry {
            cause: cause.into(),
            detail: detail.into(),
            throttled: false,
            retry_after: None,
        }
    }
}

impl Download<'_> {
    /// One GET, from byte `received` on.
    pub(super) fn request(&mut self) -> Result<ureq::BodyReader<'static>, Failure> {
        let mut request = self.client.agent.get(&self.target);
        if let RemoteUrl::S3 { .. } = self.url {
            let s3 = self.client.s3().map_err(Failure::Permanent)?;
            for (name, value) in s3.sign_get(&self.target).map_err(Failure::Permanent)? {
                request = request.header(name, value);
            }
        }
        if self.received > 0 {
            request = request.header("Range", format!("bytes={}-", self.received));
            if let Some(version) = &self.version {
                request = request.header("If-Range", version);
            }
        }
        let response = request.call().map_err(transport_failure)?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("retry-after").and_then(|v| backoff::retry_after(&v));
        let named = format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        let named = named.trim_end().to_string();
        match status.as_u16() {
            200 | 206 => {}
            403 | 429 => {
                let code = s3_error_code(response);
                if code.as_deref().is_some_and(|c| S3_AUTH_CODES.contains(&c)) {
                    let code = code.unwrap_or_default();
                    return Err(Failure::Permanent(format!("{named} ({code})")));
                }
                return Err(Failure::Retry {
                    cause: format!("http {}", status.as_u16()),
                    detail: format!("{named} (rate limited)"),
                    throttled: true,
                    retry_after,
                });
            }
            500..=599 => {
                return Err(Failure::Retry {
                    cause: format!("http {}", status.as_u16()),
                    detail: named,
                    throttled: false,
                    retry_after,
                })
            }
            _ => {
                let code = s3_error_code(response);
                let code = code.map_or(String::new(), |c| format!(" ({c})"));
                return Err(Failure::Permanent(format!("{named}{code}")));
            }
        }
        let version = header("etag").or_else(|| header("last-modified"));
        let length = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
        let changed = |now: &Option<String>| matches!((&self.version, now), (Some(old), Some(new)) if old != new);
        if changed(&version) {
            return Err(Failure::Permanent(format!(
                "the file changed on the server during the download (version {} became {})",
                self.version.as_deref().unwrap_or(""),
                version.as_deref().unwrap_or("")
            )));
        }
        let partial = status.as_u16() == 206;
        let total = if partial {
            let range = header("content-range").unwrap_or_default();
            let Some((first, total)) = content_range(&range) else {
                return Err(Failure::Permanent(format!(
                    "a 206 answer whose Content-Range is not usable: {range:?}"
                )));
            };
            if first != self.received {
                return Err(Failure::Permanent(format!(
                    "asked to resume at byte {}, the server sent from byte {first}",
                    self.received
                )));
            }
            Some(total)
        } else {
            length
        };
        if let (Some(was), Some(now)) = (self.total, total) {
            if was != now {
                return Err(Failure::Permanent(format!(
                    "the file changed on the server during the download ({was} bytes, now {now})"
                )));
            }
        }
        self.total = self.total.or(total);
        self.version = self.version.take().or(version);
        let mut body = response.into_body().into_reader();
        if !partial && self.received > 0 {
            // The range was ignored: what was already counted comes again, and is dropped.
            self.stats.ranges_ignored += 1;
            let mut dropped = 0u64;
            let mut scratch = vec![0u8; 64 << 10];
            while dropped < self.received {
                let want = scratch.len().min((self.received - dropped) as usize);
                let n = match body.read(&mut scratch[..want]) {
                    Ok(0) => break,
                    Ok(n) => n as u64,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.count_bytes(dropped);
                        return Err(io_failure(&e));
                    }
                };
                dropped += n;
            }
            self.count_bytes(dropped);
            if dropped < self.received {
                return Err(Failure::retry(
                    "cut",
                    format!("the whole file sent again was cut at byte {dropped}"),
                ));
            }
        }
        Ok(body)
    }
}

/// `bytes FIRST-LAST/TOTAL`: the first byte and the total.
pub(super) fn content_range(value: &str) -> Option<(u64, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last): (u64, u64) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
    let total: u64 = total.trim().parse().ok()?;
    (first <= last && last < total).then_some((first, total))
}

/// The `<Code>` of an S3 error answer, if the body has one.
pub(super) fn s3_error_code(response: ureq::http::Response<ureq::Body>) -> Option<String> {
    let text = response
        .into_body()
        .with_config()
        .limit(ERROR_BODY_MAX)
        .read_to_string()
        .ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    Some(text[start..end].trim().to_string())
}

/// What a failed request (no answer) means.
pub(super) fn transport_failure(error: ureq::Error) -> Failure {
    match error {
        ureq::Error::Io(e) => io_failure(&e),
        ureq::Error::Timeout(which) => Failure::retry("timeout", format!("timed out ({which})")),
        ureq::Error::HostNotFound => Failure::Permanent("host not found".into()),
        ureq::Error::BadUri(why) => Failure::Permanent(format!("not a usable URL ({why})")),
        ureq::Error::TooManyRedirects => Failure::Permanent("too many redirects".into()),
        ureq::Error::RedirectFailed => {
            Failure::Permanent("a redirect could not be followed".into())
        }
        other => Failure::retry("connection", other.to_string()),
    }
}

/// What a failed read or connection means.
pub(super) fn io_failure(error: &io::Error) -> Failure {
    if let Some(inner) = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<ureq::Error>())
    {
        return match inner {
            ureq::Error::Io(e) => io_failure(e),
            ureq::Error::Timeout(which) => {
                Failure::retry("timeout", format!("timed out ({which})"))
            }
            other => Failure::retry("connection", other.to_string()),
        };
    }
    let cause = match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timeout",
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => "reset",
        io::ErrorKind::ConnectionRefused => "refused",
        io::ErrorKind::UnexpectedEof => "cut",
        _ => "connection",
    };
    Failure::retry(cause, error.to_string())
}
