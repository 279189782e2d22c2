//! The count table's entries: how a word is stored as a key — up to [`INLINE`] bytes
//! inside the entry as two integers, longer ones in the table's arena — and compared.

use bumpalo::Bump;

use super::DocId;

/// Keys up to this many bytes live inside the entry (most words do).
pub(super) const INLINE: usize = 16;

// Eight entries fit exactly in five cache lines; keep it so.
const _: () = assert!(std::mem::size_of::<Entry>() == 40);

// Inline keys are read back as bytes in memory order (see `Entry::inline_bytes`).
#[cfg(not(target_endian = "little"))]
compile_error!("wetmr's count table assumes a little-endian target");

/// A key as the table stores it: short keys inline, zero-padded, as two integers; long keys
/// as a pointer into the arena (`lo`) plus their first 8 bytes (`hi`), which rejects most
/// mismatches without touching the arena.
#[derive(Clone, Copy)]
pub(super) struct KeyRepr {
    pub(super) lo: u64,
    pub(super) hi: u64,
    pub(super) len: u32,
}

impl KeyRepr {
    /// The representation a lookup compares against (long keys: length and prefix only).
    #[inline(always)]
    pub(super) fn probe(word: &[u8]) -> KeyRepr {
        let len = word.len();
        let (lo, hi) = if len <= INLINE {
            padded(word)
        } else {
            (
                0,
                u64::from_le_bytes(word[..8].try_into().expect("8 bytes")),
            )
        };
        KeyRepr {
            lo,
            hi,
            // Saturates: keys of 4 GiB or more compare through their stored length. (The
            // greatest `u32` marks vacant slots.)
            len: u32::try_from(len).map_or(MAX_LEN, |len| len.min(MAX_LEN)),
        }
    }
}

/// The bytes of `word` (at most 16) as two little-endian integers, zero-padded, read with
/// overlapping loads instead of a variable-length copy.
#[inline(always)]
pub(super) fn padded(word: &[u8]) -> (u64, u64) {
    let len = word.len();
    let u32_at = |i: usize| u64::from(u32::from_le_bytes(word[i..i + 4].try_into().unwrap()));
    let u64_at = |i: usize| u64::from_le_bytes(word[i..i + 8].try_into().unwrap());
    match len {
        0 => (0, 0),
        1..=3 => {
            let mid = len / 2;
            let v = u64::from(word[0])
                | u64::from(word[mid]) << (8 * mid)
                | u64::from(word[len - 1]) << (8 * (len - 1));
            (v, 0)
        }
        4..=7 => (u32_at(0) | u32_at(len - 4) << (8 * (len - 4)), 0),
        8 => (u64_at(0), 0),
        _ => (u64_at(0), u64_at(len - 8) >> (8 * (16 - len))),
    }
}

/// The `len` of a vacant slot's entry: no key has it.
const VACANT_LEN: u32 = u32::MAX;
/// The greatest `len` a key is stored with.
const MAX_LEN: u32 = VACANT_LEN - 1;

/// One word's slot. The key's fields are those of [`KeyRepr`], flattened so that the
/// record stamp fits in what would be padding.
#[repr(C)]
#[derive(Clone, Copy)]
pub(in crate::count) struct Entry {
    lo: u64,
    hi: u64,
    len: u32,
    /// Last record that counted this word (df is bumped once per record).
    pub(super) last_doc: DocId,
    pub(super) tf: u64,
    pub(super) df: u64,
}

impl Entry {
    /// What a vacant slot holds.
    pub(super) const VACANT: Entry = Entry {
        lo: 0,
        hi: 0,
        len: VACANT_LEN,
        last_doc: 0,
        tf: 0,
        df: 0,
    };

    #[inline(always)]
    pub(super) fn is_vacant(&self) -> bool {
        self.len == VACANT_LEN
    }

    /// A new word's entry, its key stored already (see [`store_key`]).
    #[inline(always)]
    pub(super) fn new(key: KeyRepr, last_doc: DocId, tf: u64, df: u64) -> Entry {
        Entry {
            lo: key.lo,
            hi: key.hi,
            len: key.len,
            last_doc,
            tf,
            df,
        }
    }

    /// Whether this entry's key is stored as `key` (a short key: the same word).
    #[inline(always)]
    pub(super) fn is(&self, key: &KeyRepr) -> bool {
        self.lo == key.lo && self.hi == key.hi && self.len == key.len
    }

    #[inline(always)]
    pub(super) fn key(&self) -> &[u8] {
        let len = self.len as usize;
        if len <= INLINE {
            return &self.inline_bytes()[..len];
        }
        let block = self.lo as usize as *const u8;
        // SAFETY: a long key's `lo` points to an arena block holding the key's length as 8
        // little-endian bytes, then the key itself (see `store_key`). The arena lives as
        // long as the table and is reset only by `clear`, which drops every entry first.
        unsafe {
            let len = u64::from_le_bytes(*(block as *const [u8; 8])) as usize;
            std::slice::from_raw_parts(block.add(8), len)
        }
    }

    #[inline(always)]
    pub(super) fn repr(&self) -> KeyRepr {
        KeyRepr {
            lo: self.lo,
            hi: self.hi,
            len: self.len,
        }
    }

    /// A short key's bytes (zero-padded to 16).
    #[inline(always)]
    fn inline_bytes(&self) -> &[u8; INLINE] {
        // SAFETY: `Entry` is `repr(C)` and starts with `lo` then `hi`: 16 initialized bytes,
        // the key's bytes in order on a little-endian target (enforced at compile time above).
        unsafe { &*(self as *const Entry as *const [u8; INLINE]) }
    }

    /// Whether this entry's key is that of `other` (an entry of another table).
    #[inline(always)]
    pub(super) fn same_key(&self, other: &Entry) -> bool {
        self.len == other.len
            && self.hi == other.hi
            && if (self.len as usize) <= INLINE {
                self.lo == other.lo
            } else {
                self.key() == other.key()
            }
    }

    /// Whether this entry's key is `word`, whose probe representation is `probe`.
    #[inline(always)]
    pub(super) fn matches(&self, probe: &KeyRepr, word: &[u8]) -> bool {
        let same = self.lo == probe.lo && self.hi == probe.hi && self.len == probe.len;
        if word.len() <= INLINE {
            same
        } else {
            self.len == probe.len && self.hi == probe.hi && self.key() == word
        }
    }
}

/// The stored form of a new key: long keys are copied into the arena, after their length.
#[inline]
pub(super) fn store_key(arena: &Bump, mut probe: KeyRepr, word: &[u8]) -> KeyRepr {
    if word.len() > INLINE {
        let block = arena.alloc_slice_fill_copy(8 + word.len(), 0u8);
        block[..8].copy_from_slice(&(word.len() as u64).to_le_bytes());
        block[8..].copy_from_slice(word);
        probe.lo = block.as_ptr() as usize as u64;
    }
    probe
}
