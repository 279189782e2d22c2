//! UTF-8 decoding for the tokenizer's Unicode lane: one code point at a time, with invalid
//! sequences reported so they can act as separators.
//!
//! Accepts exactly the sequences `str::from_utf8` accepts (no overlong forms, no surrogates,
//! nothing above U+10FFFF). An invalid sequence is reported as one byte long: the caller
//! steps over it and tries again at the next byte, which is how U+FFFD replacement (and the
//! `regex` crate's byte matcher) treat it for word boundaries.

/// Marker code point for an invalid byte.
pub const INVALID: u32 = u32::MAX;

/// Decodes the code point starting at `text[i]` (a non-ASCII byte): `(code point, length)`,
/// or `(INVALID, 1)`.
#[inline(always)]
pub fn decode(text: &[u8], i: usize) -> (u32, usize) {
    let b0 = text[i];
    let cont = |k: usize| -> Option<u32> {
        let b = *text.get(i + k)?;
        (b & 0xc0 == 0x80).then_some(u32::from(b & 0x3f))
    };
    let decoded = match b0 {
        0xc2..=0xdf => cont(1).map(|c1| ((u32::from(b0 & 0x1f) << 6) | c1, 2)),
        0xe0..=0xef => (|| {
            let c1 = cont(1)?;
            let cp = (u32::from(b0 & 0x0f) << 12) | (c1 << 6) | cont(2)?;
            // Reject overlong forms (below U+0800) and surrogates.
            (cp >= 0x800 && !(0xd800..=0xdfff).contains(&cp)).then_some((cp, 3))
        })(),
        0xf0..=0xf4 => (|| {
            let cp = (u32::from(b0 & 0x07) << 18) | (cont(1)? << 12) | (cont(2)? << 6) | cont(3)?;
            (0x1_0000..=0x10_ffff).contains(&cp).then_some((cp, 4))
        })(),
        _ => None,
    };
    decoded.unwrap_or((INVALID, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_std_on_every_short_sequence() {
        // Every 1-4 byte prefix built from interesting bytes: std decides validity.
        let bytes = [
            0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0,
            0xed, 0xee, 0xef, 0xf0, 0xf4, 0xf5, 0xff,
        ];
        for &a in &bytes[3..] {
            for &b in &bytes {
                for &c in &bytes {
                    for &d in &bytes {
                        let seq = [a, b, c, d];
                        let (cp, len) = decode(&seq, 0);
                        let expected = (1..=4).find_map(|n| {
                            std::str::from_utf8(&seq[..n])
                                .ok()
                                .map(|s| (s.chars().next().unwrap() as u32, n))
                        });
                        assert_eq!(expected.unwrap_or((INVALID, 1)), (cp, len), "{seq:02x?}");
                    }
                }
            }
        }
    }

    #[test]
    fn truncated_at_the_end() {
        assert_eq!(decode(&[0xe2, 0x82], 0), (INVALID, 1));
        assert_eq!(decode("€".as_bytes(), 0), ('€' as u32, 3));
    }
}
