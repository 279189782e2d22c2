//! The output formats, read back by independent readers: Parquet by pyarrow and DuckDB
//! (`tests/support/parquet_read.py`, in the Python named by `WETMR_TEST_PARQUET_PYTHON`,
//! else `python3` if it has both), JSON lines by serde_json. Each must hold exactly the rows
//! of the TSV, in the same order; Parquet's schema must be cc-pyspark's, field by field.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{assert_exit, stderr, wetgen, wetmr};

/// The Python with pyarrow and duckdb, or None (the test says it skips).
fn python() -> Option<String> {
    let python = std::env::var("WETMR_TEST_PARQUET_PYTHON").unwrap_or_else(|_| "python3".into());
    let usable = Command::new(&python)
        .args(["-c", "import pyarrow.parquet, duckdb"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        eprintln!(
            "SKIPPED: no Python with pyarrow and duckdb (set WETMR_TEST_PARQUET_PYTHON); \
             Parquet not read back"
        );
        return None;
    }
    Some(python)
}

/// What `reader` (pyarrow or duckdb) prints for the Parquet file `path`.
fn read_parquet(python: &str, reader: &str, path: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/parquet_read.py");
    let out = Command::new(python)
        .arg(script)
        .arg(reader)
        .arg(path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{reader} could not read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 rows")
}

fn run_ok(args: &[&str]) {
    let out = wetmr(args, &[]);
    assert!(out.status.success(), "wetmr {args:?}: {}", stderr(&out));
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The Parquet table holds the TSV's rows in its order, for every codec, read by pyarrow
/// and by DuckDB; its schema is cc-pyspark's (key string, val struct<tf long, df long>, all
/// nullable, as Spark declares them) with Spark's own schema description; and the cluster
/// writes the same bytes as `count`.
#[test]
fn parquet_holds_the_tsv_rows_with_cc_pyspark_schema() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Web-profile text: a dozen scripts, and enough words (> 131,072) for several row groups.
    let input = wetgen(
        dir.path(),
        "in.warc.wet.gz",
        "12MB",
        5,
        &["--profile", "web", "--gzip"],
    );
    let tsv = dir.path().join("counts.tsv");
    run_ok(&["count", "-q", p(&input), "-o", p(&tsv)]);
    let tsv_text = std::fs::read_to_string(&tsv).unwrap();
    let rows = tsv_text.lines().count();
    assert!(rows > 131_072, "only {rows} words: one row group");

    for (codec, args) in [
        ("GZIP", &[][..]),
        ("ZSTD", &["--compression", "zstd"][..]),
        ("SNAPPY", &["--compression", "snappy"][..]),
        (
            "UNCOMPRESSED",
            &["--format", "parquet", "--compression", "none"][..],
        ),
    ] {
        // Chosen by the name, or by --format for a name that says nothing.
        let name = if args.contains(&"--format") {
            "counts.bin"
        } else {
            "counts.parquet"
        };
        let parquet = dir.path().join(name);
        let mut all = vec!["count", "-q", p(&input), "-o", p(&parquet)];
        all.extend_from_slice(args);
        run_ok(&all);

        let read = read_parquet(&python, "pyarrow", &parquet);
        let (desc, body) = read.split_once('\n').unwrap();
        assert!(
            body == tsv_text,
            "{codec}: pyarrow's rows differ from the TSV"
        );
        let desc: serde_json::Value = serde_json::from_str(desc).unwrap();
        let fields = serde_json::json!([
            {"name": "key", "type": "string", "nullable": true},
            {"name": "val", "type": "struct<tf: int64, df: int64>", "nullable": true,
             "children": [
                {"name": "tf", "type": "int64", "nullable": true},
                {"name": "df", "type": "int64", "nullable": true}]}
        ]);
        assert_eq!(desc["fields"], fields, "{codec}");
        let schema = desc["parquet_schema"].as_str().unwrap();
        for line in [
            "optional binary field_id=-1 key (String);",
            "optional group field_id=-1 val {",
            "optional int64 field_id=-1 tf;",
            "optional int64 field_id=-1 df;",
        ] {
            assert!(
                schema.contains(line),
                "{codec}: schema lacks {line:?}: {schema}"
            );
        }
        assert_eq!(desc["rows"], rows, "{codec}");
        let groups = desc["row_groups"].as_array().unwrap();
        assert!(groups.len() > 1, "{codec}: one row group");
        let mut total = 0;
        for group in groups {
            let n = group["rows"].as_u64().unwrap();
            assert!(n > 0 && n <= 131_072, "{codec}: a row group of {n} rows");
            total += n;
            for column in group["columns"].as_array().unwrap() {
                assert_eq!(column["codec"], codec, "{column}");
            }
        }
        assert_eq!(total as usize, rows);
        let spark = &desc["spark_schema"];
        assert_eq!(spark["fields"][0]["name"], "key");
        assert_eq!(spark["fields"][0]["type"], "string");
        assert_eq!(spark["fields"][1]["type"]["fields"][0]["type"], "long");
        assert_eq!(spark["fields"][1]["type"]["fields"][1]["name"], "df");

        assert!(
            read_parquet(&python, "duckdb", &parquet) == tsv_text,
            "{codec}: DuckDB's rows differ from the TSV"
        );
    }

    // --top and --min-count apply to the table as to the TSV.
    let top_tsv = dir.path().join("top.tsv");
    let top_parquet = dir.path().join("top.parquet");
    for out in [&top_tsv, &top_parquet] {
        run_ok(&[
            "count",
            "-q",
            p(&input),
            "--top",
            "1000",
            "--min-count",
            "3",
            "-o",
            p(out),
        ]);
    }
    let read = read_parquet(&python, "pyarrow", &top_parquet);
    assert_eq!(
        read.split_once('\n').unwrap().1,
        std::fs::read_to_string(&top_tsv).unwrap()
    );

    // The cluster writes the same table as count, byte for byte.
    let [local, clustered] = ["local.parquet", "cluster.parquet"].map(|n| dir.path().join(n));
    run_ok(&["count", "-q", p(&input), "-o", p(&local)]);
    run_ok(&[
        "cluster",
        "-q",
        "--workers",
        "2",
        p(&input),
        "-o",
        p(&clustered),
    ]);
    let local = std::fs::read(&local).unwrap();
    assert!(
        std::fs::read(&clustered).unwrap() == local,
        "cluster's Parquet differs"
    );
}

/// JSON lines: one object per TSV row, in order, with exactly the keys key, tf and df;
/// chosen by the name or by --format, to a file or to standard output alike.
#[test]
fn json_lines_hold_the_tsv_rows() {
    let dir = tempfile::tempdir().unwrap();
    let input = wetgen(dir.path(), "in.warc.wet", "2MB", 8, &["--profile", "web"]);
    let tsv = dir.path().join("c.tsv");
    let jsonl = dir.path().join("c.jsonl");
    run_ok(&["count", "-q", p(&input), "-o", p(&tsv)]);
    run_ok(&["count", "-q", p(&input), "-o", p(&jsonl)]);
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let tsv_text = std::fs::read_to_string(&tsv).unwrap();
    assert_eq!(text.lines().count(), tsv_text.lines().count());
    for (line, row) in text.lines().zip(tsv_text.lines()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut cols = row.split('\t');
        assert_eq!(v["key"], cols.next().unwrap(), "{line}");
        assert_eq!(v["tf"].to_string(), cols.next().unwrap(), "{line}");
        assert_eq!(v["df"].to_string(), cols.next().unwrap(), "{line}");
        assert_eq!(v.as_object().unwrap().len(), 3, "{line}");
    }
    let piped = wetmr(&["count", "-q", "--format", "jsonl", p(&input)], &[]);
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert!(
        piped.stdout == text.as_bytes(),
        "stdout differs from the file"
    );
}

/// Parquet goes to a pipe like any format (the same bytes as the file), but not to a
/// terminal: that is refused before any work (a usage error), as is --compression with a
/// text format.
#[test]
fn format_choices_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample.warc.wet.gz");
    let file = dir.path().join("c.parquet");
    run_ok(&["count", "-q", p(&input), "-o", p(&file)]);
    let piped = wetmr(&["count", "-q", "--format", "parquet", p(&input)], &[]);
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert!(
        piped.stdout == std::fs::read(&file).unwrap(),
        "piped Parquet differs"
    );
    assert_eq!(&piped.stdout[..4], b"PAR1");

    let out = wetmr(
        &["count", p(&input), "--compression", "zstd", "-o", "c.tsv"],
        &[],
    );
    assert_exit(&out, 1, &["--compression applies to Parquet output only"]);
    let out = wetmr(&["count", p(&input), "--format", "xml"], &[]);
    assert_exit(&out, 1, &["xml"]);

    // A real pseudo-terminal as standard output (Python's pty module opens it).
    let script = "import pty, subprocess, sys\n\
         m, s = pty.openpty()\n\
         r = subprocess.run(sys.argv[1:], stdout=s, stderr=subprocess.PIPE)\n\
         sys.stdout.write(str(r.returncode) + '\\n' + r.stderr.decode())\n";
    let out = Command::new("python3")
        .args(["-c", script, env!("CARGO_BIN_EXE_wetmr"), "count"])
        .args(["--format", "parquet", p(&input)])
        .output()
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("1\n") && said.contains("refusing to write parquet to a terminal"),
        "{said}"
    );
}
