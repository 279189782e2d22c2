//! The distributed engine with real processes on loopback: `wetmr cluster`, and `wetmr run`
//! against `wetmr worker` daemons, compared byte for byte with `wetmr count`.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{stderr, stdout, wetgen, wetmr, Worker};

const SAMPLE_GZ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample.warc.wet.gz");

fn paths(files: &[PathBuf]) -> Vec<&str> {
    files.iter().map(|p| p.to_str().unwrap()).collect()
}

/// `wetmr count` on `files` with `extra` options: (stdout, stats JSON).
fn local(files: &[PathBuf], extra: &[&str]) -> String {
    let mut args = vec!["count", "-q"];
    args.extend(extra);
    args.extend(paths(files));
    let out = wetmr(&args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

fn corpus(dir: &Path) -> Vec<PathBuf> {
    vec![
        wetgen(dir, "a.warc.wet", "700KB", 41, &[]),
        wetgen(dir, "b.warc.wet.gz", "900KB", 42, &["--gzip"]),
        wetgen(
            dir,
            "c.warc.wet.gz",
            "500KB",
            43,
            &["--gzip", "--single-stream"],
        ),
        wetgen(dir, "d.warc.wet", "300KB", 44, &[]),
    ]
}

#[test]
fn cluster_output_is_the_local_output() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let want = local(&files, &[]);
    assert!(want.lines().count() > 10_000);
    for (workers, partitions) in [("1", None), ("2", Some("1")), ("3", None), ("5", Some("7"))] {
        let mut args = vec!["cluster", "-q", "--workers", workers, "--threads", "1"];
        if let Some(r) = partitions {
            args.extend(["--partitions", r]);
        }
        args.extend(paths(&files));
        let out = wetmr(&args, &[]);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out) == want, "{args:?}: output differs from count");
    }
    // Options that shape the output, through the whole path.
    for extra in [
        &["--top", "100"][..],
        &["--min-count", "3"],
        &["--tokenizer", "cc-pyspark", "--top", "1000"],
        &["--tokenizer", "uax29", "--min-count", "2"],
    ] {
        let want = local(&files, extra);
        let mut args = vec!["cluster", "-q", "--workers", "3"];
        args.extend(extra);
        args.extend(paths(&files));
        let out = wetmr(&args, &[]);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", stderr(&out));
        assert!(stdout(&out) == want, "{extra:?}: output differs from count");
    }
}

#[test]
fn stats_add_per_worker_figures() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let (local_stats, cluster_stats) = (dir.path().join("l.json"), dir.path().join("c.json"));
    let mut args = vec!["count", "-q", "-o", "/dev/null", "--stats"];
    args.push(local_stats.to_str().unwrap());
    args.extend(paths(&files));
    assert_eq!(wetmr(&args, &[]).status.code(), Some(0));
    args[0] = "cluster";
    args[5] = cluster_stats.to_str().unwrap();
    // Without backup copies, every byte sent is a winner's, so sent = received.
    args.extend(["--workers", "3", "--no-backup-tasks"]);
    let out = wetmr(&args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let (l, c) = (read(&local_stats), read(&cluster_stats));
    for key in [
        "records",
        "conversion_records",
        "tokens",
        "warc_bytes",
        "distinct_words",
        "words_written",
        "bytes_in",
    ] {
        assert_eq!(l[key], c[key], "{key}");
    }
    for (lf, cf) in l["per_file"]
        .as_array()
        .unwrap()
        .iter()
        .zip(c["per_file"].as_array().unwrap())
    {
        assert_eq!(lf["tokens"], cf["tokens"]);
        assert_eq!(lf["path"], cf["path"]);
    }
    let cluster = &c["cluster"];
    assert_eq!(cluster["partitions"], 12);
    let workers = cluster["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 3);
    let sum = |key: &str| {
        workers
            .iter()
            .map(|w| w[key].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(sum("tasks"), files.len() as u64);
    assert_eq!(sum("records"), l["records"].as_u64().unwrap());
    assert_eq!(sum("bytes_in"), l["bytes_in"].as_u64().unwrap());
    assert_eq!(sum("shuffle_bytes_sent"), sum("shuffle_bytes_received"));
    assert_eq!(sum("partitions_owned"), 12);
    assert!(workers
        .iter()
        .all(|w| w["map_seconds"].as_f64().unwrap() >= 0.0));
}

#[test]
fn more_workers_than_files() {
    let out = wetmr(&["cluster", "-q", "--workers", "4", SAMPLE_GZ], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), local(&[PathBuf::from(SAMPLE_GZ)], &[]));
}

#[test]
fn two_terminals_run_jobs_one_after_another_then_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let (a, b) = (Worker::start(1), Worker::start(2));
    let machines = dir.path().join("machines.txt");
    std::fs::write(
        &machines,
        format!("# the cluster\n{}\n\n{}  # second\n", a.addr, b.addr),
    )
    .unwrap();
    let list = dir.path().join("fichiersWET.txt");
    let listed: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    std::fs::write(&list, format!("# inputs\n{}\n", listed.join("\n"))).unwrap();

    let out_file = dir.path().join("counts.tsv");
    let args = [
        "run",
        "-q",
        "--machines",
        machines.to_str().unwrap(),
        "--inputs",
        list.to_str().unwrap(),
        "-o",
        out_file.to_str().unwrap(),
    ];
    for job in 0..2 {
        let out = wetmr(&args, &[]);
        assert_eq!(out.status.code(), Some(0), "job {job}: {}", stderr(&out));
        assert!(
            std::fs::read_to_string(&out_file).unwrap() == local(&files, &[]),
            "job {job}"
        );
    }
    for w in [a, b] {
        let (code, log) = w.stop();
        assert_eq!(code, Some(0), "worker log: {log}");
    }
}

#[test]
fn listed_workers_that_are_not_running() {
    let live = Worker::start(1);
    // A port that was free a moment ago: nothing listens there.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let machines = dir.path().join("machines.txt");
    std::fs::write(&machines, format!("{dead}\n{}\n", live.addr)).unwrap();
    let out = wetmr(
        &["run", "--machines", machines.to_str().unwrap(), SAMPLE_GZ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), local(&[PathBuf::from(SAMPLE_GZ)], &[]));
    assert!(
        stderr(&out).contains(&dead) && stderr(&out).contains("without it"),
        "{}",
        stderr(&out)
    );

    std::fs::write(&machines, format!("{dead}\n")).unwrap();
    let out_file = dir.path().join("out.tsv");
    let out = wetmr(
        &[
            "run",
            "--machines",
            machines.to_str().unwrap(),
            "-o",
            out_file.to_str().unwrap(),
            SAMPLE_GZ,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no worker took the job"),
        "{}",
        stderr(&out)
    );
    assert!(!out_file.exists());
}

#[test]
fn bad_inputs_fail_like_count() {
    let dir = tempfile::tempdir().unwrap();
    let good = wetgen(dir.path(), "good.warc.wet", "200KB", 51, &[]);
    let not_warc = dir.path().join("notes.wet");
    std::fs::write(&not_warc, "just some text\n").unwrap();
    // The coordinator sees a file there, but no worker can read it (devices are refused).
    let device = PathBuf::from("/dev/zero");
    let empty_list = dir.path().join("list.txt");
    std::fs::write(&empty_list, "# nothing yet\n").unwrap();
    let out_file = dir.path().join("out.tsv");
    std::fs::write(&out_file, "older\n").unwrap();
    let o = out_file.to_str().unwrap();

    let out = wetmr(
        &[
            "cluster",
            "--workers",
            "2",
            "--inputs",
            empty_list.to_str().unwrap(),
        ],
        &[],
    );
    let local_out = wetmr(&["count", "--inputs", empty_list.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), stderr(&local_out));

    for (bad, says) in [(&not_warc, "not a WARC record"), (&device, "every worker")] {
        let args = [
            "cluster",
            "--workers",
            "2",
            "-o",
            o,
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
        ];
        let out = wetmr(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        let last = err.lines().last().unwrap();
        assert!(
            last.starts_with("wetmr: error: ") && last.contains(bad.to_str().unwrap()),
            "{err}"
        );
        assert!(last.contains(says), "{err}");
        if bad == &not_warc {
            let local_out = wetmr(
                &["count", good.to_str().unwrap(), bad.to_str().unwrap()],
                &[],
            );
            assert_eq!(
                Some(last),
                stderr(&local_out).lines().last(),
                "the same error as count"
            );
        }
        assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "older\n");
    }
    // With --skip-bad-input both are reported and the good file counted, as count does.
    let args = [
        "cluster",
        "--workers",
        "2",
        "--skip-bad-input",
        good.to_str().unwrap(),
        not_warc.to_str().unwrap(),
        "/dev/zero",
    ];
    let out = wetmr(&args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), local(std::slice::from_ref(&good), &[]));
    let err = stderr(&out);
    let skipped = err
        .lines()
        .filter(|l| l.starts_with("wetmr: skipped: "))
        .count();
    assert_eq!(skipped, 2, "{err}");
}

/// A frame header with any version.
fn header(version: u16, kind: u16, len: u32) -> Vec<u8> {
    let mut h = b"WTMR".to_vec();
    h.extend(version.to_le_bytes());
    h.extend(kind.to_le_bytes());
    h.extend(len.to_le_bytes());
    h
}

#[test]
fn protocol_version_mismatch_is_a_clear_error_on_both_sides() {
    // A client from the future greets a worker: it is answered in the worker's version
    // (so it can say what it met) and disconnected; the worker goes on serving.
    let worker = Worker::start(1);
    let mut s = TcpStream::connect(&worker.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&header(99, 1, 4)).unwrap();
    s.write_all(&[0; 4]).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    assert_eq!(&reply[..4], b"WTMR");
    assert_eq!(
        u16::from_le_bytes([reply[4], reply[5]]),
        wetmr::net::frame::PROTOCOL_VERSION,
        "answered in its own version"
    );
    assert_eq!(
        u16::from_le_bytes([reply[6], reply[7]]),
        14,
        "a Refused message"
    );
    assert!(String::from_utf8_lossy(&reply).contains("version 99"));

    let dir = tempfile::tempdir().unwrap();
    let machines = dir.path().join("machines.txt");
    std::fs::write(&machines, format!("{}\n", worker.addr)).unwrap();
    let out = wetmr(
        &[
            "run",
            "-q",
            "--machines",
            machines.to_str().unwrap(),
            SAMPLE_GZ,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // A worker from the future answers the coordinator's Hello.
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let fake_addr = fake.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = fake.accept().unwrap();
        let mut hello = [0u8; 12];
        s.read_exact(&mut hello).unwrap();
        s.write_all(&header(99, 2, 0)).unwrap();
        let _ = s.read_to_end(&mut Vec::new());
    });
    std::fs::write(&machines, format!("{fake_addr}\n")).unwrap();
    let out = wetmr(
        &["run", "--machines", machines.to_str().unwrap(), SAMPLE_GZ],
        &[],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("protocol version 99"),
        "{}",
        stderr(&out)
    );
    server.join().unwrap();
}

/// A worker started in another directory, where the same relative path names another file.
#[test]
fn relative_paths_name_the_coordinators_files() {
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path().join("here");
    let there = dir.path().join("there");
    std::fs::create_dir_all(&here).unwrap();
    std::fs::create_dir_all(&there).unwrap();
    wetgen(&here, "x.warc.wet", "100KB", 61, &[]);
    wetgen(&there, "x.warc.wet", "100KB", 62, &[]);
    let worker = Worker::start_in(&there, 1);
    let machines = dir.path().join("machines.txt");
    std::fs::write(&machines, &worker.addr).unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wetmr"));
        cmd.args(["run", "-q", "--machines", machines.to_str().unwrap()])
            .args(extra)
            .current_dir(&here);
        cmd.output().unwrap()
    };
    let want = local(&[here.join("x.warc.wet")], &[]);
    let out = run(&["x.warc.wet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), want, "the worker counted its own x.warc.wet");
    // A list with relative entries, read on the coordinator, the same.
    std::fs::write(here.join("list.txt"), "x.warc.wet\n").unwrap();
    let out = run(&["--inputs", "list.txt"]);
    assert_eq!(stdout(&out), want);
}

#[test]
fn a_job_that_skips_every_input_is_no_success() {
    let dir = tempfile::tempdir().unwrap();
    let not_warc = dir.path().join("notes.wet");
    std::fs::write(&not_warc, "just some text\n").unwrap();
    let output = dir.path().join("out.tsv");
    std::fs::write(&output, "older\n").unwrap();
    for command in ["count", "cluster"] {
        let out = wetmr(
            &[
                command,
                "--skip-bad-input",
                "-o",
                output.to_str().unwrap(),
                not_warc.to_str().unwrap(),
                "/dev/zero",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("skipped: /dev/zero"), "{command}: {err}");
        assert!(
            err.lines()
                .last()
                .unwrap()
                .contains("nothing counted: every input was skipped (2 files"),
            "{command}: {err}"
        );
        assert_eq!(std::fs::read_to_string(&output).unwrap(), "older\n");
    }
}

/// A worker serving one coordinator's job refuses another's, and that coordinator says
/// so: the worker was reached, it did not take the job.
#[test]
fn a_busy_worker_is_named_as_busy() {
    let dir = tempfile::tempdir().unwrap();
    let big = wetgen(
        dir.path(),
        "big.warc.wet.gz",
        "30MB",
        91,
        &["--gzip", "--single-stream"],
    );
    let worker = Worker::start(1);
    let machines = dir.path().join("machines.txt");
    std::fs::write(&machines, &worker.addr).unwrap();
    let m = machines.to_str().unwrap();
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_wetmr"))
        .args([
            "run",
            "-q",
            "--machines",
            m,
            big.to_str().unwrap(),
            "-o",
            "/dev/null",
        ])
        .spawn()
        .unwrap();
    // The first job holds the worker for a while (one thread, one stream to decode).
    std::thread::sleep(Duration::from_millis(300));
    let out = wetmr(&["run", "--machines", m, SAMPLE_GZ], &[]);
    let status = first.wait().unwrap();
    assert!(status.success());
    common::assert_exit(&out, 4, &["no worker took the job", "Busy"]);
}
