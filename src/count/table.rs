//! The per-thread count table: word → (tf, df).
//!
//! Keys of up to 16 bytes (most words) are stored inside the table's entries, which sit in
//! the slots of an open-addressing table ([`slots`]), so a lookup that hits usually touches
//! one cache line; longer keys are copied once, when first seen,
//! into a bump arena owned by the table. Nothing is allocated per token. df counts each
//! record once: every entry remembers the last record (a per-table serial number) that
//! touched it, so no per-record set is needed.
//!
//! Counts are wrapping `u64`s and every update carries a `delta` of `+1` or `-1`: the engine
//! can withdraw exactly what a mis-speculated chunk added (see `engine`), and merged tables
//! sum to the truth. Entries whose tf is 0 are not words of the result.

mod key;
mod slots;

use bumpalo::Bump;

pub(super) use key::Entry;
use key::{store_key, KeyRepr, INLINE};
use slots::{Found, Slots};

/// A record's serial number in one table.
pub type DocId = u32;

/// A word-count table with arena-held keys. One per thread; merged at the end.
pub struct CountTable {
    entries: Slots,
    hasher: ahash::RandomState,
    /// Holds every key; declared after `entries` so it is dropped after them.
    arena: Bump,
    /// Serial number of the record being counted.
    doc: DocId,
}

/// A short word ready to count: its key and hash, computed once (see [`Lookahead`]).
#[derive(Clone, Copy)]
struct Prepared {
    key: KeyRepr,
    hash: u64,
}

/// Words whose buckets are being prefetched, waiting their turn to be counted.
///
/// Counting a word waits on memory: its bucket's control bytes and entry are usually not
/// in L1/L2. [`CountTable::add_ahead`] hashes a word, prefetches its bucket, and counts the
/// word `AHEAD` words later, by which time the memory has arrived. The order of counting
/// within a record does not matter; [`CountTable::flush_ahead`] counts what is left before
/// the record ends.
pub struct Lookahead {
    ring: [Prepared; AHEAD],
    len: usize,
    next: usize,
}

/// How many words ahead buckets are prefetched.
const AHEAD: usize = 8;

impl Default for Lookahead {
    fn default() -> Self {
        let empty = Prepared {
            key: KeyRepr {
                lo: 0,
                hi: 0,
                len: 0,
            },
            hash: 0,
        };
        Lookahead {
            ring: [empty; AHEAD],
            len: 0,
            next: 0,
        }
    }
}

// SAFETY: the key pointers of long keys point into `arena`, which the table owns and moves
// with it; nothing else aliases them. Sending the whole table to another thread is sound.
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
            entries: Slots::new(),
            hasher: fixed_hasher(),
            arena: Bump::new(),
            // Words added before the first `begin_record` belong to record 1.
            doc: 1,
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

    /// The table's hash of a key: short keys hash their two integers, long keys their bytes.
    #[inline(always)]
    fn hash(hasher: &ahash::RandomState, probe: &KeyRepr, word: &[u8]) -> u64 {
        if word.len() <= INLINE {
            short_hash(probe)
        } else {
            hasher.hash_one(word)
        }
    }

    /// The hash of a stored entry's key (for resizing): the same as [`Self::hash`].
    fn entry_hash(hasher: &ahash::RandomState, e: &Entry) -> u64 {
        Self::hash(hasher, &e.repr(), e.key())
    }

    /// Counts one occurrence of `word` in the current record; `delta` is `1`, or
    /// `1u64.wrapping_neg()` to withdraw one.
    #[inline]
    pub fn add(&mut self, word: &[u8], delta: u64) {
        // The hottest function of a run: written out rather than through `entry_mut`, whose
        // zero-then-update insert measured ~10% slower end to end.
        let doc = self.doc;
        let probe = KeyRepr::probe(word);
        let hash = Self::hash(&self.hasher, &probe, word);
        match self.locate(hash, |e| e.matches(&probe, word)) {
            Found::At(i) => {
                let e = self.entries.get_mut(i);
                e.tf = e.tf.wrapping_add(delta);
                if e.last_doc != doc {
                    e.last_doc = doc;
                    e.df = e.df.wrapping_add(delta);
                }
            }
            Found::Vacant(i) => {
                let key = store_key(&self.arena, probe, word);
                self.entries.put(i, Entry::new(key, doc, delta, delta));
            }
        }
    }

    /// Where the entry with hash `hash` for which `is` holds is, or the vacant slot it would
    /// take, with room made for one more entry first (the table grows, rarely, here).
    #[inline(always)]
    fn locate(&mut self, hash: u64, is: impl Fn(&Entry) -> bool) -> Found {
        let hasher = &self.hasher;
        self.entries.reserve(1, |e| Self::entry_hash(hasher, e));
        self.entries.find(hash, is)
    }

    /// Like [`CountTable::add`], but short words are counted `AHEAD` words later, after
    /// their bucket is prefetched. Call [`CountTable::flush_ahead`] before the record ends.
    #[inline]
    pub fn add_ahead(&mut self, ahead: &mut Lookahead, word: &[u8], delta: u64) {
        if word.len() > INLINE {
            return self.add(word, delta);
        }
        let key = KeyRepr::probe(word);
        let hash = Self::hash(&self.hasher, &key, word);
        self.prefetch(hash);
        let new = Prepared { key, hash };
        if ahead.len < AHEAD {
            ahead.ring[ahead.len] = new;
            ahead.len += 1;
            return;
        }
        let due = std::mem::replace(&mut ahead.ring[ahead.next], new);
        ahead.next = (ahead.next + 1) % AHEAD;
        self.add_prepared(due, delta);
    }

    /// Counts the words [`CountTable::add_ahead`] still holds.
    pub fn flush_ahead(&mut self, ahead: &mut Lookahead, delta: u64) {
        for i in 0..ahead.len {
            self.add_prepared(ahead.ring[i], delta);
        }
        ahead.len = 0;
        ahead.next = 0;
    }

    /// [`CountTable::add`] for a short word already hashed. The same body as `add` without
    /// its long-key branch: sharing one body (deciding short or long from the key length)
    /// measured 3% slower end to end in interleaved A/B runs, so it stays written out.
    #[inline(always)]
    fn add_prepared(&mut self, p: Prepared, delta: u64) {
        let doc = self.doc;
        let key = p.key;
        match self.locate(p.hash, |e| e.is(&key)) {
            Found::At(i) => {
                let e = self.entries.get_mut(i);
                e.tf = e.tf.wrapping_add(delta);
                if e.last_doc != doc {
                    e.last_doc = doc;
                    e.df = e.df.wrapping_add(delta);
                }
            }
            Found::Vacant(i) => {
                self.entries.put(i, Entry::new(key, doc, delta, delta));
            }
        }
    }

    /// Prefetches the slot where a lookup of `hash` starts.
    #[inline(always)]
    fn prefetch(&self, hash: u64) {
        prefetch_address(self.entries.address(hash));
    }

    /// Adds whole counts for `word` (merging tables).
    pub fn add_counts(&mut self, word: &[u8], tf: u64, df: u64) {
        let e = self.entry_mut(word);
        e.tf = e.tf.wrapping_add(tf);
        e.df = e.df.wrapping_add(df);
    }

    /// The entry of `word`, inserted with zero counts if absent. A new entry's stamp (0) is
    /// no live record's serial number (those start at 1), so its first `add` bumps df.
    #[inline(always)]
    fn entry_mut(&mut self, word: &[u8]) -> &mut Entry {
        let probe = KeyRepr::probe(word);
        let hash = Self::hash(&self.hasher, &probe, word);
        match self.locate(hash, |e| e.matches(&probe, word)) {
            Found::At(i) => self.entries.get_mut(i),
            Found::Vacant(i) => {
                let key = store_key(&self.arena, probe, word);
                self.entries.put(i, Entry::new(key, 0, 0, 0))
            }
        }
    }

    /// Every entry with its hash (the same in every table: the hasher is fixed), for
    /// moving counts into other tables with [`CountTable::add_entry`].
    pub(super) fn hashed(&self) -> impl Iterator<Item = (u64, &Entry)> + '_ {
        self.entries
            .iter()
            .map(|e| (Self::entry_hash(&self.hasher, e), e))
    }

    /// Adds the counts of `from`, an entry of another table whose hash is `hash`. Cheaper
    /// than [`CountTable::add_counts`]: no hashing, and short keys compare as integers.
    pub(super) fn add_entry(&mut self, hash: u64, from: &Entry) {
        match self.locate(hash, |e| e.same_key(from)) {
            Found::At(i) => {
                let e = self.entries.get_mut(i);
                e.tf = e.tf.wrapping_add(from.tf);
                e.df = e.df.wrapping_add(from.df);
            }
            Found::Vacant(i) => {
                let key = store_key(&self.arena, from.repr(), from.key());
                self.entries.put(i, Entry::new(key, 0, from.tf, from.df));
            }
        }
    }

    /// Adds every count of `other` into `self`.
    pub fn absorb(&mut self, other: &CountTable) {
        let hasher = &self.hasher;
        self.entries
            .reserve(other.len(), |e| Self::entry_hash(hasher, e));
        for (word, tf, df) in other.iter() {
            self.add_counts(word, tf, df);
        }
    }

    /// Forgets every word, keeping the allocated space for reuse. Entries go before the
    /// arena they point into.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.arena.reset();
    }

    /// Number of entries (including any whose counts were withdrawn to zero).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// Bytes held by the table (entries and keys), for reports.
    pub fn allocated_bytes(&self) -> usize {
        self.entries.slots() * std::mem::size_of::<Entry>() + self.arena.allocated_bytes()
    }

    /// Every `(word, tf, df)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64, u64)> + '_ {
        self.entries.iter().map(|e| (e.key(), e.tf, e.df))
    }
}

/// The hash of a short key: its two integers, keyed with fixed seeds and the length, folded
/// through one 64×64→128-bit multiplication (the mixing step of wyhash and ahash's
/// fallback). One multiplication instead of the four of a general-purpose hasher: short
/// keys are most tokens.
#[inline(always)]
fn short_hash(key: &KeyRepr) -> u64 {
    let a = key.lo ^ SEEDS[0];
    let b = key.hi ^ SEEDS[1] ^ u64::from(key.len).wrapping_mul(SEEDS[2]);
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// Asks the CPU to bring the cache line at `address` closer. Reads nothing: any address is
/// allowed.
#[inline(always)]
pub(crate) fn prefetch_address(address: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch hint neither reads memory nor faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// The tables' hasher. Fixed seeds: this hash never leaves the process, and fixed seeds make
/// runs (and profiles) reproducible.
fn fixed_hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(SEEDS[0], SEEDS[1], SEEDS[2], SEEDS[3])
}

/// The tables' hash seeds (digits of π), shared by [`short_hash`] and the hasher of long
/// keys.
const SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

#[cfg(test)]
mod tests;
