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

/// `wetmr count` under an address-space limit of `mb` MB.
fn count_limited(mb: u64, args: &[&str]) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wetmr"));
    cmd.arg("count").args(args);
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit,
    // which is async-signal-safe, on a value of its own.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: mb << 20,
                rlim_max: mb << 20,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[test]
fn running_out_of_memory_is_a_resource_error_not_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let plain = common::wetgen(dir.path(), "big.warc.wet", "60MB", 9, &[]);
    let gz = common::wetgen(dir.path(), "big.warc.wet.gz", "20MB", 9, &["--gzip"]);
    let output = dir.path().join("out.tsv");
    let mut failed = 0;
    // From too little to start, through too little to map or to count, to enough.
    for mb in [30, 60, 90, 120, 160, 200, 260, 400, 4000] {
        for input in [&plain, &gz] {
            std::fs::write(&output, "older\n").unwrap();
            let args = [
                "-q",
                "--threads",
                "2",
                input.to_str().unwrap(),
                "-o",
                output.to_str().unwrap(),
            ];
            let out = count_limited(mb, &args);
            let err = stderr(&out);
            match out.status.code() {
                Some(0) => continue,
                Some(5) => {
                    failed += 1;
                    assert!(
                        err.starts_with("wetmr: error: out of resources"),
                        "{mb} MB: {err}"
                    );
                    assert_eq!(err.lines().count(), 1, "{mb} MB: {err}");
                    let kept = std::fs::read_to_string(&output).unwrap() == "older\n";
                    assert!(kept, "{mb} MB: the older output was replaced");
                }
                other => panic!("{mb} MB: exit {other:?}: {err}"),
            }
        }
    }
    assert!(failed > 0, "no limit was low enough to fail");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 3, "something was left behind");
}

#[test]
fn thread_counts_are_bounded() {
    let out = wetmr(
        &[
            "count",
            "--threads",
            "100000",
            concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample.warc.wet"),
        ],
        &[],
    );
    common::assert_exit(&out, 1, &["at most"]);
}
