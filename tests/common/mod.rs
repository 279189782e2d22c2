//! Shared helpers for the integration tests: running the binaries, generating corpora, and
//! the slow, obviously-correct references the fast paths are compared with.
#![allow(dead_code)]

pub mod faults;
pub mod fuzz_checks;
pub mod proxy;
pub mod reference;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// Runs `wetmr` with `args` (and extra environment variables).
pub fn wetmr(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wetmr"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    // Tests must not inherit a developer's settings.
    for (k, _) in std::env::vars() {
        if k.starts_with("WETMR_") && !env.iter().any(|(e, _)| *e == k) {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("wetmr runs")
}

/// Generates a corpus with `wetgen` into `dir` and returns its path.
pub fn wetgen(dir: &Path, name: &str, size: &str, seed: u64, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new(env!("CARGO_BIN_EXE_wetgen"))
        .args(["--size", size, "--seed", &seed.to_string()])
        .args(extra)
        .arg(&out)
        .status()
        .expect("wetgen runs");
    assert!(status.success(), "wetgen failed");
    out
}

/// The shared conformance data (real and damaged WET files), when it is present.
pub fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} not found; conformance files not tested",
            dir.display()
        );
        None
    }
}

/// `data` as one gzip member.
pub fn gzip(data: &[u8], level: flate2::Compression) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), level);
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Makes a cluster key `name` in `dir` with `wetmr keygen` and returns its path.
pub fn keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = wetmr(&["keygen", "-o", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    path
}

/// Asserts that a run exited with `code` and that its stderr says every one of `says`.
#[track_caller]
pub fn assert_exit(out: &Output, code: i32, says: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    for text in says {
        assert!(err.contains(text), "stderr lacks {text:?}: {err}");
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("output is UTF-8")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A `wetmr worker` on an ephemeral loopback port, stopped (SIGTERM) when dropped.
pub struct Worker {
    pub child: Child,
    pub addr: String,
}

impl Worker {
    pub fn start(threads: usize) -> Worker {
        Worker::start_at("127.0.0.1:0", threads)
    }

    /// A worker listening on `listen` (e.g. the address of one that was killed).
    pub fn start_at(listen: &str, threads: usize) -> Worker {
        Worker::start_with(listen, threads, &[])
    }

    /// A worker with more options.
    pub fn start_with(listen: &str, threads: usize, options: &[&str]) -> Worker {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wetmr"));
        cmd.args(["worker", "--listen", listen, "--quiet"])
            .args(["--threads", &threads.to_string()])
            .args(options)
            .stderr(Stdio::piped());
        Worker::spawn(cmd)
    }

    /// A worker whose working directory is `dir`.
    pub fn start_in(dir: &Path, threads: usize) -> Worker {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wetmr"));
        cmd.args(["worker", "--listen", "127.0.0.1:0", "--quiet"])
            .args(["--threads", &threads.to_string()])
            .current_dir(dir)
            .stderr(Stdio::piped());
        Worker::spawn(cmd)
    }

    /// A worker on an ephemeral loopback port that logs everything to the file `log`.
    pub fn start_logged(threads: usize, options: &[&str], log: &Path) -> Worker {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wetmr"));
        cmd.args(["worker", "--listen", "127.0.0.1:0"])
            .args(["--threads", &threads.to_string()])
            .args(options)
            .stderr(std::fs::File::create(log).expect("log file"));
        Worker::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Worker {
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("worker starts");
        let line = first_line(&mut child);
        let addr = line.trim().to_string();
        assert!(addr.starts_with("127.0.0.1:"), "worker said {addr:?}");
        Worker { child, addr }
    }

    /// Sends SIGTERM and returns the exit status and what the worker logged.
    pub fn stop(mut self) -> (Option<i32>, String) {
        signal(self.child.id() as i32, libc::SIGTERM);
        let status = self.child.wait().unwrap();
        let mut log = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            err.read_to_string(&mut log).unwrap();
        }
        (status.code(), log)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first line a child wrote on its piped stdout (a server saying where it listens).
pub fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("the child writes a line");
    line
}

/// Sends `signal` to process `pid` (one of the test's children).
pub fn signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) takes plain integers and touches no memory of this process.
    unsafe { libc::kill(pid, signal) };
}

/// SplitMix64: a small, fixed generator, so a seed replays exactly.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in 0..n (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}
