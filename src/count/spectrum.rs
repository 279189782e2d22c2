//! A count's frequency spectrum: how many words occur t times, for every t. The report's
//! rank–frequency and vocabulary-growth curves are read off it
//! ([`observe::report::fit`](crate::observe::report::fit)); a reducer sends its partition's
//! with its last Ranked piece, so a cluster's report covers every word even when `--top` or
//! `--min-count` cut what is written. It is small: a few thousand distinct frequencies even
//! for billions of tokens.

/// `(tf, words with that tf)`, tf descending, every tf > 0 once, every count > 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spectrum(Vec<(u64, u64)>);

/// Frequencies below this are tallied in an array (most words are rare), the rest in a map.
const DENSE: usize = 1024;

/// Tallies words' tfs into a [`Spectrum`].
pub struct Tally {
    dense: Box<[u64; DENSE]>,
    sparse: ahash::AHashMap<u64, u64>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            dense: Box::new([0; DENSE]),
            sparse: ahash::AHashMap::new(),
        }
    }
}

impl Tally {
    /// One word of frequency `tf` (0: not a word, ignored).
    #[inline]
    pub fn add(&mut self, tf: u64) {
        match usize::try_from(tf).ok().and_then(|i| self.dense.get_mut(i)) {
            Some(n) => *n += 1,
            None => *self.sparse.entry(tf).or_default() += 1,
        }
    }

    pub fn finish(self) -> Spectrum {
        let dense = (self.dense.iter().enumerate()).map(|(tf, &n)| (tf as u64, n));
        Spectrum::new(dense.chain(self.sparse))
    }
}

impl Spectrum {
    /// From `(tf, words)` pairs in any order, repeats added up; zero tfs and counts dropped.
    pub fn new(pairs: impl IntoIterator<Item = (u64, u64)>) -> Spectrum {
        let mut pairs: Vec<(u64, u64)> =
            (pairs.into_iter()).filter(|p| p.0 > 0 && p.1 > 0).collect();
        pairs.sort_unstable_by_key(|p| std::cmp::Reverse(p.0));
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(pairs.len());
        for (tf, n) in pairs {
            match merged.last_mut() {
                Some(last) if last.0 == tf => last.1 = last.1.saturating_add(n),
                _ => merged.push((tf, n)),
            }
        }
        Spectrum(merged)
    }

    /// The spectrum of several disjoint sets of words (a cluster's partitions).
    pub fn merge<'a>(parts: impl IntoIterator<Item = &'a Spectrum>) -> Spectrum {
        Spectrum::new(parts.into_iter().flat_map(|s| s.0.iter().copied()))
    }

    /// Pairs as sent by a peer: valid only in the canonical form (tf strictly descending,
    /// no zero) and with a distinct-word total that fits in a u64.
    pub fn from_canonical(pairs: Vec<(u64, u64)>) -> Result<Spectrum, String> {
        if pairs.iter().any(|p| p.0 == 0 || p.1 == 0) {
            return Err("a frequency spectrum holds a zero".into());
        }
        if pairs.windows(2).any(|w| w[0].0 <= w[1].0) {
            return Err("a frequency spectrum is not in descending tf order".into());
        }
        if (pairs.iter())
            .try_fold(0u64, |sum, p| sum.checked_add(p.1))
            .is_none()
        {
            return Err("a frequency spectrum counts more words than fit in 64 bits".into());
        }
        Ok(Spectrum(pairs))
    }

    pub fn pairs(&self) -> &[(u64, u64)] {
        &self.0
    }

    pub fn into_pairs(self) -> Vec<(u64, u64)> {
        self.0
    }

    /// Distinct words.
    pub fn words(&self) -> u64 {
        self.0.iter().fold(0, |sum, p| sum.saturating_add(p.1))
    }

    /// Tokens (the sum of every tf).
    pub fn tokens(&self) -> u64 {
        (self.0.iter()).fold(0, |sum, &(tf, n)| sum.saturating_add(tf.saturating_mul(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_is_the_spectrum_of_its_words() {
        let tfs = [1, 1, 3, 1, 5000, 3, 5000, 1023, 1024, 0];
        let mut tally = Tally::default();
        for tf in tfs {
            tally.add(tf);
        }
        let spectrum = tally.finish();
        assert_eq!(
            spectrum.pairs(),
            [(5000, 2), (1024, 1), (1023, 1), (3, 2), (1, 3)]
        );
        assert_eq!(spectrum.words(), 9);
        assert_eq!(spectrum.tokens(), 10000 + 1024 + 1023 + 6 + 3);
        assert_eq!(spectrum, Spectrum::new(tfs.map(|tf| (tf, 1))));
    }

    #[test]
    fn merged_spectra_add_up_per_frequency() {
        let a = Spectrum::new([(2, 1), (1, 4)]);
        let b = Spectrum::new([(7, 1), (1, 2), (2, 3)]);
        assert_eq!(Spectrum::merge([&a, &b]).pairs(), [(7, 1), (2, 4), (1, 6)]);
    }

    #[test]
    fn only_canonical_pairs_are_taken_from_a_peer() {
        assert!(Spectrum::from_canonical(vec![(5, 1), (2, 7)]).is_ok());
        assert!(Spectrum::from_canonical(vec![]).is_ok());
        for bad in [
            vec![(2, 1), (5, 1)],
            vec![(2, 1), (2, 1)],
            vec![(0, 1)],
            vec![(3, 0)],
            vec![(2, u64::MAX), (1, 1)],
        ] {
            assert!(Spectrum::from_canonical(bad.clone()).is_err(), "{bad:?}");
        }
    }
}
