//! Slow, obviously-correct references, independent of wetmr's own code paths:
//! tokenizers built on the `regex` crate, a WARC reader built on `flate2`'s multi-member
//! decoder and plain string searching, and a counter built on std maps.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::sync::OnceLock;

use regex::bytes::Regex;
use unicode_segmentation::UnicodeSegmentation;

/// The three tokenizer definitions, as the README states them.
pub fn words(tokenizer: &str, text: &[u8]) -> Vec<String> {
    let lower = |m: &[u8]| std::str::from_utf8(m).unwrap().to_lowercase();
    match tokenizer {
        "word" => {
            static RE: OnceLock<Regex> = OnceLock::new();
            let re = RE.get_or_init(|| {
                Regex::new(r"[\w&&[\p{sc=Han}\p{sc=Hiragana}]]|[\w--[\p{sc=Han}\p{sc=Hiragana}]]+")
                    .unwrap()
            });
            re.find_iter(text).map(|m| lower(m.as_bytes())).collect()
        }
        "cc-pyspark" => {
            static RE: OnceLock<Regex> = OnceLock::new();
            let re = RE.get_or_init(|| Regex::new(r"[\p{L}\p{N}_]+").unwrap());
            re.find_iter(text).map(|m| lower(m.as_bytes())).collect()
        }
        "uax29" => String::from_utf8_lossy(text)
            .unicode_words()
            .flat_map(|segment| segment.split(char::is_whitespace))
            .filter(|piece| piece.chars().any(char::is_alphanumeric))
            .map(str::to_lowercase)
            .collect(),
        other => panic!("unknown tokenizer {other}"),
    }
}

/// The decompressed bytes of a WET file (plain or gzip, all members).
pub fn read_wet(path: &std::path::Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    }
}

/// The bodies of the conversion records of well-formed WARC data.
pub fn conversion_bodies(data: &[u8]) -> Vec<&[u8]> {
    conversion_records(data)
        .into_iter()
        .map(|(_, body)| body)
        .collect()
}

/// The conversion records of well-formed WARC data: the first language code of each
/// (`WARC-Identified-Content-Language`, lowercased), and its body.
pub fn conversion_records(data: &[u8]) -> Vec<(Option<String>, &[u8])> {
    let language_re =
        Regex::new(r"(?im)^warc-identified-content-language:[ \t]*([^,\r\n]*)").unwrap();
    let length_re = Regex::new(r"(?im)^content-length:[ \t]*([0-9]+)[ \t]*\r?$").unwrap();
    let type_re = Regex::new(r"(?im)^warc-type:[ \t]*([^\r\n]*?)[ \t]*\r?$").unwrap();
    let header_end = Regex::new(r"\r?\n\r?\n").unwrap();
    let mut bodies = Vec::new();
    let mut pos = 0;
    loop {
        while pos < data.len() && (data[pos] == b'\r' || data[pos] == b'\n') {
            pos += 1;
        }
        if pos >= data.len() {
            return bodies;
        }
        assert!(data[pos..].starts_with(b"WARC/"), "record at {pos}");
        let end = header_end.find(&data[pos..]).expect("header end");
        let header = &data[pos..pos + end.start()];
        let body_start = pos + end.end();
        let len: usize = std::str::from_utf8(&length_re.captures(header).expect("length")[1])
            .unwrap()
            .parse()
            .unwrap();
        let kind = type_re.captures(header).map(|c| c[1].to_ascii_lowercase());
        if kind.as_deref() == Some(&b"conversion"[..]) {
            let language = language_re
                .captures(header)
                .map(|c| String::from_utf8_lossy(c[1].trim_ascii()).to_ascii_lowercase());
            bodies.push((language, &data[body_start..body_start + len]));
        }
        pos = body_start + len;
    }
}

/// The expected `word\ttf\tdf` output for `bodies`, sorted by tf descending then word bytes.
pub fn expected_tsv<'a>(
    tokenizer: &str,
    bodies: impl IntoIterator<Item = &'a [u8]>,
    min_count: u64,
    top: Option<usize>,
) -> String {
    expected_tsv_weighted(tokenizer, [(bodies, 1)], min_count, top)
}

/// The expected output for groups of bodies each counted `weight` times (a file named
/// that many times), without tokenizing the repeats.
pub fn expected_tsv_weighted<'a, B: IntoIterator<Item = &'a [u8]>>(
    tokenizer: &str,
    groups: impl IntoIterator<Item = (B, u64)>,
    min_count: u64,
    top: Option<usize>,
) -> String {
    let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (bodies, weight) in groups {
        for body in bodies {
            let mut seen = HashSet::new();
            for word in words(tokenizer, body) {
                let entry = counts.entry(word.clone()).or_default();
                entry.0 += weight;
                if seen.insert(word) {
                    entry.1 += weight;
                }
            }
        }
    }
    let mut rows: Vec<_> = counts
        .into_iter()
        .filter(|(_, (tf, _))| *tf >= min_count)
        .collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.as_bytes().cmp(b.0.as_bytes())));
    rows.truncate(top.unwrap_or(usize::MAX));
    rows.iter()
        .map(|(w, (tf, df))| format!("{w}\t{tf}\t{df}\n"))
        .collect()
}
