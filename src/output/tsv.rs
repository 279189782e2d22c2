//! The result format: `word<TAB>tf<TAB>df` lines, in ranked order.
//!
//! Words never contain tabs or line breaks (those are separators for every tokenizer), so
//! the format needs no escaping.

use std::io::{self, Write};

use crate::count::WordCount;

/// Writes the ranked words as TSV lines.
pub fn write_tsv(out: &mut impl Write, words: &[WordCount<'_>]) -> io::Result<()> {
    let mut num = itoa::Buffer::new();
    for w in words {
        out.write_all(w.word)?;
        out.write_all(b"\t")?;
        out.write_all(num.format(w.tf).as_bytes())?;
        out.write_all(b"\t")?;
        out.write_all(num.format(w.df).as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
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
}
