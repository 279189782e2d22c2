//! The ASCII lane of the run tokenizers, 16 bytes at a time.
//!
//! In ASCII, both run tokenizers (`word` and `cc-pyspark`) join exactly `[0-9A-Za-z_]`, and
//! only `[A-Z]` changes when lowercased. [`word_end`] finds where such a run stops, and
//! whether it held a capital, with SSE2 compares on 16 bytes per step (SSE2 is part of
//! every x86-64 CPU); the last few bytes of a text, and other targets, go byte by byte
//! through the class table. [`ClassTable`]s whose ASCII classes differ from that set are
//! never given to the vector code (see [`fits`]).

use super::classes::{ClassTable, ASCII_UPPER, ASCII_WORD};

/// Whether `table` classifies ASCII exactly as the vector code assumes.
pub fn fits(table: &ClassTable) -> bool {
    (0u8..128).all(|b| {
        let word = b.is_ascii_alphanumeric() || b == b'_';
        let upper = b.is_ascii_uppercase();
        let bits = table.ascii[b as usize];
        (bits & ASCII_WORD != 0) == word && (bits & ASCII_UPPER != 0) == upper
    })
}

/// The end of the run of ASCII word bytes starting at `i`, and `ASCII_UPPER` if one of them
/// is a capital. `vector` says the table [`fits`].
#[inline(always)]
pub fn word_end(table: &ClassTable, text: &[u8], mut i: usize, vector: bool) -> (usize, u8) {
    let mut upper = 0u8;
    #[cfg(target_arch = "x86_64")]
    if vector {
        while let Some(block) = text.get(i..i + 16) {
            let (word, caps) = classify16(block.try_into().unwrap_or(&[0; 16]));
            // Bit k of `word` is set for a word byte at i + k; the run stops at the first
            // clear bit (bit 16 is always clear).
            let run = (!word).trailing_zeros();
            if caps & ((1u32 << run) - 1) != 0 {
                upper = ASCII_UPPER;
            }
            i += run as usize;
            if run < 16 {
                return (i, upper);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = vector;
    while let Some(&b) = text.get(i) {
        if b >= 0x80 {
            break;
        }
        let bits = table.ascii[b as usize];
        if bits & ASCII_WORD == 0 {
            break;
        }
        upper |= bits & ASCII_UPPER;
        i += 1;
    }
    (i, upper)
}

/// Masks of the word bytes and of the capitals among 16 bytes (bit k for byte k).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify16(block: &[u8; 16]) -> (u32, u32) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is baseline on x86-64; the load reads exactly the 16 bytes of `block`
    // (unaligned loads are allowed by `_mm_loadu_si128`).
    unsafe {
        let x = _mm_loadu_si128(block.as_ptr() as *const __m128i);
        // `v <= max` for unsigned bytes, as `min(v, max) == v`.
        let at_most =
            |v: __m128i, max: u8| _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(max as i8)), v);
        let digit = at_most(_mm_sub_epi8(x, _mm_set1_epi8(b'0' as i8)), 9);
        let caps = at_most(_mm_sub_epi8(x, _mm_set1_epi8(b'A' as i8)), 25);
        let lower = at_most(_mm_sub_epi8(x, _mm_set1_epi8(b'a' as i8)), 25);
        let under = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'_' as i8));
        let word = _mm_or_si128(_mm_or_si128(digit, caps), _mm_or_si128(lower, under));
        (
            _mm_movemask_epi8(word) as u32,
            _mm_movemask_epi8(caps) as u32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::{PYSPARK_RUN_CLASS, WORD_RUN_CLASS, WORD_SINGLE_CLASS};

    #[test]
    fn vector_and_byte_lanes_agree_on_every_byte() {
        let table = ClassTable::build(WORD_RUN_CLASS, Some(WORD_SINGLE_CLASS));
        assert!(fits(&table));
        assert!(fits(&ClassTable::build(PYSPARK_RUN_CLASS, None)));
        // Each byte value at each position of a 40-byte run of word bytes.
        for b in 0..=255u8 {
            for at in 0..40 {
                let mut text = b"abcdefghijklmnopqrstuvwxyz0123456789_xyz".to_vec();
                text[at] = b;
                for start in [0, 1, 15, 16] {
                    if start > at {
                        continue;
                    }
                    let want = word_end(&table, &text, start, false);
                    assert_eq!(
                        word_end(&table, &text, start, true),
                        want,
                        "byte {b:#x} at {at}"
                    );
                }
            }
        }
    }
}
