//! The result format: `word<TAB>tf<TAB>df` lines, in ranked order.
//!
//! Words never contain tabs or line breaks (those are separators for every tokenizer), so
//! the format needs no escaping.

use std::io::{self, Write};

use rayon::prelude::*;

use crate::count::{prefetched, WordCount};

/// Words formatted by one task.
const CHUNK: usize = 16 << 10;
/// Chunks formatted ahead of the writer, per thread of the pool: the memory the formatted
/// text takes is bounded by this window, not by the vocabulary.
const CHUNKS_PER_THREAD: usize = 4;

/// Writes the ranked words as TSV lines. The lines are formatted on the current rayon pool,
/// a window of chunks at a time, and written in order: a million-word result is not a
/// serial tail of small copies.
pub fn write_tsv(out: &mut impl Write, words: &[WordCount<'_>]) -> io::Result<()> {
    let window = CHUNK * CHUNKS_PER_THREAD * rayon::current_num_threads().max(1);
    for part in words.chunks(window) {
        let texts: Vec<Vec<u8>> = part.par_chunks(CHUNK).map(lines).collect();
        for text in &texts {
            out.write_all(text)?;
        }
    }
    Ok(())
}

/// The TSV lines of `words`.
fn lines(words: &[WordCount<'_>]) -> Vec<u8> {
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
