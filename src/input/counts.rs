//! Count lines read back: `word<TAB>tf<TAB>df`, as `wetmr map` writes them and `wetmr
//! reduce` merges them (the streaming contract, see `commands::reduce`).
//!
//! A stream is read in blocks cut at a line break; a block's lines are parsed on every
//! thread, each part into a table of its own, and the tables are added into the run's
//! [`SharedTable`], so memory is the vocabulary plus a block, whatever the stream's length.
//! Every line is checked: three fields, a non-empty UTF-8 word, `1 ≤ df ≤ tf` as decimal
//! integers. A line that is not is an error naming the stream and the line, and nothing is
//! written. The sums are exact: the total of every tf (and of every df) read must fit in 64
//! bits, which bounds every word's sum.

use std::io::Read;

use rayon::prelude::*;

use crate::count::{CountTable, SharedTable};

/// Bytes read per block, per thread of the pool.
const BLOCK_PER_THREAD: usize = 16 << 20;

/// What is wrong with a stream of count lines, and where (1-based line number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: u64,
    pub what: String,
}

/// Figures of a stream read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub lines: u64,
    pub tf: u64,
    pub df: u64,
}

impl Totals {
    fn add(self, other: Totals) -> Option<Totals> {
        Some(Totals {
            lines: self.lines + other.lines,
            tf: self.tf.checked_add(other.tf)?,
            df: self.df.checked_add(other.df)?,
        })
    }
}

/// Reads every count line of `input` into `shared`, on the current rayon pool. I/O errors
/// come back as they are; a malformed line as [`BadLine`].
pub fn read_counts(
    input: &mut impl Read,
    shared: &SharedTable,
    totals: &mut Totals,
) -> std::io::Result<Result<(), BadLine>> {
    let block = BLOCK_PER_THREAD * rayon::current_num_threads().max(1);
    let mut buf: Vec<u8> = Vec::with_capacity(block);
    let mut at_end = false;
    while !at_end {
        // Fill the block; keep what follows its last line break for the next one.
        let start = buf.len();
        buf.resize(block.max(start + (1 << 16)), 0);
        let mut filled = start;
        while filled < buf.len() {
            match input.read(&mut buf[filled..]) {
                Ok(0) => {
                    at_end = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        let cut = if at_end {
            buf.len()
        } else {
            match memchr::memrchr(b'\n', &buf) {
                Some(i) => i + 1,
                // No line break in a whole block: one line longer than a block.
                None if buf.len() >= block => {
                    return Ok(Err(BadLine {
                        line: totals.lines + 1,
                        what: format!("a line longer than {block} bytes"),
                    }))
                }
                None => 0,
            }
        };
        if let Err(bad) = add_block(&buf[..cut], shared, totals) {
            return Ok(Err(bad));
        }
        buf.drain(..cut);
    }
    Ok(Ok(()))
}

/// Parses whole lines (`text` ends at a line break or at the stream's end) in parallel.
fn add_block(text: &[u8], shared: &SharedTable, totals: &mut Totals) -> Result<(), BadLine> {
    let parts = split_lines(text, rayon::current_num_threads().max(1) * 4);
    let lines_before = totals.lines;
    let results: Vec<Result<Totals, (usize, BadLine)>> = parts
        .par_iter()
        .enumerate()
        .map(|(i, part)| {
            let mut table = CountTable::new();
            let part_totals = parse_lines(part, &mut table).map_err(|bad| (i, bad))?;
            shared.spill(&mut table);
            Ok(part_totals)
        })
        .collect();
    for result in results {
        match result {
            Ok(t) => {
                *totals = totals.add(t).ok_or_else(|| BadLine {
                    line: totals.lines + t.lines,
                    what: "the counts add up to more than 2^64 - 1".into(),
                })?;
            }
            Err((i, bad)) => {
                // Number the line within the stream: the lines of the parts before it.
                let before: usize = parts[..i]
                    .iter()
                    .map(|p| memchr::memchr_iter(b'\n', p).count())
                    .sum();
                return Err(BadLine {
                    line: lines_before + before as u64 + bad.line,
                    what: bad.what,
                });
            }
        }
    }
    Ok(())
}

/// About `n` slices of `text`, each ending at a line break (the last at the text's end).
fn split_lines(text: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts = Vec::with_capacity(n);
    let mut rest = text;
    let size = text.len().div_ceil(n).max(1);
    while !rest.is_empty() {
        let cut = match memchr::memchr(b'\n', &rest[size.min(rest.len()) - 1..]) {
            Some(i) => size.min(rest.len()) + i,
            None => rest.len(),
        };
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    parts
}

/// Adds the lines of `text` into `table`; numbers lines from 1 within `text`.
fn parse_lines(text: &[u8], table: &mut CountTable) -> Result<Totals, BadLine> {
    let mut totals = Totals::default();
    for line in text.split_inclusive(|&b| b == b'\n') {
        totals.lines += 1;
        let bad = |what: &str| BadLine {
            line: totals.lines,
            what: what.to_string(),
        };
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let mut fields = line.split(|&b| b == b'\t');
        let (Some(word), Some(tf), Some(df), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad("expected word<TAB>tf<TAB>df"));
        };
        if word.is_empty() {
            return Err(bad("an empty word"));
        }
        if std::str::from_utf8(word).is_err() {
            return Err(bad("the word is not UTF-8"));
        }
        let (Some(tf), Some(df)) = (decimal(tf), decimal(df)) else {
            return Err(bad("tf and df must be decimal integers below 2^64"));
        };
        if df == 0 || df > tf {
            return Err(bad("expected 1 <= df <= tf"));
        }
        totals.tf = totals
            .tf
            .checked_add(tf)
            .ok_or_else(|| bad("the counts add up to more than 2^64 - 1"))?;
        totals.df += df; // df <= tf, so this cannot overflow where tf did not
        table.add_counts(word, tf, df);
    }
    Ok(totals)
}

/// A decimal integer of ASCII digits only (no sign, no spaces), or None.
fn decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    text.iter().try_fold(0u64, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count::finish;

    fn read(text: &[u8]) -> Result<Vec<(String, u64, u64)>, BadLine> {
        let shared = SharedTable::new();
        let mut totals = Totals::default();
        read_counts(&mut &text[..], &shared, &mut totals).unwrap()?;
        let counted = finish(shared);
        Ok(counted
            .ranked(1, None)
            .iter()
            .map(|w| (String::from_utf8(w.word.to_vec()).unwrap(), w.tf, w.df))
            .collect())
    }

    #[test]
    fn lines_merge_and_rank() {
        let got = read(b"b\t2\t1\na\t1\t1\nb\t3\t2\n\xc3\xa9t\xc3\xa9\t5\t5").unwrap();
        assert_eq!(
            got,
            [("b".into(), 5, 3), ("été".into(), 5, 5), ("a".into(), 1, 1)]
        );
        assert_eq!(read(b"").unwrap(), []);
    }

    #[test]
    fn malformed_lines_are_named() {
        for (text, line, what) in [
            (&b"a\t1\t1\nb\t1\n"[..], 2, "expected word"),
            (b"a\t1\t1\t1\n", 1, "expected word"),
            (b"a\t1\t1\n\n", 2, "expected word"),
            (b"\t1\t1\n", 1, "empty word"),
            (b"a\xff\t1\t1\n", 1, "not UTF-8"),
            (b"a\t1\t-1\n", 1, "decimal"),
            (b"a\t1 \t1\n", 1, "decimal"),
            (b"a\t18446744073709551616\t1\n", 1, "decimal"),
            (b"a\t1\t2\n", 1, "df <= tf"),
            (b"a\t0\t0\n", 1, "df <= tf"),
            (b"a\t1\t1\r\n", 1, "decimal"),
            (b"a\t18446744073709551615\t1\nb\t1\t1\n", 2, "2^64"),
        ] {
            let err = read(text).unwrap_err();
            assert_eq!(
                err.line,
                line,
                "{:?}: {err:?}",
                String::from_utf8_lossy(text)
            );
            assert!(err.what.contains(what), "{err:?}");
        }
    }

    /// Many parts and blocks: line numbers stay global, and the sums equal a map's.
    #[test]
    fn parts_and_blocks_keep_line_numbers_and_sums() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let mut text = Vec::new();
        for i in 0..200_000u64 {
            text.extend_from_slice(format!("w{}\t{}\t1\n", i % 1000, 1 + i % 3).as_bytes());
        }
        let good = pool.install(|| read(&text)).unwrap();
        assert_eq!(good.len(), 1000);
        assert_eq!(good.iter().map(|w| w.2).sum::<u64>(), 200_000);
        let mut bad = text.clone();
        bad.extend_from_slice(b"oops\n");
        bad.extend_from_slice(&text);
        let err = pool.install(|| read(&bad)).unwrap_err();
        assert_eq!(err.line, 200_001);
        assert_eq!(split_lines(b"a\nb\nc", 2), [&b"a\nb\n"[..], b"c"]);
        assert_eq!(split_lines(b"abc\n", 8), [&b"abc\n"[..]]);
    }
}
