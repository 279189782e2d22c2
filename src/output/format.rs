//! Which format the result is written in: TSV (the default), JSON lines, or a Parquet table
//! with cc-pyspark's schema. `--format` chooses; without it, the output's name does
//! (`.parquet`, `.jsonl`), and anything else is TSV. `--compression` is Parquet's only.

use std::io::{self, IsTerminal, Write};
use std::path::Path;

use super::parquet::write_parquet;
use super::text::{write_lines, Lines};
use crate::count::WordCount;
use crate::error::{Error, Result};

/// The result's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `word<TAB>tf<TAB>df` lines.
    Tsv,
    /// One JSON object per line: `{"key":WORD,"tf":N,"df":N}`.
    Jsonl,
    /// A Parquet table with cc-pyspark's word-count schema (key, val.tf, val.df).
    Parquet,
}

/// The compression of a Parquet table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    Gzip,
    Zstd,
    Snappy,
    None,
}

/// A resolved output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Tsv,
    Jsonl,
    Parquet(Compression),
}

impl OutputFormat {
    /// The format `--format` names, or the one `output`'s name implies; `--compression`
    /// must go with Parquet.
    pub fn resolve(
        format: Option<Format>,
        compression: Option<Compression>,
        output: Option<&Path>,
    ) -> Result<OutputFormat> {
        let named = || {
            let ext = output?.extension()?;
            if ext.eq_ignore_ascii_case("parquet") {
                Some(Format::Parquet)
            } else if ext.eq_ignore_ascii_case("jsonl") {
                Some(Format::Jsonl)
            } else {
                None
            }
        };
        match (format.or_else(named).unwrap_or(Format::Tsv), compression) {
            (Format::Parquet, c) => Ok(OutputFormat::Parquet(c.unwrap_or(Compression::Gzip))),
            (_, Some(_)) => Err(Error::Usage(
                "--compression applies to Parquet output only (--format parquet, or an \
                 output name ending in .parquet)"
                    .into(),
            )),
            (Format::Tsv, None) => Ok(OutputFormat::Tsv),
            (Format::Jsonl, None) => Ok(OutputFormat::Jsonl),
        }
    }

    /// The format's name, as `--format` spells it.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Tsv => "tsv",
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Parquet(_) => "parquet",
        }
    }

    /// Whether the format is binary (not for a terminal).
    pub fn is_binary(self) -> bool {
        matches!(self, OutputFormat::Parquet(_))
    }

    /// Writes the ranked words to `out` in this format.
    pub fn write<W: Write + Send>(self, mut out: W, words: &[WordCount<'_>]) -> io::Result<()> {
        match self {
            OutputFormat::Tsv => write_lines(&mut out, words, Lines::Tsv),
            OutputFormat::Jsonl => write_lines(&mut out, words, Lines::Jsonl),
            OutputFormat::Parquet(compression) => write_parquet(out, words, compression),
        }
    }

    /// Refuses to write a binary format to a terminal before any work is done.
    pub fn check_stdout(self) -> Result<()> {
        if self.is_binary() && io::stdout().is_terminal() {
            return Err(Error::Usage(format!(
                "refusing to write {} to a terminal: give --output FILE or redirect standard \
                 output",
                self.name()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_chooses_unless_format_is_given() {
        let resolve = |f, c, o: Option<&str>| OutputFormat::resolve(f, c, o.map(Path::new));
        assert_eq!(resolve(None, None, None).unwrap(), OutputFormat::Tsv);
        assert_eq!(
            resolve(None, None, Some("out/counts.PARQUET")).unwrap(),
            OutputFormat::Parquet(Compression::Gzip)
        );
        assert_eq!(
            resolve(None, None, Some("c.jsonl")).unwrap(),
            OutputFormat::Jsonl
        );
        assert_eq!(
            resolve(None, None, Some("c.tsv")).unwrap(),
            OutputFormat::Tsv
        );
        assert_eq!(
            resolve(Some(Format::Tsv), None, Some("c.parquet")).unwrap(),
            OutputFormat::Tsv
        );
        assert_eq!(
            resolve(Some(Format::Parquet), Some(Compression::Zstd), None).unwrap(),
            OutputFormat::Parquet(Compression::Zstd)
        );
        let err = resolve(None, Some(Compression::Snappy), Some("c.tsv")).unwrap_err();
        assert!(matches!(err, Error::Usage(_)), "{err}");
    }
}
