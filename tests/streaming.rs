//! The streaming contract: `wetmr map` (inputs listed on stdin, every word's counts in any
//! order) and `wetmr reduce` (count lines in any order, merged and ranked). `map | reduce`
//! over any split of the inputs, with the lines shuffled, must write what `wetmr count`
//! writes, byte for byte, in every format.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{assert_exit, stderr, wetgen, wetmr};

/// Runs wetmr with `stdin` as standard input.
fn wetmr_with_input(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wetmr"))
        .args(args)
        .env_remove("WETMR_THREADS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wetmr starts");
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // A reducer that fails early closes its input: that is not this test's error.
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("wetmr runs");
    writer.join().unwrap();
    out
}

fn ok(out: Output) -> Vec<u8> {
    assert!(out.status.success(), "{}", stderr(&out));
    out.stdout
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The lines of `text` in a scrambled order (a fixed permutation).
fn shuffled(text: &[u8]) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let n = lines.len();
    for i in (1..n).rev() {
        lines.swap(i, (i * 7_919 + 13) % (i + 1));
    }
    lines.concat()
}

fn corpus(dir: &Path) -> Vec<PathBuf> {
    vec![
        wetgen(
            dir,
            "a.warc.wet.gz",
            "1500KB",
            1,
            &["--profile", "web", "--gzip"],
        ),
        wetgen(dir, "b.warc.wet", "1MB", 2, &[]),
        wetgen(dir, "c.warc.wet.gz", "800KB", 3, &["--gzip"]),
        wetgen(dir, "d.warc.wet", "700KB", 4, &["--profile", "web"]),
    ]
}

#[test]
fn map_then_reduce_equals_count_for_any_split() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let names: Vec<&str> = files.iter().map(|f| p(f)).collect();
    for tokenizer in ["word", "cc-pyspark"] {
        // Splits: all in one map, one file per map, and an uneven split.
        for split in [vec![4], vec![1, 1, 1, 1], vec![3, 1]] {
            let mut maps = Vec::new();
            let mut at = 0;
            for n in split.iter().copied() {
                let list: String = names[at..at + n].iter().map(|f| format!("{f}\n")).collect();
                at += n;
                let out =
                    wetmr_with_input(&["map", "-q", "--tokenizer", tokenizer], list.as_bytes());
                maps.extend(ok(out));
            }
            // map | sort | reduce (byte order, as LC_ALL=C sort), and the lines shuffled.
            let mut sorted: Vec<&[u8]> = maps.split_inclusive(|&b| b == b'\n').collect();
            sorted.sort_unstable();
            for (extra, lines) in [
                (&[][..], shuffled(&maps)),
                (&["--top", "500"], shuffled(&maps)),
                (&["--min-count", "3"], shuffled(&maps)),
                (&[], sorted.concat()),
            ] {
                let mut count = vec!["count", "-q", "--tokenizer", tokenizer];
                count.extend_from_slice(&names);
                count.extend_from_slice(extra);
                let want = ok(wetmr(&count, &[]));
                let mut reduce = vec!["reduce", "-q"];
                reduce.extend_from_slice(extra);
                let got = ok(wetmr_with_input(&reduce, &lines));
                assert!(
                    got == want,
                    "{tokenizer}, split {split:?}, {extra:?}: reduce differs from count"
                );
            }
        }
    }
}

/// Reduce reads files too, writes every format, and its Parquet is count's, byte for byte.
#[test]
fn reduce_reads_files_and_writes_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let names: Vec<&str> = files.iter().map(|f| p(f)).collect();
    let parts: Vec<PathBuf> = names
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let part = dir.path().join(format!("part-{i}.tsv"));
            ok(wetmr(&["map", "-q", f, "-o", p(&part)], &[]));
            part
        })
        .collect();
    for out in ["r.parquet", "r.jsonl", "r.tsv"] {
        let (reduced, counted) = (dir.path().join(out), dir.path().join(format!("c-{out}")));
        let mut reduce = vec!["reduce", "-q", "-o", p(&reduced)];
        reduce.extend(parts.iter().map(|f| p(f)));
        ok(wetmr(&reduce, &[]));
        let mut count = vec!["count", "-q", "-o", p(&counted)];
        count.extend_from_slice(&names);
        ok(wetmr(&count, &[]));
        assert!(
            std::fs::read(&reduced).unwrap() == std::fs::read(&counted).unwrap(),
            "{out}: reduce differs from count"
        );
    }
}

/// A malformed line fails the reduce (exit 2) with the stream and line named, and nothing
/// is written: an older output stays as it was.
#[test]
fn malformed_count_lines_fail_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("counts.tsv");
    std::fs::write(&out, "older\t1\t1\n").unwrap();
    let mut good = Vec::new();
    for i in 0..5000 {
        good.extend_from_slice(format!("w{i}\t2\t1\n").as_bytes());
    }
    for (bad, says) in [
        (&b"word 1 1\n"[..], "line 5001: expected word<TAB>tf<TAB>df"),
        (b"w\t1\t2\n", "line 5001: expected 1 <= df <= tf"),
        (b"w\xff\t1\t1\n", "line 5001: the word is not UTF-8"),
        (b"w\tx\t1\n", "line 5001: tf and df must be decimal"),
    ] {
        let mut input = good.clone();
        input.extend_from_slice(bad);
        input.extend_from_slice(&good);
        let run = wetmr_with_input(&["reduce", "-q", "-o", p(&out)], &input);
        assert_exit(&run, 2, &["standard input: ", says]);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "older\t1\t1\n");
    }
    // In a file, the file is named and lines are counted from its start.
    let part = dir.path().join("part.tsv");
    std::fs::write(&part, b"a\t1\t1\nb\t1\n").unwrap();
    let run = wetmr(&["reduce", p(&part)], &[]);
    assert_exit(&run, 2, &["part.tsv: line 2: expected word"]);
    let run = wetmr(&["reduce", p(&dir.path().join("missing.tsv"))], &[]);
    assert_exit(&run, 2, &["missing.tsv: cannot read"]);
}

/// Map refuses what belongs to reduce; its Hadoop counters add up to count's figures.
#[test]
fn map_options_and_hadoop_counters() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let list: String = files.iter().map(|f| format!("{}\n", p(f))).collect();
    for args in [
        &["map", "--top", "5"][..],
        &["map", "--min-count", "2"],
        &["map", "--format", "parquet"],
        &["map", "-o", "x.parquet"],
    ] {
        let run = wetmr_with_input(args, list.as_bytes());
        assert_exit(&run, 1, &["belong to reduce"]);
    }
    // A report's top words would be the first words met, not the most frequent.
    let run = wetmr_with_input(&["map", "--report", "r.html"], list.as_bytes());
    assert_exit(&run, 1, &["--report belongs to count"]);
    // An empty share (Spark pipes empty partitions too) is no lines, not an error.
    let empty = wetmr_with_input(&["map", "-q", "--hadoop-counters"], b"# nothing\n\n");
    assert!(empty.status.success(), "{}", stderr(&empty));
    assert!(empty.stdout.is_empty());
    assert!(stderr(&empty).contains("reporter:counter:wetmr,files,0"));
    let run = wetmr_with_input(&["map", "-q", "--hadoop-counters"], list.as_bytes());
    let err = stderr(&run);
    assert!(run.status.success(), "{err}");
    let counter = |name: &str| -> u64 {
        let prefix = format!("reporter:counter:wetmr,{name},");
        err.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {name} counter: {err}"))
            .parse()
            .unwrap()
    };
    let stats = dir.path().join("stats.json");
    let mut count = vec!["count", "-q", "-o", "/dev/null", "--stats", p(&stats)];
    count.extend(files.iter().map(|f| p(f)));
    ok(wetmr(&count, &[]));
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    assert_eq!(counter("files"), files.len() as u64);
    assert_eq!(Some(counter("tokens")), stats["tokens"].as_u64(), "{stats}");
    assert_eq!(
        Some(counter("records")),
        stats["records"].as_u64(),
        "{stats}"
    );
    let lines = run.stdout.iter().filter(|&&b| b == b'\n').count() as u64;
    assert_eq!(counter("words_written"), lines);
    assert_eq!(Some(lines), stats["distinct_words"].as_u64(), "{stats}");
}
