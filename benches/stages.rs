//! Criterion benchmarks, one group per stage of the data path, each in bytes per second:
//! gzip member decoding, WARC record parsing, tokenizing (each tokenizer), and counting
//! (tokenize + per-thread table), and writing a 2M-word result in each output format (words
//! per second); the word tokenizer also on each vector lane the CPU has
//! (scalar, SSE2, AVX2). The corpus is made by `wetgen` at start-up (8 MB).
//!
//! Run with `cargo bench`; `cargo bench -- tokenize` runs one group.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wetmr::count::{CountTable, WordCount};
use wetmr::input::gzip::{Fill, MemberReader};
use wetmr::output::format::{Compression, OutputFormat};
use wetmr::tokenize::{Lane, Tokenizer, TokenizerKind};
use wetmr::warc::{self, After, Next};

struct Corpus {
    plain: Vec<u8>,
    gzip: Vec<u8>,
}

fn corpus() -> Corpus {
    let dir = tempfile::tempdir().expect("temp dir");
    let make = |name: &str, gzip: bool| {
        let out = dir.path().join(name);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wetgen"));
        cmd.args(["--size", "8MB", "--seed", "3"]);
        if gzip {
            cmd.arg("--gzip");
        }
        assert!(cmd.arg(&out).status().expect("wetgen runs").success());
        std::fs::read(Path::new(&out)).expect("corpus")
    };
    Corpus {
        plain: make("c.warc.wet", false),
        gzip: make("c.warc.wet.gz", true),
    }
}

/// The bodies of the conversion records of `data`.
fn bodies(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Ok(Next::Record(r)) = warc::next_record(&data[pos..], After::End) {
        if r.conversion {
            out.push(r.body);
        }
        pos += r.len;
    }
    out
}

/// Tokenizes every body once per iteration.
fn tokenize_all(b: &mut criterion::Bencher<'_>, tokenizer: Tokenizer, bodies: &[&[u8]]) {
    let mut scratch = Vec::new();
    b.iter(|| {
        let mut n = 0usize;
        for body in bodies {
            tokenizer.for_each_word(body, &mut scratch, |w| n += w.len());
        }
        n
    })
}

fn stages(c: &mut Criterion) {
    let corpus = corpus();
    let bodies = bodies(&corpus.plain);
    let body_bytes: u64 = bodies.iter().map(|b| b.len() as u64).sum();

    let mut group = c.benchmark_group("gzip");
    group.throughput(Throughput::Bytes(corpus.plain.len() as u64));
    group.bench_function("decode_members", |b| {
        let mut window = Vec::with_capacity(1 << 20);
        b.iter(|| {
            let mut reader = MemberReader::new(&corpus.gzip, 0);
            loop {
                window.clear();
                match reader.fill(&mut window).expect("valid gzip") {
                    Fill::Eof => break,
                    Fill::Data | Fill::MemberEnd => black_box(window.len()),
                };
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("warc");
    group.throughput(Throughput::Bytes(corpus.plain.len() as u64));
    group.bench_function("parse_records", |b| {
        b.iter(|| {
            let data = black_box(&corpus.plain[..]);
            let (mut pos, mut n) = (0, 0);
            while let Ok(Next::Record(r)) = warc::next_record(&data[pos..], After::End) {
                pos += r.len;
                n += r.body.len();
            }
            n
        })
    });
    group.finish();

    let mut group = c.benchmark_group("tokenize");
    group.throughput(Throughput::Bytes(body_bytes));
    for kind in [
        TokenizerKind::Word,
        TokenizerKind::CcPyspark,
        TokenizerKind::Uax29,
    ] {
        let tokenizer = Tokenizer::new(kind);
        group.bench_function(kind.name(), |b| tokenize_all(b, tokenizer, &bodies));
    }
    // The word tokenizer on each lane this CPU has (the line above used the fastest).
    for lane in Lane::ALL.into_iter().filter_map(Lane::ready) {
        let tokenizer = Tokenizer::on_lane(TokenizerKind::Word, lane);
        let name = format!("word-{}", lane.lane().name());
        group.bench_function(name, |b| tokenize_all(b, tokenizer, &bodies));
    }
    group.finish();

    let mut group = c.benchmark_group("count");
    group.throughput(Throughput::Bytes(body_bytes));
    group.sample_size(10);
    let tokenizer = Tokenizer::new(TokenizerKind::Word);
    group.bench_function("word_table", |b| {
        let mut scratch = Vec::new();
        b.iter(|| {
            let mut table = CountTable::new();
            for body in &bodies {
                table.begin_record();
                tokenizer.for_each_word(body, &mut scratch, |w| table.add(w, 1));
            }
            table.len()
        })
    });
    group.finish();

    let words = ranked_words(2_000_000, &bodies, &tokenizer);
    let counts: Vec<WordCount<'_>> = words
        .iter()
        .map(|(w, tf, df)| WordCount {
            word: w,
            tf: *tf,
            df: *df,
        })
        .collect();
    let mut group = c.benchmark_group("output");
    group.throughput(Throughput::Elements(counts.len() as u64));
    group.sample_size(10);
    let formats = [
        ("tsv", OutputFormat::Tsv),
        ("jsonl", OutputFormat::Jsonl),
        ("parquet-gzip", OutputFormat::Parquet(Compression::Gzip)),
        ("parquet-zstd", OutputFormat::Parquet(Compression::Zstd)),
        ("parquet-snappy", OutputFormat::Parquet(Compression::Snappy)),
        ("parquet-none", OutputFormat::Parquet(Compression::None)),
    ];
    for (name, format) in formats {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(64 << 20);
                format.write(&mut out, &counts).expect("written");
                out.len()
            })
        });
    }
    group.finish();
}

/// `n` distinct words in output order, like a large job's result: the corpus's words, then
/// as many variants of them as needed (a word and a number, as web text's long tail has),
/// with tf falling like a Zipf law and df at most tf.
fn ranked_words(n: usize, bodies: &[&[u8]], tokenizer: &Tokenizer) -> Vec<(Vec<u8>, u64, u64)> {
    let mut seen = std::collections::HashSet::new();
    let mut scratch = Vec::new();
    for body in bodies {
        tokenizer.for_each_word(body, &mut scratch, |w| {
            seen.insert(w.to_vec());
        });
    }
    let base: Vec<Vec<u8>> = seen.into_iter().collect();
    let mut words: Vec<(Vec<u8>, u64, u64)> = (0..n)
        .map(|i| {
            let mut w = base[i % base.len()].clone();
            if i >= base.len() {
                w.extend_from_slice(format!("{}", i / base.len()).as_bytes());
            }
            let tf = (10_000_000 / (i as u64 + 1)).max(1);
            (w, tf, tf.min(1 + i as u64 % 40))
        })
        .collect();
    words.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    words.dedup_by(|a, b| a.0 == b.0);
    words
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .measurement_time(std::time::Duration::from_secs(3));
    targets = stages
}
criterion_main!(benches);
