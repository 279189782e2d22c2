//! The local engine: files in, one merged count table out, using every core.
//!
//! 1. Open (memory-map) every input; plan split points for each ([`plan`]).
//! 2. Scan all chunks of all files in parallel on the rayon pool ([`scan`]); each worker
//!    thread counts into its own [`CountTable`].
//! 3. Follow each file's chain of real chunks ([`chain`]); withdraw the counts of chunks that
//!    started at a false split point by scanning them again with a delta of −1.
//! 4. Spill the per-thread tables into the run's shared table (threads also spill on the
//!    way, whenever their table outgrows its budget), where each word is stored once.
//!
//! The result is exactly that of one sequential scan of the files in order, whatever the
//! number of threads. The map side of the distributed engine reuses this module.

pub mod chain;
pub mod plan;
pub mod report;
pub mod scan;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::count::{finish, CountTable, Counted, Lookahead, SharedTable};
use crate::error::{Damage, Error, Offset, Result};
use crate::input::{FileBytes, Format};
use crate::tokenize::{Tokenizer, TokenizerKind};
pub use report::{Counters, Skipped};
pub use scan::Policy;
use scan::{ChunkOutcome, ScanCtx, Sink};

/// What to count and how.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    pub tokenizer: TokenizerKind,
    pub policy: Policy,
    /// Chunk size override (see `plan::split_points`); `None` for the built-in sizes.
    pub split_bytes: Option<usize>,
    /// Words a thread's table may hold before it is spilled (see `count::SharedTable`).
    pub spill_at: usize,
}

/// What a caller shares with a [`run`] under way.
#[derive(Debug, Default)]
pub struct Control {
    /// Advanced by the input bytes of each chunk scanned (it reaches the files' total size).
    pub progress: AtomicU64,
    /// Set to stop the run early: its chunks stop at their next record and it returns
    /// [`Error::Abandoned`] (a map attempt that another copy has won).
    pub abandon: AtomicBool,
}

/// The outcome for one input file.
#[derive(Debug)]
pub struct FileResult {
    pub path: PathBuf,
    /// `None` when the file could not be read.
    pub format: Option<Format>,
    /// Size of the file on disk.
    pub bytes_in: u64,
    /// Chunks the file was scanned in, and how many of them started at a false split point.
    pub chunks: usize,
    pub false_splits: usize,
    pub counters: Counters,
    /// Damage passed over (`--skip-bad-input`).
    pub skipped: Vec<Skipped>,
}

/// Everything a local run produces.
pub struct Outcome {
    pub files: Vec<FileResult>,
    pub counted: Counted,
}

/// One worker thread's state.
#[derive(Default)]
struct ThreadState {
    table: CountTable,
    ahead: Lookahead,
    scratch: Vec<u8>,
    window: Vec<u8>,
}

/// Counts `paths` on the current rayon pool. Under `Policy::Strict` the first damaged or
/// unreadable file (in input order) fails the run. `control` reports progress and can
/// abandon the run.
pub fn run(job: &Job, paths: &[PathBuf], control: &Control) -> Result<Outcome> {
    let tokenizer = Tokenizer::new(job.tokenizer);
    let (files, mut results) = open_inputs(paths, job.policy)?;

    let plans: Vec<(Format, Vec<usize>)> = files
        .par_iter()
        .map(|(_, bytes)| {
            let format = Format::sniff(bytes);
            (
                format,
                plan::split_points(bytes, format, job.split_bytes, &mut Vec::new()),
            )
        })
        .collect();
    let units: Vec<(usize, usize)> = plans
        .iter()
        .enumerate()
        .flat_map(|(f, (_, points))| (0..points.len()).map(move |c| (f, c)))
        .collect();

    let shared = SharedTable::new();
    let states: Vec<Mutex<ThreadState>> = (0..rayon::current_num_threads())
        .map(|_| Mutex::default())
        .collect();
    let failing_file = AtomicUsize::new(usize::MAX);
    let scan_unit = |&(f, c): &(usize, usize), delta: u64| -> ChunkOutcome {
        let (format, points) = &plans[f];
        let thread = rayon::current_thread_index().unwrap_or(0) % states.len();
        let mut state = states[thread].lock().unwrap_or_else(|e| e.into_inner());
        let ThreadState {
            table,
            ahead,
            scratch,
            window,
        } = &mut *state;
        let mut sink = Sink {
            tokenizer,
            table,
            shared: &shared,
            spill_at: job.spill_at,
            scratch,
            ahead,
            delta,
        };
        let bytes = &files[f].1;
        let ctx = ScanCtx {
            policy: job.policy,
            file: f,
            failing_file: &failing_file,
            abandon: &control.abandon,
        };
        let outcome = match format {
            Format::Plain => scan::scan_plain(bytes, points, c, &ctx, &mut sink),
            Format::Gzip => scan::scan_gzip(bytes, points, c, &ctx, &mut sink, window),
        };
        if c == 0 && outcome.failure.is_some() {
            // Chunk 0 is always real: the run will fail, at this file or an earlier one.
            failing_file.fetch_min(f, Ordering::Relaxed);
        }
        outcome
    };
    let outcomes: Vec<ChunkOutcome> = units
        .par_iter()
        .with_max_len(1)
        .map(|unit| {
            let outcome = scan_unit(unit, 1);
            let (f, c) = *unit;
            let points = &plans[f].1;
            let end = points.get(c + 1).copied().unwrap_or(files[f].1.len());
            control
                .progress
                .fetch_add((end - points[c]) as u64, Ordering::Relaxed);
            outcome
        })
        .collect();
    if control.abandon.load(Ordering::Relaxed) {
        return Err(Error::Abandoned);
    }

    // Follow each file's chain; collect the chunks to withdraw.
    let mut false_units = Vec::new();
    let mut first_failure: Option<(usize, Damage)> = None;
    let mut unit_start = 0;
    for (f, (format, points)) in plans.iter().enumerate() {
        let chunk_outcomes = &outcomes[unit_start..unit_start + points.len()];
        unit_start += points.len();
        let (index, bytes) = &files[f];
        let result = &mut results[*index];
        result.format = Some(*format);
        result.bytes_in = bytes.len() as u64;
        let (failure, false_chunks) = settle(result, chunk_outcomes, job.policy);
        if first_failure.is_none() {
            first_failure = failure.map(|damage| (*index, damage));
        }
        false_units.extend(false_chunks.into_iter().map(|c| (f, c)));
    }
    if let Some((index, damage)) = first_failure {
        return Err(Error::Damaged {
            path: results[index].path.clone(),
            damage,
        });
    }
    false_units
        .par_iter()
        .with_max_len(1)
        .for_each(|unit| drop(scan_unit(unit, 1u64.wrapping_neg())));

    states.into_par_iter().for_each(|state| {
        let mut state = state.into_inner().unwrap_or_else(|e| e.into_inner());
        shared.spill(&mut state.table);
    });
    Ok(Outcome {
        files: results,
        counted: finish(shared),
    })
}

impl FileResult {
    /// A file's result before anything is known of it.
    pub fn new(path: &Path) -> FileResult {
        FileResult {
            path: path.to_path_buf(),
            format: None,
            bytes_in: 0,
            chunks: 0,
            false_splits: 0,
            counters: Counters::default(),
            skipped: Vec::new(),
        }
    }
}

/// An opened input: its index in the results list, and its bytes.
type Opened = (usize, FileBytes);

/// Maps every input; the results list has one entry per path, in order, and `files` pairs
/// each opened file with its index there. Under `Policy::Skip` an unreadable file is
/// reported in its result and left out of `files`.
fn open_inputs(paths: &[PathBuf], policy: Policy) -> Result<(Vec<Opened>, Vec<FileResult>)> {
    let mut files = Vec::with_capacity(paths.len());
    let mut results = Vec::with_capacity(paths.len());
    for path in paths {
        let mut result = FileResult::new(path);
        match FileBytes::open(path) {
            Ok(bytes) => files.push((results.len(), bytes)),
            Err(Error::Open { source, .. }) if policy == Policy::Skip => {
                result.skipped.push(Skipped {
                    at: Offset::Plain { offset: 0 },
                    what: format!("cannot read: {source}"),
                    bytes: 0,
                });
            }
            Err(e) => return Err(e),
        }
        results.push(result);
    }
    Ok((files, results))
}

/// Settles one file from the outcomes of its chunks: follows the chain of real chunks,
/// fills `result` with their sum, and returns the file's first damage under
/// `Policy::Strict` (a file without a single record is damaged too) and the indices of the
/// chunks that started at a false split point.
fn settle(
    result: &mut FileResult,
    outcomes: &[ChunkOutcome],
    policy: Policy,
) -> (Option<Damage>, Vec<usize>) {
    let chain = chain::follow(outcomes);
    let mut tally = chain::tally(outcomes, &chain);
    if tally.counters.records == 0 && tally.failure.is_none() && tally.skipped.is_empty() {
        let at = match result.format {
            Some(Format::Gzip) => Offset::Gzip {
                member: 0,
                decompressed: Some(0),
            },
            _ => Offset::Plain { offset: 0 },
        };
        let what = "no WARC records in file".to_string();
        match policy {
            Policy::Strict => tally.failure = Some(Damage { at, what }),
            Policy::Skip => tally.skipped.push(Skipped { at, what, bytes: 0 }),
        }
    }
    result.chunks = outcomes.len();
    result.false_splits = outcomes.len() - chain.len();
    result.counters = tally.counters;
    result.skipped = tally.skipped;
    let false_chunks = (0..outcomes.len()).filter(|c| !chain.contains(c)).collect();
    (tally.failure, false_chunks)
}
