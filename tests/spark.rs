//! The Spark job of `tools/spark/wetmr_word_count.py`, run for real: PySpark in local mode
//! (`local[2]`) on generated corpora, each task piping its share of the manifest through
//! `wetmr map`. Its table must hold exactly the rows of `wetmr count`'s, with cc-pyspark's
//! schema. Needs a Python with pyspark and pyarrow (`WETMR_TEST_SPARK_PYTHON`, else
//! `python3` if it has them) and a Java runtime; the test says when it skips.

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
    let spark_submit = python.with_file_name("spark-submit");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/spark/wetmr_word_count.py");
    let out = Command::new(&spark_submit)
        .current_dir(dir.path())
        .env("PYSPARK_PYTHON", &python)
        .args(["--master", "local[2]", "--conf", "spark.ui.enabled=false"])
        .arg("--conf")
        .arg(format!(
            "spark.sql.warehouse.dir={}",
            dir.path().join("warehouse").display()
        ))
        .arg(&script)
        .args([
            "--num_input_partitions",
            "4",
            "--num_output_partitions",
            "2",
        ])
        .arg("--input_base_url")
        .arg(&data)
        .arg("--wetmr")
        .arg(env!("CARGO_BIN_EXE_wetmr"))
        .arg(&manifest)
        .arg("word_count")
        .output()
        .expect("spark-submit runs");
    assert!(
        out.status.success(),
        "the Spark job failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (spark_rows, spark_schema) = table_rows(&python, &dir.path().join("warehouse/word_count"));

    // The reference: wetmr count with the job's defaults (cc-pyspark's words, text/plain).
    let parquet = dir.path().join("count.parquet");
    let mut args = vec![
        "count",
        "-q",
        "--tokenizer",
        "cc-pyspark",
        "--content-type",
        "text/plain",
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    args.extend(["-o", parquet.to_str().unwrap()]);
    let run = wetmr(&args, &[]);
    assert!(run.status.success(), "{}", stderr(&run));
    let parquet_dir = dir.path().join("count");
    std::fs::create_dir(&parquet_dir).unwrap();
    std::fs::rename(&parquet, parquet_dir.join("count.parquet")).unwrap();
    let (count_rows, count_schema) = table_rows(&python, &parquet_dir);
    assert!(count_rows.len() > 10_000, "{} rows", count_rows.len());
    assert_eq!(spark_schema, count_schema);
    assert!(
        spark_rows == count_rows,
        "Spark's table differs from count's"
    );
}
