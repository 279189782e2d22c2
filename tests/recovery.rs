//! Failures with real processes on loopback: a worker SIGKILLed or SIGSTOPped at seeded
//! moments of a job (map, shuffle, reduce), and every worker killed. The output must be
//! byte for byte that of `wetmr count`, or a clean failure (exit 4, no output).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{stderr, wetgen, wetmr, Worker};

/// The faults land at moments measured on a fault-free run, so these tests run one at a
/// time: in parallel they would slow each other down unevenly.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn corpus(dir: &Path) -> Vec<PathBuf> {
    (0..4)
        .map(|i| {
            let gz = if i % 2 == 0 { &["--gzip"][..] } else { &[] };
            wetgen(dir, &format!("f{i}.warc.wet"), "2MB", 70 + i, gz)
        })
        .collect()
}

/// A dozen tasks, long enough on single-thread workers for a fault at 100–150 ms to land
/// early in the job.
fn long_corpus(dir: &Path) -> Vec<PathBuf> {
    (0..12)
        .map(|i| wetgen(dir, &format!("r{i}.warc.wet"), "3MB", 90 + i, &[]))
        .collect()
}

/// Runs `wetmr run` on `workers`, doing `fault` to the worker `victim` after `delay`.
/// Returns (exit code, stdout, stderr, stats JSON).
fn run_with_fault(
    dir: &Path,
    files: &[PathBuf],
    workers: &[Worker],
    victim: usize,
    delay: Duration,
    signal: i32,
) -> (Option<i32>, Vec<u8>, String, serde_json::Value) {
    let machines = dir.join("machines.txt");
    let list: Vec<&str> = workers.iter().map(|w| w.addr.as_str()).collect();
    std::fs::write(&machines, list.join("\n")).unwrap();
    let stats = dir.join("stats.json");
    let _ = std::fs::remove_file(&stats);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wetmr"));
    cmd.args([
        "run",
        "-q",
        "--heartbeat-interval",
        "0.1",
        "--heartbeat-timeout",
        "1",
    ])
    .arg("--machines")
    .arg(&machines)
    .arg("--stats")
    .arg(&stats)
    .args(files);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    if signal != 0 {
        unsafe { libc::kill(workers[victim].child.id() as i32, signal) };
    }
    let out = child.wait_with_output().unwrap();
    let stats = std::fs::read(&stats)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    let err = stderr(&out);
    (out.status.code(), out.stdout, err, stats)
}

fn local(files: &[PathBuf]) -> Vec<u8> {
    let mut args = vec!["count", "-q"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let out = wetmr(&args, &[]);
    assert_eq!(out.status.code(), Some(0));
    out.stdout
}

#[test]
fn a_worker_killed_at_any_moment_changes_nothing() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let want = local(&files);
    // The moments are fractions of a fault-free run of the same job on this machine, so
    // that they fall in the map, the shuffle and the reduce whatever its speed: the faster
    // of two runs (the first warms the caches), timed from the command's start as the
    // faults are.
    let mut job = u64::MAX;
    for _ in 0..2 {
        let workers: Vec<Worker> = (0..3).map(|_| Worker::start(1)).collect();
        let started = std::time::Instant::now();
        let (code, out, err, _) =
            run_with_fault(dir.path(), &files, &workers, 0, Duration::ZERO, 0);
        job = job.min(started.elapsed().as_millis() as u64);
        assert_eq!(code, Some(0), "{err}");
        assert!(out == want);
    }
    let (mut recovered, mut from_copies) = (0, 0);
    for (i, percent) in [2u64, 15, 35, 55, 75, 90].into_iter().enumerate() {
        let ms = job * percent / 100;
        let workers: Vec<Worker> = (0..3).map(|_| Worker::start(1)).collect();
        let victim = i % 3;
        let (code, out, err, stats) = run_with_fault(
            dir.path(),
            &files,
            &workers,
            victim,
            Duration::from_millis(ms),
            libc::SIGKILL,
        );
        assert_eq!(code, Some(0), "kill at {ms} ms: {err}");
        assert!(out == want, "kill at {ms} ms: output differs from count");
        let recovery = &stats["cluster"]["recovery"];
        recovered += recovery["workers_lost"].as_u64().unwrap_or(0);
        from_copies += recovery["tasks_from_copies"].as_u64().unwrap_or(0);
    }
    assert!(
        recovered >= 3,
        "only {recovered} of 6 kills landed during a {job} ms job"
    );
    // Late kills find finished tasks: their buddies' copies stand in for them.
    assert!(from_copies >= 1, "no finished task was sent from copies");
}

#[test]
fn kept_outputs_spilled_to_disk_rebuild_a_killed_workers_partitions() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let want = local(&files);
    let spill = dir.path().join("spill");
    std::fs::create_dir(&spill).unwrap();
    let options = ["--kept-memory", "0", "--spill-dir", spill.to_str().unwrap()];
    let start = || -> Vec<Worker> {
        (0..3)
            .map(|_| Worker::start_with("127.0.0.1:0", 1, &options))
            .collect()
    };
    let started = std::time::Instant::now();
    let (code, out, err, stats) =
        run_with_fault(dir.path(), &files, &start(), 0, Duration::ZERO, 0);
    let job = started.elapsed().as_millis() as u64;
    assert_eq!(code, Some(0), "{err}");
    assert!(out == want, "spilling changed the output");
    let spilled: u64 = stats["cluster"]["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kept_bytes_spilled"].as_u64().unwrap())
        .sum();
    assert!(spilled > 0, "nothing was spilled with no memory for it");
    // Killed late, once tasks are done: their outputs come back from the spill files.
    let mut lost = 0;
    for (i, percent) in [50u64, 70, 90].into_iter().enumerate() {
        let delay = Duration::from_millis(job * percent / 100);
        let (code, out, err, stats) =
            run_with_fault(dir.path(), &files, &start(), i, delay, libc::SIGKILL);
        assert_eq!(code, Some(0), "kill at {percent}%: {err}");
        assert!(out == want, "kill at {percent}%: output differs from count");
        lost += stats["cluster"]["recovery"]["workers_lost"]
            .as_u64()
            .unwrap_or(0);
    }
    assert!(lost >= 1, "no kill landed during a {job} ms job");
    // Spill files are unlinked when created, even those of the killed workers.
    assert_eq!(std::fs::read_dir(&spill).unwrap().count(), 0);
}

#[test]
fn a_spill_directory_that_cannot_be_used_stops_the_worker_at_start() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let out = common::wetmr(
        &[
            "worker",
            "--listen",
            "127.0.0.1:0",
            "--spill-dir",
            missing.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(missing.to_str().unwrap()),
        "{}",
        stderr(&out)
    );
    let out = common::wetmr(&["worker", "--kept-memory", "2X"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a size"), "{}", stderr(&out));
}

#[test]
fn a_stopped_worker_is_declared_lost_and_its_work_redone() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let workers: Vec<Worker> = (0..3).map(|_| Worker::start(1)).collect();
    let (code, out, err, stats) = run_with_fault(
        dir.path(),
        &files,
        &workers,
        1,
        Duration::from_millis(60),
        libc::SIGSTOP,
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out == local(&files), "output differs from count");
    assert_eq!(stats["cluster"]["recovery"]["workers_lost"], 1, "{stats}");
    assert!(stats["cluster"]["workers"][1]["lost"]
        .as_str()
        .unwrap()
        .contains("heartbeat"));
    unsafe { libc::kill(workers[1].child.id() as i32, libc::SIGCONT) };
}

#[test]
fn every_worker_killed_fails_cleanly() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let workers: Vec<Worker> = (0..2).map(|_| Worker::start(1)).collect();
    let out_file = dir.path().join("out.tsv");
    std::fs::write(&out_file, "older\n").unwrap();
    let machines = dir.path().join("machines.txt");
    std::fs::write(
        &machines,
        format!("{}\n{}\n", workers[0].addr, workers[1].addr),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_wetmr"))
        .args(["run", "-q", "--machines", machines.to_str().unwrap(), "-o"])
        .arg(&out_file)
        .args(&files)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    for w in &workers {
        unsafe { libc::kill(w.child.id() as i32, libc::SIGKILL) };
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("no live worker"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "older\n");
}

#[test]
fn a_restarted_worker_joins_the_running_job() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = long_corpus(dir.path());
    let mut workers: Vec<Worker> = (0..3).map(|_| Worker::start(1)).collect();
    let machines = dir.path().join("machines.txt");
    let list: Vec<&str> = workers.iter().map(|w| w.addr.as_str()).collect();
    std::fs::write(&machines, list.join("\n")).unwrap();
    let stats = dir.path().join("stats.json");
    let child = Command::new(env!("CARGO_BIN_EXE_wetmr"))
        .args(["run", "-q", "--heartbeat-interval", "0.05"])
        .arg("--machines")
        .arg(&machines)
        .arg("--stats")
        .arg(&stats)
        .args(&files)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // Killed, and started again at once on the same address: it joins the job.
    let addr = workers[1].addr.clone();
    unsafe { libc::kill(workers[1].child.id() as i32, libc::SIGKILL) };
    let _ = workers[1].child.wait();
    workers[1] = Worker::start_at(&addr, 1);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout == local(&files), "output differs from count");
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    let recovery = &stats["cluster"]["recovery"];
    assert_eq!(recovery["workers_lost"], 1, "{stats}");
    assert_eq!(recovery["workers_joined"], 1, "{stats}");
    assert_eq!(stats["cluster"]["workers"][1]["joined"], 1, "{stats}");
    assert!(
        stats["cluster"]["workers"][1]["tasks"].as_u64().unwrap() > 0,
        "the restarted worker took no task: {stats}"
    );
}

#[test]
fn a_killed_coordinator_leaves_no_output_and_the_same_command_runs_again() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = long_corpus(dir.path());
    let workers: Vec<Worker> = (0..2).map(|_| Worker::start(1)).collect();
    let machines = dir.path().join("machines.txt");
    let list: Vec<&str> = workers.iter().map(|w| w.addr.as_str()).collect();
    std::fs::write(&machines, list.join("\n")).unwrap();
    let out_file = dir.path().join("out.tsv");
    std::fs::write(&out_file, "older\n").unwrap();
    let run = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wetmr"));
        cmd.args(["run", "-q", "--machines", machines.to_str().unwrap(), "-o"])
            .arg(&out_file)
            .args(&files)
            .stderr(std::process::Stdio::piped());
        cmd
    };
    let mut first = run().spawn().unwrap();
    std::thread::sleep(Duration::from_millis(150));
    unsafe { libc::kill(first.id() as i32, libc::SIGKILL) };
    let _ = first.wait();
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "older\n");
    // As cron would: the same command again, on the same workers (they dropped the job).
    let again = run().output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(std::fs::read(&out_file).unwrap() == local(&files));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains(".tmp")),
        "temporary files left: {names:?}"
    );
}
