//! The cluster secret with real processes: `wetmr keygen` makes private key files, a worker
//! with a secret serves a coordinator holding the same one (the output is that of `count`)
//! and no other, and a worker refuses to listen beyond loopback without a secret.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{keygen, stderr, wetmr, Worker};

fn run_with(dir: &Path, addr: &str, key: Option<&Path>) -> std::process::Output {
    let machines = dir.join("machines.txt");
    std::fs::write(&machines, format!("{addr}\n")).unwrap();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample.warc.wet.gz");
    let mut args = vec!["run", "--machines", machines.to_str().unwrap(), sample];
    if let Some(key) = key {
        args.extend(["--secret-file", key.to_str().unwrap()]);
    }
    wetmr(&args, &[])
}

#[test]
fn keygen_writes_private_keys_and_never_overwrites_one() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "cluster.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&key).unwrap();
    assert_eq!(text.trim().len(), 64, "{text:?}");
    let again = wetmr(&["keygen", "-o", key.to_str().unwrap()], &[]);
    assert_ne!(again.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        text,
        "a key was overwritten"
    );
    // Two keys differ.
    let other = keygen(dir.path(), "other.key");
    assert_ne!(std::fs::read_to_string(other).unwrap(), text);
    // Standard output redirected to a file: the file is made private too.
    let redirected = dir.path().join("redirected.key");
    let file = std::fs::File::create(&redirected).unwrap();
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_wetmr"))
        .arg("keygen")
        .stdout(file)
        .status()
        .unwrap();
    assert!(status.success());
    let mode = std::fs::metadata(&redirected).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn only_a_coordinator_with_the_workers_secret_runs_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "cluster.key");
    let wrong = keygen(dir.path(), "wrong.key");
    let worker = Worker::start_with("127.0.0.1:0", 1, &["--secret-file", key.to_str().unwrap()]);
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample.warc.wet.gz");
    let want = wetmr(&["count", sample], &[]);
    assert_eq!(want.status.code(), Some(0));

    let good = run_with(dir.path(), &worker.addr, Some(&key));
    assert_eq!(good.status.code(), Some(0), "{}", stderr(&good));
    assert!(good.stdout == want.stdout, "output differs from count");

    let bad = run_with(dir.path(), &worker.addr, Some(&wrong));
    assert_eq!(bad.status.code(), Some(4), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("does not hold this secret"),
        "{}",
        stderr(&bad)
    );
    assert!(bad.stdout.is_empty());

    let none = run_with(dir.path(), &worker.addr, None);
    assert_eq!(none.status.code(), Some(4), "{}", stderr(&none));
    assert!(stderr(&none).contains("--secret-file"), "{}", stderr(&none));

    // The worker is unharmed: the right secret still runs the job.
    let again = run_with(dir.path(), &worker.addr, Some(&key));
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(again.stdout == want.stdout);
}

#[test]
fn a_worker_without_a_secret_listens_only_on_loopback_unless_insecure() {
    let out = wetmr(&["worker", "--listen", "0.0.0.0:0"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--insecure"), "{}", stderr(&out));
    // A key file others may read is refused, as ssh refuses such a private key.
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "cluster.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = wetmr(&["worker", "--secret-file", key.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("too open"), "{}", stderr(&out));
}

#[test]
fn a_worker_with_an_input_root_reads_only_files_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let sample = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/sample.warc.wet.gz"
    ));
    let inside = root.join("inside.warc.wet.gz");
    std::fs::copy(sample, &inside).unwrap();
    let outside = dir.path().join("outside.warc.wet.gz");
    std::fs::copy(sample, &outside).unwrap();
    // A symlink under the root that leads out of it, and a path that climbs out.
    let link = root.join("link.warc.wet.gz");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let climbing = root.join("..").join("outside.warc.wet.gz");
    let worker = Worker::start_with("127.0.0.1:0", 1, &["--input-root", root.to_str().unwrap()]);
    let machines = dir.path().join("machines.txt");
    std::fs::write(&machines, format!("{}\n", worker.addr)).unwrap();
    let run = |file: &Path| {
        let m = machines.to_str().unwrap();
        wetmr(&["run", "--machines", m, file.to_str().unwrap()], &[])
    };
    let ok = run(&inside);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let local = wetmr(&["count", inside.to_str().unwrap()], &[]);
    assert!(ok.stdout == local.stdout, "output differs from count");
    for refused in [&outside, &link, &climbing] {
        let out = run(refused);
        assert_eq!(out.status.code(), Some(2), "{refused:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
        let err = stderr(&out);
        assert!(err.contains("outside this worker's --input-root"), "{err}");
    }
    // A root that is not a directory stops the worker at start.
    let bad = wetmr(
        &[
            "worker",
            "--listen",
            "127.0.0.1:0",
            "--input-root",
            inside.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("not a directory"), "{}", stderr(&bad));
    let (code, _) = worker.stop();
    assert_eq!(code, Some(0));
}
