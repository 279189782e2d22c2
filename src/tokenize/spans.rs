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
use super::lanes::{Ready, BLOCK};

/// A span that reached the end of its block and goes on in the next.
struct Open {
    start: usize,
    high: bool,
    caps: bool,
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
    let mut open: Option<Open> = None;
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
        if let Some(o) = &mut open {
            // The open span goes on up to the first byte that is not in a span.
            let run = (!spans).trailing_zeros();
            let bits = low_bits(run);
            o.high |= m.high & bits != 0;
            o.caps |= m.caps & bits != 0;
            if run == 64 {
                base += BLOCK;
                continue;
            }
            let Open { start, high, caps } = open.take().expect("open");
            emit_span(
                table,
                &text[start..base + run as usize],
                high,
                caps,
                scratch,
                &mut emit,
            );
            spans &= !bits;
        }
        while spans != 0 {
            let at = spans.trailing_zeros();
            let run = (!(spans >> at)).trailing_zeros();
            let bits = low_bits(run) << at;
            let high = m.high & bits != 0;
            let caps = m.caps & bits != 0;
            let start = base + at as usize;
            if at + run == 64 {
                open = Some(Open { start, high, caps });
                break;
            }
            emit_span(
                table,
                &text[start..start + run as usize],
                high,
                caps,
                scratch,
                &mut emit,
            );
            spans &= !bits;
        }
        base += BLOCK;
    }
    if let Some(Open { start, high, caps }) = open {
        emit_span(table, &text[start..], high, caps, scratch, &mut emit);
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

/// Emits the words of one span: itself if it is ASCII (lowercased if it has capitals),
/// else what the character scanner finds in it.
#[inline(always)]
fn emit_span<F: FnMut(&[u8])>(
    table: &ClassTable,
    span: &[u8],
    high: bool,
    caps: bool,
    scratch: &mut Vec<u8>,
    emit: &mut F,
) {
    if high {
        super::runs(table, span, scratch, &mut *emit);
    } else if caps {
        scratch.clear();
        scratch.extend(span.iter().map(u8::to_ascii_lowercase));
        emit(scratch);
    } else {
        emit(span);
    }
}
