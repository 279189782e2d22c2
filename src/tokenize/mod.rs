//! Tokenizers: record bodies (`&[u8]`, any bytes) to lowercased words.
//!
//! Three definitions, selected with `--tokenizer` (the README repeats them):
//!
//! * `word` (default): maximal runs of Unicode word characters as UTS#18 `\w` defines them
//!   (Alphabetic, Mark, Decimal_Number, Connector_Punctuation, Join_Control), except that each
//!   Han or Hiragana character (`Script=Han`, `Script=Hiragana`) is a word by itself.
//! * `cc-pyspark`: maximal runs of `[\p{L}\p{N}_]`, the words of Common Crawl's PySpark
//!   word count.
//! * `uax29`: the words of `unicode-segmentation`'s `unicode_words()` (UAX #29), without
//!   the whitespace a segment can start with (see the `uax29` function).
//!
//! Every word is lowercased with `str::to_lowercase`. Invalid UTF-8 separates words exactly as
//! U+FFFD would. The run tokenizers classify text 64 bytes at a time with the widest vector
//! instructions the CPU has ([`lanes`]) and take pure-ASCII words straight from the bit masks
//! (`spans`); only stretches with non-ASCII bytes are decoded one character at a time
//! ([`utf8`]). Words go to the caller as slices of the body when they need no lowercasing,
//! else as a slice of a reused scratch buffer: nothing is allocated per word. The test suite
//! checks each tokenizer, on every lane, against a slow reference built on the `regex` crate.

pub mod classes;
pub mod lanes;
mod spans;
pub mod utf8;

use std::sync::OnceLock;

use unicode_segmentation::UnicodeSegmentation;

use classes::{ClassTable, ASCII_UPPER, ASCII_WORD, CLASS, LOWERS, RUN, SEP, SINGLE};
pub use lanes::Lane;
use lanes::Ready;

/// Which definition of a word to use.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum TokenizerKind {
    #[default]
    Word,
    CcPyspark,
    Uax29,
}

impl TokenizerKind {
    pub fn name(self) -> &'static str {
        match self {
            TokenizerKind::Word => "word",
            TokenizerKind::CcPyspark => "cc-pyspark",
            TokenizerKind::Uax29 => "uax29",
        }
    }
}

/// The `regex` class of characters that form runs in the `word` tokenizer.
pub const WORD_RUN_CLASS: &str = r"[\w--[\p{sc=Han}\p{sc=Hiragana}]]";
/// The `regex` class of characters that are words by themselves in the `word` tokenizer.
pub const WORD_SINGLE_CLASS: &str = r"[\w&&[\p{sc=Han}\p{sc=Hiragana}]]";
/// The `regex` class of characters that form runs in the `cc-pyspark` tokenizer.
pub const PYSPARK_RUN_CLASS: &str = r"[\p{L}\p{N}_]";

/// A ready-to-use tokenizer (its tables are built once per process and shared).
#[derive(Clone, Copy)]
pub struct Tokenizer {
    kind: TokenizerKind,
    table: Option<&'static ClassTable>,
    /// How blocks of text are classified (see [`lanes`]).
    lane: Ready,
}

impl Tokenizer {
    /// The tokenizer of `kind` on the fastest lane this CPU has (or the one `WETMR_LANE`
    /// forces).
    pub fn new(kind: TokenizerKind) -> Tokenizer {
        Tokenizer::on_lane(kind, Lane::detect())
    }

    /// The tokenizer of `kind` on `lane` (the scalar lane for tables that do not fit the
    /// vector lanes).
    pub fn on_lane(kind: TokenizerKind, lane: Ready) -> Tokenizer {
        static WORD: OnceLock<ClassTable> = OnceLock::new();
        static PYSPARK: OnceLock<ClassTable> = OnceLock::new();
        let table = match kind {
            TokenizerKind::Word => Some(
                WORD.get_or_init(|| ClassTable::build(WORD_RUN_CLASS, Some(WORD_SINGLE_CLASS))),
            ),
            TokenizerKind::CcPyspark => {
                Some(PYSPARK.get_or_init(|| ClassTable::build(PYSPARK_RUN_CLASS, None)))
            }
            TokenizerKind::Uax29 => None,
        };
        let lane = match table {
            Some(table) if !lanes::fits(table) => Ready::SCALAR,
            _ => lane,
        };
        Tokenizer { kind, table, lane }
    }

    pub fn kind(&self) -> TokenizerKind {
        self.kind
    }

    pub fn lane(&self) -> Lane {
        self.lane.lane()
    }

    /// Calls `emit` with each lowercased word of `text`, in order. `scratch` is working space
    /// reused between calls.
    #[inline]
    pub fn for_each_word<F: FnMut(&[u8])>(&self, text: &[u8], scratch: &mut Vec<u8>, emit: F) {
        match self.table {
            Some(table) => spans::scan(self.lane, table, text, scratch, emit),
            None => uax29(text, scratch, emit),
        }
    }
}

/// The run tokenizer shared by `word` and `cc-pyspark`, one character at a time: what
/// [`spans`] hands the spans that hold non-ASCII bytes.
fn runs<F: FnMut(&[u8])>(table: &ClassTable, text: &[u8], scratch: &mut Vec<u8>, mut emit: F) {
    let n = text.len();
    let mut i = 0;
    while i < n {
        let b = text[i];
        if b < 0x80 {
            let bits = table.ascii[b as usize];
            if bits & ASCII_WORD == 0 {
                i += 1;
                continue;
            }
            // ASCII fast lane: a word that starts with an ASCII word character.
            let start = i;
            let (end, upper) = ascii_word_end(table, text, i + 1);
            let upper = upper | bits;
            i = end;
            if i < n && text[i] >= 0x80 && class_at(table, text, i).0 & CLASS == RUN {
                let (end, lowers) = run_end(table, text, i);
                i = end;
                if upper & ASCII_UPPER == 0 && lowers == 0 {
                    emit(&text[start..i]);
                } else {
                    emit(lowercase(table, &text[start..i], scratch));
                }
            } else if upper & ASCII_UPPER == 0 {
                emit(&text[start..i]);
            } else {
                emit(ascii_lowercase(&text[start..i], scratch));
            }
        } else {
            let (bits, len) = class_at(table, text, i);
            match bits & CLASS {
                SEP => i += len,
                SINGLE => {
                    if bits & LOWERS == 0 {
                        emit(&text[i..i + len]);
                    } else {
                        emit(lowercase(table, &text[i..i + len], scratch));
                    }
                    i += len;
                }
                _ => {
                    let start = i;
                    let (end, lowers) = run_end(table, text, i + len);
                    i = end;
                    if (bits | lowers) & LOWERS == 0 {
                        emit(&text[start..i]);
                    } else {
                        emit(lowercase(table, &text[start..i], scratch));
                    }
                }
            }
        }
    }
}

/// The end of the run of ASCII word bytes starting at `i`, and `ASCII_UPPER` if one of them
/// is a capital.
#[inline(always)]
fn ascii_word_end(table: &ClassTable, text: &[u8], mut i: usize) -> (usize, u8) {
    let mut upper = 0u8;
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

/// Class bits (with `LOWERS`) and length of the (non-ASCII) character at `text[i]`;
/// invalid bytes are separators.
#[inline(always)]
fn class_at(table: &ClassTable, text: &[u8], i: usize) -> (u8, usize) {
    let (cp, len) = utf8::decode(text, i);
    if cp == utf8::INVALID {
        (SEP, 1)
    } else {
        (table.lookup(cp), len)
    }
}

/// The end of the run of `RUN` characters that continues at `i`, and `LOWERS` if any of
/// them (ASCII capitals included) changes when lowercased.
#[inline]
fn run_end(table: &ClassTable, text: &[u8], mut i: usize) -> (usize, u8) {
    let mut lowers = 0;
    while i < text.len() {
        let b = text[i];
        if b < 0x80 {
            let bits = table.ascii[b as usize];
            if bits & ASCII_WORD == 0 {
                break;
            }
            if bits & ASCII_UPPER != 0 {
                lowers = LOWERS;
            }
            i += 1;
        } else {
            let (bits, len) = class_at(table, text, i);
            if bits & CLASS != RUN {
                break;
            }
            lowers |= bits & LOWERS;
            i += len;
        }
    }
    (i, lowers)
}

/// Lowercases a word of `table`'s run or single characters (valid UTF-8) into `scratch`
/// and returns it: `str::to_lowercase`, with the Unicode case tables consulted only for the
/// characters the class table marks as changing (`LOWERS`), not for every character.
fn lowercase<'s>(table: &ClassTable, word: &[u8], scratch: &'s mut Vec<u8>) -> &'s [u8] {
    scratch.clear();
    // A capital sigma's lowercase depends on its neighbours: `str::to_lowercase` decides.
    if word.windows(2).any(|w| w == "Σ".as_bytes()) {
        scratch.extend_from_slice(String::from_utf8_lossy(word).to_lowercase().as_bytes());
        return scratch;
    }
    let mut i = 0;
    while let Some(&b) = word.get(i) {
        if b < 0x80 {
            scratch.push(b.to_ascii_lowercase());
            i += 1;
            continue;
        }
        let (cp, len) = utf8::decode(word, i);
        match char::from_u32(cp) {
            Some(c) if table.lookup(cp) & LOWERS != 0 => push_char_lowercase(c, scratch),
            // Unchanged (an invalid byte is unreachable: words hold valid characters only).
            _ => scratch.extend_from_slice(&word[i..i + len]),
        }
        i += len;
    }
    scratch
}

/// Appends `str::to_lowercase(word)` to `out` without allocating (except for words with a
/// capital sigma, whose lowercase depends on context and is left to `str::to_lowercase`).
pub fn push_lowercase(word: &str, out: &mut Vec<u8>) {
    if word.contains('Σ') {
        out.extend_from_slice(word.to_lowercase().as_bytes());
        return;
    }
    for c in word.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase() as u8);
        } else {
            push_char_lowercase(c, out);
        }
    }
}

/// Appends the UTF-8 of `c.to_lowercase()` to `out`.
fn push_char_lowercase(c: char, out: &mut Vec<u8>) {
    for lower in c.to_lowercase() {
        out.extend_from_slice(lower.encode_utf8(&mut [0; 4]).as_bytes());
    }
}

/// Lowercases an ASCII word into `scratch` and returns it.
fn ascii_lowercase<'s>(word: &[u8], scratch: &'s mut Vec<u8>) -> &'s [u8] {
    scratch.clear();
    scratch.extend(word.iter().map(u8::to_ascii_lowercase));
    scratch
}

/// The `uax29` tokenizer. A UAX #29 segment can start with whitespace: a combining mark
/// after a space or a tab extends it (rule WB4), and a mark that is alphabetic makes the
/// segment a "word" (`"\t\u{903}"`). Words never hold whitespace here (TSV and the
/// map/reduce streams rely on it), so such a segment's whitespace is dropped and what is
/// left is a word if it still has a letter or digit.
fn uax29<F: FnMut(&[u8])>(text: &[u8], scratch: &mut Vec<u8>, mut emit: F) {
    // Borrowed (no copy) when the body is valid UTF-8, the usual case.
    let text = String::from_utf8_lossy(text);
    let pieces = text.unicode_words().flat_map(|segment| {
        segment
            .split(char::is_whitespace)
            .filter(|piece| piece.chars().any(char::is_alphanumeric))
    });
    for word in pieces {
        if word.bytes().any(|b| b >= 0x80 || b.is_ascii_uppercase()) {
            scratch.clear();
            push_lowercase(word, scratch);
            emit(scratch);
        } else {
            emit(word.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(kind: TokenizerKind, text: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        Tokenizer::new(kind).for_each_word(text, &mut Vec::new(), |w| {
            out.push(String::from_utf8(w.to_vec()).unwrap())
        });
        out
    }

    #[test]
    fn word_basics() {
        let got = words(TokenizerKind::Word, "Hello, World! foo_bar x2".as_bytes());
        assert_eq!(got, ["hello", "world", "foo_bar", "x2"]);
    }

    #[test]
    fn han_and_hiragana_stand_alone_katakana_does_not() {
        let got = words(TokenizerKind::Word, "東京はカタカナabc漢".as_bytes());
        assert_eq!(got, ["東", "京", "は", "カタカナabc", "漢"]);
    }

    #[test]
    fn final_sigma_and_dotted_i() {
        let got = words(TokenizerKind::Word, "ΟΔΟΣ İstanbul".as_bytes());
        assert_eq!(got, ["οδος", "i\u{307}stanbul"]);
    }

    #[test]
    fn invalid_utf8_separates() {
        let got = words(TokenizerKind::Word, b"ab\xffcd\xe2\x82ef");
        assert_eq!(got, ["ab", "cd", "ef"]);
    }

    #[test]
    fn pyspark_splits_at_marks() {
        // U+093F DEVANAGARI VOWEL SIGN I is a Mark: \w has it, [\p{L}\p{N}_] does not.
        let text = "हिन्दी".as_bytes();
        assert_eq!(words(TokenizerKind::Word, text), ["हिन्दी"]);
        assert!(words(TokenizerKind::CcPyspark, text).len() > 1);
    }

    #[test]
    fn uax29_keeps_apostrophes() {
        let got = words(TokenizerKind::Uax29, "Can't STOP 3.14".as_bytes());
        assert_eq!(got, ["can't", "stop", "3.14"]);
    }
}
