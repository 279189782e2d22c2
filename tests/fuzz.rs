//! The fuzzers' corpora as regression tests on stable: every input kept under
//! tools/fuzz/corpus/<target> (what the fuzzers found interesting) and
//! tools/fuzz/artifacts/<target> (inputs that once broke a check, fixed since) goes through
//! the same check as in the fuzzer (tests/common/fuzz_checks.rs).
//!
//! The corpora start from the seeds made here (`cargo test --test fuzz -- --ignored
//! write_seeds` writes them); the README says how to run the fuzzers.

mod common;

use std::path::{Path, PathBuf};

use common::fuzz_checks;

/// The fuzz targets, by name.
const TARGETS: [&str; 4] = ["warc", "gzip", "tokenize", "frames"];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/fuzz")
}

/// The files of `dir`, if it exists, sorted.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn run_all(target: &str, check: fn(&[u8])) {
    let corpus = inputs(&fuzz_dir().join("corpus").join(target));
    assert!(
        corpus.len() >= 5,
        "tools/fuzz/corpus/{target} holds {} inputs",
        corpus.len()
    );
    let artifacts = inputs(&fuzz_dir().join("artifacts").join(target));
    for path in corpus.iter().chain(&artifacts) {
        let data = std::fs::read(path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
    }
    for (name, seed) in seeds(target) {
        let outcome = std::panic::catch_unwind(|| check(&seed));
        assert!(outcome.is_ok(), "{target}: seed {name} fails");
    }
}

#[test]
fn the_warc_corpus_passes() {
    run_all("warc", fuzz_checks::warc);
}

#[test]
fn the_gzip_corpus_passes() {
    run_all("gzip", fuzz_checks::gzip);
}

#[test]
fn the_tokenize_corpus_passes() {
    run_all("tokenize", fuzz_checks::tokenize);
}

#[test]
fn the_frames_corpus_passes() {
    run_all("frames", fuzz_checks::frames);
}

/// Writes the seeds into the corpora (to start them, or after changing the seeds).
#[test]
#[ignore]
fn write_seeds() {
    for target in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, seed) in seeds(target) {
            std::fs::write(dir.join(format!("seed-{name}")), seed).unwrap();
        }
    }
}

/// Starting points for a target: small valid inputs and near misses.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let sample = |name: &str| std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(name));
    let plain = sample("data/sample.warc.wet").unwrap();
    let named = |pairs: Vec<(&str, Vec<u8>)>| {
        pairs
            .into_iter()
            .map(|(n, s)| (n.to_string(), s))
            .collect::<Vec<_>>()
    };
    match target {
        "warc" => {
            let starts: Vec<usize> = (0..plain.len())
                .filter(|&i| plain[i..].starts_with(b"WARC/1.0"))
                .take(5)
                .collect();
            let three = plain[..starts[3]].to_vec();
            let mut lf_only = three.clone();
            lf_only.retain(|&b| b != b'\r');
            let mut cut = three.clone();
            cut.truncate(three.len() - 7);
            let mut long = three.clone();
            let at = starts[2];
            long.splice(
                at..at,
                b"WARC/1.0\r\nContent-Length: 99999\r\n\r\nshort".to_vec(),
            );
            named(vec![
                ("three-records", three),
                ("lf-only", lf_only),
                ("truncated", cut),
                ("overlong-length", long),
                ("empty-lines", b"\r\n\r\n\n".to_vec()),
            ])
        }
        "gzip" => {
            let gz = sample("data/sample.warc.wet.gz").unwrap();
            let second = wetmr::input::gzip::next_header_candidate(&gz, 1).unwrap();
            let third = wetmr::input::gzip::next_header_candidate(&gz, second + 1).unwrap();
            let one = gz[..second].to_vec();
            let mut flipped = one.clone();
            let mid = flipped.len() / 2;
            flipped[mid] ^= 0x10;
            let mut bad_crc = one.clone();
            let n = bad_crc.len();
            bad_crc[n - 8] ^= 1;
            named(vec![
                ("one-member", one.clone()),
                ("two-members", gz[..third].to_vec()),
                ("flipped-bit", flipped),
                ("bad-crc", bad_crc),
                ("truncated", one[..one.len() - 5].to_vec()),
            ])
        }
        "tokenize" => named(vec![
            ("ascii", b"Hello, World! snake_case 3.14 can't".to_vec()),
            ("greek", "ΟΔΟΣ Σ ΣΑ ΑΣ. σοφός".as_bytes().to_vec()),
            ("cjk", "東京都の漢字とひらがな カタカナ".as_bytes().to_vec()),
            (
                "marks",
                "हिन्दी भाषा e\u{301} a\u{200d}b".as_bytes().to_vec(),
            ),
            (
                "invalid",
                b"inv\xffalid \xc3 \xe2\x82 \xed\xa0\x80 mid\x80dle".to_vec(),
            ),
            (
                "wet-body",
                plain[plain.len() / 2..plain.len() / 2 + 2000].to_vec(),
            ),
        ]),
        "frames" => {
            use wetmr::protocol::ids::{Attempt, JobId, PartitionId, TaskId};
            use wetmr::protocol::{
                codec,
                messages::{self, PartitionAck, Task},
            };
            let mut block = wetmr::partition::WordBlock::default();
            block.push(b"word", 3, 1);
            block.push("ünïcode".as_bytes(), 1, 1);
            let partition = messages::Partition {
                job: JobId(7),
                task: TaskId(1),
                attempt: Attempt(1),
                partition: PartitionId(0),
                words: block,
            };
            let task = Task {
                job: JobId(7),
                task: TaskId(2),
                attempt: Attempt(1),
                path: b"/nonexistent".to_vec(),
            };
            let ack = PartitionAck {
                job: JobId(7),
                task: TaskId(0),
                attempt: Attempt(1),
                partition: PartitionId(1),
            };
            let framed = |how: u8, frames: Vec<Vec<u8>>| {
                let mut out = vec![how];
                frames.into_iter().for_each(|f| out.extend(f));
                out
            };
            let p = codec::encode(&partition).unwrap();
            let mut opening = fuzz_checks::opening();
            opening.truncate(2);
            named(vec![
                ("partition-from-peer", framed(1, vec![p.clone(), p.clone()])),
                ("partition-cut-small", framed(9, vec![p])),
                ("task", framed(0, vec![codec::encode(&task).unwrap()])),
                ("ack", framed(1, vec![codec::encode(&ack).unwrap()])),
                ("job-again", framed(4, opening)),
                ("auth-hello", {
                    let (_, hello) = wetmr::net::auth::Handshake::initiate(
                        &wetmr::net::auth::Secret::generate().unwrap(),
                    )
                    .unwrap();
                    framed(0, vec![hello])
                }),
            ])
        }
        other => panic!("no target {other}"),
    }
}
