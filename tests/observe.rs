//! What a person sees of a job, tested as a person would meet it: the status document
//! fetched over HTTP from a real cluster job (one of whose workers is killed), the status
//! page opened in a real headless Chromium (Debian's, installed by `.ci/run`), and the
//! terminal bar drawn on a real pseudo-terminal (Python's pty module) — and not drawn when
//! standard error is a file.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{keygen, wetgen, Worker};
use serde_json::Value;

/// Jobs here are timed by the tests' polling: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Plain files, long enough on single-thread workers for a job of a few seconds.
fn corpus(dir: &Path, n: u64) -> Vec<PathBuf> {
    (0..n)
        .map(|i| wetgen(dir, &format!("s{i}.warc.wet"), "6MB", 300 + i, &[]))
        .collect()
}

/// A `wetmr run` started with `--status`, and the page's address it printed.
struct Job {
    child: Child,
    url: String,
    /// The rest of its stderr, once it exits.
    log: mpsc::Receiver<String>,
}

fn start_run(dir: &Path, files: &[PathBuf], addrs: &[&str], options: &[&str]) -> Job {
    let machines = dir.join("machines.txt");
    std::fs::write(&machines, addrs.join("\n")).unwrap();
    // Quick heartbeats, unless the test sets its own timeout.
    let timeout = match options.contains(&"--heartbeat-timeout") {
        true => &[][..],
        false => &["--heartbeat-timeout", "1"][..],
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_wetmr"))
        .arg("run")
        .args(["--heartbeat-interval", "0.1"])
        .args(timeout)
        .args(["--progress", "0"])
        .args(options)
        .arg("--machines")
        .arg(&machines)
        .arg("--stats")
        .arg(dir.join("stats.json"))
        .arg("-o")
        .arg(dir.join("out.tsv"))
        .args(files)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (url_tx, url_rx) = mpsc::channel();
    let (log_tx, log) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("wetmr: status page on ") {
                let _ = url_tx.send(url.to_string());
            }
            lines.push(line);
        }
        let _ = log_tx.send(lines.join("\n"));
    });
    let url = url_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("wetmr run prints the status page's address");
    Job { child, url, log }
}

impl Job {
    fn wait(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        let log = self
            .log
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_default();
        (status.code(), log)
    }
}

/// A GET over a plain socket (HTTP/1.0): the status code and body, or None when the
/// server is gone.
fn get(url: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n");
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += "\r\n";
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// The document's URL for the page at `page` (its token passed on).
fn document_url(page: &str) -> String {
    match page.split_once("/?") {
        Some((base, query)) => format!("{base}/status.json?{query}"),
        None => format!("{}status.json", page),
    }
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

fn sorted(mut keys: Vec<&'static str>) -> Vec<&'static str> {
    keys.sort_unstable();
    keys
}

/// Every field the README documents, at every level.
fn assert_documented_fields(s: &Value) {
    assert_eq!(
        keys(s),
        sorted(vec![
            "version",
            "seq",
            "job",
            "phase",
            "error",
            "elapsed",
            "progress",
            "partitions",
            "workers",
            "files",
            "tasks",
            "events",
            "recovery",
            "downloads"
        ])
    );
    assert_eq!(
        keys(&s["progress"]),
        sorted(vec![
            "files",
            "files_done",
            "files_running",
            "files_pending",
            "files_failed",
            "bytes_total",
            "bytes_done",
            "rate"
        ])
    );
    for w in s["workers"].as_array().unwrap() {
        assert_eq!(
            keys(w),
            sorted(vec![
                "address",
                "state",
                "threads",
                "slots",
                "partitions_owned",
                "running",
                "tasks_done",
                "bytes_in",
                "bytes_reading",
                "records",
                "shuffle_bytes_sent",
                "shuffle_bytes_received",
                "shuffle_bytes_kept",
                "rate",
                "silent_for",
                "heartbeats_missed",
                "lost",
                "joined"
            ])
        );
    }
    for t in s["tasks"].as_array().unwrap() {
        assert_eq!(keys(t), sorted(vec!["state", "attempts"]));
        for a in t["attempts"].as_array().unwrap() {
            assert_eq!(
                keys(a),
                sorted(vec![
                    "attempt",
                    "worker",
                    "backup",
                    "started",
                    "mapped",
                    "ended",
                    "outcome",
                    "bytes_read"
                ])
            );
        }
    }
    for e in s["events"].as_array().unwrap() {
        assert_eq!(
            keys(e),
            sorted(vec!["at", "kind", "worker", "task", "detail"])
        );
    }
}

/// The figures of one status that must agree with one another.
fn assert_consistent(s: &Value) {
    let p = &s["progress"];
    let n = |v: &Value| v.as_u64().unwrap();
    assert_eq!(
        n(&p["files"]),
        n(&p["files_done"])
            + n(&p["files_running"])
            + n(&p["files_pending"])
            + n(&p["files_failed"]),
        "{p}"
    );
    let tasks = s["tasks"].as_array().unwrap();
    assert_eq!(tasks.len() as u64, n(&p["files"]));
    assert_eq!(s["files"].as_array().unwrap().len(), tasks.len());
    let done = tasks.iter().filter(|t| t["state"] == "done").count() as u64;
    assert_eq!(done, n(&p["files_done"]));
    if let Some(total) = p["bytes_total"].as_u64() {
        assert!(n(&p["bytes_done"]) <= total, "{p}");
    }
    let workers = s["workers"].as_array().unwrap();
    for (t, task) in tasks.iter().enumerate() {
        for a in task["attempts"].as_array().unwrap() {
            let w = n(&a["worker"]) as usize;
            assert!(w < workers.len());
            if a["outcome"] == "running" {
                assert!(a["ended"].is_null());
                let listed = workers[w]["running"].as_array().unwrap();
                assert!(
                    listed.contains(&Value::from(t)),
                    "task {t} not listed on {w}"
                );
            } else {
                assert!(a["ended"].as_f64().unwrap() >= a["started"].as_f64().unwrap());
            }
        }
        // A done task has a copy that finished.
        if task["state"] == "done" {
            let finished = task["attempts"].as_array().unwrap();
            assert!(
                finished.iter().any(|a| a["outcome"] == "done"),
                "task {t}: {task}"
            );
        }
    }
}

/// Applies `changes` (a `?since=` document) to `whole`'s tasks and files: they must be
/// `later`'s (a whole document of the same number). Returns whether a task had changed.
fn check_changes(whole: &Value, changes: &Value, later: &Value) -> bool {
    assert_eq!(changes["tasks_since"], whole["seq"]);
    assert!(changes.get("tasks").is_none() && changes.get("files").is_none());
    let mut tasks = whole["tasks"].as_array().unwrap().clone();
    let mut files = whole["files"].as_array().unwrap().clone();
    for change in changes["task_changes"].as_array().unwrap() {
        assert_eq!(
            keys(change),
            sorted(vec!["task", "file", "state", "attempts"])
        );
        let t = change["task"].as_u64().unwrap() as usize;
        tasks[t] = serde_json::json!({"state": change["state"], "attempts": change["attempts"]});
        files[t] = change["file"].clone();
    }
    assert_eq!(&tasks, later["tasks"].as_array().unwrap(), "tasks replayed");
    assert_eq!(&files, later["files"].as_array().unwrap());
    // Everything but the tasks is the whole document's.
    for key in keys(later) {
        if key != "tasks" && key != "files" {
            assert_eq!(changes[key], later[key], "{key}");
        }
    }
    &tasks != whole["tasks"].as_array().unwrap()
}

#[test]
fn the_status_document_follows_a_cluster_job_and_shows_a_killed_worker_lost() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path(), 24);
    let workers: Vec<Worker> = (0..3).map(|_| Worker::start(1)).collect();
    let addrs: Vec<&str> = workers.iter().map(|w| w.addr.as_str()).collect();
    let job = start_run(dir.path(), &files, &addrs, &["--status", "127.0.0.1:0"]);
    assert!(job.url.starts_with("http://127.0.0.1:"), "{}", job.url);
    let document = document_url(&job.url);
    let victim = 2;
    let mut statuses: Vec<Value> = Vec::new();
    let mut killed_at = None;
    // Statuses rebuilt from an earlier one and the changes since: they must be whole.
    let mut replayed = 0;
    let started = Instant::now();
    while let Some((code, body)) = get(&document, &[]) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the job does not end"
        );
        if code == 503 {
            continue;
        }
        assert_eq!(code, 200, "{body}");
        let status: Value = serde_json::from_str(&body).unwrap();
        if statuses.is_empty() {
            let junk = get(&format!("{document}?since=last"), &[]).unwrap();
            assert_eq!(junk.0, 400, "{}", junk.1);
        }
        // The changes since the last document, to be replayed on it.
        if let Some(earlier) = statuses.last().filter(|e| e["seq"] != status["seq"]) {
            let url = format!("{document}?since={}", earlier["seq"]);
            if let Some((200, body)) = get(&url, &[]) {
                let changes: Value = serde_json::from_str(&body).unwrap();
                if changes["seq"] == status["seq"] {
                    replayed += check_changes(earlier, &changes, &status) as usize;
                }
            }
        }
        if killed_at.is_none() && status["progress"]["files_done"].as_u64().unwrap() >= 2 {
            common::signal(workers[victim].child.id() as i32, libc::SIGKILL);
            killed_at = Some(statuses.len());
        }
        statuses.push(status);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, log) = job.wait();
    assert_eq!(code, Some(0), "{log}");
    assert!(replayed > 0, "no changes were replayed on a status");
    let killed_at = killed_at.expect("the job ran long enough to kill a worker");
    assert!(
        statuses.len() > killed_at + 2,
        "too few statuses after the kill"
    );

    for status in &statuses {
        assert_documented_fields(status);
        assert_consistent(status);
        assert_eq!(status["version"], 1);
    }
    // Before the kill, everyone works; after, the victim shows as lost, with why, and
    // the copies it ran ended with it.
    assert!(statuses[..killed_at].iter().all(|s| s["workers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["state"] != "lost")));
    let seen_lost = statuses[killed_at..]
        .iter()
        .find(|s| s["workers"][victim]["state"] == "lost")
        .expect("the killed worker shows as lost");
    assert!(seen_lost["workers"][victim]["lost"].is_string());
    let events = seen_lost["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "worker_lost" && e["worker"] == victim),
        "{events:?}"
    );
    assert_eq!(seen_lost["recovery"]["workers_lost"], 1);
    let last = statuses.last().unwrap();
    let lost_copies = last["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["attempts"].as_array().unwrap())
        .filter(|a| a["worker"] == victim && a["outcome"] == "lost")
        .count();
    let victim_done = last["workers"][victim]["tasks_done"].as_u64().unwrap();
    assert!(
        lost_copies > 0 || victim_done > 0,
        "the victim had run nothing"
    );

    // Consistent with the final stats.
    let stats: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("stats.json")).unwrap()).unwrap();
    let final_workers = stats["cluster"]["workers"].as_array().unwrap();
    let addresses = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|w| w["address"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        addresses(&last["workers"]),
        addresses(&stats["cluster"]["workers"])
    );
    let stat_files = stats["per_file"].as_array().unwrap();
    assert_eq!(last["files"].as_array().unwrap().len(), stat_files.len());
    let bytes_in: u64 = stat_files
        .iter()
        .map(|f| f["bytes_in"].as_u64().unwrap())
        .sum();
    assert_eq!(last["progress"]["bytes_total"].as_u64(), Some(bytes_in));
    assert_eq!(
        last["recovery"]["workers_lost"],
        stats["cluster"]["recovery"]["workers_lost"]
    );
    assert_eq!(last["partitions"], stats["cluster"]["partitions"]);
    for (now, end) in last["workers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(final_workers)
    {
        assert!(
            now["tasks_done"].as_u64() <= end["tasks"].as_u64(),
            "{now} vs {end}"
        );
        assert!(now["bytes_in"].as_u64() <= end["bytes_in"].as_u64());
        assert_eq!(now["threads"], end["threads"]);
    }
    assert_eq!(
        last["workers"][victim]["lost"].is_string(),
        final_workers[victim]["lost"].is_string()
    );
}

#[test]
fn off_loopback_the_status_page_needs_the_secret_and_its_token() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path(), 1);
    let file = files[0].to_str().unwrap();
    // No secret: refused before anything starts.
    let out = common::wetmr(
        &[
            "cluster",
            "--workers",
            "1",
            "--status",
            "0.0.0.0:0",
            "--secret-file",
            "/nonexistent",
        ],
        &[],
    );
    assert_ne!(out.status.code(), Some(0));
    let machines = dir.path().join("m.txt");
    std::fs::write(&machines, "127.0.0.1:1\n").unwrap();
    let out = common::wetmr(
        &[
            "run",
            "--machines",
            machines.to_str().unwrap(),
            "--status",
            "0.0.0.0:0",
            file,
        ],
        &[],
    );
    common::assert_exit(
        &out,
        1,
        &["--status", "not a loopback address", "--secret-file"],
    );

    // With the secret: the page and the document ask for the token.
    let key = keygen(dir.path(), "key");
    let key = key.to_str().unwrap();
    let workers: Vec<Worker> = (0..2)
        .map(|_| Worker::start_with("127.0.0.1:0", 1, &["--secret-file", key]))
        .collect();
    let addrs: Vec<&str> = workers.iter().map(|w| w.addr.as_str()).collect();
    let files = corpus(dir.path(), 12);
    let job = start_run(
        dir.path(),
        &files,
        &addrs,
        &["--status", "0.0.0.0:0", "--secret-file", key],
    );
    let (base, token) = job
        .url
        .split_once("/?token=")
        .expect("the address carries a token");
    assert_eq!(token.len(), 32, "{}", job.url);
    assert!(
        !std::fs::read_to_string(key).unwrap().contains(token),
        "the token is the secret"
    );
    let plain = format!("{base}/status.json");
    let (code, body) = get(&plain, &[]).unwrap();
    assert_eq!(code, 401, "{body}");
    assert_eq!(get(&format!("{base}/"), &[]).unwrap().0, 401);
    let wrong = format!("{plain}?token={}", "0".repeat(32));
    assert_eq!(get(&wrong, &[]).unwrap().0, 401);
    let (code, _) = get(&document_url(&job.url), &[]).unwrap();
    assert!(code == 200 || code == 503, "{code}");
    let bearer = format!("Bearer {token}");
    let (code, _) = get(&plain, &[("Authorization", &bearer)]).unwrap();
    assert!(code == 200 || code == 503, "{code}");
    let (code, page) = get(&job.url, &[]).unwrap();
    assert_eq!(code, 200);
    assert!(page.contains("<title>wetmr job</title>"));
    let (code, log) = job.wait();
    assert_eq!(code, Some(0), "{log}");
}

/// Debian's Chromium, if it is installed.
fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        eprintln!("SKIPPED: no Chromium (apt-get install chromium); pages not opened");
    }
    found
}

/// Opens `url` in headless Chromium: with `screenshot`, saves one there; otherwise returns
/// the DOM once the page's scripts ran for a while. Also returns what the page wrote on
/// its console (errors, uncaught exceptions and CSP violations included).
fn browse(chromium: &Path, url: &str, screenshot: Option<&Path>) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1300,1000",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(path) => command.arg(format!("--screenshot={}", path.display())),
        None => command.arg("--dump-dom"),
    };
    let out = command.arg(url).output().expect("chromium runs");
    let log = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = log.lines().rev().take(20).collect();
    assert!(out.status.success(), "chromium failed on {url}: {tail:#?}");
    let console = log
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

/// Where the tests leave their screenshots, to be looked at.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A PNG's width and height, from its header.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

/// Polls the job's status until `files` files are done.
fn wait_for_files_done(job: &Job, files: u64) {
    let document = document_url(&job.url);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, body) = get(&document, &[]).expect("the coordinator serves");
        if code == 200 {
            let s: Value = serde_json::from_str(&body).unwrap();
            if s["progress"]["files_done"].as_u64().unwrap() >= files {
                return;
            }
        }
        assert!(Instant::now() < deadline, "fewer than {files} files done");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal_all(workers: &[Worker], signal: i32) {
    for worker in workers {
        common::signal(worker.child.id() as i32, signal);
    }
}

#[test]
fn the_status_page_renders_in_a_real_browser() {
    let Some(chromium) = chromium() else { return };
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path(), 48);
    let workers: Vec<Worker> = (0..2).map(|_| Worker::start(1)).collect();
    let addrs: Vec<&str> = workers.iter().map(|w| w.addr.as_str()).collect();
    let options = ["--status", "127.0.0.1:0", "--heartbeat-timeout", "600"];
    let job = start_run(dir.path(), &files, &addrs, &options);
    // Once some task has run, the timeline has something to draw.
    wait_for_files_done(&job, 1);
    // The workers are stopped while the browser looks: the job (and its status page) is
    // still there however slowly Chromium starts.
    signal_all(&workers, libc::SIGSTOP);
    // The DOM and a screenshot, both while the job runs.
    let shot = screenshot_dir().join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let ((dom, console), (_, shot_console)) = std::thread::scope(|scope| {
        let dom = scope.spawn(|| browse(&chromium, &job.url, None));
        let picture = browse(&chromium, &job.url, Some(&shot));
        (dom.join().unwrap(), picture)
    });
    assert!(
        console.is_empty(),
        "the page wrote on its console: {console:#?}"
    );
    assert!(shot_console.is_empty(), "{shot_console:#?}");
    assert!(
        dom.contains("data-shown=\""),
        "the page never showed a status: {dom}"
    );
    for addr in &addrs {
        assert!(
            dom.contains(&format!("<td>{addr}</td>")),
            "{addr} not in the table"
        );
    }
    let attempts = dom.matches("class=\"attempt\"").count();
    assert!(attempts >= 1, "the timeline is empty: {dom}");
    assert_eq!(png_size(&shot), (1300, 1000));
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 20_000,
        "a blank screenshot?"
    );
    eprintln!("screenshot: {}", shot.display());
    signal_all(&workers, libc::SIGCONT);
    let (code, log) = job.wait();
    assert_eq!(code, Some(0), "{log}");
}

/// A job of many small files: the timeline draws the copies too narrow to see as runs
/// (one bar per run, titled with its number of tasks), not one element per copy.
#[test]
fn the_timeline_of_many_small_files_draws_runs_of_copies() {
    let Some(chromium) = chromium() else { return };
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let one = wetgen(dir.path(), "one.warc.wet", "4KB", 7, &[]);
    // A task takes about half a millisecond: enough of them for a job of seconds.
    let files: Vec<PathBuf> = (0..20_000)
        .map(|i| {
            let link = dir.path().join(format!("small{i:05}.warc.wet"));
            std::fs::hard_link(&one, &link).unwrap();
            link
        })
        .collect();
    let workers: Vec<Worker> = (0..2).map(|_| Worker::start(1)).collect();
    let addrs: Vec<&str> = workers.iter().map(|w| w.addr.as_str()).collect();
    let options = ["--status", "127.0.0.1:0", "--heartbeat-timeout", "600"];
    let mut job = start_run(dir.path(), &files, &addrs, &options);
    let document = document_url(&job.url);
    wait_for_files_done(&job, 200);
    signal_all(&workers, libc::SIGSTOP);
    // The job's clock runs on while the workers are stopped: every finished copy becomes
    // a sliver of the timeline.
    std::thread::sleep(Duration::from_secs(4));
    let (_, body) = get(&document, &[]).unwrap();
    let status: Value = serde_json::from_str(&body).unwrap();
    let copies: usize = (status["tasks"].as_array().unwrap().iter())
        .map(|t| t["attempts"].as_array().unwrap().len())
        .sum();
    let (dom, console) = browse(&chromium, &job.url, None);
    assert!(console.is_empty(), "{console:#?}");
    let bars = dom.matches("class=\"attempt\"").count();
    let run = regex::Regex::new(r"<title>(\d+) tasks, done").unwrap();
    let in_runs: usize = (run.captures_iter(&dom))
        .map(|c| c[1].parse::<usize>().unwrap())
        .sum();
    eprintln!("{copies} copies drawn as {bars} bars, {in_runs} of them in runs");
    assert!(copies >= 200 && bars >= 1, "{copies} copies, {bars} bars");
    assert!(bars * 4 < copies, "{bars} bars for {copies} copies");
    assert!(
        in_runs * 2 > copies,
        "{in_runs} of {copies} copies drawn in runs"
    );
    let _ = job.child.kill();
    let _ = job.child.wait();
}

/// Runs `args` with standard error on a real pseudo-terminal (stdout discarded): the exit
/// code and everything written on the terminal.
fn on_terminal(args: &[&str]) -> (i32, String) {
    let script = "import os, pty, subprocess, sys\n\
         m, s = pty.openpty()\n\
         env = {k: v for k, v in os.environ.items() if not k.startswith('WETMR_')}\n\
         env['TERM'] = 'xterm-256color'\n\
         p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, \
                              stderr=s, env=env)\n\
         os.close(s)\n\
         out = b''\n\
         while True:\n\
         \x20   try:\n\
         \x20       chunk = os.read(m, 65536)\n\
         \x20   except OSError:\n\
         \x20       break\n\
         \x20   if not chunk:\n\
         \x20       break\n\
         \x20   out += chunk\n\
         sys.stdout.buffer.write(out)\n\
         sys.exit(p.wait())\n";
    let out = Command::new("python3")
        .args(["-c", script, env!("CARGO_BIN_EXE_wetmr")])
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_bar_is_drawn_on_a_terminal_and_not_in_a_log() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path(), 12);
    let mut args: Vec<&str> = vec!["count", "--threads", "1", "-o"];
    let out = dir.path().join("out.tsv");
    args.push(out.to_str().unwrap());
    args.extend(files.iter().map(|f| f.to_str().unwrap()));

    let (code, terminal) = on_terminal(&args);
    assert_eq!(code, 0, "{terminal}");
    // The bar: files done, a rate and an ETA, redrawn in place (cursor control), then
    // cleared for the summary line.
    assert!(
        terminal.contains("files 12/12") || terminal.contains("files 11/12"),
        "{terminal:?}"
    );
    assert!(terminal.contains("ETA"), "{terminal:?}");
    assert!(terminal.contains("/s"), "{terminal:?}");
    assert!(
        terminal.contains('\x1b') || terminal.contains('\r'),
        "{terminal:?}"
    );
    assert!(
        terminal.contains("wetmr: 12 files,"),
        "no summary: {terminal:?}"
    );
    assert!(!terminal.contains("wetmr: progress:"), "{terminal:?}");

    // --progress 0 and --quiet: no bar.
    for off in [&["--progress", "0"][..], &["--quiet"]] {
        let mut quiet = args.clone();
        quiet.splice(1..1, off.iter().copied());
        let (code, terminal) = on_terminal(&quiet);
        assert_eq!(code, 0, "{terminal}");
        assert!(
            !terminal.contains("ETA") && !terminal.contains("files "),
            "{off:?}: {terminal:?}"
        );
    }

    // Standard error a file, as under cron: plain lines, no bar.
    let log = dir.path().join("log.txt");
    let status = Command::new(env!("CARGO_BIN_EXE_wetmr"))
        .args(&args[..1])
        .args(["--progress", "0.05"])
        .args(&args[1..])
        .env("TERM", "xterm-256color")
        .stderr(std::fs::File::create(&log).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("wetmr: progress: "), "{log}");
    assert!(log.contains("MB read ("), "{log}");
    assert!(
        !log.contains("ETA") && !log.contains('\x1b') && !log.contains('\r'),
        "{log:?}"
    );
}

#[test]
fn a_cluster_draws_one_line_per_worker_on_a_terminal() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path(), 16);
    let out = dir.path().join("out.tsv");
    let mut args: Vec<&str> = vec![
        "cluster",
        "--workers",
        "2",
        "--threads",
        "1",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let (code, terminal) = on_terminal(&args);
    assert_eq!(code, 0, "{terminal}");
    assert!(
        terminal.contains("ETA") && terminal.contains("files "),
        "{terminal:?}"
    );
    // Two workers on loopback, each on a line of its own with its tasks and rate.
    let worker_lines: std::collections::BTreeSet<&str> = terminal
        .split(['\r', '\n'])
        .filter_map(|l| l.find("127.0.0.1:").map(|i| &l[i..]))
        .filter(|l| l.contains(" done ") && l.contains("MB/s"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(worker_lines.len(), 2, "{terminal:?}");
    assert!(
        terminal.contains("wetmr: 16 files,"),
        "no summary: {terminal:?}"
    );
    assert!(!terminal.contains("wetmr: progress:"), "{terminal:?}");
}

/// The report's figures table (`data-key` cells) as numbers.
fn report_figures(html: &str) -> std::collections::BTreeMap<String, String> {
    let cell = regex::Regex::new(r#"data-key="([a-z_]+)">([^<]*)<"#).unwrap();
    cell.captures_iter(html)
        .map(|c| {
            (
                c[1].to_string(),
                c[2].trim_start_matches("s = ")
                    .trim_start_matches("β = ")
                    .to_string(),
            )
        })
        .collect()
}

/// The `<figure id=ID>` of the report, whole.
fn figure<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<figure id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no {id} figure"));
    let end = start + html[start..].find("</figure>").unwrap();
    &html[start..end]
}

/// Checks a report against the run's stats document, figure by figure, and opens it in
/// Chromium (when there is one): it must say nothing on the console.
fn check_report(report: &Path, stats: &Path, cluster: bool, screenshot: &str) {
    let html = std::fs::read_to_string(report).unwrap();
    let stats: Value = serde_json::from_slice(&std::fs::read(stats).unwrap()).unwrap();
    let figures = report_figures(&html);
    for key in [
        "files",
        "records",
        "conversion_records",
        "tokens",
        "distinct_words",
        "words_written",
        "bytes_in",
        "warc_bytes",
        "threads",
    ] {
        assert_eq!(
            figures.get(key).map(String::as_str),
            Some(stats[key].to_string().as_str()),
            "{key}"
        );
    }
    let seconds: f64 = figures["seconds"].parse().unwrap();
    assert!((seconds - stats["seconds"].as_f64().unwrap()).abs() < 0.001);
    // The languages table holds the stats' languages, row for row.
    let row = regex::Regex::new(
        r#"<tr><td>([^<]*)</td><td class="n">(\d+)</td><td class="n">(\d+)</td></tr>"#,
    )
    .unwrap();
    let shown: Vec<(String, u64, u64)> = row
        .captures_iter(&html)
        .map(|c| {
            (
                c[1].replace("&lt;", "<"),
                c[2].parse().unwrap(),
                c[3].parse().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64, u64)> = (stats["languages"].as_array().unwrap().iter())
        .map(|l| {
            (
                l["language"].as_str().unwrap().to_string(),
                l["records"].as_u64().unwrap(),
                l["tokens"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(shown, want);
    // Each plot is drawn, with its series.
    let count = |fig: &str, what: &str| figure(&html, fig).matches(what).count();
    assert_eq!(count("rank-frequency", "<svg"), 1);
    assert!(count("rank-frequency", "<polyline") >= 2, "curve and fit");
    assert!(
        count("vocabulary-growth", "<polyline") >= 2,
        "curve and fit"
    );
    let top = stats["words_written"].as_u64().unwrap().min(25) as usize;
    assert!(count("top-words", "<rect") >= top, "a bar per top word");
    assert!(count("languages", "<rect") >= want.len().min(20));
    assert!(count("throughput", "<polyline") >= 1);
    let zipf: f64 = figures["zipf_s"].parse().unwrap();
    assert!((0.5..2.0).contains(&zipf), "Zipf exponent {zipf}");
    let beta: f64 = figures["heaps_beta"].parse().unwrap();
    assert!((0.2..1.0).contains(&beta), "Heaps exponent {beta}");
    if cluster {
        let attempts: u64 = stats["cluster"]["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["tasks"].as_u64().unwrap())
            .sum();
        assert!(count("gantt", "<rect") as u64 >= attempts, "a bar per task");
        assert!(
            count("shuffle", "<rect") >= 3 * stats["cluster"]["workers"].as_array().unwrap().len()
        );
    } else {
        assert!(!html.contains("id=\"gantt\""));
    }
    assert!(
        ["<script", "<link", "src=", "href=", "url(", "@import"]
            .iter()
            .all(|external| !html.contains(external)),
        "self-contained"
    );
    let Some(chromium) = chromium() else { return };
    let url = format!("file://{}", report.display());
    let (dom, console) = browse(&chromium, &url, None);
    assert!(console.is_empty(), "{console:#?}");
    assert!(dom.contains("id=\"rank-frequency\""));
    let shot = screenshot_dir().join(screenshot);
    let _ = std::fs::remove_file(&shot);
    let (_, console) = browse(&chromium, &url, Some(&shot));
    assert!(console.is_empty(), "{console:#?}");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 20_000,
        "a blank screenshot?"
    );
    eprintln!("screenshot: {}", shot.display());
}

#[test]
fn the_report_shows_the_stats_numbers_and_its_plots() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut files = corpus(dir.path(), 3);
    files.push(wetgen(
        dir.path(),
        "web.warc.wet.gz",
        "4MB",
        77,
        &["--gzip", "--profile", "web"],
    ));
    if let Some(shared) = common::shared_data() {
        files.push(shared.join("real/whirlwind.warc.wet.gz"));
    }
    let (report, stats) = (
        dir.path().join("report.html"),
        dir.path().join("stats.json"),
    );
    let run = |command: &[&str]| {
        let mut args = command.to_vec();
        args.extend([
            "-q",
            "-o",
            "/dev/null",
            "--report",
            report.to_str().unwrap(),
            "--stats",
            stats.to_str().unwrap(),
        ]);
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        let out = common::wetmr(&args, &[]);
        common::assert_exit(&out, 0, &[]);
    };
    run(&["count", "--threads", "2"]);
    check_report(&report, &stats, false, "report.png");
    run(&["cluster", "--workers", "2", "--threads", "1"]);
    check_report(&report, &stats, true, "report-cluster.png");

    // A job that fails writes no report, and leaves the older one as it was.
    let before = std::fs::read(&report).unwrap();
    let bad = dir.path().join("bad.warc.wet");
    std::fs::write(&bad, b"not a WARC file at all").unwrap();
    let out = common::wetmr(
        &[
            "count",
            "-q",
            "-o",
            "/dev/null",
            "--report",
            report.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&report).unwrap(), before);
}

/// The spectrum behind the rank–frequency and growth plots holds every word counted, on
/// every path: a cut output (--top, --min-count) changes neither, and a cluster's reducers
/// send their partitions' spectra, so its plots are count's, byte for byte.
#[test]
fn a_cut_output_still_plots_every_word_in_count_and_cluster_alike() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path(), 3);
    let report = dir.path().join("report.html");
    let stats = dir.path().join("stats.json");
    let run = |command: &[&str]| {
        let mut args = command.to_vec();
        args.extend(["-q", "-o", "/dev/null", "--stats", stats.to_str().unwrap()]);
        args.extend(["--report", report.to_str().unwrap()]);
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        common::assert_exit(&common::wetmr(&args, &[]), 0, &[]);
        let html = std::fs::read_to_string(&report).unwrap();
        let stats: Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
        let figures = report_figures(&html);
        let plots = ["rank-frequency", "vocabulary-growth"].map(|id| figure(&html, id).to_string());
        (figures, plots, stats)
    };
    let (whole, whole_plots, whole_stats) = run(&["count", "--threads", "2"]);
    let cut = ["--top", "7", "--min-count", "3"];
    for command in [
        &["count", "--threads", "2"][..],
        &[
            "cluster",
            "--workers",
            "3",
            "--threads",
            "1",
            "--partitions",
            "5",
        ],
    ] {
        let (figures, plots, stats) = run(&[command, &cut[..]].concat());
        assert_eq!(stats["words_written"], 7, "{command:?}");
        assert_eq!(
            stats["distinct_words"], whole_stats["distinct_words"],
            "{command:?}"
        );
        for key in ["distinct_words", "tokens", "zipf_s", "heaps_beta"] {
            assert_eq!(figures[key], whole[key], "{command:?}: {key}");
        }
        assert_eq!(plots, whole_plots, "{command:?}");
        assert!(plots[0].contains(&format!("all {} distinct words", whole["distinct_words"])));
    }
}

#[test]
fn the_scaling_script_measures_a_machines_file_and_local_workers() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path(), 2);
    let workers: Vec<Worker> = (0..2).map(|_| Worker::start(1)).collect();
    let machines = dir.path().join("machines.txt");
    let listed: Vec<&str> = workers.iter().map(|w| w.addr.as_str()).collect();
    std::fs::write(&machines, format!("# two workers\n{}\n", listed.join("\n"))).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/scaling.sh");
    let run = |name: &str, how: &[&str]| {
        let out_dir = dir.path().join(name);
        let out = Command::new(&script)
            .args(["-n", "1", "-o", out_dir.to_str().unwrap()])
            .args(how)
            .arg("--")
            .args(&files)
            .env("WETMR", env!("CARGO_BIN_EXE_wetmr"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let table = std::fs::read_to_string(out_dir.join("scaling.tsv")).unwrap();
        let svg = std::fs::read_to_string(out_dir.join("scaling.svg")).unwrap();
        (table, svg)
    };
    let (table, svg) = run("real", &["--machines", machines.to_str().unwrap()]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert_eq!((rows[0][0], rows[1][0]), ("1", "2"));
    assert_eq!(rows[0][3], "1.000", "speedup over itself");
    for row in &rows {
        let seconds: f64 = row[2].parse().unwrap();
        assert!(seconds > 0.0, "{table}");
    }
    assert_eq!(svg.matches("<polyline").count(), 2, "a series per panel");
    let (table, svg) = run("local", &["--local", "2", "--threads", "1,2"]);
    assert_eq!(table.lines().count(), 1 + 4, "{table}");
    assert_eq!(
        svg.matches("<polyline").count(),
        4,
        "a series per thread count and panel"
    );
}
