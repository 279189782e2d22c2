//! The count table's storage: open addressing with linear probing over [`Entry`]s.
//!
//! A lookup starts at the slot its hash picks and walks forward to the entry it wants or to
//! the first vacant slot. A hit usually touches one cache line, the entry itself (a table
//! with separate control bytes touches two), and the slot a word will be looked up in is
//! known from its hash alone, so it can be prefetched. The table grows (doubles) before it
//! is more than 3/4 full, which keeps walks short; entries are never removed one by one,
//! only all at once ([`Slots::clear`]), so no tombstones are needed.

use super::key::Entry;

/// Storage for a table's entries. Slot count: zero or a power of two.
pub(super) struct Slots {
    slots: Box<[Entry]>,
    len: usize,
}

/// Where a lookup ended: at the entry it wanted, or at the vacant slot that entry would
/// take.
pub(super) enum Found {
    At(usize),
    Vacant(usize),
}

impl Slots {
    pub(super) fn new() -> Slots {
        Slots {
            slots: Box::new([]),
            len: 0,
        }
    }

    /// Occupied slots.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Allocated slots.
    pub(super) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Entries the table takes before it grows.
    fn capacity(&self) -> usize {
        self.slots.len() / 4 * 3
    }

    /// Makes room for `more` entries without growing in between; `hash` rehashes entries.
    #[inline(always)]
    pub(super) fn reserve(&mut self, more: usize, hash: impl Fn(&Entry) -> u64) {
        if self.len + more > self.capacity() {
            self.grow(self.len + more, hash);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, entries: usize, hash: impl Fn(&Entry) -> u64) {
        let mut slots = self.slots.len().max(16);
        while slots / 4 * 3 < entries {
            slots *= 2;
        }
        let old = std::mem::replace(&mut self.slots, vacant_slots(slots));
        let mask = slots - 1;
        for entry in old.into_vec() {
            if entry.is_vacant() {
                continue;
            }
            let mut i = hash(&entry) as usize & mask;
            while !self.slots[i].is_vacant() {
                i = (i + 1) & mask;
            }
            self.slots[i] = entry;
        }
    }

    /// Looks up the entry with hash `hash` for which `is` holds. Call [`Slots::reserve`]
    /// first (`CountTable::locate` does): a full table has no vacant slot to end at.
    #[inline(always)]
    pub(super) fn find(&self, hash: u64, is: impl Fn(&Entry) -> bool) -> Found {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let entry = &self.slots[i];
            if entry.is_vacant() {
                return Found::Vacant(i);
            }
            if is(entry) {
                return Found::At(i);
            }
            i = (i + 1) & mask;
        }
    }

    #[inline(always)]
    pub(super) fn get_mut(&mut self, i: usize) -> &mut Entry {
        &mut self.slots[i]
    }

    /// Puts a new entry in vacant slot `i` (from [`Slots::find`], with no insertion since).
    #[inline(always)]
    pub(super) fn put(&mut self, i: usize, entry: Entry) -> &mut Entry {
        debug_assert!(self.slots[i].is_vacant());
        self.len += 1;
        let slot = &mut self.slots[i];
        *slot = entry;
        slot
    }

    /// The address of the slot where a lookup of `hash` starts (0 for an empty table), for
    /// prefetching.
    #[inline(always)]
    pub(super) fn address(&self, hash: u64) -> usize {
        let mask = self.slots.len().wrapping_sub(1);
        self.slots
            .as_ptr()
            .wrapping_add(hash as usize & mask)
            .addr()
    }

    /// Vacates every slot, keeping the allocation.
    pub(super) fn clear(&mut self) {
        if self.len > 0 {
            self.slots.fill(Entry::VACANT);
            self.len = 0;
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.slots.iter().filter(|e| !e.is_vacant())
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Entry> + '_ {
        self.slots.iter_mut().filter(|e| !e.is_vacant())
    }
}

fn vacant_slots(n: usize) -> Box<[Entry]> {
    vec![Entry::VACANT; n].into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count::table::key::KeyRepr;

    fn entry(n: u64) -> Entry {
        let key = KeyRepr {
            lo: n,
            hi: 0,
            len: 8,
        };
        Entry::new(key, 0, n, 1)
    }

    /// A poor hash on purpose: long runs of neighbours make walks wrap around the end.
    fn hash(e: &Entry) -> u64 {
        e.tf / 3
    }

    #[test]
    fn growth_keeps_every_entry_findable_and_clear_vacates_all() {
        let mut slots = Slots::new();
        for n in 1..=1000u64 {
            slots.reserve(1, hash);
            let e = entry(n);
            match slots.find(hash(&e), |x| x.same_key(&e)) {
                Found::Vacant(i) => _ = slots.put(i, e),
                Found::At(_) => panic!("{n} found before it was put"),
            }
            assert!(slots.len() * 4 <= slots.slots() * 3, "over 3/4 full");
        }
        assert_eq!(slots.len(), 1000);
        assert_eq!(slots.iter().count(), 1000);
        for n in 1..=1000u64 {
            let e = entry(n);
            match slots.find(hash(&e), |x| x.same_key(&e)) {
                Found::At(i) => assert_eq!(slots.get_mut(i).tf, n),
                Found::Vacant(_) => panic!("{n} lost in growth"),
            }
        }
        let allocated = slots.slots();
        slots.clear();
        assert_eq!((slots.len(), slots.iter().count()), (0, 0));
        assert_eq!(slots.slots(), allocated, "clear keeps the allocation");
    }
}
