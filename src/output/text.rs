//! The line formats of the result, one line per word in ranked order: TSV
//! (`word<TAB>tf<TAB>df`) and JSON lines (`{"key":…,"tf":…,"df":…}`, the names of
//! cc-pyspark's table).
//!
//! Words never contain tabs or line breaks (those are separators for every tokenizer), so
//! TSV needs no escaping. JSON escapes what it must (`"`, `\` and control characters) and
//! needs its words to be UTF-8: a word that is not is refused rather than written as
//! invalid JSON (the tokenizers never produce one; a word from elsewhere might).

use std::io::{self, Write};

use rayon::prelude::*;

use crate::count::{prefetched, WordCount};

/// Words formatted by one task.
const CHUNK: usize = 16 << 10;
/// Chunks formatted ahead of the writer, per thread of the pool: the memory the formatted
/// text takes is bounded by this window, not by the vocabulary.
const CHUNKS_PER_THREAD: usize = 4;

/// A line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    Tsv,
    Jsonl,
}

/// Writes the ranked words as TSV lines (see [`write_lines`]).
pub fn write_tsv(out: &mut impl Write, words: &[WordCount<'_>]) -> io::Result<()> {
    write_lines(out, words, Lines::Tsv)
}

/// Writes the ranked words as lines of `format`. The lines are formatted on the current
/// rayon pool, a window of chunks at a time, and written in order: a million-word result is
/// not a serial tail of small copies.
pub fn write_lines(out: &mut impl Write, words: &[WordCount<'_>], format: Lines) -> io::Result<()> {
    let window = CHUNK * CHUNKS_PER_THREAD * rayon::current_num_threads().max(1);
    for part in words.chunks(window) {
        let texts: Vec<io::Result<Vec<u8>>> = part
            .par_chunks(CHUNK)
            .map(|chunk| match format {
                Lines::Tsv => Ok(tsv_lines(chunk)),
                Lines::Jsonl => json_lines(chunk),
            })
            .collect();
        for text in texts {
            out.write_all(&text?)?;
        }
    }
    Ok(())
}

/// The TSV lines of `words`.
fn tsv_lines(words: &[WordCount<'_>]) -> Vec<u8> {
    let mut text = Vec::with_capacity(words.iter().map(|w| w.word.len() + 8).sum());
    let mut num = itoa::Buffer::new();
    for w in prefetched(words) {
        text.extend_from_slice(w.word);
        text.push(b'\t');
        text.extend_from_slice(num.format(w.tf).as_bytes());
        text.push(b'\t');
        text.extend_from_slice(num.format(w.df).as_bytes());
        text.push(b'\n');
    }
    text
}

/// The JSON lines of `words`; an error names the first word that is not UTF-8.
fn json_lines(words: &[WordCount<'_>]) -> io::Result<Vec<u8>> {
    let mut text = Vec::with_capacity(words.iter().map(|w| w.word.len() + 28).sum());
    let mut num = itoa::Buffer::new();
    for w in prefetched(words) {
        let word = std::str::from_utf8(w.word).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the word {:?} is not UTF-8: JSON cannot hold it",
                    String::from_utf8_lossy(w.word)
                ),
            )
        })?;
        text.extend_from_slice(b"{\"key\":\"");
        json_escaped(&mut text, word);
        text.extend_from_slice(b"\",\"tf\":");
        text.extend_from_slice(num.format(w.tf).as_bytes());
        text.extend_from_slice(b",\"df\":");
        text.extend_from_slice(num.format(w.df).as_bytes());
        text.extend_from_slice(b"}\n");
    }
    Ok(text)
}

/// Appends `s` with the escapes a JSON string needs (RFC 8259: quote, backslash, and the
/// control characters below U+0020); everything else is copied as UTF-8.
fn json_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let words = [
            WordCount {
                word: b"the",
                tf: 10,
                df: 3,
            },
            WordCount {
                word: "été".as_bytes(),
                tf: 1,
                df: 1,
            },
        ];
        let mut out = Vec::new();
        write_tsv(&mut out, &words).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "the\t10\t3\nété\t1\t1\n");
    }

    /// JSON lines, parsed back by serde_json (an independent reader): escapes, non-ASCII,
    /// and a word that is not UTF-8 refused.
    #[test]
    fn json_lines_parse_back() {
        let odd = [
            "the",
            "été",
            "a\"b",
            "back\\slash",
            "tab\tnl\ncr\r",
            "\u{1}\u{1f}",
            "日本",
        ];
        let words: Vec<WordCount<'_>> = odd
            .iter()
            .enumerate()
            .map(|(i, w)| WordCount {
                word: w.as_bytes(),
                tf: 10 + i as u64,
                df: u64::MAX - i as u64,
            })
            .collect();
        let mut out = Vec::new();
        write_lines(&mut out, &words, Lines::Jsonl).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), odd.len());
        for (line, w) in text.lines().zip(&words) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["key"].as_str().unwrap().as_bytes(), w.word, "{line}");
            assert_eq!(v["tf"].as_u64(), Some(w.tf));
            assert_eq!(v["df"].as_u64(), Some(w.df));
            assert_eq!(v.as_object().unwrap().len(), 3);
        }
        let bad = [WordCount {
            word: b"ab\xff",
            tf: 1,
            df: 1,
        }];
        let err = write_lines(&mut Vec::new(), &bad, Lines::Jsonl).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[test]
    fn many_chunks_come_out_in_order() {
        let words: Vec<Vec<u8>> = (0..3 * CHUNK + 7)
            .map(|i| format!("w{i}").into_bytes())
            .collect();
        let counts: Vec<WordCount<'_>> = (words.iter().enumerate())
            .map(|(i, word)| WordCount {
                word,
                tf: (3 * CHUNK + 7 - i) as u64,
                df: 1 + i as u64 % 5,
            })
            .collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let mut out = Vec::new();
        pool.install(|| write_tsv(&mut out, &counts)).unwrap();
        let want: String = (counts.iter())
            .map(|w| format!("{}\t{}\t{}\n", String::from_utf8_lossy(w.word), w.tf, w.df))
            .collect();
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}
