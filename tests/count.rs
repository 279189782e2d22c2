//! `wetmr count` end to end against an independent slow count (tests/common/reference.rs)
//! on generated corpora: plain, one gzip member per record, one gzip stream; one and many
//! threads; one and several files; files forced into many chunks; and files built to contain
//! false split points, which must not change a single count.

mod common;

use std::path::{Path, PathBuf};

use common::{reference, stdout, wetgen, wetmr};

fn expected(tokenizer: &str, files: &[PathBuf], min_count: u64, top: Option<usize>) -> String {
    let data: Vec<Vec<u8>> = files.iter().map(|f| reference::read_wet(f)).collect();
    let bodies = data.iter().flat_map(|d| reference::conversion_bodies(d));
    reference::expected_tsv(tokenizer, bodies, min_count, top)
}

fn count(files: &[PathBuf], extra: &[&str]) -> String {
    let mut args = vec!["count", "--quiet"];
    args.extend_from_slice(extra);
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let out = wetmr(&args, &[]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    stdout(&out)
}

#[test]
fn generated_corpora_match_the_slow_count() {
    let dir = tempfile::tempdir().unwrap();
    let plain = wetgen(dir.path(), "a.warc.wet", "1500KB", 11, &[]);
    let members = wetgen(dir.path(), "b.warc.wet.gz", "1500KB", 12, &["--gzip"]);
    let stream = wetgen(
        dir.path(),
        "c.warc.wet.gz",
        "800KB",
        13,
        &["--gzip", "--single-stream"],
    );
    for files in [
        vec![plain.clone()],
        vec![members.clone()],
        vec![stream.clone()],
        vec![
            plain.clone(),
            members.clone(),
            stream.clone(),
            plain.clone(),
        ],
    ] {
        let want = expected("word", &files, 1, None);
        assert!(want.lines().count() > 1000);
        for threads in ["1", "2", "5"] {
            for (split, spill) in [
                (None, None),
                (Some("30000"), None),
                (Some("30000"), Some("300")),
            ] {
                let mut extra = vec!["--threads", threads];
                if let Some(split) = split {
                    extra.extend(["--split-bytes", split]);
                }
                if let Some(spill) = spill {
                    // Tiny thread tables: spilled into the shared table after most records.
                    extra.extend(["--spill-at", spill]);
                }
                assert_eq!(count(&files, &extra), want, "{files:?} {extra:?}");
            }
        }
    }
}

#[test]
fn every_tokenizer_top_and_min_count() {
    let dir = tempfile::tempdir().unwrap();
    let file = wetgen(dir.path(), "t.warc.wet.gz", "600KB", 21, &["--gzip"]);
    let files = [file];
    for tokenizer in ["word", "cc-pyspark", "uax29"] {
        assert_eq!(
            count(
                &files,
                &["--tokenizer", tokenizer, "--split-bytes", "20000"]
            ),
            expected(tokenizer, &files, 1, None),
            "{tokenizer}"
        );
    }
    assert_eq!(
        count(&files, &["--top", "25"]),
        expected("word", &files, 1, Some(25))
    );
    assert_eq!(
        count(&files, &["--min-count", "7"]),
        expected("word", &files, 7, None)
    );
}

#[test]
fn the_web_profile_is_denser_in_new_words_and_counted_alike() {
    let dir = tempfile::tempdir().unwrap();
    let zipf = wetgen(dir.path(), "z.warc.wet", "4MB", 14, &[]);
    let web = wetgen(
        dir.path(),
        "w.warc.wet.gz",
        "4MB",
        14,
        &["--gzip", "--profile", "web"],
    );
    // (distinct words, tokens) of the slow count.
    let figures = |tsv: &str| {
        let tokens: u64 = tsv
            .lines()
            .map(|l| l.split('\t').nth(1).unwrap().parse::<u64>().unwrap())
            .sum();
        (tsv.lines().count() as f64, tokens as f64)
    };
    let want = expected("word", std::slice::from_ref(&web), 1, None);
    let (web_words, web_tokens) = figures(&want);
    let (zipf_words, zipf_tokens) = figures(&expected("word", &[zipf], 1, None));
    let (web_density, zipf_density) = (web_words / web_tokens, zipf_words / zipf_tokens);
    assert!(
        web_density > 1.2 * zipf_density,
        "new words per token: web {web_density:.3}, zipf {zipf_density:.3}"
    );
    for threads in ["1", "2"] {
        let extra = [
            "--threads",
            threads,
            "--split-bytes",
            "300000",
            "--spill-at",
            "500",
        ];
        assert_eq!(count(std::slice::from_ref(&web), &extra), want, "{extra:?}");
    }
}

/// The whole engine gives the slow count's result on every tokenizer lane this CPU has
/// (`WETMR_LANE` forces a slower lane than the one detected).
#[test]
fn every_tokenizer_lane_counts_alike() {
    let dir = tempfile::tempdir().unwrap();
    let web = wetgen(dir.path(), "w.warc.wet", "2MB", 5, &["--profile", "web"]);
    for tokenizer in ["word", "cc-pyspark"] {
        let want = expected(tokenizer, std::slice::from_ref(&web), 1, None);
        for lane in wetmr::tokenize::Lane::ALL {
            if !lane.available() {
                eprintln!("lane {} skipped: this CPU does not have it", lane.name());
                continue;
            }
            let path = web.display().to_string();
            let args = ["count", "--quiet", "--tokenizer", tokenizer, &path];
            let out = wetmr(&args, &[("WETMR_LANE", lane.name())]);
            assert!(out.status.success(), "{}", common::stderr(&out));
            assert_eq!(
                stdout(&out),
                want,
                "{tokenizer} on the {} lane",
                lane.name()
            );
        }
    }
}

/// A WARC record as bytes.
fn record(kind: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "WARC/1.0\r\nWARC-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// Records whose bodies quote whole WARC records, and (stored, uncompressed) gzip members of
/// WARC records: exactly what the split planner takes for record starts.
fn decoy_records() -> Vec<Vec<u8>> {
    let mut records = vec![record("warcinfo", b"software: test\r\n")];
    for i in 0..60 {
        let quoted = record("conversion", format!("quoted words {i} DECOY").as_bytes());
        let mut body = format!("Page {i} explains the WARC format:\n").into_bytes();
        body.extend_from_slice(&quoted);
        // A gzip member inside the body: with stored blocks it appears verbatim in the file.
        body.extend_from_slice(&common::gzip(&quoted, flate2::Compression::none()));
        body.extend_from_slice(format!("\nthe end of page {i}, plain words here\n").as_bytes());
        body.extend_from_slice(&quoted);
        records.push(record("conversion", &body));
    }
    records
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn false_split_points_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let records = decoy_records();
    let plain = write_file(dir.path(), "decoy.warc.wet", &records.concat());
    let stored: Vec<u8> = records
        .iter()
        .flat_map(|r| common::gzip(r, flate2::Compression::none()))
        .collect();
    let gz = write_file(dir.path(), "decoy.warc.wet.gz", &stored);
    for file in [plain, gz] {
        let files = [file.clone()];
        let want = expected("word", &files, 1, None);
        assert!(want.contains("decoy\t"), "decoys are counted as text");
        let stats = dir.path().join("stats.json");
        for split in ["200", "700", "3000"] {
            let got = count(
                &files,
                &[
                    "--threads",
                    "2",
                    "--split-bytes",
                    split,
                    "--stats",
                    stats.to_str().unwrap(),
                ],
            );
            assert_eq!(got, want, "{file:?} split {split}");
        }
        // The planner did fall for decoys, and the chain check threw them out.
        let stats: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
        let false_splits = stats["per_file"][0]["false_splits"].as_u64().unwrap();
        assert!(
            false_splits > 0,
            "no false split was exercised for {file:?}"
        );
    }
}

#[test]
fn directories_and_lists_give_the_same_counts() {
    let dir = tempfile::tempdir().unwrap();
    let a = wetgen(dir.path(), "a.warc.wet.gz", "300KB", 31, &["--gzip"]);
    let b = wetgen(dir.path(), "b.warc.wet", "300KB", 32, &[]);
    let want = expected("word", &[a.clone(), b.clone()], 1, None);
    assert_eq!(count(&[dir.path().to_path_buf()], &[]), want);
    let list = dir.path().join("fichiersWET.txt");
    std::fs::write(&list, "# inputs\n\na.warc.wet.gz\nb.warc.wet\n").unwrap();
    let base = dir.path().to_str().unwrap();
    assert_eq!(
        count(
            &[],
            &["--inputs", list.to_str().unwrap(), "--input-base", base]
        ),
        want
    );
}

/// `--content-type T` counts only the conversion records whose Content-Type is exactly T
/// (cc-pyspark's filter is `text/plain`): the slow count of those bodies alone is the
/// reference, locally and through a cluster (the job description carries the filter).
#[test]
fn content_type_counts_only_records_of_that_type() {
    let dir = tempfile::tempdir().unwrap();
    let typed = |content_type: Option<&str>, body: &str| {
        let header = content_type.map_or(String::new(), |t| format!("Content-Type:{t}\r\n"));
        let mut out = format!(
            "WARC/1.0\r\nWARC-Type: conversion\r\n{header}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body.as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out
    };
    let records = [
        (Some(" text/plain"), "plain words counted", true),
        (
            Some("text/plain; charset=UTF-8"),
            "charset words skipped",
            false,
        ),
        (None, "untyped words skipped", false),
        (
            Some("application/octet-stream"),
            "octet words skipped",
            false,
        ),
        (Some("text/plain  "), "trailing blanks counted too", true),
        (Some("Text/Plain"), "other case skipped", false),
    ];
    let mut wet = record("warcinfo", b"software: test\r\n");
    for _ in 0..50 {
        for (t, body, _) in records {
            wet.extend(typed(t, body));
        }
    }
    let path = dir.path().join("typed.warc.wet");
    std::fs::write(&path, &wet).unwrap();
    let kept: Vec<&[u8]> = (0..50)
        .flat_map(|_| records.iter().filter(|r| r.2).map(|r| r.1.as_bytes()))
        .collect();
    let want = reference::expected_tsv("word", kept, 1, None);
    let filter = ["--content-type", "text/plain"];
    assert_eq!(count(std::slice::from_ref(&path), &filter), want);
    let split = [
        "--content-type",
        "text/plain",
        "--threads",
        "3",
        "--split-bytes",
        "300",
    ];
    assert_eq!(count(std::slice::from_ref(&path), &split), want);
    let out = wetmr(
        &[
            "cluster",
            "-q",
            "--workers",
            "2",
            "--content-type",
            "text/plain",
            path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(stdout(&out), want);
    // Without the filter every conversion record counts.
    let all: Vec<&[u8]> = (0..50)
        .flat_map(|_| records.iter().map(|r| r.1.as_bytes()))
        .collect();
    let everything = reference::expected_tsv("word", all, 1, None);
    assert_eq!(count(&[path], &[]), everything);
}

/// Records and tokens by language in the stats, against the slow count of each record's
/// first `WARC-Identified-Content-Language` code: on files split into many chunks (false
/// split points included), with and without the header, and the same through a cluster.
#[test]
fn languages_are_tallied_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![
        wetgen(
            dir.path(),
            "l1.warc.wet.gz",
            "2MB",
            61,
            &["--gzip", "--profile", "web"],
        ),
        wetgen(dir.path(), "l2.warc.wet", "2MB", 62, &[]),
    ];
    // Records without the header, with two codes, and with an unusable one.
    let mut odd = Vec::new();
    for (i, header) in [
        "",
        "WARC-Identified-Content-Language: fra,eng\r\n",
        "WARC-Identified-Content-Language: ???\r\n",
    ]
    .iter()
    .enumerate()
    {
        let body = format!("mots {i} de plus encore");
        odd.extend_from_slice(
            format!(
                "WARC/1.0\r\nWARC-Type: conversion\r\n{header}Content-Length: {}\r\n\r\n{body}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
    }
    files.push(write_file(dir.path(), "odd.warc.wet", &odd));

    let mut want = std::collections::BTreeMap::<String, (u64, u64)>::new();
    for file in &files {
        let data = reference::read_wet(file);
        for (language, body) in reference::conversion_records(&data) {
            let name = match language {
                None => "(none)".to_string(),
                Some(code)
                    if !code.is_empty()
                        && code.len() <= 8
                        && code.bytes().all(|b| b.is_ascii_alphanumeric()) =>
                {
                    code
                }
                Some(_) => "(invalid)".to_string(),
            };
            let entry = want.entry(name).or_default();
            entry.0 += 1;
            entry.1 += reference::words("word", body).len() as u64;
        }
    }
    assert!(want.len() >= 5, "{want:?}");
    let stats_path = dir.path().join("stats.json");
    let languages = |command: &[&str]| {
        let mut args = command.to_vec();
        args.extend([
            "--quiet",
            "--stats",
            stats_path.to_str().unwrap(),
            "-o",
            "/dev/null",
        ]);
        let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        args.extend(paths.iter().map(String::as_str));
        let out = wetmr(&args, &[]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let stats: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&stats_path).unwrap()).unwrap();
        let got: std::collections::BTreeMap<String, (u64, u64)> =
            (stats["languages"].as_array().unwrap().iter())
                .map(|l| {
                    let n = |k: &str| l[k].as_u64().unwrap();
                    (
                        l["language"].as_str().unwrap().to_string(),
                        (n("records"), n("tokens")),
                    )
                })
                .collect();
        got
    };
    assert_eq!(
        languages(&["count", "--threads", "2", "--split-bytes", "40000"]),
        want
    );
    assert_eq!(languages(&["count", "--threads", "1"]), want);
    assert_eq!(
        languages(&["cluster", "--workers", "2", "--threads", "1"]),
        want
    );
}
