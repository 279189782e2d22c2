//! How many downloads run at once: at most `--downloads`, fewer while the servers say to
//! slow down.
//!
//! One limiter serves the whole process. A download holds a [`Permit`] while its body is
//! being received, and gives it back while it waits to retry. A rate-limit answer (403 or
//! 429) halves the number allowed (at most once per [`CUT_EVERY`], so that one burst of
//! refusals does not count as many), down to one; every run of successful requests as long
//! as the number allowed raises it by one again, up to `--downloads`: additive increase,
//! multiplicative decrease, as TCP does with its window.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Rate limits closer together than this lower the number allowed once.
pub const CUT_EVERY: Duration = Duration::from_secs(1);

/// The shared limit on concurrent downloads.
#[derive(Debug)]
pub struct Limiter {
    max: usize,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Debug)]
struct State {
    allowed: usize,
    active: usize,
    /// Successes since the number allowed last changed.
    successes: usize,
    last_cut: Option<Instant>,
    /// The fewest downloads allowed at any time.
    lowest: usize,
}

/// A place among the running downloads; given back when dropped.
#[derive(Debug)]
pub struct Permit<'a> {
    limiter: &'a Limiter,
}

impl Limiter {
    /// At most `max` (at least one) downloads at once.
    pub fn new(max: usize) -> Limiter {
        let max = max.max(1);
        Limiter {
            max,
            state: Mutex::new(State {
                allowed: max,
                active: 0,
                successes: 0,
                last_cut: None,
                lowest: max,
            }),
            freed: Condvar::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a place.
    pub fn acquire(&self) -> Permit<'_> {
        let mut state = self.state();
        while state.active >= state.allowed {
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.active += 1;
        Permit { limiter: self }
    }

    /// A server said to slow down.
    pub fn throttled(&self) {
        let now = Instant::now();
        let mut state = self.state();
        if state.last_cut.is_some_and(|at| now < at + CUT_EVERY) {
            return;
        }
        state.last_cut = Some(now);
        state.allowed = (state.allowed / 2).max(1);
        state.lowest = state.lowest.min(state.allowed);
        state.successes = 0;
    }

    /// A request succeeded.
    pub fn succeeded(&self) {
        let mut state = self.state();
        if state.allowed == self.max {
            return;
        }
        state.successes += 1;
        if state.successes >= state.allowed {
            state.successes = 0;
            state.allowed += 1;
            drop(state);
            self.freed.notify_one();
        }
    }

    /// The number of downloads allowed now, and the fewest allowed so far.
    pub fn allowed(&self) -> (usize, usize) {
        let state = self.state();
        (state.allowed, state.lowest)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limiter.state().active -= 1;
        self.limiter.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_halve_and_successes_restore() {
        let limiter = Limiter::new(8);
        limiter.throttled();
        assert_eq!(limiter.allowed(), (4, 4));
        // A second refusal of the same burst does not count again.
        limiter.throttled();
        assert_eq!(limiter.allowed(), (4, 4));
        for _ in 0..4 {
            limiter.succeeded();
        }
        assert_eq!(limiter.allowed(), (5, 4));
        for _ in 0..100 {
            limiter.succeeded();
        }
        assert_eq!(limiter.allowed(), (8, 4));
    }

    #[test]
    fn permits_wait_for_a_place() {
        let limiter = Limiter::new(1);
        let first = limiter.acquire();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                let _second = limiter.acquire();
                Instant::now()
            });
            std::thread::sleep(Duration::from_millis(50));
            let released = Instant::now();
            drop(first);
            assert!(waiter.join().unwrap() >= released);
        });
    }
}
