//! The k-way merge of ranked runs: words already in output order within each run, and
//! disjoint between runs (each run is one partition's), merged into the output order. The
//! cluster's coordinator merges its reducers' partitions with it.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::{output_order, WordCount};

/// Merges `runs` (each in output order, words disjoint between them) into the output
/// order, keeping the first `top`.
pub fn merge_sorted<'a, I>(runs: Vec<I>, top: Option<usize>) -> Vec<WordCount<'a>>
where
    I: Iterator<Item = WordCount<'a>>,
{
    let mut runs = runs;
    let mut heap = BinaryHeap::with_capacity(runs.len());
    for (i, run) in runs.iter_mut().enumerate() {
        if let Some(w) = run.next() {
            heap.push(Head(w, i));
        }
    }
    let limit = top.unwrap_or(usize::MAX);
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(Head(word, i)) = heap.pop() else {
            break;
        };
        out.push(word);
        if let Some(w) = runs[i].next() {
            heap.push(Head(w, i));
        }
    }
    out
}

/// A run's next word; the heap's greatest is the first in output order.
struct Head<'a>(WordCount<'a>, usize);

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
        output_order(&other.0, &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(words: &[(&'static str, u64)]) -> std::vec::IntoIter<WordCount<'static>> {
        let words: Vec<WordCount<'static>> = words
            .iter()
            .map(|&(w, tf)| WordCount {
                word: w.as_bytes(),
                tf,
                df: 1,
            })
            .collect();
        words.into_iter()
    }

    #[test]
    fn k_way_merge_keeps_output_order_and_top() {
        let runs = || {
            vec![
                run(&[("a", 9), ("c", 5), ("e", 1)]),
                run(&[]),
                run(&[("b", 9), ("d", 5), ("f", 1)]),
            ]
        };
        let all: Vec<_> = merge_sorted(runs(), None)
            .iter()
            .map(|w| (std::str::from_utf8(w.word).unwrap().to_string(), w.tf))
            .collect();
        let want = [("a", 9), ("b", 9), ("c", 5), ("d", 5), ("e", 1), ("f", 1)];
        assert_eq!(all, want.map(|(w, t)| (w.to_string(), t)));
        assert_eq!(merge_sorted(runs(), Some(3)).len(), 3);
    }
}
