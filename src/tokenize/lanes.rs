//! The run tokenizers' vector lanes: 64 bytes of text classified at once into bit masks.
//!
//! In ASCII, both run tokenizers (`word` and `cc-pyspark`) join exactly `[0-9A-Za-z_]`, and
//! only `[A-Z]` changes when lowercased; every other ASCII byte separates words. So one
//! pass over a block finds every place a word can be: the *span* bytes (ASCII word bytes
//! and all non-ASCII bytes), which of them are non-ASCII, and which are capitals
//! ([`Masks`]). the block scanner (`spans`) walks those masks.
//!
//! Three lanes compute the same masks: AVX2 (two 32-byte steps), SSE2 (four 16-byte steps;
//! part of every x86-64 CPU) and scalar (the class table, byte by byte; every target). The
//! best one the CPU has is chosen at run time ([`Lane::detect`]); `WETMR_LANE` forces a
//! slower one (`scalar`, `sse2`), which is how the lanes are compared on one machine.
//! [`ClassTable`]s whose ASCII classes differ from the set above only ever get the scalar
//! lane (see [`fits`]).

use super::classes::{ClassTable, ASCII_UPPER, ASCII_WORD};

/// Bytes classified per block.
pub const BLOCK: usize = 64;

/// Bit `k` of each mask describes byte `k` of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Masks {
    /// Bytes that belong to a span: ASCII word bytes and non-ASCII bytes.
    pub span: u64,
    /// Non-ASCII bytes.
    pub high: u64,
    /// ASCII capitals.
    pub caps: u64,
}

/// An instruction set that classifies blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Scalar,
    Sse2,
    Avx2,
}

impl Lane {
    /// Every lane, slowest first.
    pub const ALL: [Lane; 3] = [Lane::Scalar, Lane::Sse2, Lane::Avx2];

    pub fn name(self) -> &'static str {
        match self {
            Lane::Scalar => "scalar",
            Lane::Sse2 => "sse2",
            Lane::Avx2 => "avx2",
        }
    }

    /// Whether this CPU can run the lane.
    pub fn available(self) -> bool {
        match self {
            Lane::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Lane::Sse2 => true,
            #[cfg(target_arch = "x86_64")]
            Lane::Avx2 => std::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest lane this CPU has, or the one `WETMR_LANE` names if the CPU has it (a
    /// lane it lacks, or a name that is no lane, is ignored: the result is the same on
    /// every lane, only the speed differs).
    pub fn detect() -> Ready {
        let forced = std::env::var("WETMR_LANE").ok();
        Lane::ALL
            .into_iter()
            .find(|lane| forced.as_deref() == Some(lane.name()))
            .and_then(Lane::ready)
            .or_else(|| Lane::ALL.into_iter().rev().find_map(Lane::ready))
            .unwrap_or(Ready::SCALAR)
    }

    /// The lane, if this CPU can run it: the only way to a lane that classifies.
    pub fn ready(self) -> Option<Ready> {
        self.available().then_some(Ready(self))
    }
}

/// A lane this CPU has been found to run (see [`Lane::ready`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready(Lane);

impl Ready {
    /// The scalar lane, which every CPU runs.
    pub const SCALAR: Ready = Ready(Lane::Scalar);

    pub fn lane(self) -> Lane {
        self.0
    }

    /// The masks of `block`. Vector lanes assume `table` [`fits`].
    #[inline(always)]
    pub fn masks(self, table: &ClassTable, block: &[u8; BLOCK]) -> Masks {
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: SSE2 is baseline on x86-64.
            Lane::Sse2 => unsafe { x86::masks_sse2(block) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a `Ready` lane is one the CPU has (`Lane::ready`).
            Lane::Avx2 => unsafe { x86::masks_avx2(block) },
            _ => masks_scalar(table, block),
        }
    }
}

/// Whether `table` classifies ASCII exactly as the vector lanes assume.
pub fn fits(table: &ClassTable) -> bool {
    (0u8..128).all(|b| {
        let word = b.is_ascii_alphanumeric() || b == b'_';
        let upper = b.is_ascii_uppercase();
        let bits = table.ascii[b as usize];
        (bits & ASCII_WORD != 0) == word && (bits & ASCII_UPPER != 0) == upper
    })
}

/// The masks of `block` through the class table, byte by byte.
fn masks_scalar(table: &ClassTable, block: &[u8; BLOCK]) -> Masks {
    let mut m = Masks::default();
    for (k, &b) in block.iter().enumerate() {
        let bit = 1u64 << k;
        if b >= 0x80 {
            m.span |= bit;
            m.high |= bit;
        } else {
            let bits = table.ascii[b as usize];
            if bits & ASCII_WORD != 0 {
                m.span |= bit;
            }
            if bits & ASCII_UPPER != 0 {
                m.caps |= bit;
            }
        }
    }
    m
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Masks, BLOCK};

    /// SSE2: four 16-byte steps.
    ///
    /// # Safety
    /// The CPU must have SSE2 (every x86-64 CPU does).
    #[inline]
    #[target_feature(enable = "sse2")]
    pub unsafe fn masks_sse2(block: &[u8; BLOCK]) -> Masks {
        let mut m = Masks::default();
        for step in 0..4 {
            // SAFETY: reads 16 of the block's 64 bytes (unaligned loads are allowed).
            let x = unsafe { _mm_loadu_si128(block.as_ptr().add(16 * step) as *const __m128i) };
            // `v <= max` for unsigned bytes, as `min(v, max) == v`.
            let at_most =
                |v: __m128i, max: u8| _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(max as i8)), v);
            let digit = at_most(_mm_sub_epi8(x, _mm_set1_epi8(b'0' as i8)), 9);
            let caps = at_most(_mm_sub_epi8(x, _mm_set1_epi8(b'A' as i8)), 25);
            let lower = at_most(_mm_sub_epi8(x, _mm_set1_epi8(b'a' as i8)), 25);
            let under = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'_' as i8));
            let word = _mm_or_si128(_mm_or_si128(digit, caps), _mm_or_si128(lower, under));
            let high = _mm_movemask_epi8(x) as u16 as u64;
            let word = _mm_movemask_epi8(word) as u16 as u64;
            let shift = 16 * step;
            m.span |= (word | high) << shift;
            m.high |= high << shift;
            m.caps |= (_mm_movemask_epi8(caps) as u16 as u64) << shift;
        }
        m
    }

    /// AVX2: two 32-byte steps.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn masks_avx2(block: &[u8; BLOCK]) -> Masks {
        let mut m = Masks::default();
        for step in 0..2 {
            // SAFETY: reads 32 of the block's 64 bytes (unaligned loads are allowed).
            let x = unsafe { _mm256_loadu_si256(block.as_ptr().add(32 * step) as *const __m256i) };
            let at_most = |v: __m256i, max: u8| {
                _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(max as i8)), v)
            };
            let digit = at_most(_mm256_sub_epi8(x, _mm256_set1_epi8(b'0' as i8)), 9);
            let caps = at_most(_mm256_sub_epi8(x, _mm256_set1_epi8(b'A' as i8)), 25);
            let lower = at_most(_mm256_sub_epi8(x, _mm256_set1_epi8(b'a' as i8)), 25);
            let under = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(b'_' as i8));
            let word = _mm256_or_si256(_mm256_or_si256(digit, caps), _mm256_or_si256(lower, under));
            let high = _mm256_movemask_epi8(x) as u32 as u64;
            let word = _mm256_movemask_epi8(word) as u32 as u64;
            let shift = 32 * step;
            m.span |= (word | high) << shift;
            m.high |= high << shift;
            m.caps |= (_mm256_movemask_epi8(caps) as u32 as u64) << shift;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::{PYSPARK_RUN_CLASS, WORD_RUN_CLASS, WORD_SINGLE_CLASS};

    #[test]
    fn every_lane_classifies_every_byte_alike() {
        let table = ClassTable::build(WORD_RUN_CLASS, Some(WORD_SINGLE_CLASS));
        assert!(fits(&table));
        assert!(fits(&ClassTable::build(PYSPARK_RUN_CLASS, None)));
        let lanes: Vec<Ready> = Lane::ALL.into_iter().filter_map(Lane::ready).collect();
        eprintln!("lanes on this CPU: {lanes:?}");
        // Each byte value at each position, among word bytes and among separators.
        for fill in [b'a', b' ', 0xc3] {
            for b in 0..=255u8 {
                for at in 0..BLOCK {
                    let mut block = [fill; BLOCK];
                    block[at] = b;
                    let want = masks_scalar(&table, &block);
                    let bit = 1u64 << at;
                    assert_eq!(want.high & bit != 0, b >= 0x80);
                    assert_eq!(want.caps & bit != 0, b.is_ascii_uppercase());
                    for &lane in &lanes {
                        assert_eq!(lane.masks(&table, &block), want, "{lane:?} {b:#x} at {at}");
                    }
                }
            }
        }
    }
}
