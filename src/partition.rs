//! The shuffle's unit: which partition owns a word, and word lists as they travel.
//!
//! In the distributed engine every word belongs to one of R partitions, and every partition
//! to one reducer. The owner must be the same in every process on every machine, so the
//! function is fixed and specified: **xxh3-64 with seed 0 of the word's bytes, modulo R**
//! ([`PARTITION_HASH`] names it in the job description). It is never the in-memory tables'
//! ahash, whose seeds and output differ between processes and versions.
//!
//! A [`WordBlock`] is a list of (word, tf, df) in a compact form: the words' bytes end to
//! end, and one LEB128 varint triple (length, tf, df) per word. Most words have tf and df
//! of 1, so an entry costs its bytes plus about three bytes. Blocks arrive from the network:
//! [`WordBlock::check`] validates a whole block before anything reads it, so a malformed
//! block is refused as a whole and never half-applied.

use crate::count::{CountTable, Counted, WordCount};

/// The name of the partition function, as the job description states it.
pub const PARTITION_HASH: &str = "xxh3-64 seed 0 of the word bytes, mod R";

/// The partition (0..`partitions`) that owns `word`.
pub fn partition_of(word: &[u8], partitions: u32) -> u32 {
    (xxhash_rust::xxh3::xxh3_64(word) % u64::from(partitions.max(1))) as u32
}

/// Words with their counts, in the form they cross the network (see the module docs).
#[derive(
    Debug, Default, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct WordBlock {
    /// Number of entries.
    pub count: u32,
    /// The words' bytes, end to end.
    pub words: Vec<u8>,
    /// Per entry: LEB128 length, tf and df.
    pub meta: Vec<u8>,
}

/// Why a block was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed word block: {0}")]
pub struct Malformed(&'static str);

impl WordBlock {
    pub fn push(&mut self, word: &[u8], tf: u64, df: u64) {
        self.count += 1;
        self.words.extend_from_slice(word);
        for v in [word.len() as u64, tf, df] {
            put_varint(&mut self.meta, v);
        }
    }

    /// Appends every entry of `other`.
    pub fn append(&mut self, other: &WordBlock) {
        self.count += other.count;
        self.words.extend_from_slice(&other.words);
        self.meta.extend_from_slice(&other.meta);
    }

    /// Bytes held (an estimate of the encoded size).
    pub fn bytes(&self) -> usize {
        self.words.len() + self.meta.len()
    }

    /// Checks the block read from `words`, `meta` and `count` (owned or archived): every
    /// varint well-formed, word lengths adding up to exactly the word bytes, no entry left
    /// over, and tf ≥ 1, df ≤ tf for every word.
    pub fn check(count: u32, words: &[u8], meta: &[u8]) -> Result<(), Malformed> {
        let mut at = 0;
        let mut total: u64 = 0;
        for _ in 0..count {
            let len = get_varint(meta, &mut at)?;
            let tf = get_varint(meta, &mut at)?;
            let df = get_varint(meta, &mut at)?;
            if tf == 0 || df > tf {
                return Err(Malformed("impossible counts"));
            }
            total = total.saturating_add(len);
        }
        if at != meta.len() {
            return Err(Malformed("trailing entry bytes"));
        }
        if total != words.len() as u64 {
            return Err(Malformed("word lengths do not add up to the word bytes"));
        }
        Ok(())
    }

    /// The entries of a block that passed [`WordBlock::check`]. (On an unchecked block it
    /// stops at the first inconsistency instead of failing.)
    pub fn entries<'a>(count: u32, words: &'a [u8], meta: &'a [u8]) -> Entries<'a> {
        Entries {
            left: count,
            words,
            meta,
            at: 0,
        }
    }
}

/// Iterator over a checked block (see [`WordBlock::entries`]).
pub struct Entries<'a> {
    left: u32,
    words: &'a [u8],
    meta: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = WordCount<'a>;

    fn next(&mut self) -> Option<WordCount<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let len = get_varint(self.meta, &mut self.at).ok()?;
        let tf = get_varint(self.meta, &mut self.at).ok()?;
        let df = get_varint(self.meta, &mut self.at).ok()?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= self.words.len())?;
        let (word, rest) = self.words.split_at(len);
        self.words = rest;
        Some(WordCount { word, tf, df })
    }
}

/// Below this many entries a task's words are split on one thread, in one pass.
const PARALLEL_SPLIT: usize = 1 << 16;

/// Splits a task's counted words into one block per partition. Every block is allocated
/// once at its final size (a first pass finds each entry's partition): a crawl's small
/// tasks made thousands of small growing blocks each, and the allocator, not the
/// counting, dominated the workers (21% of their time in malloc at 100,000 tasks). Large
/// tasks split their shards in parallel, a group per thread, and join the pieces.
pub fn split(counted: &Counted, partitions: u32) -> Vec<WordBlock> {
    use rayon::prelude::*;
    let shards = counted.shards();
    let entries: usize = shards.iter().map(CountTable::len).sum();
    if entries < PARALLEL_SPLIT {
        return split_shards(shards, partitions);
    }
    let group = shards.len().div_ceil(rayon::current_num_threads()).max(1);
    let pieces: Vec<Vec<WordBlock>> = shards
        .par_chunks(group)
        .map(|group| split_shards(group, partitions))
        .collect();
    (0..partitions.max(1) as usize)
        .into_par_iter()
        .map(|p| {
            let mut block = WordBlock {
                count: 0,
                words: Vec::with_capacity(pieces.iter().map(|b| b[p].words.len()).sum()),
                meta: Vec::with_capacity(pieces.iter().map(|b| b[p].meta.len()).sum()),
            };
            for piece in &pieces {
                block.append(&piece[p]);
            }
            block
        })
        .collect()
}

/// One block per partition for the words of `shards`, in their order.
fn split_shards(shards: &[CountTable], partitions: u32) -> Vec<WordBlock> {
    let words = || {
        shards
            .iter()
            .flat_map(CountTable::iter)
            .filter(|&(_, tf, _)| tf != 0)
    };
    let mut owners = Vec::with_capacity(shards.iter().map(CountTable::len).sum());
    let mut sizes = vec![(0usize, 0usize); partitions.max(1) as usize];
    for (word, tf, df) in words() {
        let p = partition_of(word, partitions) as usize;
        owners.push(p as u32);
        sizes[p].0 += word.len();
        sizes[p].1 += varint_len(word.len() as u64) + varint_len(tf) + varint_len(df);
    }
    let mut blocks: Vec<WordBlock> = sizes
        .iter()
        .map(|&(words, meta)| WordBlock {
            count: 0,
            words: Vec::with_capacity(words),
            meta: Vec::with_capacity(meta),
        })
        .collect();
    for ((word, tf, df), &p) in words().zip(&owners) {
        blocks[p as usize].push(word, tf, df);
    }
    blocks
}

/// Bytes of `v` as a LEB128 varint.
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Result<u64, Malformed> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let Some(&b) = bytes.get(*at) else {
            return Err(Malformed("entry cut short"));
        };
        *at += 1;
        let bits = u64::from(b & 0x7f);
        if shift == 63 && bits > 1 {
            return Err(Malformed("varint overflows 64 bits"));
        }
        v |= bits << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(Malformed("varint overflows 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths_match_the_encoding() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(varint_len(v), out.len(), "{v}");
        }
    }

    #[test]
    fn partition_function_is_fixed() {
        // xxh3-64 of the empty input with seed 0 is a published test vector.
        assert_eq!(xxhash_rust::xxh3::xxh3_64(b""), 0x2d06_8005_38d3_94c2);
        assert_eq!(partition_of(b"", 7), (0x2d06_8005_38d3_94c2u64 % 7) as u32);
        for p in [1, 2, 3, 16, 1000] {
            assert!(partition_of(b"word", p) < p);
        }
    }

    #[test]
    fn blocks_round_trip_and_refuse_damage() {
        let mut block = WordBlock::default();
        let entries: [(&[u8], u64, u64); 4] = [
            (b"a", 1, 1),
            (b"", 3, 2),
            (&[0xcc; 300], u64::MAX, u64::MAX),
            (b"zz", 200, 1),
        ];
        for (w, tf, df) in entries {
            block.push(w, tf, df);
        }
        WordBlock::check(block.count, &block.words, &block.meta).unwrap();
        let back: Vec<_> = WordBlock::entries(block.count, &block.words, &block.meta)
            .map(|w| (w.word, w.tf, w.df))
            .collect();
        assert_eq!(back, entries);

        let check = |count, words: &[u8], meta: &[u8]| WordBlock::check(count, words, meta);
        assert!(check(block.count + 1, &block.words, &block.meta).is_err());
        assert!(check(block.count - 1, &block.words, &block.meta).is_err());
        assert!(check(block.count, &block.words[1..], &block.meta).is_err());
        let mut meta = block.meta.clone();
        meta.pop();
        assert!(check(block.count, &block.words, &meta).is_err());
        assert!(check(1, b"a", &[1, 0, 0]).is_err(), "tf 0");
        assert!(check(1, b"a", &[1, 1, 2]).is_err(), "df > tf");
        let mut huge = vec![1];
        huge.extend([0xff; 10]);
        huge.push(1);
        assert!(check(1, b"a", &huge).is_err(), "varint past 64 bits");
    }
}
