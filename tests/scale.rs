//! Crawl-sized jobs: more inputs than the kernel allows memory maps (`vm.max_map_count`,
//! 65,530 by default), through `count` and through a cluster, with exact counts. A list
//! that names a few small files many times over is a list of that many inputs (a file
//! named twice is counted twice), so these jobs cost little disk.

mod common;

use std::path::{Path, PathBuf};

use common::{reference, stderr, stdout, wetgen, wetmr};

/// A crawl's worth of inputs: more than `vm.max_map_count` allows maps.
const LINES: usize = 100_000;

/// Three small files (plain, gzip members, one gzip stream) and a list naming them
/// `lines` times in all, relative to `dir`; returns the list and the expected TSV.
fn crawl_list(dir: &Path, lines: usize) -> (PathBuf, String) {
    let files = [
        wetgen(dir, "a.warc.wet", "12KB", 1, &[]),
        wetgen(dir, "b.warc.wet.gz", "12KB", 2, &["--gzip"]),
        wetgen(
            dir,
            "c.warc.wet.gz",
            "12KB",
            3,
            &["--gzip", "--single-stream"],
        ),
    ];
    let data: Vec<Vec<u8>> = files.iter().map(|f| reference::read_wet(f)).collect();
    let names = ["a.warc.wet", "b.warc.wet.gz", "c.warc.wet.gz"];
    let mut list = String::from("# a crawl's worth of inputs\n");
    let mut times = [0u64; 3];
    for i in 0..lines {
        list.push_str(names[i % 3]);
        list.push('\n');
        times[i % 3] += 1;
    }
    let path = dir.join("wet.paths");
    std::fs::write(&path, list).unwrap();
    let groups = (0..3).map(|f| (reference::conversion_bodies(&data[f]), times[f]));
    (
        path,
        reference::expected_tsv_weighted("word", groups, 1, None),
    )
}

#[test]
fn a_list_longer_than_the_map_limit_is_counted_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (list, want) = crawl_list(dir.path(), LINES);
    let base = dir.path().to_str().unwrap();
    let out = wetmr(
        &[
            "count",
            "--inputs",
            list.to_str().unwrap(),
            "--input-base",
            base,
            "--threads",
            "2",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), want);
    assert!(
        stderr(&out).contains(&format!("{LINES} files")),
        "{}",
        stderr(&out)
    );
}

/// A crawl's worth of tasks through a cluster: the coordinator's work per task must not
/// grow with the number of tasks (it grew linearly, so the job quadratically: 70,000 tasks
/// took over 150 s of the coordinator's CPU). Tiny files, so that the protocol dominates.
#[test]
fn a_crawls_worth_of_tasks_runs_through_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = "WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 23\r\n\r\nla la land of the tasks\r\n\r\n";
    std::fs::write(dir.path().join("tiny.warc.wet"), tiny).unwrap();
    let list = dir.path().join("wet.paths");
    std::fs::write(&list, "tiny.warc.wet\n".repeat(LINES)).unwrap();
    let bodies = reference::conversion_bodies(tiny.as_bytes());
    let want = reference::expected_tsv_weighted("word", [(bodies, LINES as u64)], 1, None);
    let base = dir.path().to_str().unwrap();
    let out = wetmr(
        &[
            "cluster",
            "--workers",
            "3",
            "--threads",
            "1",
            "--inputs",
            list.to_str().unwrap(),
            "--input-base",
            base,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), want);
}
