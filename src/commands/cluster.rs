//! `wetmr cluster`: a whole cluster on this machine, for one job. Starts N `wetmr worker`
//! processes on loopback (port 0; each prints the address it got), runs the job through
//! them with the real coordinator, and stops them (SIGTERM, then wait), whatever the
//! outcome. The one-command way to run the distributed path. The workers and the
//! coordinator authenticate with a secret made for the run (or `--secret-file`'s).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use crate::config::{ClusterConfig, CountConfig};
use crate::error::{Error, Result};
use crate::net::auth::Secret;

/// Runs the job on `workers` fresh local worker processes, `threads` threads each.
pub fn cluster(config: &CountConfig, workers: usize, cluster: &ClusterConfig) -> Result<()> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Resources(format!("cannot find the wetmr executable: {e}")))?;
    // The workers and this coordinator share a secret: the given one, or a new one. The
    // workers read it from a private temporary file (mode 0600), removed at the end.
    let mut cluster = cluster.clone();
    let secret = match &cluster.secret {
        Some(secret) => secret.clone(),
        None => Secret::generate().map_err(|e| Error::Resources(format!("no secret: {e}")))?,
    };
    cluster.secret = Some(secret.clone());
    let key_file = write_key(&secret)?;
    let mut fleet = Fleet(Vec::with_capacity(workers));
    for _ in 0..workers {
        let mut command = Command::new(&exe);
        // SAFETY: prctl only sets a flag of the child process; nothing else runs between
        // fork and exec. The workers then die with this process even if it is SIGKILLed.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command
            .args(["worker", "--listen", "127.0.0.1:0", "--quiet"])
            .args(["--threads", &config.threads.to_string()])
            .arg("--secret-file")
            .arg(key_file.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::Resources(format!("cannot start a worker: {e}")))?;
        fleet.0.push(child);
    }
    let mut addrs: Vec<SocketAddr> = Vec::with_capacity(workers);
    for child in &mut fleet.0 {
        let stdout = child.stdout.take();
        let mut line = String::new();
        if let Some(out) = stdout {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let addr = line.trim().parse().map_err(|_| {
            Error::Cluster(format!(
                "worker {} did not report its address (said {:?})",
                child.id(),
                line.trim()
            ))
        })?;
        addrs.push(addr);
    }
    super::run::run(config, &addrs, &cluster)
}

/// A new private file holding `secret`, deleted when dropped.
fn write_key(secret: &Secret) -> Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let fail = |source| Error::Output {
        what: "cannot write the workers' key in",
        path: std::env::temp_dir(),
        source,
    };
    let mut file = tempfile::NamedTempFile::new().map_err(fail)?;
    file.write_all(secret.to_hex().as_bytes()).map_err(fail)?;
    file.flush().map_err(fail)?;
    Ok(file)
}

/// The worker processes; stopped when dropped.
struct Fleet(Vec<Child>);

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &self.0 {
            // SAFETY: kill(2) on the pid of a child we have not yet waited for.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        for child in &mut self.0 {
            let _ = child.wait();
        }
    }
}
