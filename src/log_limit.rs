//! Log lines at a bounded rate: past the limit in a second, lines are counted instead of
//! printed, and the first line of a later second says how many were left out. Used for
//! a worker's refused messages and for download retries, where a flood must not drown
//! the log.

use std::time::{Duration, Instant};

/// A rate limit on log lines of one kind.
#[derive(Debug)]
pub struct LineLimit {
    per_second: u32,
    /// What the lines are about, for the summing-up line ("refusals", "retries").
    what: &'static str,
    /// The current one-second window, and what it logged or did not.
    second: Option<Instant>,
    logged: u32,
    unlogged: u64,
}

impl LineLimit {
    pub const fn new(per_second: u32, what: &'static str) -> LineLimit {
        LineLimit {
            per_second,
            what,
            second: None,
            logged: 0,
            unlogged: 0,
        }
    }

    /// The lines to print for `line` at `now` (`None`: no clock, the second stays).
    pub fn note(&mut self, now: Option<Instant>, line: String) -> Vec<String> {
        let mut lines = Vec::new();
        let second = Duration::from_secs(1);
        if now.is_some_and(|now| self.second.is_none_or(|s| now >= s + second)) {
            self.second = now;
            self.logged = 0;
            let unlogged = std::mem::take(&mut self.unlogged);
            if unlogged > 0 {
                lines.push(format!("{unlogged} more {} not logged", self.what));
            }
        }
        if self.logged < self.per_second {
            self.logged += 1;
            lines.push(line);
        } else {
            self.unlogged += 1;
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_summed_up_in_the_next_second() {
        let mut limit = LineLimit::new(5, "retries");
        let start = Instant::now();
        let printed: usize = (0..50)
            .map(|i| limit.note(Some(start), format!("retry {i}")).len())
            .sum();
        assert_eq!(printed, 5);
        let next = limit.note(Some(start + Duration::from_millis(1001)), "later".into());
        assert_eq!(next, ["45 more retries not logged", "later"]);
    }
}
