//! Resource bounds that hold for the whole process, whatever the input: decompression
//! bombs, thread counts, pipes and input lists. Each bound is the one the README states.

mod common;

use common::{stderr, wetmr};

/// A gzip member that claims a WARC record of `claimed` bytes and decodes to that many
/// (zeros after the header): a few hundred KB that expand past the largest record.
fn bomb(claimed: usize) -> Vec<u8> {
    use std::io::Write;
    let header = format!("WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: {claimed}\r\n\r\n");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(header.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..claimed >> 20 {
        enc.write_all(&zeros).unwrap();
    }
    enc.finish().unwrap()
}

#[test]
fn decompression_bombs_share_one_budget_for_the_process() {
    let dir = tempfile::tempdir().unwrap();
    // Larger than the largest record (256 MiB): each is damage, found once its window
    // reached the limit.
    let bytes = bomb(300 << 20);
    let mut args = vec!["count", "--skip-bad-input", "--threads", "6"];
    let paths: Vec<String> = (0..6)
        .map(|i| {
            let path = dir.path().join(format!("bomb{i}.warc.wet.gz"));
            std::fs::write(&path, &bytes).unwrap();
            path.display().to_string()
        })
        .collect();
    args.extend(paths.iter().map(String::as_str));
    // Something to count beside them (a job that counts nothing fails).
    args.push(concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample.warc.wet"));
    let stats = dir.path().join("stats.json");
    args.extend(["--stats", stats.to_str().unwrap(), "-o", "/dev/null"]);
    let out = wetmr(&args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stderr(&out)
            .matches("WARC record larger than 256 MiB")
            .count(),
        6,
        "{}",
        stderr(&out)
    );
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    let peak = stats["peak_rss_bytes"].as_u64().unwrap();
    // One large window at a time (256 MiB and its fill margin) plus 6 small ones (at most
    // 12 MiB each) and the program itself: six windows of 256 MiB would be 1.5 GiB.
    assert!(
        peak < 480 << 20,
        "peak RSS {} MiB with 6 bombs on 6 threads",
        peak >> 20
    );
}
