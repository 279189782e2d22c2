//! Real Common Crawl files and real damaged WET files from `../shared/data` (skipped, and
//! said so, when that folder is absent). Expected outcomes follow its README: odd but
//! readable files are counted without error; damaged files fail with a one-line error naming
//! the file and an offset, writing nothing, unless `--skip-bad-input` is given, in which case
//! every intact record is counted and the damage reported.

mod common;

use std::io::Read;

use common::{reference, shared_data, stderr, stdout, wetmr};

fn stats_of(args: &[&str]) -> (std::process::Output, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("s.json");
    let mut all = args.to_vec();
    all.extend(["--stats", stats.to_str().unwrap()]);
    let out = wetmr(&all, &[]);
    let json = std::fs::read_to_string(&stats)
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (out, json)
}

#[test]
fn real_records_are_counted_exactly() {
    let Some(data) = shared_data() else { return };
    for name in ["whirlwind.warc.wet.gz", "real_cc_records.warc.wet.gz"] {
        let path = data.join("real").join(name);
        let bytes = reference::read_wet(&path);
        let bodies = reference::conversion_bodies(&bytes);
        assert!(!bodies.is_empty());
        for tokenizer in ["word", "cc-pyspark", "uax29"] {
            let want = reference::expected_tsv(tokenizer, bodies.iter().copied(), 1, None);
            let out = wetmr(
                &[
                    "count",
                    "-q",
                    "--tokenizer",
                    tokenizer,
                    "--split-bytes",
                    "50000",
                    path.to_str().unwrap(),
                ],
                &[],
            );
            assert!(out.status.success(), "{name}: {}", stderr(&out));
            assert_eq!(stdout(&out), want, "{name} with {tokenizer}");
        }
    }
}

/// Odd but readable files and their number of conversion records (from the data's README).
const READABLE: &[(&str, u64)] = &[
    ("filter_test_1.wet.gz", 25),
    ("fragment3.wet.gz", 5),
    ("corrupt_starts_with_conversion.wet.gz", 5),
    ("corrupt_two_warcinfo.wet.gz", 5),
    ("corrupt_warcinfo_1.wet.gz", 5),
    ("corrupt_warcconversion_1.wet.gz", 5),
    ("corrupt_warcconversion_2.wet.gz", 1),
];

#[test]
fn odd_but_readable_files_are_counted() {
    let Some(data) = shared_data() else { return };
    for &(name, conversions) in READABLE {
        let path = data.join("damaged").join(name);
        let want = reference::expected_tsv(
            "word",
            reference::conversion_bodies(&reference::read_wet(&path)),
            1,
            None,
        );
        for skip in [false, true] {
            let mut args = vec!["count", "-q", path.to_str().unwrap()];
            if skip {
                args.push("--skip-bad-input");
            }
            let (out, stats) = stats_of(&args);
            assert!(out.status.success(), "{name}: {}", stderr(&out));
            assert_eq!(stdout(&out), want, "{name}");
            assert_eq!(stats["conversion_records"], conversions, "{name}");
            assert_eq!(stats["per_file"][0]["skipped"].as_array().unwrap().len(), 0);
        }
    }
}

/// Damaged files, and how many conversion records in each are intact (before the damage,
/// or found again after it).
const DAMAGED: &[(&str, u64)] = &[
    // 17 members, the last cut short: 16 whole records, the first a warcinfo.
    ("appended_zip_fragment_unexpected_eof.wet.gz", 15),
    // A response-record WARC cut inside its only record.
    ("clipped.warc.gz", 0),
    // The last record is shorter than its Content-Length.
    ("fragment1_incomplete_last.wet.gz", 1),
    // Record 2's body is 48 bytes shorter than its Content-Length; record 3 is cut.
    ("fragment1_asthma_incomplete_last.wet.gz", 0),
    // Starts inside a body; one whole record follows, then a cut one.
    ("fragment2_no_header.wet.gz", 1),
    // LF line endings: the warcinfo's Content-Length (counted with CRLF) overruns.
    ("file_headers_only.wet.gz", 0),
    ("file_and_wet_headers_only.wet.gz", 0),
];

#[test]
fn damaged_files_fail_cleanly_by_default() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.tsv");
    std::fs::write(&output, "previous result\n").unwrap();
    for &(name, _) in DAMAGED {
        let path = data.join("damaged").join(name);
        for args in [
            vec!["count", path.to_str().unwrap()],
            vec![
                "count",
                path.to_str().unwrap(),
                "-o",
                output.to_str().unwrap(),
            ],
        ] {
            let out = wetmr(&args, &[]);
            assert_eq!(out.status.code(), Some(2), "{name}");
            assert!(out.stdout.is_empty(), "{name}: no output on failure");
            let err = stderr(&out);
            assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
            assert!(
                err.contains(name) && err.contains("offset"),
                "{name}: {err}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(&output).unwrap(),
            "previous result\n",
            "{name}: an older output stays intact"
        );
    }
}

#[test]
fn damaged_files_are_skipped_on_request() {
    let Some(data) = shared_data() else { return };
    for &(name, intact) in DAMAGED {
        let path = data.join("damaged").join(name);
        // With an intact file after it: a job that counts nothing at all fails (below).
        let intact_file = data.join("real/whirlwind.warc.wet.gz");
        for threads in ["1", "2"] {
            let (out, stats) = stats_of(&[
                "count",
                "--skip-bad-input",
                "--threads",
                threads,
                "--split-bytes",
                "2000",
                path.to_str().unwrap(),
                intact_file.to_str().unwrap(),
            ]);
            assert!(out.status.success(), "{name}: {}", stderr(&out));
            assert_eq!(stats["per_file"][0]["conversion_records"], intact, "{name}");
            let skipped = stats["per_file"][0]["skipped"].as_array().unwrap();
            assert!(!skipped.is_empty(), "{name}: damage is reported");
            assert!(stderr(&out).contains("skipped"), "{name}");
        }
    }
}

/// The intact members of a file whose last gzip member is cut: decoded one by one with an
/// independent decoder, their records are exactly what `--skip-bad-input` counts.
#[test]
fn truncated_gzip_counts_every_whole_member() {
    let Some(data) = shared_data() else { return };
    let path = data
        .join("damaged")
        .join("appended_zip_fragment_unexpected_eof.wet.gz");
    let raw = std::fs::read(&path).unwrap();
    let mut whole = Vec::new();
    let mut rest = &raw[..];
    loop {
        let mut decoder = flate2::bufread::GzDecoder::new(rest);
        let mut member = Vec::new();
        if decoder.read_to_end(&mut member).is_err() {
            break;
        }
        whole.extend(member);
        rest = decoder.into_inner();
        if rest.is_empty() {
            break;
        }
    }
    let want = reference::expected_tsv("word", reference::conversion_bodies(&whole), 1, None);
    let out = wetmr(
        &["count", "-q", "--skip-bad-input", path.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success());
    assert_eq!(stdout(&out), want);
}

#[test]
fn a_bad_file_among_good_ones_fails_the_run_or_is_skipped() {
    let Some(data) = shared_data() else { return };
    let good = data.join("real/whirlwind.warc.wet.gz");
    let bad = data.join("damaged/fragment2_no_header.wet.gz");
    let args = |skip: bool| {
        let mut a = vec!["count", "-q", good.to_str().unwrap(), bad.to_str().unwrap()];
        if skip {
            a.push("--skip-bad-input");
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let strict = wetmr(
        &args(false).iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(strict.status.code(), Some(2));
    assert!(stderr(&strict).contains("fragment2_no_header"));
    let skip = wetmr(
        &args(true).iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    );
    assert!(skip.status.success());
    let good_only = wetmr(&["count", "-q", good.to_str().unwrap()], &[]);
    assert!(stdout(&skip).len() > stdout(&good_only).len());
}
