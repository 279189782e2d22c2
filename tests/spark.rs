//! Spark, run for real in local mode (`local[2]`) on generated corpora:
//! - the job of `tools/spark/wetmr_word_count.py`, each task piping its share of the
//!   manifest through `wetmr map`: its table must hold exactly the rows of `wetmr count`'s,
//!   with cc-pyspark's schema;
//! - cc-pyspark's own `word_count.py` (from the `cc-pyspark` package, when installed): its
//!   table must hold the rows of `wetmr count --tokenizer cc-pyspark --content-type
//!   text/plain`, on generated text in a dozen scripts, on records of mixed content types,
//!   and on real Common Crawl records (`../shared/data/real`, when present).
//!
//! Needs a Python with pyspark and pyarrow (`WETMR_TEST_SPARK_PYTHON`, else `python3` if it
//! has them) and a Java runtime; each test says when it skips.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{stderr, wetgen, wetmr};

/// The venv's Python with pyspark and pyarrow, and Java, or None (the test says it skips).
fn python() -> Option<PathBuf> {
    let python = std::env::var("WETMR_TEST_SPARK_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has(Command::new(&python).args(["-c", "import pyspark, pyarrow"])) {
        eprintln!("SKIPPED: no Python with pyspark and pyarrow (set WETMR_TEST_SPARK_PYTHON)");
        return None;
    }
    if !has(Command::new("java").arg("-version")) {
        eprintln!("SKIPPED: no Java runtime for Spark");
        return None;
    }
    Some(PathBuf::from(python))
}

/// The rows of every Parquet file under `dir`, as sorted `word\ttf\tdf` lines, and the
/// schema pyarrow reads (as its text).
fn table_rows(python: &Path, dir: &Path) -> (Vec<String>, String) {
    let script = r#"
import sys, pyarrow.dataset as ds
t = ds.dataset(sys.argv[1], format="parquet").to_table()
print(t.schema.remove_metadata().to_string().replace("\n", "|"))
for k, v in zip(t.column("key").to_pylist(), t.column("val").to_pylist()):
    print(f"{k}\t{v['tf']}\t{v['df']}")
"#;
    let out = Command::new(python)
        .args(["-c", script])
        .arg(dir)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let schema = lines.next().unwrap().to_string();
    let mut rows: Vec<String> = lines.map(str::to_string).collect();
    rows.sort();
    (rows, schema)
}

#[test]
fn the_spark_job_writes_count_s_table() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let files = [
        wetgen(
            &data,
            "a.warc.wet.gz",
            "600KB",
            11,
            &["--profile", "web", "--gzip"],
        ),
        wetgen(&data, "b.warc.wet", "500KB", 12, &[]),
        wetgen(&data, "c.warc.wet.gz", "400KB", 13, &["--gzip"]),
    ];
    // Relative entries joined to --input_base_url, a comment and a blank line; 4 input
    // partitions for 3 files, so one task's map gets nothing and must succeed.
    let manifest = dir.path().join("wet.paths");
    std::fs::write(
        &manifest,
        "# generated\na.warc.wet.gz\n\nb.warc.wet\nc.warc.wet.gz\n",
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/spark/wetmr_word_count.py");
    spark_submit(
        &python,
        dir.path(),
        &script,
        &[
            "--num_input_partitions",
            "4",
            "--num_output_partitions",
            "2",
            "--input_base_url",
            data.to_str().unwrap(),
            "--wetmr",
            env!("CARGO_BIN_EXE_wetmr"),
            manifest.to_str().unwrap(),
            "word_count",
        ],
    );
    let (spark_rows, spark_schema) = table_rows(&python, &dir.path().join("warehouse/word_count"));

    // The reference: wetmr count with the job's defaults (cc-pyspark's words, text/plain).
    let (count_rows, count_schema) = count_as_cc_pyspark(&python, dir.path(), &files);
    assert!(count_rows.len() > 10_000, "{} rows", count_rows.len());
    assert_eq!(spark_schema, count_schema);
    assert!(
        spark_rows == count_rows,
        "Spark's table differs from count's"
    );
}

/// The rows and schema of `wetmr count --tokenizer cc-pyspark --content-type text/plain`'s
/// Parquet table of `files` (written in `dir/wetmr`).
fn count_as_cc_pyspark(python: &Path, dir: &Path, files: &[PathBuf]) -> (Vec<String>, String) {
    let parquet_dir = dir.join("wetmr");
    std::fs::create_dir(&parquet_dir).unwrap();
    let parquet = parquet_dir.join("counts.parquet");
    let mut args = vec!["count", "-q", "--tokenizer", "cc-pyspark"];
    args.extend([
        "--content-type",
        "text/plain",
        "-o",
        parquet.to_str().unwrap(),
    ]);
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let run = wetmr(&args, &[]);
    assert!(run.status.success(), "{}", stderr(&run));
    table_rows(python, &parquet_dir)
}

/// Runs `spark-submit` in `dir` with the warehouse in `dir/warehouse`.
fn spark_submit(python: &Path, dir: &Path, script: &Path, args: &[&str]) {
    let out = Command::new(python.with_file_name("spark-submit"))
        .current_dir(dir)
        .env("PYSPARK_PYTHON", python)
        .args(["--master", "local[2]", "--conf", "spark.ui.enabled=false"])
        .arg("--conf")
        .arg(format!(
            "spark.sql.warehouse.dir={}",
            dir.join("warehouse").display()
        ))
        .arg(script)
        .args(args)
        .output()
        .expect("spark-submit runs");
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cc_pyspark_word_count_gives_count_s_rows() {
    let Some(python) = python() else { return };
    let found = Command::new(&python)
        .args([
            "-c",
            "import os, cc_pyspark; print(os.path.dirname(cc_pyspark.__file__))",
        ])
        .output()
        .expect("python runs");
    if !found.status.success() {
        eprintln!("SKIPPED: the cc-pyspark package is not installed; parity not tested");
        return;
    }
    let job =
        PathBuf::from(String::from_utf8(found.stdout).unwrap().trim()).join("jobs/word_count.py");
    assert!(
        job.is_file(),
        "the cc-pyspark package holds no {}",
        job.display()
    );

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mut files = vec![
        wetgen(
            &data,
            "a.warc.wet.gz",
            "1500KB",
            21,
            &["--profile", "web", "--gzip"],
        ),
        wetgen(&data, "b.warc.wet", "800KB", 22, &[]),
    ];
    // Records whose Content-Type is not exactly text/plain: both skip them.
    let mut mixed = Vec::new();
    for (i, content_type) in ["text/plain", "text/plain; charset=UTF-8", "", "text/html"]
        .iter()
        .cycle()
        .take(40)
        .enumerate()
    {
        let body = format!(
            "Record {i} of type {content_type:?}: Ünïcödé wörds, ΣΟΦΟΣ and 東京 {}",
            i % 7
        );
        let header = if content_type.is_empty() {
            String::new()
        } else {
            format!("Content-Type: {content_type}\r\n")
        };
        mixed.extend_from_slice(
            format!(
                "WARC/1.0\r\nWARC-Type: conversion\r\n{header}Content-Length: {}\r\n\r\n{body}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
    }
    files.push(data.join("c.warc.wet"));
    std::fs::write(&files[2], mixed).unwrap();
    // Real Common Crawl records (eng, spa, deu, zho, rus, fra), when the shared data is here.
    if let Some(shared) = common::shared_data() {
        for name in ["real_cc_records.warc.wet.gz", "whirlwind.warc.wet.gz"] {
            let copy = data.join(name);
            std::fs::copy(shared.join("real").join(name), &copy).unwrap();
            files.push(copy);
        }
    }
    let manifest = dir.path().join("input.txt");
    let names: Vec<String> = files
        .iter()
        .map(|f| format!("{}\n", f.file_name().unwrap().to_str().unwrap()))
        .collect();
    std::fs::write(&manifest, names.concat()).unwrap();
    let base = format!("file://{}/", data.display());
    spark_submit(
        &python,
        dir.path(),
        &job,
        &[
            "--num_input_partitions",
            "2",
            "--num_output_partitions",
            "1",
            "--input_base_url",
            &base,
            manifest.to_str().unwrap(),
            "cc_word_count",
        ],
    );
    let (cc_rows, cc_schema) = table_rows(&python, &dir.path().join("warehouse/cc_word_count"));

    let (rows, schema) = count_as_cc_pyspark(&python, dir.path(), &files);
    assert!(rows.len() > 10_000, "{} rows", rows.len());
    assert_eq!(cc_schema, schema);
    let missing: Vec<&String> = cc_rows
        .iter()
        .filter(|r| rows.binary_search(r).is_err())
        .take(5)
        .collect();
    let extra: Vec<&String> = rows
        .iter()
        .filter(|r| cc_rows.binary_search(r).is_err())
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && rows.len() == cc_rows.len(),
        "cc-pyspark's rows differ: only in cc-pyspark's {missing:?}, only in wetmr's {extra:?}"
    );
}
