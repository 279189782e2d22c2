//! The run tokenizers' block scanner: words found from the bit masks of 64-byte blocks.
//!
//! A *span* is a maximal run of bytes that are ASCII word bytes or non-ASCII (see
//! [`Masks`]). Every ASCII byte outside a span separates words in both run tokenizers, so
//! a word never crosses a span's edge, and a span tokenizes alike on its own or in its text.
//! Most spans are pure ASCII: such a span *is* a word, found with two bit scans and no loop
//! over its bytes, and lowercased only if its capitals mask says so. A span with non-ASCII
//! bytes goes to the character-at-a-time scanner ([`super::runs`]), which knows the
//! Unicode classes (a non-ASCII separator or a Han character splits it).

use super::classes::ClassTable;
use super::lanes::{Masks, Ready, BLOCK};

/// A span found in the masks: where it starts, and whether its bytes seen so far hold a
/// non-ASCII byte or a capital. A span that reaches the end of its block stays open and
/// goes on in the next.
struct Span {
    start: usize,
    high: bool,
    caps: bool,
}

impl Span {
    /// The span that starts at `start` and covers `bits` of the block of `masks`.
    #[inline(always)]
    fn new(start: usize, masks: &Masks, bits: u64) -> Span {
        let mut span = Span {
            start,
            high: false,
            caps: false,
        };
        span.take(masks, bits);
        span
    }

    /// The span goes on over `bits` of the block of `masks`.
    #[inline(always)]
    fn take(&mut self, masks: &Masks, bits: u64) {
        self.high |= masks.high & bits != 0;
        self.caps |= masks.caps & bits != 0;
    }

    /// Emits the words of the span, which ends at `end` of `text`.
    #[inline(always)]
    fn end<F: FnMut(&[u8])>(
        self,
        table: &ClassTable,
        text: &[u8],
        end: usize,
        scratch: &mut Vec<u8>,
        emit: &mut F,
    ) {
        let span = &text[self.start..end];
        if self.high {
            super::runs(table, span, scratch, &mut *emit);
        } else if self.caps {
            emit(super::ascii_lowercase(span, scratch));
        } else {
            emit(span);
        }
    }
}

/// Calls `emit` with each lowercased word of `text`, in order, classifying blocks with
/// `lane` (which assumes `table` fits it).
#[inline(always)]
pub fn scan<F: FnMut(&[u8])>(
    lane: Ready,
    table: &ClassTable,
    text: &[u8],
    scratch: &mut Vec<u8>,
    mut emit: F,
) {
    let n = text.len();
    let mut open: Option<Span> = None;
    let mut base = 0;
    while base < n {
        let m = match text.get(base..base + BLOCK) {
            Some(block) => lane.masks(table, block.try_into().expect("a whole block")),
            None => {
                // The last, partial block: zero bytes are separators, so no span reaches
                // past the text's end.
                let mut block = [0u8; BLOCK];
                block[..n - base].copy_from_slice(&text[base..]);
                lane.masks(table, &block)
            }
        };
        let mut spans = m.span;
        if let Some(mut span) = open.take() {
            // The open span goes on up to the first byte that is not in a span.
            let run = (!spans).trailing_zeros();
            let bits = low_bits(run);
            span.take(&m, bits);
            if run == 64 {
                open = Some(span);
                base += BLOCK;
                continue;
            }
            span.end(table, text, base + run as usize, scratch, &mut emit);
            spans &= !bits;
        }
        while spans != 0 {
            let at = spans.trailing_zeros();
            let run = (!(spans >> at)).trailing_zeros();
            let bits = low_bits(run) << at;
            let span = Span::new(base + at as usize, &m, bits);
            if at + run == 64 {
                open = Some(span);
                break;
            }
            span.end(table, text, base + (at + run) as usize, scratch, &mut emit);
            spans &= !bits;
        }
        base += BLOCK;
    }
    if let Some(span) = open {
        span.end(table, text, n, scratch, &mut emit);
    }
}

/// The lowest `n` bits set (`n` ≤ 64).
#[inline(always)]
fn low_bits(n: u32) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}
