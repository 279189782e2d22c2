//! The laws fitted to a job's word frequencies, read off its frequency spectrum
//! ([`Spectrum`], how many words occur t times, for every t): Zipf's law on the
//! rank–frequency curve, and Heaps' law on the vocabulary growth curve.

use crate::count::Spectrum;

/// A least-squares line on log–log axes: `y = scale · x^exponent`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerLaw {
    pub exponent: f64,
    pub scale: f64,
    /// R² of the fit, in log space.
    pub r2: f64,
}

impl PowerLaw {
    pub fn at(&self, x: f64) -> f64 {
        self.scale * x.powf(self.exponent)
    }
}

impl Spectrum {
    /// The rank–frequency curve at about `points` ranks spread evenly on a log scale,
    /// the first and the last rank included: `(rank, tf)`.
    pub fn rank_frequency(&self, points: usize) -> Vec<(f64, f64)> {
        let last = self.words();
        if last == 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut prev = 0;
        for rank in log_grid(1.0, last as f64, points) {
            let rank = (rank.round() as u64).clamp(1, last);
            if rank != prev {
                out.push((rank as f64, self.tf_at(rank) as f64));
                prev = rank;
            }
        }
        out
    }

    /// The tf of the word at `rank` (1-based).
    fn tf_at(&self, rank: u64) -> u64 {
        let mut seen = 0;
        for &(tf, n) in self.pairs() {
            seen += n;
            if rank <= seen {
                return tf;
            }
        }
        0
    }

    /// Zipf's law, `tf = C · rank^−s`, fitted on log-spaced ranks up to the last word seen
    /// twice (the long run of words seen once is a plateau of the sample, not of the law).
    /// `s` is returned positive.
    pub fn zipf(&self) -> Option<PowerLaw> {
        let above_once: u64 = self.pairs().iter().filter(|p| p.0 >= 2).map(|p| p.1).sum();
        let points: Vec<(f64, f64)> = self
            .rank_frequency(200)
            .into_iter()
            .filter(|&(rank, _)| above_once < 3 || rank <= above_once as f64)
            .collect();
        let mut fit = fit_power_law(&points)?;
        fit.exponent = -fit.exponent;
        Some(fit)
    }

    /// The expected vocabulary of a uniform random sample of `n` of the job's tokens: each
    /// token kept with probability p = n / N, a word of frequency t is in the sample with
    /// probability 1 − (1 − p)^t. (The vocabulary growth curve, without a second pass over
    /// the text, and with no dependence on the order the files happened to be read in.)
    pub fn expected_vocabulary(&self, n: f64) -> f64 {
        let total = self.tokens() as f64;
        if total == 0.0 {
            return 0.0;
        }
        let p = (n / total).clamp(0.0, 1.0);
        let log_keep = (1.0 - p).ln();
        (self.pairs().iter())
            .map(|&(tf, words)| words as f64 * -(log_keep * tf as f64).exp_m1())
            .sum()
    }

    /// The growth curve at `points` sample sizes from a thousandth of the tokens (or 100)
    /// to all of them: `(tokens, expected distinct words)`.
    pub fn growth(&self, points: usize) -> Vec<(f64, f64)> {
        let total = self.tokens() as f64;
        if total < 2.0 {
            return Vec::new();
        }
        let from = (total / 1000.0).max(100.0).min(total / 2.0);
        (log_grid(from, total, points).into_iter())
            .map(|n| (n, self.expected_vocabulary(n)))
            .collect()
    }

    /// Heaps' law, `V = K · n^β`, fitted on the growth curve.
    pub fn heaps(&self) -> Option<PowerLaw> {
        fit_power_law(&self.growth(60))
    }
}

/// `points` values from `from` to `to`, evenly spaced on a log scale.
fn log_grid(from: f64, to: f64, points: usize) -> Vec<f64> {
    if points < 2 || to <= from {
        return vec![to];
    }
    let (a, b) = (from.ln(), to.ln());
    (0..points)
        .map(|i| (a + (b - a) * i as f64 / (points - 1) as f64).exp())
        .collect()
}

/// Least squares of ln y on ln x (points with x, y > 0); None with fewer than 3.
fn fit_power_law(points: &[(f64, f64)]) -> Option<PowerLaw> {
    let logs: Vec<(f64, f64)> = (points.iter())
        .filter(|p| p.0 > 0.0 && p.1 > 0.0)
        .map(|p| (p.0.ln(), p.1.ln()))
        .collect();
    if logs.len() < 3 {
        return None;
    }
    let n = logs.len() as f64;
    let mx = logs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = logs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = logs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = logs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = logs.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let r2 = if syy == 0.0 {
        1.0
    } else {
        sxy * sxy / (sxx * syy)
    };
    Some(PowerLaw {
        exponent: slope,
        scale: (my - slope * mx).exp(),
        r2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spectrum of words whose tfs are exactly C / rank^s (rounded).
    fn zipf_spectrum(words: u64, s: f64, c: f64) -> Spectrum {
        Spectrum::new((1..=words).map(|r| ((c / (r as f64).powf(s)).round().max(1.0) as u64, 1)))
    }

    #[test]
    fn a_zipf_corpus_gives_back_its_exponent() {
        for s in [0.8, 1.0, 1.3] {
            let spectrum = zipf_spectrum(50_000, s, 1e6);
            let fit = spectrum.zipf().unwrap();
            assert!((fit.exponent - s).abs() < 0.03, "s = {s}: fitted {fit:?}");
            assert!(fit.r2 > 0.99, "{fit:?}");
        }
    }

    #[test]
    fn the_rank_frequency_curve_reads_ranks_off_the_spectrum() {
        let spectrum = Spectrum::new([(1, 3), (10, 1), (5, 2), (1, 1)]);
        assert_eq!(spectrum.pairs(), &[(10, 1), (5, 2), (1, 4)]);
        assert_eq!((spectrum.words(), spectrum.tokens()), (7, 24));
        let curve = spectrum.rank_frequency(100);
        assert_eq!(curve.first(), Some(&(1.0, 10.0)));
        assert_eq!(curve.last(), Some(&(7.0, 1.0)));
        assert!(curve.contains(&(3.0, 5.0)) && curve.contains(&(4.0, 1.0)));
    }

    #[test]
    fn expected_vocabulary_is_exact_at_the_ends_and_in_between() {
        let spectrum = Spectrum::new([(100, 1), (3, 10), (1, 50)]);
        let n = spectrum.tokens() as f64;
        assert_eq!(spectrum.expected_vocabulary(0.0), 0.0);
        assert!((spectrum.expected_vocabulary(n) - 61.0).abs() < 1e-9);
        // Half the tokens: 1 − 0.5^t per word.
        let half = 1.0 - 0.5f64.powi(100) + 10.0 * (1.0 - 0.125) + 50.0 * 0.5;
        assert!((spectrum.expected_vocabulary(n / 2.0) - half).abs() < 1e-9);
    }

    #[test]
    fn heaps_law_comes_out_of_a_zipf_corpus() {
        // A Zipf exponent s > 1 gives a vocabulary growing like n^(1/s).
        let spectrum = zipf_spectrum(200_000, 1.5, 1e7);
        let fit = spectrum.heaps().unwrap();
        assert!((fit.exponent - 1.0 / 1.5).abs() < 0.08, "{fit:?}");
        let curve = spectrum.growth(20);
        assert!(
            curve.windows(2).all(|w| w[1].1 >= w[0].1),
            "growth never shrinks"
        );
    }

    #[test]
    fn too_little_to_fit_is_no_fit() {
        assert!(Spectrum::new([(1, 1)]).zipf().is_none());
        assert!(Spectrum::default().heaps().is_none());
    }
}
