//! `wetmr count` (and `wetmr map`, the same job writing every word unranked): the whole
//! local job, from a resolved config to written outputs.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::inputs;
use crate::config::CountConfig;
use crate::engine::{self, thread_pool};
use crate::error::{Error, Result};
use crate::observe::local::{LocalRun, Watcher};
use crate::output::deliver::{deliver, print_result, stage_result, Delivery, ReportInputs};
use crate::remote::Client;

/// Runs a count job and writes its outputs.
pub fn count(config: &CountConfig) -> Result<()> {
    let started = Instant::now();
    let client = Client::new(config.download.clone());
    let inputs = match inputs(config, &client) {
        // A map's share of a streaming job can be empty (Spark pipes every partition,
        // empty ones too): that is no words, not an error.
        Err(Error::NoInputs) if config.unranked => return empty_map(config),
        other => other?,
    };
    let (bytes, files) = (inputs.bytes(), inputs.files);
    // The client when the job downloads: its figures go in progress lines and stats.
    let downloading = files.iter().any(|f| f.remote.is_some()).then_some(&client);
    crate::malloc::share_heaps(config.threads);
    let pool = thread_pool(config.threads, "count")?;
    let job = &config.job;
    let control = engine::Control::default();
    let finished = AtomicBool::new(false);
    let run = LocalRun {
        control: &control,
        started,
        bytes: downloading.is_none().then_some(bytes),
        files: files.len(),
        client: downloading,
    };
    let outcome = std::thread::scope(|scope| {
        let sample = config.report.is_some();
        let watcher = Watcher::start(scope, &finished, run, config.progress, sample)?;
        let outcome = engine::run_on(&pool, job, &files, &control, &client);
        let samples = watcher.finish();
        outcome.map(|outcome| (outcome, samples))
    })?;
    let (outcome, throughput) = outcome;
    // Ranked and written on the job's threads (the TSV is formatted in parallel).
    pool.install(|| {
        let words = if config.unranked {
            outcome.counted.words().filter(|w| w.tf != 0).collect()
        } else {
            outcome
                .counted
                .ranked(config.result.min_count, config.result.top)
        };
        deliver(
            config,
            Delivery {
                words: &words,
                files: &outcome.files,
                distinct: outcome.counted.distinct(),
                threads: config.threads,
                cluster: None,
                downloads: downloading.map(|client| client.figures(started.elapsed())),
                report: config.report.is_some().then(|| ReportInputs {
                    spectrum: outcome.counted.spectrum(),
                    throughput,
                    cluster: None,
                }),
            },
            started,
        )?;
        if config.hadoop_counters {
            print_hadoop_counters(&outcome.files, words.len() as u64);
        }
        Ok(())
    })
}

/// The output of a map given no inputs: no lines (and zero counters when asked).
fn empty_map(config: &CountConfig) -> Result<()> {
    if let Some(staged) = stage_result(&config.result, &[])? {
        staged.commit()?;
    }
    print_result(&config.result, &[])?;
    if config.hadoop_counters {
        print_hadoop_counters(&[], 0);
    }
    Ok(())
}

/// The run's figures as Hadoop Streaming counters (group `wetmr`), which the framework
/// reads from a task's standard error and adds up over the job.
fn print_hadoop_counters(files: &[engine::FileResult], words: u64) {
    let mut total = engine::Counters::default();
    for file in files {
        total += file.counters;
    }
    for (name, value) in [
        ("files", files.len() as u64),
        ("records", total.records),
        ("conversion_records", total.conversion_records),
        ("tokens", total.tokens),
        ("warc_bytes", total.warc_bytes),
        ("skipped_bytes", total.skipped_bytes),
        ("words_written", words),
    ] {
        eprintln!("reporter:counter:wetmr,{name},{value}");
    }
}
