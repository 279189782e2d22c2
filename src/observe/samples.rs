//! Bytes done over time, sampled at a bounded cost: the report's throughput plot.

/// Samples kept at most: past it, every other one is dropped and the interval doubles, so
/// a job of any length keeps between half and all of this many, evenly spaced.
const MAX_SAMPLES: usize = 512;

/// `(seconds since the start, bytes done)` pairs, at least `interval` apart.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Samples {
    /// Seconds between kept samples.
    pub interval: f64,
    pub points: Vec<(f64, u64)>,
}

impl Samples {
    /// Samples starting every `interval` seconds.
    pub fn new(interval: f64) -> Samples {
        Samples {
            interval,
            points: vec![(0.0, 0)],
        }
    }

    /// When the next sample is due, in seconds since the start.
    pub fn next_at(&self) -> f64 {
        self.points.last().map_or(0.0, |p| p.0) + self.interval
    }

    /// Records `bytes` done at `secs`, if a sample is due then.
    pub fn offer(&mut self, secs: f64, bytes: u64) {
        if secs + 1e-9 < self.next_at() {
            return;
        }
        self.points.push((secs, bytes));
        if self.points.len() > MAX_SAMPLES {
            // Keep the first and every second one after it: still evenly spaced.
            let mut i = 0;
            self.points.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.interval *= 2.0;
        }
    }

    /// Records the final figure, whenever it comes.
    pub fn last(&mut self, secs: f64, bytes: u64) {
        if self.points.last().is_some_and(|p| p.0 < secs) {
            self.points.push((secs, bytes));
        }
    }

    /// The rate between consecutive samples: `(mid-point seconds, bytes per second)`.
    pub fn rates(&self) -> Vec<(f64, f64)> {
        self.points
            .windows(2)
            .filter(|w| w[1].0 > w[0].0)
            .map(|w| {
                let dt = w[1].0 - w[0].0;
                (
                    (w[0].0 + w[1].0) / 2.0,
                    (w[1].1 - w[0].1.min(w[1].1)) as f64 / dt,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_job_keeps_a_bounded_evenly_spaced_series() {
        let mut samples = Samples::new(0.1);
        for i in 0..100_000u64 {
            samples.offer(i as f64 * 0.01, i * 1000);
        }
        let n = samples.points.len();
        assert!((MAX_SAMPLES / 2..=MAX_SAMPLES).contains(&n), "{n} samples");
        let gaps: Vec<f64> = samples.points.windows(2).map(|w| w[1].0 - w[0].0).collect();
        let (lo, hi) = gaps
            .iter()
            .fold((f64::MAX, 0f64), |(l, h), &g| (l.min(g), h.max(g)));
        assert!(hi - lo < 0.02 + 1e-9, "uneven gaps {lo}..{hi}");
        // A steady 100 kB/s comes out as such everywhere.
        for (_, rate) in samples.rates() {
            assert!((rate - 100_000.0).abs() < 1.0, "{rate}");
        }
    }

    #[test]
    fn samples_come_no_faster_than_the_interval() {
        let mut samples = Samples::new(1.0);
        samples.offer(0.5, 10);
        samples.offer(1.0, 20);
        samples.offer(1.2, 30);
        samples.last(1.3, 40);
        assert_eq!(samples.points, vec![(0.0, 0), (1.0, 20), (1.3, 40)]);
    }
}
