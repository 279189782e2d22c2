//! What an input is: every matching entry of a directory (a dangling symlink, a symlink
//! loop or a FIFO fails or is skipped as it would be if named directly, never silently
//! dropped), pipes named on the command line (bounded, and refused at once when their data
//! is not WET), list files (a byte-order mark, a size cap), in `count` and on workers.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{assert_exit, stderr, stdout, wetgen, wetmr};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample.warc.wet");

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// A directory with one good file and three entries that cannot be read as files.
fn odd_directory(dir: &Path) -> std::path::PathBuf {
    let crawl = dir.join("crawl");
    std::fs::create_dir(&crawl).unwrap();
    std::fs::copy(SAMPLE, crawl.join("a.warc.wet")).unwrap();
    std::os::unix::fs::symlink(dir.join("gone"), crawl.join("b-dangling.wet")).unwrap();
    std::os::unix::fs::symlink("c-loop.wet", crawl.join("c-loop.wet")).unwrap();
    mkfifo(&crawl.join("d-fifo.wet"));
    std::fs::create_dir(crawl.join("e-subdir.wet")).unwrap();
    crawl
}

#[test]
fn odd_directory_entries_fail_or_are_skipped_never_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let crawl = odd_directory(dir.path());
    let crawl = crawl.to_str().unwrap();
    for command in ["count", "cluster"] {
        // The first bad entry in name order fails the job, as if named directly.
        let out = wetmr(&[command, "-q", crawl], &[]);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stderr(&out));
        assert!(stderr(&out).contains("b-dangling.wet"), "{}", stderr(&out));
        // Skipped, each is reported; the good file is counted.
        let stats = dir.path().join("stats.json");
        let out = wetmr(
            &[
                command,
                "--skip-bad-input",
                crawl,
                "--stats",
                stats.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{command}: {}", stderr(&out));
        let err = stderr(&out);
        for (name, why) in [
            ("b-dangling.wet", "No such file"),
            ("c-loop.wet", "symbolic links"),
            ("d-fifo.wet", "a FIFO, not a regular file"),
        ] {
            let line = err
                .lines()
                .find(|l| l.contains("skipped:") && l.contains(name))
                .unwrap_or_else(|| panic!("{command}: {name} not reported: {err}"));
            assert!(line.contains(why), "{command}: {line}");
        }
        let stats: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
        assert_eq!(stats["files"], 4, "{command}: the subdirectory is no input");
        assert_eq!(stdout(&out), stdout(&wetmr(&["count", "-q", SAMPLE], &[])));
    }
}

#[test]
fn a_fifo_given_to_a_worker_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("hang.warc.wet");
    mkfifo(&fifo);
    let out = wetmr(&["cluster", "--workers", "2", fifo.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a FIFO, not a regular file"),
        "{}",
        stderr(&out)
    );
}

/// `count` with `input` on its standard input.
fn count_stdin(input: impl FnOnce(&mut std::process::ChildStdin)) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wetmr"))
        .args(["count", "-q", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    input(&mut stdin);
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn a_pipe_is_read_when_its_data_is_wet_and_refused_at_once_when_not() {
    let sample = std::fs::read(SAMPLE).unwrap();
    let out = count_stdin(|w| w.write_all(&sample).unwrap());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), stdout(&wetmr(&["count", "-q", SAMPLE], &[])));
    // `yes | wetmr count /dev/stdin`: refused after its first bytes, not buffered forever.
    let out = count_stdin(|w| {
        let line = b"y\n".repeat(1 << 16);
        while w.write_all(&line).is_ok() {}
    });
    assert_exit(&out, 2, &["not WET"]);
}

#[test]
fn a_list_with_a_byte_order_mark_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = wetgen(dir.path(), "a.warc.wet", "50KB", 3, &[]);
    let list = dir.path().join("list.txt");
    std::fs::write(&list, b"\xef\xbb\xbfa.warc.wet\n").unwrap();
    let base = dir.path().to_str().unwrap();
    let out = wetmr(
        &[
            "count",
            "-q",
            "--inputs",
            list.to_str().unwrap(),
            "--input-base",
            base,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        stdout(&wetmr(&["count", "-q", file.to_str().unwrap()], &[]))
    );
}

#[test]
fn other_compressed_formats_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let formats: [(&str, &[u8]); 4] = [
        ("zstd", &[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0]),
        ("xz", b"\xfd7zXZ\x00\x00\x04"),
        ("bzip2", b"BZh91AY&SY"),
        ("zip", b"PK\x03\x04\x14\x00"),
    ];
    for (name, magic) in formats {
        let path = dir.path().join(format!("{name}.warc.wet.gz"));
        std::fs::write(&path, magic).unwrap();
        let out = wetmr(&["count", path.to_str().unwrap()], &[]);
        assert_exit(&out, 2, &[&format!("a {name}-compressed file")]);
    }
}

/// Garbage after the last gzip member is damage, reported where it starts; skipped, it
/// costs no record of the members before it.
#[test]
fn garbage_after_the_last_member_costs_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let gz = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample.warc.wet.gz");
    let mut data = std::fs::read(gz).unwrap();
    let end = data.len();
    data.extend_from_slice(b"trailing garbage");
    let path = dir.path().join("trailing.warc.wet.gz");
    std::fs::write(&path, &data).unwrap();
    let out = wetmr(&["count", path.to_str().unwrap()], &[]);
    assert_exit(
        &out,
        2,
        &[&format!("gzip member at compressed offset {end}")],
    );
    let out = wetmr(
        &["count", "-q", "--skip-bad-input", path.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), stdout(&wetmr(&["count", "-q", gz], &[])));
}

#[test]
fn unsupported_versions_and_repeated_fields_are_damage() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("WARC/2.0\r\nWARC-Type: conversion\r\nContent-Length: 2\r\n\r\nhi", "unsupported WARC version \"WARC/2.0\""),
        ("WARC/\r\nWARC-Type: conversion\r\nContent-Length: 2\r\n\r\nhi", "unsupported WARC version \"WARC/\""),
        (
            "WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\nhi\r\n\r\n",
            "Content-Length twice",
        ),
        (
            "WARC/1.0\r\nWARC-Type: warcinfo\r\nWARC-Type: conversion\r\nContent-Length: 2\r\n\r\nhi",
            "WARC-Type twice",
        ),
    ];
    for (text, says) in cases {
        let path = dir.path().join("odd.warc.wet");
        std::fs::write(&path, text).unwrap();
        let out = wetmr(&["count", path.to_str().unwrap()], &[]);
        assert_exit(&out, 2, &[says]);
    }
}

#[test]
fn escape_sequences_in_file_names_are_not_printed_raw() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil\x1b[2J.warc.wet");
    std::fs::write(&path, "not warc").unwrap();
    let out = wetmr(&["count", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(!err.contains('\x1b'), "{err:?}");
    assert!(err.contains("evil\\x1b[2J.warc.wet"), "{err}");
}

#[test]
fn empty_variables_are_unset() {
    let out = wetmr(
        &["count", "-q", SAMPLE],
        &[
            ("WETMR_TOP", ""),
            ("WETMR_THREADS", ""),
            ("WETMR_OUTPUT", ""),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), stdout(&wetmr(&["count", "-q", SAMPLE], &[])));
}
