//! The per-thread count table: word → (tf, df).
//!
//! Keys are copied once, when a word is first seen, into a bump arena owned by the table; the
//! hash table holds `(pointer, length)` into it plus the counts. df counts each record once:
//! every entry remembers the last record (a per-table serial number) that touched it, so no
//! per-record set is needed.
//!
//! Counts are wrapping `u64`s and every update carries a `delta` of `+1` or `-1`: the engine
//! can withdraw exactly what a mis-speculated chunk added (see `engine`), and merged tables
//! sum to the truth. Entries whose tf is 0 are not words of the result.

use std::ptr::NonNull;

use bumpalo::Bump;
use hashbrown::hash_table::{Entry as Slot, HashTable};

/// A record's serial number in one table.
pub type DocId = u32;

struct Entry {
    /// Start of the key's bytes in `arena`.
    key: NonNull<u8>,
    len: usize,
    /// Last record that counted this word (df is bumped once per record).
    last_doc: DocId,
    tf: u64,
    df: u64,
}

impl Entry {
    #[inline(always)]
    fn key(&self) -> &[u8] {
        // SAFETY: `key`/`len` were made from a slice allocated in the table's arena, which
        // is never reset and lives as long as the table (entries are dropped with it).
        unsafe { std::slice::from_raw_parts(self.key.as_ptr(), self.len) }
    }
}

/// A word-count table with arena-held keys. One per thread; merged at the end.
pub struct CountTable {
    entries: HashTable<Entry>,
    hasher: ahash::RandomState,
    /// Holds every key; declared after `entries` so it is dropped after them.
    arena: Bump,
    /// Serial number of the record being counted.
    doc: DocId,
}

// SAFETY: the raw key pointers point into `arena`, which the table owns and moves with it;
// nothing else aliases them. Sending the whole table to another thread is sound.
unsafe impl Send for CountTable {}
// SAFETY: every method that allocates in the arena or writes an entry takes `&mut self`;
// through `&CountTable` the arena and the keys are only read, so sharing is sound even
// though `Bump` itself (which allocates through `&self`) is not `Sync`.
unsafe impl Sync for CountTable {}

impl Default for CountTable {
    fn default() -> Self {
        CountTable::new()
    }
}

impl CountTable {
    pub fn new() -> CountTable {
        CountTable {
            entries: HashTable::new(),
            // Fixed seeds: this hash never leaves the process, and fixed seeds make runs
            // (and profiles) reproducible.
            hasher: ahash::RandomState::with_seeds(
                0x243f_6a88_85a3_08d3,
                0x1319_8a2e_0370_7344,
                0xa409_3822_299f_31d0,
                0x082e_fa98_ec4e_6c89,
            ),
            arena: Bump::new(),
            doc: 0,
        }
    }

    /// Starts a new record: the words added until the next call count once toward its df.
    #[inline]
    pub fn begin_record(&mut self) {
        if self.doc == DocId::MAX {
            // Serial numbers wrapped: forget old stamps so none can collide.
            for entry in self.entries.iter_mut() {
                entry.last_doc = 0;
            }
            self.doc = 0;
        }
        self.doc += 1;
    }

    /// Counts one occurrence of `word` in the current record; `delta` is `1`, or
    /// `1u64.wrapping_neg()` to withdraw one.
    #[inline]
    pub fn add(&mut self, word: &[u8], delta: u64) {
        let hash = self.hasher.hash_one(word);
        let doc = self.doc;
        let slot = self
            .entries
            .entry(hash, |e| e.key() == word, |e| self.hasher.hash_one(e.key()));
        match slot {
            Slot::Occupied(mut slot) => {
                let e = slot.get_mut();
                e.tf = e.tf.wrapping_add(delta);
                if e.last_doc != doc {
                    e.last_doc = doc;
                    e.df = e.df.wrapping_add(delta);
                }
            }
            Slot::Vacant(slot) => {
                let key = NonNull::from(self.arena.alloc_slice_copy(word)).cast::<u8>();
                slot.insert(Entry {
                    key,
                    len: word.len(),
                    last_doc: doc,
                    tf: delta,
                    df: delta,
                });
            }
        }
    }

    /// Adds whole counts for `word` (merging tables).
    pub fn add_counts(&mut self, word: &[u8], tf: u64, df: u64) {
        let hash = self.hasher.hash_one(word);
        let slot = self
            .entries
            .entry(hash, |e| e.key() == word, |e| self.hasher.hash_one(e.key()));
        match slot {
            Slot::Occupied(mut slot) => {
                let e = slot.get_mut();
                e.tf = e.tf.wrapping_add(tf);
                e.df = e.df.wrapping_add(df);
            }
            Slot::Vacant(slot) => {
                let key = NonNull::from(self.arena.alloc_slice_copy(word)).cast::<u8>();
                slot.insert(Entry {
                    key,
                    len: word.len(),
                    last_doc: 0,
                    tf,
                    df,
                });
            }
        }
    }

    /// Adds every count of `other` into `self`.
    pub fn absorb(&mut self, other: &CountTable) {
        self.entries
            .reserve(other.len(), |e| self.hasher.hash_one(e.key()));
        for (word, tf, df) in other.iter() {
            self.add_counts(word, tf, df);
        }
    }

    /// Number of entries (including any whose counts were withdrawn to zero).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held by the table (entries and keys), for reports.
    pub fn allocated_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>() + self.arena.allocated_bytes()
    }

    /// Every `(word, tf, df)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64, u64)> + '_ {
        self.entries.iter().map(|e| (e.key(), e.tf, e.df))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(t: &CountTable) -> Vec<(Vec<u8>, u64, u64)> {
        let mut v: Vec<_> = t
            .iter()
            .filter(|e| e.1 != 0)
            .map(|(w, tf, df)| (w.to_vec(), tf, df))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn tf_and_df() {
        let mut t = CountTable::new();
        t.begin_record();
        for w in ["a", "b", "a"] {
            t.add(w.as_bytes(), 1);
        }
        t.begin_record();
        t.add(b"a", 1);
        assert_eq!(
            sorted(&t),
            vec![(b"a".to_vec(), 3, 2), (b"b".to_vec(), 1, 1)]
        );
    }

    #[test]
    fn withdrawing_restores_the_table() {
        let mut t = CountTable::new();
        t.begin_record();
        t.add(b"keep", 1);
        let before = sorted(&t);
        let minus = 1u64.wrapping_neg();
        for delta in [1, minus] {
            t.begin_record();
            for w in ["x", "keep", "x"] {
                t.add(w.as_bytes(), delta);
            }
        }
        assert_eq!(sorted(&t), before);
    }

    #[test]
    fn absorb_sums() {
        let mut a = CountTable::new();
        let mut b = CountTable::new();
        a.begin_record();
        a.add(b"w", 1);
        b.begin_record();
        b.add(b"w", 1);
        b.add(b"v", 1);
        a.absorb(&b);
        assert_eq!(
            sorted(&a),
            vec![(b"v".to_vec(), 1, 1), (b"w".to_vec(), 2, 2)]
        );
    }

    #[test]
    fn doc_serial_wrap_keeps_df_exact() {
        let mut t = CountTable::new();
        t.doc = DocId::MAX - 1;
        for _ in 0..4 {
            t.begin_record();
            t.add(b"w", 1);
        }
        assert_eq!(sorted(&t), vec![(b"w".to_vec(), 4, 4)]);
    }
}
