//! The command line as cron and scripts see it: exit codes, one-line errors, environment
//! variables, atomic outputs, stats.

mod common;

use common::{stderr, stdout, wetmr};

const SAMPLE_GZ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample.warc.wet.gz");
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample.warc.wet");

#[test]
fn help_and_usage_errors() {
    let help = wetmr(&["count", "--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("Examples:") && stdout(&help).contains("Exit codes"));
    for args in [
        vec!["count", "--no-such-flag", SAMPLE],
        vec!["count", "--threads", "0", SAMPLE],
        vec!["count", "--tokenizer", "nope", SAMPLE],
        vec!["count"],
        vec!["frobnicate"],
    ] {
        let out = wetmr(&args, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn bad_inputs_exit_2_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let not_warc = dir.path().join("notes.wet");
    std::fs::write(&not_warc, "just some text\n").unwrap();
    let empty = dir.path().join("empty.wet");
    std::fs::write(&empty, "").unwrap();
    let empty_dir = dir.path().join("nothing");
    std::fs::create_dir(&empty_dir).unwrap();
    let empty_list = dir.path().join("list.txt");
    std::fs::write(&empty_list, "# nothing yet\n").unwrap();
    let missing = dir.path().join("missing.warc.wet.gz");
    let cases = [
        (
            vec!["count", missing.to_str().unwrap()],
            "missing.warc.wet.gz",
        ),
        (vec!["count", not_warc.to_str().unwrap()], "byte offset 0"),
        (vec!["count", empty.to_str().unwrap()], "no WARC records"),
        (vec!["count", empty_dir.to_str().unwrap()], "nothing"),
        (
            vec!["count", "--inputs", empty_list.to_str().unwrap()],
            "names no files",
        ),
        (
            vec!["count", SAMPLE, missing.to_str().unwrap()],
            "missing.warc.wet.gz",
        ),
        // A device never ends: refused at once instead of read forever.
        (vec!["count", "/dev/zero"], "a device"),
    ];
    for (args, needle) in cases {
        let out = wetmr(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn plain_and_gzip_samples_agree_and_summary_is_printed() {
    let plain = wetmr(&["count", SAMPLE], &[]);
    let gz = wetmr(&["count", SAMPLE_GZ], &[]);
    assert!(plain.status.success() && gz.status.success());
    assert_eq!(plain.stdout, gz.stdout);
    let summary = stderr(&gz);
    assert!(
        summary.contains("records") && summary.contains("MB/s"),
        "{summary}"
    );
}

#[test]
fn environment_variables_set_options() {
    let out = wetmr(
        &["count", SAMPLE_GZ],
        &[
            ("WETMR_TOP", "3"),
            ("WETMR_QUIET", "true"),
            ("WETMR_THREADS", "1"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 3);
    assert!(out.stderr.is_empty(), "quiet: {}", stderr(&out));
    let py = wetmr(
        &["count", "-q", SAMPLE_GZ],
        &[("WETMR_TOKENIZER", "cc-pyspark")],
    );
    let word = wetmr(&["count", "-q", SAMPLE_GZ], &[]);
    assert_ne!(py.stdout, word.stdout, "the tokenizer variable is read");
    // The command line wins over the environment.
    let out = wetmr(
        &["count", "-q", "--top", "2", SAMPLE_GZ],
        &[("WETMR_TOP", "5")],
    );
    assert_eq!(stdout(&out).lines().count(), 2);
}

#[test]
fn output_file_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("counts.tsv");
    let stats = dir.path().join("stats.json");
    let out = wetmr(
        &[
            "count",
            "-q",
            SAMPLE_GZ,
            SAMPLE,
            "-o",
            output.to_str().unwrap(),
            "--stats",
            stats.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let tsv = std::fs::read_to_string(&output).unwrap();
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(stats["files"], 2);
    assert_eq!(
        stats["words_written"].as_u64().unwrap() as usize,
        tsv.lines().count()
    );
    assert_eq!(stats["distinct_words"], stats["words_written"]);
    let files = stats["per_file"].as_array().unwrap();
    assert_eq!(files[0]["format"], "gzip");
    assert_eq!(files[1]["format"], "plain");
    assert_eq!(
        files[0]["conversion_records"],
        files[1]["conversion_records"]
    );
    let tokens: u64 = files.iter().map(|f| f["tokens"].as_u64().unwrap()).sum();
    assert_eq!(stats["tokens"].as_u64().unwrap(), tokens);
    let tf_sum: u64 = tsv
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(tf_sum, tokens, "every token is in the output");
    assert!(stats["peak_rss_bytes"].as_u64().unwrap() > 0);
    // Only the two outputs: no temporary file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn progress_lines_are_printed_unless_quiet() {
    // One gzip stream: a single chunk, whose progress must show while it is decoded.
    let dir = tempfile::tempdir().unwrap();
    let stream = common::wetgen(
        dir.path(),
        "stream.warc.wet.gz",
        "40MB",
        5,
        &["--gzip", "--single-stream"],
    );
    let args = [
        "count",
        stream.to_str().unwrap(),
        "--threads",
        "1",
        "-o",
        "/dev/null",
    ];
    let with = [args.as_slice(), &["--progress", "0.1"]].concat();
    let out = wetmr(&with, &[]);
    assert!(out.status.success());
    let err = stderr(&out);
    let percents: Vec<f64> = err
        .lines()
        .filter(|l| l.contains("progress:"))
        .map(|l| {
            assert!(l.contains("MB read"), "{l}");
            let open = l.find('(').unwrap();
            let close = l.find("%)").unwrap();
            l[open + 1..close].parse().unwrap()
        })
        .collect();
    assert!(
        percents.iter().any(|&p| p > 0.0 && p < 100.0),
        "no progress inside the one chunk: {err}"
    );
    let quiet = wetmr(&[with.as_slice(), &["--quiet"]].concat(), &[]);
    assert!(quiet.stderr.is_empty(), "{}", stderr(&quiet));
    let off = wetmr(&[args.as_slice(), &["--progress", "0"]].concat(), &[]);
    assert!(!stderr(&off).contains("progress:"));
    // Intervals that are no interval are refused.
    for bad in ["nan", "inf", "-1", "1e-300"] {
        let out = wetmr(&[args.as_slice(), &["--progress", bad]].concat(), &[]);
        assert_eq!(out.status.code(), Some(1), "--progress {bad}");
    }
}

#[test]
fn unwritable_output_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("no/such/dir/counts.tsv");
    let out = wetmr(
        &["count", "-q", SAMPLE_GZ, "-o", output.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("counts.tsv"));
}
