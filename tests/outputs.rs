//! Outputs are all or nothing: every file output is written in full before any replaces
//! its older version; outputs that would overwrite an input or each other are refused;
//! signals (SIGINT, SIGTERM, SIGHUP, SIGKILL) at any moment leave the older output or the
//! new one, and nothing else; modes are kept; a closed standard output is an error.

mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{assert_exit, stderr, wetgen, wetmr};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample.warc.wet.gz");

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_failing_stats_file_leaves_the_older_counts_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("counts.tsv");
    std::fs::write(&output, "older\n").unwrap();
    let stats = dir.path().join("missing/stats.json");
    let out = wetmr(
        &[
            "count",
            "-q",
            SAMPLE,
            "-o",
            path(&output),
            "--stats",
            path(&stats),
        ],
        &[],
    );
    assert_exit(&out, 3, &["stats.json"]);
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "older\n");
    assert_eq!(names(dir.path()), ["counts.tsv"]);
}

#[test]
fn outputs_that_would_overwrite_an_input_or_each_other_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.warc.wet.gz");
    std::fs::copy(SAMPLE, &input).unwrap();
    let original = std::fs::read(&input).unwrap();
    let list = dir.path().join("list.txt");
    std::fs::write(&list, format!("{}\n", path(&input))).unwrap();
    let link = dir.path().join("link.tsv");
    std::os::unix::fs::symlink(&input, &link).unwrap();
    let same = dir.path().join("same.tsv");
    let report = dir.path().join("report.html");
    let cases: [(&[&str], &str); 9] = [
        (&["-o", path(&input)], "--output"),
        (&["--stats", path(&input)], "--stats"),
        (&["-o", path(&link)], "--output"),
        (&["-o", path(&list), "--inputs", path(&list)], "--output"),
        (&["-o", path(&same), "--stats", path(&same)], "same file"),
        (&["--report", path(&input)], "--report"),
        (
            &["-o", path(&same), "--report", path(&same)],
            "--output and --report",
        ),
        (
            &[
                "-o",
                path(&same),
                "--stats",
                path(&same),
                "--report",
                path(&report),
            ],
            "--output and --stats",
        ),
        (
            &[
                "-o",
                path(&same),
                "--stats",
                &format!("{}/./same.tsv", path(dir.path())),
            ],
            "same file",
        ),
    ];
    for (extra, says) in cases {
        let mut args = vec!["count", "-q", path(&input)];
        args.extend_from_slice(extra);
        let out = wetmr(&args, &[]);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{extra:?}: {}", stderr(&out));
        assert_eq!(std::fs::read(&input).unwrap(), original, "{extra:?}");
        assert!(!same.exists());
    }
}

#[test]
fn an_existing_mode_is_kept_and_a_new_file_follows_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("kept.tsv");
    std::fs::write(&kept, "older\n").unwrap();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o644)).unwrap();
    let new = dir.path().join("new.tsv");
    for output in [&kept, &new] {
        let out = wetmr(&["count", "-q", SAMPLE, "-o", path(output)], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&kept), 0o644);
    // What this process's umask leaves of 0666, as for any file a program creates.
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "").unwrap();
    assert_eq!(mode(&new), mode(&plain));
}

/// A job whose output is a few MB, so that signals land while it is written too.
fn big_job(dir: &Path) -> (PathBuf, String) {
    let corpus = wetgen(dir, "big.warc.wet.gz", "12MB", 7, &["--gzip"]);
    let out = wetmr(&["count", "-q", path(&corpus)], &[]);
    assert!(out.status.success());
    (corpus, String::from_utf8(out.stdout).unwrap())
}

#[test]
fn signals_at_any_moment_leave_the_older_output_or_the_new_one_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, want) = big_job(dir.path());
    let outdir = dir.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let output = outdir.join("counts.tsv");
    let stats = outdir.join("stats.json");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_wetmr"))
            .args(["count", "-q", "--threads", "2", path(&corpus)])
            .args(["-o", path(&output), "--stats", path(&stats)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let started = Instant::now();
    assert!(run().wait().unwrap().success());
    let full = started.elapsed();
    let mut replaced = 0;
    for (i, signal) in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGKILL]
        .into_iter()
        .cycle()
        .take(24)
        .enumerate()
    {
        std::fs::write(&output, "older\n").unwrap();
        std::fs::write(&stats, "{}\n").unwrap();
        let mut child = run();
        // Spread over the whole run, its last moments (the writing) included.
        std::thread::sleep(full.mul_f64((i % 12) as f64 / 11.0 * 1.1));
        common::signal(child.id() as i32, signal);
        let status = child.wait().unwrap();
        assert_eq!(
            names(&outdir),
            ["counts.tsv", "stats.json"],
            "signal {signal}"
        );
        let got = std::fs::read_to_string(&output).unwrap();
        if status.success() {
            assert_eq!(got, want);
        } else {
            assert!(
                got == "older\n" || got == want,
                "signal {signal}: partial output"
            );
        }
        replaced += usize::from(got == want);
    }
    assert!(replaced < 24, "no signal landed before the end");
}

#[test]
fn a_closed_standard_output_is_an_output_error() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, _) = big_job(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_wetmr"))
        .args(["count", "-q", path(&corpus)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 100];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("broken pipe"), "{err}");
}
