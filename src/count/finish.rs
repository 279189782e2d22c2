//! From the run's shared table to the final, ordered word list.
//!
//! Words are ranked by tf descending, then word bytes ascending. Words are unique, so the
//! order is total and the output reproducible.

use std::cmp::Ordering;

use rayon::prelude::*;

use super::{CountTable, SharedTable, Spectrum, Tally};

/// One line of the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordCount<'a> {
    pub word: &'a [u8],
    pub tf: u64,
    pub df: u64,
}

/// The counted words of a run, each stored once.
pub struct Counted {
    shards: Vec<CountTable>,
}

/// Takes the counts out of a run's shared table (every thread table spilled into it).
pub fn finish(shared: SharedTable) -> Counted {
    Counted {
        shards: shared.into_shards(),
    }
}

impl Counted {
    /// Counts already merged into tables holding disjoint words (a reducer's partition).
    pub fn from_tables(shards: Vec<CountTable>) -> Counted {
        Counted { shards }
    }

    /// The tables, each holding distinct words (no word is in two of them).
    pub fn shards(&self) -> &[CountTable] {
        &self.shards
    }

    /// Number of distinct words (tf > 0).
    pub fn distinct(&self) -> u64 {
        self.words().filter(|w| w.tf != 0).count() as u64
    }

    /// How many words have each tf (the report's frequency spectrum), every shard on its
    /// own thread.
    pub fn spectrum(&self) -> Spectrum {
        let parts: Vec<Spectrum> = (self.shards.par_iter())
            .map(|shard| {
                let mut tally = Tally::default();
                for (_, tf, _) in shard.iter() {
                    tally.add(tf);
                }
                tally.finish()
            })
            .collect();
        Spectrum::merge(&parts)
    }

    /// The words with tf ≥ `min_count`, in output order, at most `top` of them.
    pub fn ranked(&self, min_count: u64, top: Option<usize>) -> Vec<WordCount<'_>> {
        let min_count = min_count.max(1);
        let mut words: Vec<SortKey<'_>> = self
            .shards
            .par_iter()
            .flat_map_iter(|shard| {
                shard
                    .iter()
                    .filter(move |&(_, tf, _)| tf >= min_count)
                    .map(|(word, tf, df)| SortKey::new(WordCount { word, tf, df }))
            })
            .collect();
        match top {
            Some(k) if k < words.len() => {
                if k > 0 {
                    words.select_nth_unstable_by(k - 1, SortKey::cmp);
                }
                words.truncate(k);
                words.sort_unstable_by(SortKey::cmp);
            }
            _ => words.par_sort_unstable_by(SortKey::cmp),
        }
        words.into_iter().map(|k| k.word).collect()
    }

    /// Every stored word, in no particular order (words withdrawn to tf 0 included).
    pub fn words(&self) -> impl Iterator<Item = WordCount<'_>> {
        self.shards
            .iter()
            .flat_map(|s| s.iter().map(|(word, tf, df)| WordCount { word, tf, df }))
    }
}

/// A word with its first 8 bytes as a big-endian integer (zero-padded), so that most
/// comparisons between words with equal tf (most words have tf 1 or 2) settle without
/// comparing byte strings.
pub(super) struct SortKey<'a> {
    prefix: u64,
    pub(super) word: WordCount<'a>,
}

impl<'a> SortKey<'a> {
    pub(super) fn new(word: WordCount<'a>) -> SortKey<'a> {
        let mut bytes = [0u8; 8];
        let n = word.word.len().min(8);
        bytes[..n].copy_from_slice(&word.word[..n]);
        SortKey {
            prefix: u64::from_be_bytes(bytes),
            word,
        }
    }

    /// The output order: the same as [`output_order`] (byte order agrees with the prefix
    /// order, and equal prefixes fall back to the bytes).
    pub(super) fn cmp(a: &SortKey<'_>, b: &SortKey<'_>) -> Ordering {
        b.word
            .tf
            .cmp(&a.word.tf)
            .then(a.prefix.cmp(&b.prefix))
            .then_with(|| a.word.word.cmp(b.word.word))
    }
}

/// Words read ranked sit where their tables put them, in no order: walking a ranked list,
/// this asks for the bytes of the word 16 places ahead while yielding each.
pub fn prefetched<'w, 'a>(words: &'w [WordCount<'a>]) -> impl Iterator<Item = &'w WordCount<'a>> {
    words.iter().enumerate().map(move |(i, w)| {
        if let Some(ahead) = words.get(i + PREFETCH_AHEAD) {
            super::prefetch_address(ahead.word.as_ptr() as usize);
        }
        w
    })
}

/// How far ahead [`prefetched`] asks for words (16): enough to cover a memory access.
const PREFETCH_AHEAD: usize = 16;

/// tf descending, then word bytes ascending.
pub fn output_order(a: &WordCount<'_>, b: &WordCount<'_>) -> Ordering {
    b.tf.cmp(&a.tf).then_with(|| a.word.cmp(b.word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(words: &[&str]) -> CountTable {
        let mut t = CountTable::new();
        t.begin_record();
        for w in words {
            t.add(w.as_bytes(), 1);
        }
        t
    }

    #[test]
    fn prefix_order_is_byte_order() {
        let words: [&[u8]; 9] = [
            b"",
            b"a",
            b"a\0",
            b"ab",
            b"abcdefgh",
            b"abcdefgh\0",
            b"abcdefghi",
            b"b",
            b"\xff",
        ];
        for a in words {
            for b in words {
                let key = |w| {
                    SortKey::new(WordCount {
                        word: w,
                        tf: 1,
                        df: 1,
                    })
                };
                let want = output_order(
                    &WordCount {
                        word: a,
                        tf: 1,
                        df: 1,
                    },
                    &WordCount {
                        word: b,
                        tf: 1,
                        df: 1,
                    },
                );
                assert_eq!(SortKey::cmp(&key(a), &key(b)), want, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn order_top_and_min_count() {
        let shared = SharedTable::new();
        shared.spill(&mut table(&["b", "a", "c", "c"]));
        shared.spill(&mut table(&["b", "d"]));
        let counted = finish(shared);
        let all: Vec<_> = counted
            .ranked(0, None)
            .iter()
            .map(|w| (String::from_utf8_lossy(w.word).into_owned(), w.tf, w.df))
            .collect();
        assert_eq!(
            all,
            [
                ("b".into(), 2, 2),
                ("c".into(), 2, 1),
                ("a".into(), 1, 1),
                ("d".into(), 1, 1)
            ]
        );
        let top: Vec<_> = counted.ranked(0, Some(3)).iter().map(|w| w.word).collect();
        assert_eq!(top, [b"b", b"c", b"a"]);
        assert_eq!(counted.ranked(2, None).len(), 2);
        assert!(counted.ranked(0, Some(0)).is_empty());
        assert_eq!(counted.distinct(), 4);
        assert_eq!(counted.spectrum().pairs(), [(2, 2), (1, 2)]);
    }
}
