//! Failures with real processes on loopback: a worker SIGKILLed or SIGSTOPped at seeded
//! moments of a job (map, shuffle, reduce), and every worker killed. The output must be
//! byte for byte that of `wetmr count`, or a clean failure (exit 4, no output).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::proxy::Proxy;
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
            wetgen(dir, &format!("f{i}.warc.wet"), "4MB", 70 + i, gz)
        })
        .collect()
}

/// A dozen tasks, long enough on single-thread workers for a fault at 100–150 ms to land
/// early in the job.
fn long_corpus(dir: &Path) -> Vec<PathBuf> {
    (0..12)
        .map(|i| wetgen(dir, &format!("r{i}.warc.wet"), "6MB", 90 + i, &[]))
        .collect()
}

/// Runs `wetmr run` on `workers`, sending `signal` (none if 0) to the worker `victim`
/// after `delay`. Returns (exit code, stdout, stderr, stats JSON).
fn run_with_fault(
    dir: &Path,
    files: &[PathBuf],
    workers: &[Worker],
    victim: usize,
    delay: Duration,
    signal: i32,
) -> (Option<i32>, Vec<u8>, String, serde_json::Value) {
    let addrs: Vec<&str> = workers.iter().map(|w| w.addr.as_str()).collect();
    let pid = workers[victim].child.id() as i32;
    run_job(dir, files, &addrs, delay, || {
        if signal != 0 {
            common::signal(pid, signal);
        }
    })
}

/// Runs `wetmr run` on the workers at `addrs` (short heartbeats), doing `fault` after
/// `delay`. Returns (exit code, stdout, stderr, stats JSON).
fn run_job(
    dir: &Path,
    files: &[PathBuf],
    addrs: &[&str],
    delay: Duration,
    fault: impl FnOnce(),
) -> (Option<i32>, Vec<u8>, String, serde_json::Value) {
    let options = [
        "-q",
        "--heartbeat-interval",
        "0.1",
        "--heartbeat-timeout",
        "1",
    ];
    let child = spawn_run(dir, files, addrs, &options);
    std::thread::sleep(delay);
    fault();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    (out.status.code(), out.stdout, err, stats_of(dir))
}

/// Runs `wetmr run` on the workers at `addrs` (short heartbeats), doing `fault` at its
/// first progress line once the job is sent to the workers. Returns (exit code, stdout,
/// stderr, stats JSON).
fn run_job_once_started(
    dir: &Path,
    files: &[PathBuf],
    addrs: &[&str],
    fault: impl FnOnce() + Send,
) -> (Option<i32>, Vec<u8>, String, serde_json::Value) {
    use std::io::BufRead;
    let options = [
        "--progress",
        "0.01",
        "--heartbeat-interval",
        "0.1",
        "--heartbeat-timeout",
        "1",
    ];
    let mut child = spawn_run(dir, files, addrs, &options);
    let log = child.stderr.take().unwrap();
    let (out, err) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut fault = Some(fault);
            let mut sent = false;
            let mut lines = Vec::new();
            for line in std::io::BufReader::new(log).lines().map_while(Result::ok) {
                sent |= line.starts_with("wetmr: job ");
                if sent && line.contains("progress:") {
                    if let Some(fault) = fault.take() {
                        fault();
                    }
                }
                lines.push(line);
            }
            lines.join("\n")
        });
        let out = child.wait_with_output().unwrap();
        (out, reader.join().unwrap())
    });
    (out.status.code(), out.stdout, err, stats_of(dir))
}

/// Starts `wetmr run` with `options` on the workers at `addrs`, its stats going to
/// `dir` (read them with [`stats_of`]); its stdout and stderr are piped.
fn spawn_run(
    dir: &Path,
    files: &[PathBuf],
    addrs: &[&str],
    options: &[&str],
) -> std::process::Child {
    let machines = dir.join("machines.txt");
    std::fs::write(&machines, addrs.join("\n")).unwrap();
    let stats = dir.join("stats.json");
    let _ = std::fs::remove_file(&stats);
    Command::new(env!("CARGO_BIN_EXE_wetmr"))
        .arg("run")
        .args(options)
        .arg("--machines")
        .arg(&machines)
        .arg("--stats")
        .arg(&stats)
        .args(files)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The stats JSON of the last [`spawn_run`] in `dir` (null if it wrote none).
fn stats_of(dir: &Path) -> serde_json::Value {
    std::fs::read(dir.join("stats.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
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
    let mut recovered = 0;
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
    }
    assert!(
        recovered >= 3,
        "only {recovered} of 6 kills landed during a {job} ms job"
    );
}

#[test]
fn a_worker_killed_after_its_tasks_are_done_is_replaced_by_its_buddys_copies() {
    use std::io::BufRead;
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let want = local(&files);
    let mut from_copies = Vec::new();
    // Killed as soon as three of the four tasks are done (the coordinator's progress
    // lines say when): one of the three victims has finished tasks, whatever the timing.
    for victim in 0..3 {
        let workers: Vec<Worker> = (0..3).map(|_| Worker::start(1)).collect();
        let addrs: Vec<&str> = workers.iter().map(|w| w.addr.as_str()).collect();
        let options = ["--progress", "0.01", "--heartbeat-interval", "0.1"];
        let mut child = spawn_run(dir.path(), &files, &addrs, &options);
        let pid = workers[victim].child.id() as i32;
        let log = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut killed = false;
            for line in std::io::BufReader::new(log).lines().map_while(Result::ok) {
                if !killed
                    && ["3/4", "4/4"]
                        .iter()
                        .any(|d| line.contains(&format!("progress: {d}")))
                {
                    common::signal(pid, libc::SIGKILL);
                    killed = true;
                }
                lines.push(line);
            }
            lines.join("\n")
        });
        let out = child.wait_with_output().unwrap();
        let log = reader.join().unwrap();
        assert_eq!(out.status.code(), Some(0), "{log}");
        assert!(
            out.stdout == want,
            "victim {victim}: output differs from count"
        );
        let stats = stats_of(dir.path());
        from_copies.push(stats["cluster"]["recovery"]["tasks_from_copies"].clone());
    }
    assert!(
        from_copies.iter().any(|n| n.as_u64() > Some(0)),
        "no finished task was sent from copies: {from_copies:?}"
    );
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
    for (i, percent) in [30u64, 50, 70].into_iter().enumerate() {
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
fn a_cut_or_stalled_network_changes_nothing() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let want = local(&files);
    // Each worker behind a proxy: every connection to it (the coordinator's, its peers')
    // goes through the proxy, so the faults hit all of them.
    // The fault comes with the first progress line once the job is out (the coordinator
    // says "job ..."): early in the job, whatever this machine's speed.
    let job = |fault: &(dyn Fn(&Proxy) + Sync)| {
        let workers: Vec<Worker> = (0..3).map(|_| Worker::start(1)).collect();
        let proxies: Vec<Proxy> = workers.iter().map(|w| Proxy::start(&w.addr)).collect();
        let addrs: Vec<&str> = proxies.iter().map(|p| p.addr.as_str()).collect();
        run_job_once_started(dir.path(), &files, &addrs, || fault(&proxies[1]))
    };
    let (code, out, err, _) = job(&|_| {});
    assert_eq!(code, Some(0), "{err}");
    assert!(out == want, "the proxies changed the output");
    // Every connection to worker 1 cut at once, early in the job: lost, and it joins
    // again when the coordinator tries it.
    let (code, out, err, stats) = job(&|p| p.cut());
    assert_eq!(code, Some(0), "cut: {err}");
    assert!(out == want, "cut: output differs from count");
    let lost = stats["cluster"]["workers"][1]["lost"]
        .as_str()
        .unwrap_or("");
    assert!(!lost.is_empty(), "cut: worker 1 was not lost: {stats}");
    // Its network stalled for longer than the heartbeat timeout, then back: lost for its
    // silence, and whatever it had in flight arrives too late to count twice.
    let (code, out, err, stats) = job(&|p| {
        p.stall(true);
        std::thread::sleep(Duration::from_millis(1500));
        p.stall(false);
    });
    assert_eq!(code, Some(0), "stall: {err}");
    assert!(out == want, "stall: output differs from count");
    let lost = stats["cluster"]["workers"][1]["lost"]
        .as_str()
        .unwrap_or("");
    assert!(
        lost.contains("heartbeat"),
        "stall: worker 1 lost for {lost:?}"
    );
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
    common::signal(workers[1].child.id() as i32, libc::SIGCONT);
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
        common::signal(w.child.id() as i32, libc::SIGKILL);
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
    let addrs: Vec<&str> = workers.iter().map(|w| w.addr.as_str()).collect();
    let options = ["-q", "--heartbeat-interval", "0.05"];
    let child = spawn_run(dir.path(), &files, &addrs, &options);
    std::thread::sleep(Duration::from_millis(100));
    // Killed, and started again at once on the same address: it joins the job.
    let addr = workers[1].addr.clone();
    common::signal(workers[1].child.id() as i32, libc::SIGKILL);
    let _ = workers[1].child.wait();
    workers[1] = Worker::start_at(&addr, 1);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout == local(&files), "output differs from count");
    let stats = stats_of(dir.path());
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
    common::signal(first.id() as i32, libc::SIGKILL);
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

/// The coordinator stopped (Ctrl-Z, a paused VM) while its workers' heartbeats pile up
/// unread: once it runs again it reads them before judging anyone silent, and its own
/// stall does not count against them, whether shorter than the tail's limit of four
/// heartbeats, or longer than the heartbeat timeout.
#[test]
fn a_paused_coordinator_blames_no_worker() {
    use std::io::BufRead;
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let want = local(&files);
    for (pause, timeout) in [
        (Duration::from_millis(1500), "10"),
        (Duration::from_secs(3), "1"),
    ] {
        let workers: Vec<Worker> = (0..3).map(|_| Worker::start(1)).collect();
        let addrs: Vec<&str> = workers.iter().map(|w| w.addr.as_str()).collect();
        let options = ["--progress", "0.01", "--heartbeat-timeout", timeout];
        let mut child = spawn_run(dir.path(), &files, &addrs, &options);
        let pid = child.id() as i32;
        let log = child.stderr.take().unwrap();
        // Stopped as soon as every file is counted: the job's tail, where a worker may
        // miss only four heartbeats (0.4 s).
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut stopped = false;
            for line in std::io::BufReader::new(log).lines().map_while(Result::ok) {
                if !stopped && line.contains("4 counted") {
                    common::signal(pid, libc::SIGSTOP);
                    std::thread::sleep(pause);
                    common::signal(pid, libc::SIGCONT);
                    stopped = true;
                }
                lines.push(line);
            }
            (stopped, lines.join("\n"))
        });
        let out = child.wait_with_output().unwrap();
        let (stopped, log) = reader.join().unwrap();
        assert!(stopped, "the job ended before its tail was seen: {log}");
        assert_eq!(out.status.code(), Some(0), "paused {pause:?}: {log}");
        assert!(
            out.stdout == want,
            "paused {pause:?}: output differs from count"
        );
        let stats = stats_of(dir.path());
        assert_eq!(
            stats["cluster"]["recovery"]["workers_lost"], 0,
            "paused {pause:?}: {log}"
        );
    }
}

/// A job that ends while a worker still maps one of its files (here its coordinator is
/// killed) abandons that map at its next record instead of letting it run to its end.
#[test]
fn a_map_outliving_its_job_is_abandoned() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    // One stream, one chunk: a map of a second or so on one thread.
    let big = wetgen(
        dir.path(),
        "big.warc.wet.gz",
        "60MB",
        93,
        &["--gzip", "--single-stream"],
    );
    let log = dir.path().join("worker.log");
    let worker = Worker::start_logged(1, &[], &log);
    let mut child = spawn_run(
        dir.path(),
        std::slice::from_ref(&big),
        &[worker.addr.as_str()],
        &["-q"],
    );
    let waited = std::time::Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("worker 0 of 1")
    {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "the job never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let size = std::fs::metadata(&big).unwrap().len() as f64 / 1e6;
    loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if let Some(line) = text.lines().find(|l| l.contains("map abandoned after")) {
            let mb: f64 = line
                .split("abandoned after ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap();
            assert!(mb < size, "abandoned only at the end: {line}");
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "never abandoned: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
