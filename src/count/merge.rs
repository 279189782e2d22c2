//! The merge of ranked runs: words already in output order within each run, and disjoint
//! between runs (each run is one partition's), merged into the output order. The cluster's
//! coordinator merges its reducers' partitions with it.
//!
//! The merge runs on every thread of the pool: splitter words sampled from the runs cut
//! every run into slices by binary search, so that slice `i` of every run holds exactly the
//! words between splitters `i - 1` and `i`; each such group of slices is merged on its own
//! (a heap of run heads, compared by tf and an 8-byte prefix before the bytes) and the
//! groups, already in order, are laid end to end.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use super::finish::SortKey;
use super::{output_order, WordCount};

/// Words per merged group, about: large enough that cutting costs nothing, small enough
/// that every thread gets several groups.
const GROUP: usize = 1 << 16;

/// Samples taken from the runs per group, to place the splitters.
const SAMPLES_PER_GROUP: usize = 16;

/// A run that is not in output order, found by [`check_run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfOrder {
    /// Index in the run of the first word that is not after its predecessor.
    pub at: usize,
}

/// Checks that `run` is strictly in output order (which also proves its words distinct),
/// the condition [`merge_sorted`] needs.
pub fn check_run(run: &[WordCount<'_>]) -> Result<(), OutOfOrder> {
    match run
        .par_windows(2)
        .position_first(|w| output_order(&w[0], &w[1]) != Ordering::Less)
    {
        Some(i) => Err(OutOfOrder { at: i + 1 }),
        None => Ok(()),
    }
}

/// Merges `runs` (each strictly in output order, as [`check_run`] checks, and disjoint
/// between them) into the output order, keeping the first `top`.
pub fn merge_sorted<'a>(runs: &[Vec<WordCount<'a>>], top: Option<usize>) -> Vec<WordCount<'a>> {
    let total: usize = runs.iter().map(Vec::len).sum();
    let limit = top.unwrap_or(usize::MAX).min(total);
    if limit == 0 {
        return Vec::new();
    }
    let splitters = splitters(runs, total.div_ceil(GROUP));
    // cuts[i][r]: where group i starts in run r; the last row is every run's end.
    let mut cuts: Vec<Vec<usize>> = Vec::with_capacity(splitters.len() + 2);
    cuts.push(vec![0; runs.len()]);
    for s in &splitters {
        cuts.push(
            runs.iter()
                .map(|run| run.partition_point(|w| output_order(w, s) == Ordering::Less))
                .collect(),
        );
    }
    cuts.push(runs.iter().map(Vec::len).collect());
    // Only the groups that hold the first `limit` words are merged.
    let mut groups = 0;
    let mut before = 0;
    while before < limit {
        before += group_len(&cuts[groups], &cuts[groups + 1]);
        groups += 1;
    }
    let merged: Vec<Vec<WordCount<'a>>> = (0..groups)
        .into_par_iter()
        .map(|g| {
            let slices = runs
                .iter()
                .zip(cuts[g].iter().zip(&cuts[g + 1]))
                .map(|(run, (&from, &to))| &run[from..to.max(from)])
                .collect();
            merge_group(slices)
        })
        .collect();
    let mut out = Vec::with_capacity(limit);
    for group in merged {
        out.extend(group.into_iter().take(limit - out.len()));
    }
    out
}

fn group_len(from: &[usize], to: &[usize]) -> usize {
    from.iter()
        .zip(to)
        .map(|(&a, &b)| b.saturating_sub(a))
        .sum()
}

/// `groups - 1` words that cut the merged order into about `groups` equal parts: evenly
/// spaced samples of every run, sorted, taken at even quantiles. Duplicates are dropped,
/// so a group may be empty but never straddles a splitter.
fn splitters<'a>(runs: &[Vec<WordCount<'a>>], groups: usize) -> Vec<WordCount<'a>> {
    if groups <= 1 {
        return Vec::new();
    }
    let total: usize = runs.iter().map(Vec::len).sum();
    let stride = (total / (groups * SAMPLES_PER_GROUP)).max(1);
    let mut samples: Vec<SortKey<'a>> = runs
        .iter()
        .flat_map(|run| run.iter().step_by(stride).map(|&w| SortKey::new(w)))
        .collect();
    samples.par_sort_unstable_by(SortKey::cmp);
    let mut chosen: Vec<WordCount<'a>> = (1..groups)
        .filter_map(|i| samples.get(i * samples.len() / groups).map(|k| k.word))
        .collect();
    chosen.dedup_by(|a, b| a.word == b.word && a.tf == b.tf);
    chosen
}

/// Merges slices (each in output order, disjoint) with a heap of their heads.
fn merge_group<'a>(slices: Vec<&[WordCount<'a>]>) -> Vec<WordCount<'a>> {
    let mut out = Vec::with_capacity(slices.iter().map(|s| s.len()).sum());
    let mut live: Vec<&[WordCount<'a>]> = slices.into_iter().filter(|s| !s.is_empty()).collect();
    if live.len() == 1 {
        out.extend_from_slice(live[0]);
        return out;
    }
    let mut heap: BinaryHeap<Head<'a>> = live
        .iter_mut()
        .enumerate()
        .filter_map(|(i, s)| take_first(s).map(|w| Head(SortKey::new(w), i)))
        .collect();
    while let Some(Head(key, i)) = heap.pop() {
        out.push(key.word);
        if let Some(w) = take_first(&mut live[i]) {
            heap.push(Head(SortKey::new(w), i));
        }
    }
    out
}

fn take_first<'a>(slice: &mut &[WordCount<'a>]) -> Option<WordCount<'a>> {
    let (&first, rest) = slice.split_first()?;
    *slice = rest;
    Some(first)
}

/// A run's next word; the heap's greatest is the first in output order.
struct Head<'a>(SortKey<'a>, usize);

impl PartialEq for Head<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head<'_> {}
impl PartialOrd for Head<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        SortKey::cmp(&other.0, &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(words: &[(&'static str, u64)]) -> Vec<WordCount<'static>> {
        words
            .iter()
            .map(|&(w, tf)| WordCount {
                word: w.as_bytes(),
                tf,
                df: 1,
            })
            .collect()
    }

    #[test]
    fn k_way_merge_keeps_output_order_and_top() {
        let runs = vec![
            run(&[("a", 9), ("c", 5), ("e", 1)]),
            run(&[]),
            run(&[("b", 9), ("d", 5), ("f", 1)]),
        ];
        let all: Vec<_> = merge_sorted(&runs, None)
            .iter()
            .map(|w| (std::str::from_utf8(w.word).unwrap().to_string(), w.tf))
            .collect();
        let want = [("a", 9), ("b", 9), ("c", 5), ("d", 5), ("e", 1), ("f", 1)];
        assert_eq!(all, want.map(|(w, t)| (w.to_string(), t)));
        assert_eq!(merge_sorted(&runs, Some(3)).len(), 3);
        assert!(merge_sorted(&runs, Some(0)).is_empty());
    }

    /// Many groups: a sort of all the words is the reference, for several run counts and
    /// skewed run sizes, with and without a top.
    #[test]
    fn grouped_merge_equals_a_sort() {
        let words: Vec<Vec<u8>> = (0..300_000u32)
            .map(|i| format!("w{:x}", i.wrapping_mul(2_654_435_761)).into_bytes())
            .collect();
        for runs_n in [1usize, 3, 16] {
            let mut runs: Vec<Vec<WordCount<'_>>> = vec![Vec::new(); runs_n];
            for (i, w) in words.iter().enumerate() {
                // Skewed: run 0 takes half the words; tf mostly 1, some ties broken by bytes.
                let r = if i % 2 == 0 { 0 } else { i % runs_n };
                let tf = match i % 7 {
                    0 => 1 + (i as u64 % 50),
                    _ => 1,
                };
                runs[r].push(WordCount { word: w, tf, df: 1 });
            }
            for run in &mut runs {
                run.sort_unstable_by(output_order);
                assert_eq!(check_run(run), Ok(()));
            }
            let mut want: Vec<WordCount<'_>> = runs.concat();
            want.sort_unstable_by(output_order);
            assert_eq!(merge_sorted(&runs, None), want, "{runs_n} runs");
            for top in [1, 70_000, 299_999, 400_000] {
                let got = merge_sorted(&runs, Some(top));
                assert_eq!(
                    got[..],
                    want[..top.min(want.len())],
                    "{runs_n} runs, top {top}"
                );
            }
        }
    }

    #[test]
    fn a_run_out_of_order_is_found() {
        assert_eq!(check_run(&run(&[("a", 9), ("b", 9), ("c", 1)])), Ok(()));
        assert_eq!(
            check_run(&run(&[("a", 9), ("c", 1), ("b", 1)])),
            Err(OutOfOrder { at: 2 })
        );
        assert_eq!(
            check_run(&run(&[("a", 1), ("b", 9)])),
            Err(OutOfOrder { at: 1 })
        );
        // A word twice is out of order too (runs must be strictly increasing).
        assert_eq!(
            check_run(&run(&[("a", 2), ("a", 2)])),
            Err(OutOfOrder { at: 1 })
        );
    }
}
