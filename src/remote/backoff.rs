//! How long to wait before retrying a request: exponential backoff with jitter.
//!
//! The n-th consecutive failure of a download waits `first + random(0, first × 2^n)`,
//! capped at [`CAP_FACTOR`] × `first`; a rate limit (403, 429) starts from
//! [`THROTTLE_FACTOR`] × `first`. The random part spreads the retries of many downloads
//! that failed together (full jitter), and the fixed part keeps any one download from
//! asking more than about once per `first` (Common Crawl's advice: at most about once a
//! second). A `Retry-After` the server sent is waited instead, whole.

use std::time::Duration;

/// The longest wait, as a multiple of the first.
pub const CAP_FACTOR: u32 = 300;
/// A rate limit's first wait, as a multiple of the first wait for other failures.
pub const THROTTLE_FACTOR: u32 = 4;
/// The longest `Retry-After` honoured.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

/// The wait before retry number `retry` (0 for the first retry), after `first` as the
/// first wait; `throttled` for rate limits; `unit` is a random number in [0, 1).
pub fn wait(first: Duration, retry: u32, throttled: bool, unit: f64) -> Duration {
    let base = if throttled {
        first * THROTTLE_FACTOR
    } else {
        first
    };
    let cap = first * CAP_FACTOR;
    let span = base
        .checked_mul(1u32 << retry.min(20))
        .map_or(cap, |span| span.min(cap));
    (base + span.mul_f64(unit.clamp(0.0, 1.0))).min(cap)
}

/// A `Retry-After` header's wait: seconds (dates are not honoured: they need a clock the
/// server and this machine agree on), capped at [`RETRY_AFTER_MAX`].
pub fn retry_after(value: &str) -> Option<Duration> {
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(RETRY_AFTER_MAX))
}

/// A random number in [0, 1), from the operating system (retries are rare: no generator
/// state to keep).
pub fn unit_random() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn waits_grow_and_stop_at_the_cap() {
        assert_eq!(wait(S, 0, false, 0.0), S);
        assert_eq!(wait(S, 0, false, 0.999_999), S + S.mul_f64(0.999_999));
        assert_eq!(wait(S, 3, false, 0.5), S + 4 * S);
        assert_eq!(wait(S, 30, false, 0.999_999_999), S * CAP_FACTOR);
        assert_eq!(wait(S, 30, false, 0.5), S + S * CAP_FACTOR / 2);
        assert_eq!(wait(S, 0, true, 0.0), S * THROTTLE_FACTOR);
        assert!(wait(S, 2, true, 1.0) > wait(S, 2, false, 1.0));
    }

    #[test]
    fn retry_after_is_seconds() {
        assert_eq!(retry_after(" 7 "), Some(7 * S));
        assert_eq!(retry_after("99999999"), Some(RETRY_AFTER_MAX));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn randoms_are_units() {
        for _ in 0..100 {
            let u = unit_random();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
