//! The coordinator's clock: every deadline it keeps, in one table. The driver sleeps until
//! [`super::Coordinator::next_deadline`] and then calls `tick`; nothing else reads the time.

use std::time::{Duration, Instant};

use super::config::{JobConfig, SUSPECT_AFTER_INTERVALS};
use crate::protocol::ids::Machine;

#[derive(Debug)]
pub(super) struct Timers {
    /// Until when the listed workers may answer their greeting (until the job goes out).
    pub greeting: Option<Instant>,
    /// When each listed worker was last heard from, once the job is out (`None`: not
    /// since it joined; its silence starts at the next tick).
    heard: Vec<Option<Instant>>,
    /// For a worker outside the running job: when to try to reach it again (gone), or
    /// when to stop waiting for its answer (connecting, greeted).
    pub retry: Vec<Option<Instant>>,
}

impl Timers {
    pub fn new(machines: usize, greeting_until: Instant) -> Timers {
        Timers {
            greeting: Some(greeting_until),
            heard: vec![None; machines],
            retry: vec![None; machines],
        }
    }

    /// A frame came from `m` at `now`.
    pub fn heard(&mut self, m: Machine, now: Instant) {
        self.heard[m.0] = Some(now);
    }

    /// `m` joined the job: its silence counts from the next tick.
    pub fn forget(&mut self, m: Machine) {
        self.heard[m.0] = None;
    }

    /// How long `m` has been silent at `now` (counting from `now` if never heard).
    pub fn silence(&mut self, m: Machine, now: Instant) -> Duration {
        let heard = *self.heard[m.0].get_or_insert(now);
        now.saturating_duration_since(heard)
    }

    /// When `m` will have been silent for `allowed`.
    pub fn silence_ends(&self, m: Machine, allowed: Duration) -> Option<Instant> {
        self.heard[m.0].map(|t| t + allowed)
    }

    /// The coordinator did not run for `stall`: every deadline moves by as much, since it
    /// could not hear its workers meanwhile (their frames wait in the sockets).
    pub fn shift(&mut self, stall: Duration) {
        let all = self.heard.iter_mut().chain(&mut self.retry);
        for at in all.chain(std::iter::once(&mut self.greeting)).flatten() {
            *at += stall;
        }
    }

    /// How long a worker may stay silent now, and whether that is the shorter tail limit.
    /// The heartbeat timeout, except with backup tasks on once the job waits on its tail
    /// (`tail`: no task left to hand out, or reducing): then the job's end waits on every
    /// worker (its running tasks, and its partitions as a reducer), so a worker that misses
    /// [`SUSPECT_AFTER_INTERVALS`] heartbeats is taken over at once, as MapReduce backs up
    /// its last tasks. Wrongly suspecting a slow worker costs only the work redone:
    /// exactly-once holds whatever it does afterwards.
    pub fn allowed_silence(config: &JobConfig, tail: bool) -> (Duration, bool) {
        let timeout = config.heartbeat_timeout;
        let suspect = config.heartbeat_interval * SUSPECT_AFTER_INTERVALS;
        if config.backup_tasks && tail && suspect < timeout {
            (suspect, true)
        } else {
            (timeout, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_counts_from_the_last_frame_and_a_stall_moves_every_deadline() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut timers = Timers::new(2, t0 + 10 * second);
        let (a, b) = (Machine(0), Machine(1));
        timers.heard(a, t0);
        assert_eq!(timers.silence(a, t0 + 3 * second), 3 * second);
        // Never heard: silent from the first look.
        assert_eq!(timers.silence(b, t0 + 3 * second), Duration::ZERO);
        assert_eq!(timers.silence_ends(a, 5 * second), Some(t0 + 5 * second));
        timers.retry[1] = Some(t0 + 4 * second);
        timers.shift(2 * second);
        assert_eq!(timers.silence_ends(a, 5 * second), Some(t0 + 7 * second));
        assert_eq!(timers.retry[1], Some(t0 + 6 * second));
        assert_eq!(timers.greeting, Some(t0 + 12 * second));
        timers.forget(a);
        assert_eq!(timers.silence_ends(a, 5 * second), None);
    }

    #[test]
    fn the_tail_limit_applies_only_with_backups_and_when_shorter() {
        let mut config = crate::protocol::coordinator::tests_config();
        config.heartbeat_interval = Duration::from_millis(500);
        config.heartbeat_timeout = Duration::from_secs(10);
        let tail = config.heartbeat_interval * SUSPECT_AFTER_INTERVALS;
        assert_eq!(Timers::allowed_silence(&config, true), (tail, true));
        assert_eq!(
            Timers::allowed_silence(&config, false),
            (config.heartbeat_timeout, false)
        );
        config.backup_tasks = false;
        assert_eq!(
            Timers::allowed_silence(&config, true),
            (config.heartbeat_timeout, false)
        );
    }
}
