//! One run of the local engine: the window of open inputs, the scans of their chunks on
//! the pool, the settling of each file (its false splits withdrawn), and the per-thread
//! tables. URL inputs, which are streamed rather than mapped, are [`fetch`]'s.

mod fetch;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::scan::{self, ChunkOutcome, ScanCtx, Sink};
use super::window::Window;
use super::{chain, open_window, plan, Busy, Control, FileResult, Job, Outcome, Policy, Skipped};
use crate::count::{finish, CountTable, Lookahead, SharedTable};
use crate::error::{Damage, Error, Offset, Result};
use crate::input::{FileBytes, Format, Input};
use crate::remote::{Client, DownloadStats};
use crate::tokenize::Tokenizer;
use fetch::{url_name, Downloads};

/// One worker thread's state.
#[derive(Default)]
struct ThreadState {
    table: CountTable,
    ahead: Lookahead,
    scratch: Vec<u8>,
    window: Window,
}

/// A run under way: what every step of every file shares.
pub(crate) struct Run<'a> {
    pub(super) job: &'a Job,
    inputs: &'a [Input],
    control: &'a Control,
    /// Fetches URL inputs (`None`: local inputs only).
    client: Option<&'a Client>,
    /// Places in the window: inputs open at once, at most.
    pub(super) window: usize,
    /// URL inputs waiting for their thread.
    downloads: Downloads,
    tokenizer: Tokenizer,
    shared: SharedTable,
    /// One per pool thread, by thread index.
    states: Vec<Mutex<ThreadState>>,
    /// The next input to open.
    next: AtomicUsize,
    /// The lowest index of a file known to fail the run (`usize::MAX` when none): later
    /// files are not opened, and their chunks stop early (see `ScanCtx`).
    failing_file: AtomicUsize,
    /// The first failure in input order, with its file's index.
    failure: Mutex<Option<(usize, Error)>>,
    /// Each input's result, set when it is settled.
    results: Vec<OnceLock<FileResult>>,
}

/// An input open in the window.
struct OpenFile {
    index: usize,
    bytes: FileBytes,
    format: Format,
    points: Vec<usize>,
    /// Chunk outcomes, by chunk, as they come.
    outcomes: Mutex<Vec<ChunkOutcome>>,
    /// Chunks not yet scanned: the one that brings this to zero settles the file.
    left: AtomicUsize,
}

impl<'a> Run<'a> {
    pub(super) fn new(
        job: &'a Job,
        inputs: &'a [Input],
        control: &'a Control,
        client: Option<&'a Client>,
        threads: usize,
    ) -> Run<'a> {
        // Downloads wait for the network more than for the pool: they get places of their
        // own, beside those that keep every thread busy.
        let window = match client {
            Some(client) => open_window(threads) + client.settings.downloads,
            None => open_window(threads),
        };
        Run {
            job,
            inputs,
            control,
            client,
            window,
            downloads: Downloads::new(window),
            tokenizer: Tokenizer::new(job.tokenizer),
            shared: SharedTable::new(),
            states: (0..threads).map(|_| Mutex::default()).collect(),
            next: AtomicUsize::new(0),
            failing_file: AtomicUsize::new(usize::MAX),
            failure: Mutex::new(None),
            results: (0..inputs.len()).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The run's outcome, once every input has left the window: the per-thread tables
    /// spilled into the shared one, and the results in input order.
    pub(super) fn finish(self) -> Result<Outcome> {
        if self.control.abandon.load(Ordering::Relaxed) {
            return Err(Error::Abandoned);
        }
        let Run {
            shared,
            states,
            failure,
            results,
            inputs,
            ..
        } = self;
        if let Some((_, error)) = failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
            return Err(error);
        }
        rayon::scope(|scope| {
            for state in states {
                let shared = &shared;
                scope.spawn(move |_| {
                    let mut state = state.into_inner().unwrap_or_else(PoisonError::into_inner);
                    shared.spill(&mut state.table);
                });
            }
        });
        let files = results
            .into_iter()
            .zip(inputs)
            .map(|(result, input)| {
                result
                    .into_inner()
                    .unwrap_or_else(|| FileResult::new(&input.path))
            })
            .collect();
        Ok(Outcome {
            files,
            counted: finish(shared),
        })
    }

    /// Opens the next input in line, if there is one worth opening: a file on the pool, a
    /// URL on a thread of its own (see [`Run::start_downloads`]). Called once per window
    /// place at the start, then once by every input that leaves the window.
    pub(super) fn open_next<'s>(&'s self, scope: &rayon::Scope<'s>) {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        let stopped = self.control.abandon.load(Ordering::Relaxed)
            || index > self.failing_file.load(Ordering::Relaxed);
        let mut queue = self
            .downloads
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if index >= self.inputs.len() || stopped {
            queue.places -= 1;
        } else if self.inputs[index].remote.is_some() && self.client.is_none() {
            // Only `run_on` starts downloads: a URL given to `run` fails, it is not lost.
            drop(queue);
            let path = &self.inputs[index].path;
            let what = format!("{}: URL inputs need `engine::run_on`", url_name(path));
            self.fail(index, Error::Usage(what));
            return self.open_next(scope);
        } else if self.inputs[index].remote.is_some() && self.cached(index).is_none() {
            queue.waiting.push_back(index);
        } else {
            drop(queue);
            scope.spawn(move |scope| self.open(index, scope));
            return;
        }
        drop(queue);
        self.downloads.wake.notify_all();
    }

    /// True when input `file` no longer matters: the run is abandoned, or fails at an
    /// earlier input.
    pub(super) fn stopped_at(&self, file: usize) -> bool {
        self.control.abandon.load(Ordering::Relaxed)
            || self.failing_file.load(Ordering::Relaxed) < file
    }

    /// Counts record texts (`text` cut at `ends`) into this pool thread's table; returns
    /// their tokens.
    pub(super) fn count_texts(
        &self,
        text: &[u8],
        ends: &[usize],
        keys: &[u64],
        languages: &mut super::Languages,
    ) -> u64 {
        self.with_sink(1, |sink, _| {
            super::stream::count_texts_into(sink, text, ends, keys, languages)
        })
    }

    /// Runs `f` with a sink into this pool thread's table (counting with `delta`) and the
    /// thread's decode window.
    fn with_sink<R>(&self, delta: u64, f: impl FnOnce(&mut Sink<'_>, &mut Window) -> R) -> R {
        let thread = rayon::current_thread_index().unwrap_or(0) % self.states.len();
        let mut state = self.states[thread]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ThreadState {
            table,
            ahead,
            scratch,
            window,
        } = &mut *state;
        let mut sink = Sink {
            job: self.job,
            tokenizer: self.tokenizer,
            table,
            shared: &self.shared,
            spill_at: self.job.spill_at as usize,
            scratch,
            ahead,
            delta,
        };
        f(&mut sink, window)
    }

    /// Step 1: opens input `index`, plans its chunks and spawns their scans.
    fn open<'s>(&'s self, index: usize, scope: &rayon::Scope<'s>) {
        let busy = Busy::new(&self.control.busy);
        let Input { path, pipe_ok, .. } = &self.inputs[index];
        // A URL input opened here is read from the cache (`--cache-dir`).
        let cached = self.cached(index);
        let bytes = match FileBytes::open(cached.as_deref().unwrap_or(path), *pipe_ok) {
            Ok(bytes) => bytes,
            Err(error) => {
                let what = match &error {
                    Error::Open { source, .. } => format!("cannot read: {source}"),
                    other => other.to_string(),
                };
                // No format: unread (a worker's caller then tries another worker).
                let skipped = FileResult::skipped_whole(path, None, 0, what);
                return self.unusable(index, error, skipped, scope);
            }
        };
        let format = Format::sniff(&bytes);
        if let Some((error, skipped)) = foreign(path, &bytes, bytes.len() as u64) {
            return self.unusable(index, error, skipped, scope);
        }
        let points = plan::split_points(
            &bytes,
            format,
            self.job.split_bytes.map(|b| b as usize),
            &mut Vec::new(),
        );
        let chunks = points.len();
        let file = Arc::new(OpenFile {
            index,
            bytes,
            format,
            points,
            outcomes: Mutex::new((0..chunks).map(|_| ChunkOutcome::default()).collect()),
            left: AtomicUsize::new(chunks),
        });
        drop(busy);
        for chunk in 0..chunks {
            let file = file.clone();
            scope.spawn(move |scope| self.scan(file, chunk, scope));
        }
    }

    /// Step 2: scans one chunk; the last chunk of a file to finish settles it.
    fn scan<'s>(&'s self, file: Arc<OpenFile>, chunk: usize, scope: &rayon::Scope<'s>) {
        let busy = Busy::new(&self.control.busy);
        let outcome = self.scan_chunk(&file, chunk, 1);
        if chunk == 0 && outcome.failure.is_some() {
            // Chunk 0 is always real: the run will fail, at this file or an earlier one.
            self.failing_file.fetch_min(file.index, Ordering::Relaxed);
        }
        let mut outcomes = file.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
        outcomes[chunk] = outcome;
        drop(outcomes);
        if file.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.settle(&file);
            // Every other scan of this file has ended: this drop closes it (step 4).
            drop(file);
            drop(busy);
            self.open_next(scope);
        }
    }

    /// Scans chunk `chunk` of `file` into this thread's table with `delta` (1 to count,
    /// −1 to withdraw).
    fn scan_chunk(&self, file: &OpenFile, chunk: usize, delta: u64) -> ChunkOutcome {
        let ctx = ScanCtx {
            policy: self.job.policy,
            file: file.index,
            failing_file: &self.failing_file,
            abandon: &self.control.abandon,
            // Withdrawing rescans bytes already reported.
            progress: (delta == 1).then_some(&self.control.progress),
        };
        let (bytes, points) = (&file.bytes, &file.points[..]);
        self.with_sink(delta, |sink, window| match file.format {
            Format::Plain => scan::scan_plain(bytes, points, chunk, &ctx, sink),
            Format::Gzip => scan::scan_gzip(bytes, points, chunk, &ctx, sink, window),
        })
    }

    /// Step 3: settles a file whose chunks are all scanned: its result, or the run's
    /// failure, and the withdrawal of chunks that started at a false split point.
    fn settle(&self, file: &OpenFile) {
        let outcomes =
            std::mem::take(&mut *file.outcomes.lock().unwrap_or_else(PoisonError::into_inner));
        let input = &self.inputs[file.index];
        let mut result = FileResult::new(&input.path);
        result.format = Some(file.format);
        result.bytes_in = file.bytes.len() as u64;
        if input.remote.is_some() {
            result.download = Some(DownloadStats {
                cached: true,
                ..DownloadStats::default()
            });
        }
        let (failure, false_chunks) = tally_file(&mut result, &outcomes, self.job.policy);
        if let Some(damage) = failure {
            let path = result.path;
            return self.fail(file.index, Error::Damaged { path, damage });
        }
        if self.control.abandon.load(Ordering::Relaxed)
            || file.index > self.failing_file.load(Ordering::Relaxed)
        {
            // Its counts cannot matter any more.
            return;
        }
        for chunk in false_chunks {
            self.scan_chunk(file, chunk, 1u64.wrapping_neg());
        }
        self.settled(file.index, result);
    }

    /// Input `index` cannot be counted at all (`error`): it fails the run, or under the
    /// skip policy, if it is input damage, it settles as `skipped`. Then the next input
    /// takes its place.
    fn unusable<'s>(
        &'s self,
        index: usize,
        error: Error,
        skipped: FileResult,
        scope: &rayon::Scope<'s>,
    ) {
        let input_damage = matches!(
            error,
            Error::Open { .. } | Error::Damaged { .. } | Error::Download { .. }
        );
        if self.job.policy == Policy::Skip && input_damage {
            self.settled(index, skipped);
        } else {
            self.fail(index, error);
        }
        self.open_next(scope);
    }

    fn settled(&self, index: usize, result: FileResult) {
        // Each file is settled once: by its last chunk, or where its opening failed.
        if self.results[index].set(result).is_ok() {
            self.control.files_done.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Input `index` fails the run, unless an earlier one does.
    fn fail(&self, index: usize, error: Error) {
        self.failing_file.fetch_min(index, Ordering::Relaxed);
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        if failure.as_ref().is_none_or(|(first, _)| index < *first) {
            *failure = Some((index, error));
        }
    }
}

/// A file whose first bytes (`head`) show a compression wetmr does not read: the error, and
/// its result when skipped (`size` bytes, nothing counted).
fn foreign(path: &Path, head: &[u8], size: u64) -> Option<(Error, FileResult)> {
    let name = crate::input::foreign_compression(head)?;
    let damage = Damage {
        at: Offset::Plain { offset: 0 },
        what: format!(
            "a {name}-compressed file: wetmr reads WARC, plain or gzip-compressed \
             (decompress it first)"
        ),
    };
    let skipped = FileResult::skipped_whole(path, Some(Format::Plain), size, damage.what.clone());
    let error = Error::Damaged {
        path: path.to_path_buf(),
        damage,
    };
    Some((error, skipped))
}

/// Sums one file from the outcomes of its chunks: follows the chain of real chunks,
/// fills `result` with their sum, and returns the file's first damage under
/// `Policy::Strict` (a file without a single record is damaged too) and the indices of the
/// chunks that started at a false split point.
fn tally_file(
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
    result.chunks = outcomes.len() as u64;
    result.false_splits = (outcomes.len() - chain.len()) as u64;
    result.counters = tally.counters;
    result.languages = tally.languages.shares();
    result.skipped = tally.skipped;
    let false_chunks = (0..outcomes.len()).filter(|c| !chain.contains(c)).collect();
    (tally.failure, false_chunks)
}
