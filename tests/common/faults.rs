//! A fault-injecting HTTP file server (`tests/support/faultserver.py`), started on
//! loopback for a test and killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running fault server over a directory.
pub struct FaultServer {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl FaultServer {
    /// Serves `root`, answering the requests of each path with the faults of `plan` (a
    /// JSON object: path -> list of faults, see the script) first.
    pub fn start(root: &Path, plan: serde_json::Value) -> FaultServer {
        FaultServer::start_with(root, plan, &[])
    }

    /// The same, with more options (`--rate BYTES_PER_SECOND`).
    pub fn start_with(root: &Path, plan: serde_json::Value, options: &[&str]) -> FaultServer {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let plan_path = dir.join("plan.json");
        std::fs::write(&plan_path, plan.to_string()).unwrap();
        let log = dir.join("requests.log");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/faultserver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args([root, &plan_path, &log])
            .args(options)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the fault server");
        let line = super::first_line(&mut child);
        let port = line.trim().parse().expect("the server says its port");
        FaultServer {
            child,
            port,
            log,
            _dir: tmp,
        }
    }

    /// The URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The requests served so far, one JSON object each.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
