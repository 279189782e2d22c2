//! The worker's deadlines for its job, in one table: the next Heartbeat, and when to send
//! partitions again to peers whose connection dropped. The driver sleeps until
//! [`super::Worker::next_deadline`] and then calls `tick`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::protocol::ids::Member;

#[derive(Debug)]
pub(super) struct Timers {
    /// When the next Heartbeat is due.
    next_beat: Instant,
    /// Peers whose connection dropped while partitions waited on them, and when to send
    /// those partitions again (`None`: set at the next tick).
    retry_peers: BTreeMap<Member, Option<Instant>>,
}

impl Timers {
    pub(super) fn new(next_beat: Instant) -> Timers {
        Timers {
            next_beat,
            retry_peers: BTreeMap::new(),
        }
    }

    /// Partitions waiting on `peer` are to be sent again, `every` after the next tick.
    pub(super) fn retry(&mut self, peer: Member) {
        self.retry_peers.entry(peer).or_insert(None);
    }

    /// The peers due at `now` (taken out of the table); those just added get their time.
    pub(super) fn due_peers(&mut self, now: Instant, every: Duration) -> Vec<Member> {
        let mut due = Vec::new();
        for (&peer, at) in &mut self.retry_peers {
            match at {
                None => *at = Some(now + every),
                Some(at) if *at <= now => due.push(peer),
                Some(_) => {}
            }
        }
        for peer in &due {
            self.retry_peers.remove(peer);
        }
        due
    }

    /// Whether a Heartbeat is due at `now` (then the next one is `every` later).
    pub(super) fn beat(&mut self, now: Instant, every: Duration) -> bool {
        if now < self.next_beat {
            return false;
        }
        self.next_beat = now + every;
        true
    }

    pub(super) fn next(&self) -> Instant {
        let retries = self.retry_peers.values().flatten().copied();
        retries
            .chain([self.next_beat])
            .min()
            .unwrap_or(self.next_beat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_come_every_interval_and_dropped_peers_are_retried_one_interval_later() {
        let t0 = Instant::now();
        let every = Duration::from_secs(1);
        let mut timers = Timers::new(t0 + every);
        assert!(!timers.beat(t0, every));
        assert!(timers.beat(t0 + every, every));
        assert!(!timers.beat(t0 + every, every), "once per interval");
        assert_eq!(timers.next(), t0 + 2 * every);
        timers.retry(Member(3));
        timers.retry(Member(3));
        // The tick after the drop sets the retry time; the one an interval later is due.
        assert!(timers.due_peers(t0, every).is_empty());
        assert_eq!(timers.next(), t0 + every);
        assert!(timers.due_peers(t0 + every / 2, every).is_empty());
        assert_eq!(timers.due_peers(t0 + every, every), [Member(3)]);
        assert!(
            timers.due_peers(t0 + 5 * every, every).is_empty(),
            "retried once"
        );
    }
}
