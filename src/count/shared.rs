//! The run's shared table: every word once, in shards, whatever the number of threads.
//!
//! Threads count into their own [`CountTable`] (no locks on the hot path). A thread's table
//! is a bounded cache: when it holds more than [`SPILL_AT`] words it is spilled — its counts
//! added into the shared shards and the table emptied — at a record boundary. At the end of
//! the run every thread table is spilled the same way. Memory is therefore bounded by the
//! vocabulary plus one budget per thread, not by threads × vocabulary: counting the same
//! file four times uses about as much memory as counting it once.

use std::sync::{Mutex, PoisonError};

use super::table::Entry;
use super::CountTable;

/// A thread's table is spilled once it holds this many words (2^18 slots, 10 MB). Small
/// enough to stay in cache as a combiner for the frequent words, large enough that spills
/// are rare: measured on 200–400 MB corpora, ~200k beat 50k, 100k, 450k, 900k and 1.5M
/// words in both time and peak memory; 180k is just below the 3/4 of 2^18 slots at which
/// the table would double right before its spill.
pub const SPILL_AT: usize = 180_000;

const SHARDS: usize = 64;

/// The shard of a word's hash: bits 32.. of it, independent of the bits the shard's own
/// table uses (its low bits pick the bucket, its top 7 bits are the tag).
fn shard_of(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

/// The word → (tf, df) table shared by all threads of a run.
pub struct SharedTable {
    shards: Vec<Mutex<CountTable>>,
}

impl Default for SharedTable {
    fn default() -> Self {
        SharedTable::new()
    }
}

impl SharedTable {
    pub fn new() -> SharedTable {
        SharedTable {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Adds every count of `table` into the shards and empties `table`. Entries are
    /// bucketed by shard first (one pass, no sort), so each shard is locked once per spill,
    /// and they move with the hash they already have.
    pub fn spill(&self, table: &mut CountTable) {
        let mut by_shard: Vec<Vec<(u64, &Entry)>> = (0..SHARDS)
            .map(|_| Vec::with_capacity(table.len() / SHARDS * 5 / 4))
            .collect();
        for (hash, entry) in table.hashed() {
            by_shard[shard_of(hash)].push((hash, entry));
        }
        for (shard, group) in self.shards.iter().zip(&by_shard) {
            if group.is_empty() {
                continue;
            }
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for &(hash, entry) in group {
                shard.add_entry(hash, entry);
            }
        }
        drop(by_shard);
        table.clear();
    }

    /// The shards, each a table of distinct words.
    pub fn into_shards(self) -> Vec<CountTable> {
        self.shards
            .into_iter()
            .map(|s| s.into_inner().unwrap_or_else(PoisonError::into_inner))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_tables_sum_and_each_word_is_stored_once() {
        let shared = SharedTable::new();
        for round in 0..3u64 {
            let mut t = CountTable::new();
            for i in 0..1000u64 {
                t.begin_record();
                t.add(format!("w{}", i % (100 + round)).as_bytes(), 1);
            }
            shared.spill(&mut t);
            assert!(t.is_empty());
        }
        let shards = shared.into_shards();
        let mut all: Vec<(Vec<u8>, u64)> = shards
            .iter()
            .flat_map(|s| s.iter().map(|(w, tf, _)| (w.to_vec(), tf)))
            .collect();
        all.sort();
        let distinct = all.len();
        all.dedup_by(|a, b| a.0 == b.0);
        assert_eq!(all.len(), distinct, "a word in two shards");
        assert_eq!(distinct, 102);
        assert_eq!(all.iter().map(|e| e.1).sum::<u64>(), 3000);
    }
}
