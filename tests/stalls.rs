//! A read that never returns (a hung network file system) against real workers: the map
//! is reported stalled after `--stall-timeout`, its task moves to another worker, its
//! threads are counted out (later jobs run on what is left, and a worker with none left
//! refuses jobs instead of hanging them), and once the read returns the threads come back.
//! The hung file system is a real FUSE mount (`tests/support/hangfs.py`); the test says
//! SKIPPED where FUSE or Python's fusepy is not available (CI installs both).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{stderr, stdout, wetgen, wetmr, Worker};

/// A mounted `hangfs.py`: unmounted (and its reads released) when dropped.
struct HangFs {
    child: Child,
    mount: PathBuf,
    release: PathBuf,
}

impl HangFs {
    /// Mounts it under `dir`, or says why it cannot.
    fn mount(dir: &Path) -> Result<HangFs, String> {
        if !Path::new("/dev/fuse").exists() {
            return Err("no /dev/fuse".into());
        }
        let python =
            std::env::var("WETMR_TEST_FUSE_PYTHON").unwrap_or_else(|_| "python3".to_string());
        let has_fusepy = Command::new(&python)
            .args(["-c", "import fuse"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has_fusepy {
            return Err(format!(
                "{python} cannot import fusepy (pip install fusepy)"
            ));
        }
        let mount = dir.join("mnt");
        let release = dir.join("release");
        std::fs::create_dir_all(&mount).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/hangfs.py");
        let mut child = Command::new(&python)
            .arg(script)
            .arg(&mount)
            .arg(&release)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {python}: {e}"))?;
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        if line.trim() != "ready" {
            let _ = child.kill();
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
            return Err(format!("the FUSE mount failed: {}", err.trim()));
        }
        Ok(HangFs {
            child,
            mount,
            release,
        })
    }

    fn file(&self) -> PathBuf {
        self.mount.join("hang.warc.wet")
    }

    /// Lets every read, waiting or to come, return.
    fn release(&self) {
        std::fs::write(&self.release, "").unwrap();
    }
}

impl Drop for HangFs {
    fn drop(&mut self) {
        self.release();
        let _ = Command::new("fusermount3")
            .args(["-u", "-z"])
            .arg(&self.mount)
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `wetmr run` on `workers` with `args`, which must end within a minute.
fn run(dir: &Path, workers: &[&Worker], args: &[&str]) -> Output {
    let machines = dir.join("machines.txt");
    let addrs: Vec<&str> = workers.iter().map(|w| w.addr.as_str()).collect();
    std::fs::write(&machines, addrs.join("\n")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_wetmr"))
        .args(["run", "--machines", machines.to_str().unwrap()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out,
        Err(_) => {
            common::signal(pid, libc::SIGKILL);
            let out = rx.recv().unwrap();
            panic!("wetmr run {args:?} hangs: {}", stderr(&out));
        }
    }
}

#[test]
fn a_read_that_never_returns_stalls_a_task_not_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let options = ["--slots", "2", "--stall-timeout", "0.5"];
    let w1 = Worker::start_with("127.0.0.1:0", 3, &options);
    let w2 = Worker::start_with("127.0.0.1:0", 3, &options);
    let both = [&w1, &w2];
    // Mounted after the workers start, so that it is dropped (its reads released) before
    // they are killed: a process cannot end while a thread waits in a FUSE read.
    let hang = match HangFs::mount(dir.path()) {
        Ok(hang) => hang,
        Err(why) => return eprintln!("SKIPPED: {why}"),
    };
    let a = wetgen(dir.path(), "a.warc.wet", "200KB", 81, &[]);
    let b = wetgen(dir.path(), "b.warc.wet.gz", "200KB", 82, &["--gzip"]);
    let good = stdout(&wetmr(
        &["count", "-q", a.to_str().unwrap(), b.to_str().unwrap()],
        &[],
    ));
    let stuck_file = hang.file();
    let (a, b, h) = (
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        stuck_file.to_str().unwrap(),
    );

    // Stalled on each worker in turn, the file fails the job as unreadable would.
    let out = run(dir.path(), &both, &[a, h, b]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("hang.warc.wet") && err.contains("no progress"),
        "{err}"
    );

    // Skipped, the other files are counted; each worker now has two of three threads
    // stuck.
    let out = run(dir.path(), &both, &["--skip-bad-input", a, h, b]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), good);
    assert!(stderr(&out).contains("skipped: "), "{}", stderr(&out));

    // A later job runs on the threads that are left.
    let stats_file = dir.path().join("stats.json");
    let stats_path = stats_file.to_str().unwrap();
    let threads = || {
        let stats: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&stats_file).unwrap()).unwrap();
        stats["cluster"]["workers"][0]["threads"].clone()
    };
    let out = run(dir.path(), &both, &[a, b, "--stats", stats_path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), good);
    assert_eq!(threads(), 1);

    // With their last thread stuck too, the workers leave the job (which fails, on the
    // file or for want of workers, as the two stalls fall), and refuse the next.
    let out = run(dir.path(), &both, &[h]);
    assert!(matches!(out.status.code(), Some(2 | 4)), "{}", stderr(&out));
    assert!(stderr(&out).contains("stuck"), "{}", stderr(&out));
    let out = run(dir.path(), &both, &[a]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no worker took the job") && err.contains("stuck"),
        "{err}"
    );

    // The storage answers again: the stalled maps end, their threads are free.
    hang.release();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = run(dir.path(), &both, &[a, b, "--stats", stats_path]);
        if out.status.code() == Some(0) {
            assert_eq!(stdout(&out), good);
            if threads() == 3 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the threads never came back: {}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(hang);
}
