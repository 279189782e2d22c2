//! WARC records: header fields and a body slice, parsed from a byte buffer without copying.
//!
//! The same parser serves memory-mapped plain files (the buffer is the whole map, and
//! `at_end` is true) and decoded gzip data (the buffer is a window that grows, and `at_end`
//! says whether more bytes may come). A record is
//!
//! ```text
//! WARC/1.0 CRLF  (or WARC/1.1, nothing else; LF alone is tolerated everywhere)
//! Name: value CRLF ...
//! CRLF
//! <exactly Content-Length bytes of body>
//! CRLF CRLF
//! ```
//!
//! Line breaks before a record (the previous record's trailer) are skipped, so the parser
//! needs no memory between records. `Content-Length` is a claim: it is checked against the
//! bytes that remain before any slice is taken, and a record is only accepted when its body
//! ends at a record boundary (line breaks, then `WARC/` or the end of the data). A length
//! that overruns into the next record's header would otherwise count that header as text.
//! A field that decides what is counted (`Content-Length`, `WARC-Type`) given twice is
//! damage: no rule for choosing between the two values would be safe.

use memchr::memmem;

/// The largest header accepted; Common Crawl's are under 1 KiB.
pub const MAX_HEADER: usize = 64 * 1024;

const RECORD_MAGIC: &[u8] = b"WARC/";

/// One record, borrowed from the buffer it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// `WARC-Type: conversion` (the only records that are counted).
    pub conversion: bool,
    /// The `Content-Type` header's value, blanks around it trimmed (`None` without one).
    pub content_type: Option<&'a [u8]>,
    /// The `WARC-Identified-Content-Language` header's value, blanks trimmed.
    pub language: Option<&'a [u8]>,
    /// The record's block: exactly `Content-Length` bytes.
    pub body: &'a [u8],
    /// Offset of the body in the buffer.
    pub body_start: usize,
    /// Bytes of the buffer this record used (leading line breaks, header, body).
    pub len: usize,
}

/// What the parser found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next<'a> {
    Record(Record<'a>),
    /// More bytes are needed: at least `needed` in all (when known, else 0).
    Incomplete {
        needed: usize,
    },
    /// Only line breaks (or nothing) remain, and `at_end` was set.
    End,
}

/// Why the bytes at some offset are not a usable record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarcError {
    /// Offset in the buffer where the problem is.
    pub at: usize,
    /// Where a search for the next record should start.
    pub resume_from: usize,
    pub kind: WarcErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarcErrorKind {
    NotWarc,
    HeaderTooLong,
    MissingContentLength,
    BadContentLength,
    Truncated {
        claimed: u64,
        available: u64,
    },
    TruncatedHeader,
    LengthMismatch,
    /// A version line other than `WARC/1.0` or `WARC/1.1`.
    UnsupportedVersion(String),
    /// `Content-Length` or `WARC-Type` twice: which one holds is anyone's guess.
    DuplicateField(&'static str),
}

impl std::fmt::Display for WarcErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WarcErrorKind::NotWarc => write!(f, "not a WARC record (expected \"WARC/\")"),
            WarcErrorKind::HeaderTooLong => {
                write!(f, "WARC header longer than {MAX_HEADER} bytes")
            }
            WarcErrorKind::MissingContentLength => write!(f, "WARC header has no Content-Length"),
            WarcErrorKind::BadContentLength => write!(f, "WARC Content-Length is not a number"),
            WarcErrorKind::Truncated { claimed, available } => write!(
                f,
                "WARC record truncated (Content-Length {claimed}, only {available} bytes left)"
            ),
            WarcErrorKind::TruncatedHeader => write!(f, "WARC header truncated"),
            WarcErrorKind::LengthMismatch => write!(
                f,
                "WARC record's Content-Length does not end at a record boundary (its body \
                 is followed by data that is not a WARC record)"
            ),
            WarcErrorKind::UnsupportedVersion(line) => {
                f.write_str("unsupported WARC version \"")?;
                crate::error::escaped(line, f)?;
                f.write_str("\" (WARC/1.0 and WARC/1.1 are read)")
            }
            WarcErrorKind::DuplicateField(name) => {
                write!(f, "WARC header has {name} twice")
            }
        }
    }
}

/// What comes after the buffer given to [`next_record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// More bytes may follow.
    More,
    /// Nothing: the buffer ends the data.
    End,
    /// A record starts right after the buffer (the caller has proven it).
    Record,
}

/// Parses the record at the start of `buf`.
pub fn next_record(buf: &[u8], after: After) -> Result<Next<'_>, WarcError> {
    let at_end = after != After::More;
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let rest = &buf[start..];
    let err = |at, resume_from, kind| WarcError {
        at,
        resume_from,
        kind,
    };
    if rest.len() < RECORD_MAGIC.len() {
        return if rest.is_empty() && at_end {
            Ok(Next::End)
        } else if !at_end && RECORD_MAGIC.starts_with(rest) {
            Ok(Next::Incomplete { needed: 0 })
        } else {
            Err(err(start, start, WarcErrorKind::NotWarc))
        };
    }
    if !rest.starts_with(RECORD_MAGIC) {
        return Err(err(start, start, WarcErrorKind::NotWarc));
    }

    let mut content_length: Option<Result<u64, ()>> = None;
    let mut conversion = false;
    let mut content_type = None;
    let mut language = None;
    let mut seen_type = false;
    let mut line_start = 0;
    let mut first = true;
    let header_len = loop {
        let Some(nl) = memchr::memchr(b'\n', &rest[line_start..]) else {
            return if rest.len() > MAX_HEADER {
                Err(err(start, start + 1, WarcErrorKind::HeaderTooLong))
            } else if at_end {
                Err(err(start, start + 1, WarcErrorKind::TruncatedHeader))
            } else {
                Ok(Next::Incomplete { needed: 0 })
            };
        };
        let line_end = line_start + nl;
        if line_end > MAX_HEADER {
            return Err(err(start, start + 1, WarcErrorKind::HeaderTooLong));
        }
        let line = trim_cr(&rest[line_start..line_end]);
        line_start = line_end + 1;
        if first {
            first = false;
            if line != b"WARC/1.0" && line != b"WARC/1.1" {
                let shown = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
                return Err(err(
                    start,
                    start + 1,
                    WarcErrorKind::UnsupportedVersion(shown),
                ));
            }
            continue;
        }
        if line.is_empty() {
            break line_start;
        }
        if let Some(colon) = memchr::memchr(b':', line) {
            let name = &line[..colon];
            let value = trim_blanks(&line[colon + 1..]);
            if name.eq_ignore_ascii_case(b"Content-Length") {
                if content_length.is_some() {
                    let kind = WarcErrorKind::DuplicateField("Content-Length");
                    return Err(err(start, start + 1, kind));
                }
                content_length = Some(parse_decimal(value).ok_or(()));
            } else if name.eq_ignore_ascii_case(b"WARC-Type") {
                if std::mem::replace(&mut seen_type, true) {
                    return Err(err(
                        start,
                        start + 1,
                        WarcErrorKind::DuplicateField("WARC-Type"),
                    ));
                }
                conversion = value.eq_ignore_ascii_case(b"conversion");
            } else if name.eq_ignore_ascii_case(b"Content-Type") && content_type.is_none() {
                content_type = Some(value);
            } else if name.eq_ignore_ascii_case(b"WARC-Identified-Content-Language")
                && language.is_none()
            {
                language = Some(value);
            }
        }
    };

    let claimed = match content_length {
        None => return Err(err(start, start + 1, WarcErrorKind::MissingContentLength)),
        Some(Err(())) => return Err(err(start, start + 1, WarcErrorKind::BadContentLength)),
        Some(Ok(n)) => n,
    };
    let body_start = start + header_len;
    let available = (buf.len() - body_start) as u64;
    if claimed > available {
        return if at_end {
            Err(err(
                start,
                body_start,
                WarcErrorKind::Truncated { claimed, available },
            ))
        } else {
            Ok(Next::Incomplete {
                needed: usize::try_from(claimed)
                    .ok()
                    .and_then(|c| c.checked_add(body_start))
                    .unwrap_or(usize::MAX),
            })
        };
    }
    let body_end = body_start + claimed as usize;
    let tail = &buf[body_end..];
    let next = tail
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .map_or(&[][..], |i| &tail[i..]);
    let boundary = if next.len() >= RECORD_MAGIC.len() {
        next.starts_with(RECORD_MAGIC)
    } else if after == After::More {
        return Ok(Next::Incomplete {
            needed: body_end + tail.len() - next.len() + RECORD_MAGIC.len(),
        });
    } else {
        next.is_empty()
    };
    if !boundary {
        return Err(err(start, body_start, WarcErrorKind::LengthMismatch));
    }
    Ok(Next::Record(Record {
        conversion,
        content_type,
        language,
        body: &buf[body_start..body_end],
        body_start,
        len: body_end,
    }))
}

/// True when `buf` holds nothing but line breaks: a parser that consumed everything before
/// it is at a record boundary.
pub fn only_line_breaks(buf: &[u8]) -> bool {
    buf.iter().all(|&b| b == b'\r' || b == b'\n')
}

/// Finds the next `WARC/` that starts a line, at or after `from` (never at offset 0, whose
/// line start cannot be seen). Used to resynchronize after damage and to find split points.
pub fn find_record_start(buf: &[u8], from: usize) -> Option<usize> {
    let finder = memmem::Finder::new(b"\nWARC/");
    let from = from.max(1) - 1;
    finder.find(buf.get(from..)?).map(|i| from + i + 1)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_blanks(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, body: &str, eol: &str) -> String {
        format!(
            "WARC/1.0{eol}WARC-Type: {kind}{eol}Content-Length: {}{eol}{eol}{body}{eol}{eol}",
            body.len()
        )
    }

    #[test]
    fn crlf_and_lf_records() {
        for eol in ["\r\n", "\n"] {
            let text = record("conversion", "héllo\r\nworld", eol) + &record("warcinfo", "x", eol);
            let buf = text.as_bytes();
            let Next::Record(r) = next_record(buf, After::End).unwrap() else {
                panic!()
            };
            assert!(r.conversion);
            assert_eq!(r.body, "héllo\r\nworld".as_bytes());
            let Next::Record(r2) = next_record(&buf[r.len..], After::End).unwrap() else {
                panic!()
            };
            assert!(!r2.conversion);
            assert_eq!(r2.body, b"x");
            assert_eq!(
                next_record(&buf[r.len + r2.len..], After::End),
                Ok(Next::End)
            );
        }
    }

    #[test]
    fn field_names_are_case_insensitive_and_values_trimmed() {
        let buf = b"WARC/1.1\r\nwarc-type:\tConversion \r\ncontent-length:  3\r\n\r\nabc";
        let Next::Record(r) = next_record(buf, After::End).unwrap() else {
            panic!()
        };
        assert!(r.conversion);
        assert_eq!(r.body, b"abc");
    }

    #[test]
    fn incomplete_until_at_end() {
        let text = record("conversion", "some body text", "\r\n");
        let buf = text.as_bytes();
        for cut in 0..buf.len() - 4 {
            let part = &buf[..cut];
            let got = next_record(part, After::More).unwrap();
            assert!(matches!(got, Next::Incomplete { .. }), "cut {cut}: {got:?}");
            let err = next_record(part, After::End);
            assert!(
                cut == 0 && err == Ok(Next::End) || err.is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn content_length_past_the_end() {
        let buf = b"WARC/1.0\r\nContent-Length: 100\r\n\r\nshort";
        let e = next_record(buf, After::End).unwrap_err();
        assert_eq!(
            e.kind,
            WarcErrorKind::Truncated {
                claimed: 100,
                available: 5
            }
        );
        assert_eq!(e.resume_from, buf.len() - 5);
        assert_eq!(
            next_record(buf, After::More),
            Ok(Next::Incomplete {
                needed: buf.len() - 5 + 100
            })
        );
    }

    #[test]
    fn bad_headers() {
        let version = |v: &str| WarcErrorKind::UnsupportedVersion(v.into());
        let cases: [(&[u8], WarcErrorKind); 10] = [
            (b"WARC/2.0\r\nContent-Length: 0\r\n\r\n", version("WARC/2.0")),
            (b"WARC/abc\r\nContent-Length: 0\r\n\r\n", version("WARC/abc")),
            (b"WARC/\r\nContent-Length: 0\r\n\r\n", version("WARC/")),
            (b"WARC/1.0 \r\nContent-Length: 0\r\n\r\n", version("WARC/1.0 ")),
            (
                b"WARC/1.0\r\nContent-Length: 0\r\ncontent-length: 3\r\n\r\nabc",
                WarcErrorKind::DuplicateField("Content-Length"),
            ),
            (
                b"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Type: warcinfo\r\nContent-Length: 0\r\n\r\n",
                WarcErrorKind::DuplicateField("WARC-Type"),
            ),
            (b"hello world", WarcErrorKind::NotWarc),
            (
                b"WARC/1.0\r\nWARC-Type: conversion\r\n\r\n",
                WarcErrorKind::MissingContentLength,
            ),
            (
                b"WARC/1.0\r\nContent-Length: 1x\r\n\r\n",
                WarcErrorKind::BadContentLength,
            ),
            (
                b"WARC/1.0\r\nContent-Length: 99999999999999999999\r\n\r\n",
                WarcErrorKind::BadContentLength,
            ),
        ];
        for (buf, kind) in cases {
            assert_eq!(next_record(buf, After::End).unwrap_err().kind, kind);
        }
        let mut long = b"WARC/1.0\r\nX: ".to_vec();
        long.resize(MAX_HEADER + 10, b'a');
        assert_eq!(
            next_record(&long, After::More).unwrap_err().kind,
            WarcErrorKind::HeaderTooLong
        );
    }

    #[test]
    fn body_must_end_at_a_record_boundary() {
        let good = record("conversion", "abc", "\r\n");
        let overrun = good.replace("Content-Length: 3", "Content-Length: 8");
        let two = overrun.clone() + &good;
        let e = next_record(two.as_bytes(), After::End).unwrap_err();
        assert_eq!(e.kind, WarcErrorKind::LengthMismatch);
        assert_eq!((e.at, e.resume_from), (0, two.find("abc").unwrap()));
        // A record followed by the start of a buffer the caller vouches for.
        let body_only = &good[..good.len() - 4];
        assert!(matches!(
            next_record(body_only.as_bytes(), After::Record),
            Ok(Next::Record(_))
        ));
        assert!(matches!(
            next_record(body_only.as_bytes(), After::More),
            Ok(Next::Incomplete { .. })
        ));
        let junk = good.clone() + "junk";
        assert_eq!(
            next_record(junk.as_bytes(), After::End).unwrap_err().kind,
            WarcErrorKind::LengthMismatch
        );
    }

    #[test]
    fn resync_finds_line_starts_only() {
        let buf = b"xxWARC/ no\nWARC/1.0";
        assert_eq!(find_record_start(buf, 0), Some(11));
        assert_eq!(find_record_start(buf, 12), None);
    }
}
