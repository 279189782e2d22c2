//! tools/deploy.sh against a real sshd on loopback (OpenSSH, throwaway keys in a temporary
//! directory): start two workers, check their status, run a job on them, stop them.
//! Skipped, with a message, where OpenSSH's server is not installed (CI installs it).

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{stderr, stdout, wetmr};

const SAMPLE_GZ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample.warc.wet.gz");
const SSHD: &str = "/usr/sbin/sshd";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// An sshd on a loopback port, accepting one throwaway key; killed when dropped.
struct Sshd(Child);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sshd(dir: &Path) -> (Sshd, PathBuf) {
    keygen(&dir.join("host_key"));
    keygen(&dir.join("client_key"));
    std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
    // The privilege separation directory a packaged sshd expects (absent in containers).
    let _ = std::fs::create_dir_all("/run/sshd");
    let port = free_port();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
             AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nStrictModes no\n\
             UsePAM no\nPasswordAuthentication no\nPermitRootLogin prohibit-password\n\
             Subsystem sftp internal-sftp\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sshd starts");
    let sshd = Sshd(child);
    let ssh_config = dir.join("ssh_config");
    std::fs::write(
        &ssh_config,
        format!(
            "Host 127.0.0.1\n  Port {port}\n  IdentityFile {d}/client_key\n  IdentitiesOnly yes\n\
             \x20 StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n",
            d = dir.display()
        ),
    )
    .unwrap();
    // Wait until it answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ok = Command::new("ssh")
            .args([
                "-F",
                ssh_config.to_str().unwrap(),
                "-o",
                "BatchMode=yes",
                "127.0.0.1",
                "true",
            ])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sshd on port {port} does not answer"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (sshd, ssh_config)
}

fn deploy(args: &[&str]) -> Output {
    Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tools/deploy.sh"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn deploy_status_run_stop_over_ssh() {
    if !Path::new(SSHD).exists() {
        eprintln!("SKIPPED: {SSHD} not found (Debian: apt-get install openssh-server); deploy.sh not tested");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_sshd, ssh_config) = start_sshd(dir.path());
    let machines = dir.path().join("machines.txt");
    let (p1, p2) = (free_port(), free_port());
    std::fs::write(
        &machines,
        format!("# two workers\n127.0.0.1:{p1}\n127.0.0.1:{p2}\n"),
    )
    .unwrap();
    let remote = dir.path().join("remote");
    let common_args = [
        "--machines",
        machines.to_str().unwrap(),
        "--ssh-config",
        ssh_config.to_str().unwrap(),
        "--remote-dir",
        remote.to_str().unwrap(),
    ];
    let with = |action: &str, extra: &[&str]| {
        let mut args = vec![action];
        args.extend(common_args);
        args.extend(extra);
        deploy(&args)
    };

    let out = with(
        "--start",
        &[
            "--binary",
            env!("CARGO_BIN_EXE_wetmr"),
            "--",
            "--threads",
            "1",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        stdout(&out).matches("started, pid").count(),
        2,
        "{}",
        stdout(&out)
    );
    assert!(remote.join("wetmr").is_file());

    let out = with("--status", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        stdout(&out).matches("running, pid").count(),
        2,
        "{}",
        stdout(&out)
    );

    let job = wetmr(
        &[
            "run",
            "-q",
            "--machines",
            machines.to_str().unwrap(),
            SAMPLE_GZ,
        ],
        &[],
    );
    assert_eq!(job.status.code(), Some(0), "{}", stderr(&job));
    let local = wetmr(&["count", "-q", SAMPLE_GZ], &[]);
    assert!(
        job.stdout == local.stdout,
        "the deployed cluster's output differs from count"
    );

    let out = with("--stop", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        stdout(&out).matches("stopped").count(),
        2,
        "{}",
        stdout(&out)
    );
    let out = with("--status", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out).matches("not running").count(),
        2,
        "{}",
        stdout(&out)
    );
    // The workers logged their job and their shutdown.
    let log = std::fs::read_to_string(remote.join(format!("worker-{p1}.log"))).unwrap();
    assert!(
        log.contains("listening") && log.contains("shutting down"),
        "{log}"
    );
}
