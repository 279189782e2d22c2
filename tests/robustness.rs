//! Damaged input never panics or hangs: thousands of seeded mutations of small WET files
//! (bit flips, truncations, splices, garbage), plain and gzip, through the engine in
//! process. Strict runs either succeed or fail with a `Damaged` error; skipping runs always
//! succeed; when the strict run succeeds, both agree; every run agrees with itself across
//! thread counts and split sizes.

mod common;

use common::Rng;

use std::io::Write;
use std::path::PathBuf;

use wetmr::engine::{self, Job, Policy};
use wetmr::error::Error;
use wetmr::tokenize::TokenizerKind;

fn mutate(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    for _ in 0..1 + rng.below(3) {
        if out.is_empty() {
            break;
        }
        let at = rng.below(out.len());
        match rng.below(6) {
            0 => out[at] ^= 1 << rng.below(8),
            1 => out.truncate(at),
            2 => {
                let len = rng.below(64).min(out.len() - at);
                out.drain(at..at + len);
            }
            3 => {
                let from = rng.below(out.len());
                let len = rng.below(200).min(out.len() - from);
                let piece = out[from..from + len].to_vec();
                out.splice(at..at, piece);
            }
            4 => {
                let garbage: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
                out.splice(at..at, garbage);
            }
            _ => {
                let digits = b"0123456789";
                out[at] = digits[rng.below(10)];
            }
        }
    }
    out
}

fn counts(job: &Job, paths: &[PathBuf], threads: usize) -> Result<Vec<(Vec<u8>, u64, u64)>, Error> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let inputs: Vec<_> = paths.iter().map(wetmr::input::Input::file).collect();
        let outcome = engine::run(job, &inputs, &wetmr::engine::Control::default())?;
        Ok(outcome
            .counted
            .ranked(1, None)
            .iter()
            .map(|w| (w.word.to_vec(), w.tf, w.df))
            .collect())
    })
}

#[test]
fn mutated_files_never_panic_and_modes_agree() {
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(common::wetgen(dir.path(), "s.wet", "12KB", 5, &[])).unwrap();
    let gz = std::fs::read(common::wetgen(
        dir.path(),
        "s.wet.gz",
        "12KB",
        5,
        &["--gzip"],
    ))
    .unwrap();
    let stream = common::gzip(&plain, flate2::Compression::fast());
    let mut rng = Rng(42);
    let path = dir.path().join("m.wet");
    let job = |policy, split| Job {
        tokenizer: TokenizerKind::Word,
        content_type: None,
        policy,
        split_bytes: split,
        spill_at: 50,
    };
    let mut failed_strict = 0;
    for round in 0..600 {
        let base = [&plain, &gz, &stream][round % 3];
        let data = mutate(&mut rng, base);
        std::fs::write(&path, &data).unwrap();
        let paths = [path.clone()];
        let strict = counts(&job(Policy::Strict, None), &paths, 1);
        let skip = counts(&job(Policy::Skip, None), &paths, 1)
            .unwrap_or_else(|e| panic!("round {round}: skip mode failed: {e}"));
        for (threads, split) in [(2, Some(997)), (3, Some(4001))] {
            let again = counts(&job(Policy::Skip, split), &paths, threads).unwrap();
            assert_eq!(
                again, skip,
                "round {round}: skip mode differs with {threads} threads"
            );
            let strict_again = counts(&job(Policy::Strict, split), &paths, threads);
            assert_eq!(
                strict_again.as_ref().map_err(|e| e.to_string()),
                strict.as_ref().map_err(|e| e.to_string()),
                "round {round}: strict mode differs with {threads} threads"
            );
        }
        match strict {
            Ok(strict) => assert_eq!(strict, skip, "round {round}: intact input, same counts"),
            Err(Error::Damaged { .. }) => failed_strict += 1,
            Err(other) => panic!("round {round}: unexpected error {other}"),
        }
    }
    assert!(
        failed_strict > 100,
        "the mutations damage files: {failed_strict}"
    );
}

/// A few-MB `.gz` that decodes to one 300 MB "record": a clean failure (strict) or a
/// reported skip, with memory bounded by the record cap instead of the claimed length.
#[test]
fn decompression_bomb_is_damage_not_an_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.warc.wet.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(b"WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 999999999999\r\n\r\n")
        .unwrap();
    let block = vec![b'a'; 1 << 20];
    for _ in 0..300 {
        enc.write_all(&block).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(
        bomb.len() * 50 < 300 << 20,
        "a bomb: {} compressed bytes",
        bomb.len()
    );
    std::fs::write(&path, bomb).unwrap();
    let job = |policy| Job {
        tokenizer: TokenizerKind::Word,
        content_type: None,
        policy,
        split_bytes: None,
        spill_at: wetmr::count::SPILL_AT as u64,
    };
    let paths = [path];
    match counts(&job(Policy::Strict), &paths, 2) {
        Err(Error::Damaged { damage, .. }) => {
            assert!(damage.what.contains("larger than"), "{damage}")
        }
        other => panic!("expected a damage error, got {:?}", other.map(|c| c.len())),
    }
    let skipped = counts(&job(Policy::Skip), &paths, 2).unwrap();
    assert!(skipped.is_empty());
}
