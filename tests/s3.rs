//! `s3://` inputs against a real S3-compatible server on loopback that checks every
//! request's Signature V4 (moto's server with authentication on, started by
//! `tests/support/s3server.py`; `.ci/run` installs it). Without it, the tests say SKIPPED.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{assert_exit, stderr, stdout, wetgen, wetmr};

/// The Python that has moto: `WETMR_TEST_S3_PYTHON`, else `python3` if it has it.
fn python() -> Option<String> {
    let python = std::env::var("WETMR_TEST_S3_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_moto = Command::new(&python)
        .args(["-c", "import moto.server, boto3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_moto {
        eprintln!("SKIPPED: no Python with moto (set WETMR_TEST_S3_PYTHON); S3 not tested");
        return None;
    }
    Some(python)
}

/// A signature-checking S3 server holding some files in bucket `commoncrawl`.
struct S3 {
    child: Child,
    endpoint: String,
    access_key: String,
    secret_key: String,
}

impl S3 {
    fn start(python: &str, files: &[&Path]) -> S3 {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/s3server.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg("commoncrawl")
            .args(files)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the S3 server starts");
        let line = common::first_line(&mut child);
        let said: serde_json::Value = serde_json::from_str(&line).expect("the server says");
        S3 {
            child,
            endpoint: format!("http://127.0.0.1:{}", said["port"]),
            access_key: said["access_key"].as_str().unwrap().to_string(),
            secret_key: said["secret_key"].as_str().unwrap().to_string(),
        }
    }

    /// Runs `wetmr count` against this server with `secret` as the secret key.
    fn count(&self, inputs: &[&str], secret: &str, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "count",
            "--s3-endpoint",
            &self.endpoint,
            "--retry-wait",
            "0.02",
        ];
        args.extend_from_slice(inputs);
        args.extend_from_slice(extra);
        let home = tempfile::tempdir().unwrap();
        wetmr(
            &args,
            &[
                ("AWS_ACCESS_KEY_ID", &self.access_key),
                ("AWS_SECRET_ACCESS_KEY", secret),
                ("AWS_REGION", "us-east-1"),
                // No developer's ~/.aws is read.
                ("HOME", home.path().to_str().unwrap()),
            ],
        )
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn files(dir: &Path) -> (PathBuf, PathBuf) {
    (
        wetgen(dir, "a.warc.wet.gz", "2MB", 31, &["--gzip"]),
        wetgen(dir, "b.warc.wet", "500KB", 32, &[]),
    )
}

#[test]
fn s3_objects_count_as_their_files_on_disk() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (gz, plain) = files(dir.path());
    let s3 = S3::start(&python, &[&gz, &plain]);
    let disk = wetmr(
        &["count", "-q", gz.to_str().unwrap(), plain.to_str().unwrap()],
        &[],
    );
    let out = s3.count(
        &[
            "s3://commoncrawl/a.warc.wet.gz",
            "s3://commoncrawl/b.warc.wet",
        ],
        &s3.secret_key,
        &["-q"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out) == stdout(&disk));
}

#[test]
fn a_wrong_secret_key_is_a_clear_error() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (gz, _) = files(dir.path());
    let s3 = S3::start(&python, &[&gz]);
    let url = "s3://commoncrawl/a.warc.wet.gz";
    let out = s3.count(&[url], "not-the-secret", &[]);
    assert_exit(&out, 2, &[url, "HTTP 403", "SignatureDoesNotMatch"]);
    assert!(!stderr(&out).contains("retry"), "{}", stderr(&out));
    // A key that does not exist, and a missing object.
    let out = s3.count(&["s3://commoncrawl/missing.gz"], &s3.secret_key, &[]);
    assert_exit(&out, 2, &["s3://commoncrawl/missing.gz", "HTTP 404"]);
}

#[test]
fn credentials_come_from_the_shared_file_too() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (gz, _) = files(dir.path());
    let s3 = S3::start(&python, &[&gz]);
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n\
             [crawl]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            s3.access_key, s3.secret_key
        ),
    )
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = wetmr(
        &[
            "count",
            "-q",
            "--s3-endpoint",
            &s3.endpoint,
            "s3://commoncrawl/a.warc.wet.gz",
        ],
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
            ("AWS_PROFILE", "crawl"),
            ("HOME", home.path().to_str().unwrap()),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let disk = wetmr(&["count", "-q", gz.to_str().unwrap()], &[]);
    assert!(stdout(&out) == stdout(&disk));
    // No credentials at all: said plainly, before any request.
    let out = wetmr(
        &[
            "count",
            "--s3-endpoint",
            &s3.endpoint,
            "s3://commoncrawl/a.warc.wet.gz",
        ],
        &[
            ("HOME", home.path().to_str().unwrap()),
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"),
        ],
    );
    assert_exit(&out, 2, &["no AWS credentials", "data.commoncrawl.org"]);
}
