//! Character classes for the run tokenizers, as compact lookup tables.
//!
//! A tokenizer is defined by two Unicode sets written in `regex` syntax: the characters that
//! form runs (words) and the characters that are a word by themselves. The sets are resolved
//! once, with the Unicode tables of `regex-syntax` (the same data the `regex` crate uses), into
//! a two-level table: 4 bits per code point (the class, and whether `to_lowercase` changes
//! the character), in blocks of 256 code points, identical blocks shared. Lookups are two
//! loads; ASCII has its own flat table for the fast lane.

use std::collections::HashMap;

use regex_syntax::hir::{Class, HirKind};

/// A separator: not part of any word.
pub const SEP: u8 = 0;
/// A word character that joins its neighbours into one word.
pub const RUN: u8 = 1;
/// A word character that is a word by itself.
pub const SINGLE: u8 = 2;
/// Mask of the class bits in a lookup result.
pub const CLASS: u8 = 3;
/// Lookup bit: `char::to_lowercase` changes this word character.
pub const LOWERS: u8 = 4;

/// ASCII table bit: a word character.
pub const ASCII_WORD: u8 = 1;
/// ASCII table bit: an uppercase letter (needs lowercasing).
pub const ASCII_UPPER: u8 = 2;

const BLOCK_BITS: u32 = 8;
const BLOCK_LEN: usize = 1 << BLOCK_BITS;
const BLOCK_BYTES: usize = BLOCK_LEN / 2;
const BLOCKS: usize = 0x11_0000 / BLOCK_LEN;

/// Class and case bit of every code point, 4 bits each.
pub struct ClassTable {
    /// `ASCII_WORD | ASCII_UPPER` bits for each ASCII byte.
    pub ascii: [u8; 128],
    /// For each block of 256 code points, the index of its bitmap in `blocks`.
    index: Box<[u16; BLOCKS]>,
    blocks: Vec<[u8; BLOCK_BYTES]>,
}

impl ClassTable {
    /// Builds the table from two `regex` character classes (each one bracketed class).
    /// `single` may be `None` when no character stands alone.
    pub fn build(run: &str, single: Option<&str>) -> ClassTable {
        let mut classes = vec![SEP; 0x11_0000];
        for (pattern, class) in [(Some(run), RUN), (single, SINGLE)] {
            let Some(pattern) = pattern else { continue };
            for (lo, hi) in unicode_ranges(pattern) {
                classes[lo as usize..=hi as usize].fill(class);
            }
        }
        for (cp, class) in classes.iter_mut().enumerate() {
            if *class != SEP {
                let c = char::from_u32(cp as u32).expect("word characters are scalar values");
                let mut lower = c.to_lowercase();
                if !(lower.len() == 1 && lower.next() == Some(c)) {
                    *class |= LOWERS;
                }
            }
        }
        let mut ascii = [0u8; 128];
        for (b, bits) in ascii.iter_mut().enumerate() {
            assert_ne!(
                classes[b] & CLASS,
                SINGLE,
                "ASCII characters never stand alone"
            );
            if classes[b] & CLASS == RUN {
                *bits |= ASCII_WORD;
            }
            if (b as u8).is_ascii_uppercase() {
                *bits |= ASCII_UPPER;
            }
        }
        let mut index = Box::new([0u16; BLOCKS]);
        let mut blocks = Vec::new();
        let mut seen: HashMap<[u8; BLOCK_BYTES], u16> = HashMap::new();
        for (block, slot) in classes.chunks_exact(BLOCK_LEN).zip(index.iter_mut()) {
            let mut packed = [0u8; BLOCK_BYTES];
            for (i, &class) in block.iter().enumerate() {
                packed[i / 2] |= class << ((i % 2) * 4);
            }
            *slot = *seen.entry(packed).or_insert_with(|| {
                blocks.push(packed);
                u16::try_from(blocks.len() - 1).expect("fewer than 65536 distinct blocks")
            });
        }
        ClassTable {
            ascii,
            index,
            blocks,
        }
    }

    /// The class of code point `cp` (below 0x110000), with the `LOWERS` bit.
    #[inline(always)]
    pub fn lookup(&self, cp: u32) -> u8 {
        let block = &self.blocks[self.index[(cp >> BLOCK_BITS) as usize] as usize];
        let i = (cp as usize) & (BLOCK_LEN - 1);
        (block[i / 2] >> ((i % 2) * 4)) & 0xf
    }

    /// The class of code point `cp` (below 0x110000).
    #[inline(always)]
    pub fn class(&self, cp: u32) -> u8 {
        self.lookup(cp) & CLASS
    }
}

/// The code point ranges of a bracketed `regex` class such as `[\p{L}\p{N}_]`.
fn unicode_ranges(pattern: &str) -> Vec<(u32, u32)> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(true)
        .build()
        .parse(pattern)
        .unwrap_or_else(|e| panic!("built-in class {pattern} does not parse: {e}"));
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
        other => panic!("built-in class {pattern} is not a Unicode class: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_ranges() {
        let table = ClassTable::build(r"[\w--\p{sc=Han}]", Some(r"[\w&&\p{sc=Han}]"));
        assert_eq!(table.class('a' as u32), RUN);
        assert_eq!(table.class(' ' as u32), SEP);
        assert_eq!(table.class('漢' as u32), SINGLE);
        assert_eq!(table.class('é' as u32), RUN);
        assert_eq!(table.class(0x10FFFF), SEP);
        assert_eq!(table.ascii[b'A' as usize], ASCII_WORD | ASCII_UPPER);
        assert_eq!(table.lookup('É' as u32), RUN | LOWERS);
        assert_eq!(table.lookup('é' as u32), RUN);
        assert_eq!(table.lookup('Σ' as u32), RUN | LOWERS);
        assert_eq!(table.lookup('İ' as u32), RUN | LOWERS);
        assert_eq!(table.ascii[b'_' as usize], ASCII_WORD);
        assert_eq!(table.ascii[b'-' as usize], 0);
        for (lo, hi) in unicode_ranges(r"[\w--\p{sc=Han}]") {
            assert_eq!(table.class(lo), RUN);
            assert_eq!(table.class(hi), RUN);
        }
    }
}
