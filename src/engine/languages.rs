//! Records and tokens per language, from the `WARC-Identified-Content-Language` header
//! Common Crawl writes on conversion records (ISO 639-3 codes, the most likely first:
//! `eng` or `eng,fra`). A record counts under its first code. The tally is kept beside
//! the counters of each chunk (a short list searched linearly: a file holds a few dozen
//! languages), so its cost per record is a header name compared and a key packed.

use serde::Serialize;

/// Key of records without the header.
const NONE: u64 = 0;
/// Key of records whose header does not hold a language code.
const INVALID: u64 = 1;
/// Longest code kept (ISO 639 codes have 2 or 3 letters; a few extensions more).
const MAX_CODE: usize = 8;

/// One language's share, as the stats document and the report show it.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Serialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct LanguageShare {
    /// The code (`eng`), `(none)` for records without the header, or `(invalid)`.
    pub language: String,
    /// Conversion records counted.
    pub records: u64,
    pub tokens: u64,
}

/// Records and tokens by language key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Languages(Vec<(u64, u64, u64)>);

/// The key of a header value: its first code, lowercased, packed in a `u64`.
pub fn key(value: Option<&[u8]>) -> u64 {
    let Some(value) = value else { return NONE };
    let first = value.split(|&b| b == b',').next().unwrap_or(&[]);
    let first = first.trim_ascii();
    if first.is_empty() || first.len() > MAX_CODE || !first.iter().all(u8::is_ascii_alphanumeric) {
        return INVALID;
    }
    let mut packed = [0u8; 8];
    for (to, from) in packed.iter_mut().zip(first) {
        *to = from.to_ascii_lowercase();
    }
    u64::from_be_bytes(packed)
}

fn name(key: u64) -> String {
    match key {
        NONE => "(none)".into(),
        INVALID => "(invalid)".into(),
        _ => {
            let bytes = key.to_be_bytes();
            let len = bytes.iter().position(|&b| b == 0).unwrap_or(8);
            String::from_utf8_lossy(&bytes[..len]).into_owned()
        }
    }
}

impl Languages {
    /// A record of language `key` with `tokens` tokens.
    #[inline]
    pub fn add(&mut self, key: u64, tokens: u64) {
        self.add_records(key, 1, tokens);
    }

    pub fn merge(&mut self, other: &Languages) {
        for &(key, records, tokens) in &other.0 {
            self.add_records(key, records, tokens);
        }
    }

    #[inline]
    fn add_records(&mut self, key: u64, records: u64, tokens: u64) {
        match self.0.iter_mut().find(|e| e.0 == key) {
            Some(entry) => {
                entry.1 += records;
                entry.2 += tokens;
            }
            None => self.0.push((key, records, tokens)),
        }
    }

    /// The shares, most tokens first (then by code).
    pub fn shares(&self) -> Vec<LanguageShare> {
        let mut shares: Vec<LanguageShare> = (self.0.iter())
            .map(|&(key, records, tokens)| LanguageShare {
                language: name(key),
                records,
                tokens,
            })
            .collect();
        sort(&mut shares);
        shares
    }
}

/// Most tokens first, then by code.
fn sort(shares: &mut [LanguageShare]) {
    shares.sort_by(|a, b| {
        (b.tokens, b.records, &a.language).cmp(&(a.tokens, a.records, &b.language))
    });
}

/// The shares of several files added up.
pub fn total<'a>(files: impl IntoIterator<Item = &'a [LanguageShare]>) -> Vec<LanguageShare> {
    let mut by_name = std::collections::BTreeMap::<&str, (u64, u64)>::new();
    for shares in files {
        for share in shares {
            let entry = by_name.entry(&share.language).or_default();
            entry.0 += share.records;
            entry.1 += share.tokens;
        }
    }
    let mut shares: Vec<LanguageShare> = (by_name.into_iter())
        .map(|(language, (records, tokens))| LanguageShare {
            language: language.to_string(),
            records,
            tokens,
        })
        .collect();
    sort(&mut shares);
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_counts_under_its_first_code() {
        assert_eq!(name(key(Some(b"eng"))), "eng");
        assert_eq!(name(key(Some(b" ENG,fra,deu "))), "eng");
        assert_eq!(name(key(Some(b"zho"))), "zho");
        assert_eq!(name(key(None)), "(none)");
        for bad in [&b""[..], b",eng", b"e n", b"toolongcode", "ελλ".as_bytes()] {
            assert_eq!(name(key(Some(bad))), "(invalid)", "{bad:?}");
        }
    }

    #[test]
    fn tallies_add_up_in_any_grouping() {
        let mut a = Languages::default();
        a.add(key(Some(b"eng")), 10);
        a.add(key(Some(b"deu")), 5);
        a.add(key(Some(b"eng")), 1);
        let mut b = Languages::default();
        b.add(key(None), 7);
        b.merge(&a);
        let shares = b.shares();
        let view: Vec<(&str, u64, u64)> = (shares.iter())
            .map(|s| (s.language.as_str(), s.records, s.tokens))
            .collect();
        assert_eq!(view, [("eng", 2, 11), ("(none)", 1, 7), ("deu", 1, 5)]);
        let summed = total([&a.shares()[..], &b.shares()[..]]);
        assert_eq!(
            summed[0],
            LanguageShare {
                language: "eng".into(),
                records: 4,
                tokens: 22
            }
        );
    }
}
