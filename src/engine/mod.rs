//! The local engine: files in, one merged count table out, using every core.
//!
//! Files stream through a bounded window: at most [`open_window`] of them are open (memory-
//! mapped) at once, whatever the number of inputs, so a crawl's 90,000 files cost no more
//! maps, descriptors or memory than a few. Each file goes through four steps, all on the
//! rayon pool:
//!
//! 1. Open (map) it and plan its split points ([`plan`]).
//! 2. Scan its chunks in parallel ([`scan`]); each thread counts into its own
//!    [`CountTable`], beside the chunks of the other open files.
//! 3. When its last chunk is scanned, follow its chain of real chunks ([`chain`]) and
//!    withdraw the counts of chunks that started at a false split point by scanning them
//!    again with a delta of −1.
//! 4. Close it, and open the next input in line.
//!
//! At the end the per-thread tables are spilled into the run's shared table (threads also
//! spill on the way, whenever their table outgrows its budget), where each word is stored
//! once. The result is exactly that of one sequential scan of the files in order, whatever
//! the number of threads, and the error reported is the first in input order. The map side
//! of the distributed engine reuses this module.
//!
//! A URL input takes the same place in the window, but is not mapped: a thread of its own
//! downloads, decodes and parses it, and hands its records' text to the pool ([`stream`]).

pub mod chain;
pub mod decode;
pub mod plan;
pub mod report;
pub mod scan;
pub mod stream;
pub mod window;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};

use crate::count::{finish, CountTable, Counted, Lookahead, SharedTable};
use crate::error::{Damage, Error, Offset, Result};
use crate::input::gzip::{Compressed, MemberReader};
use crate::input::{FileBytes, Format, Input};
use crate::remote::{Client, Download, DownloadStats};
use crate::tokenize::{Tokenizer, TokenizerKind};
use decode::PlainReader;
pub use report::{Counters, Skipped};
pub use scan::Policy;
use scan::{ChunkOutcome, ScanCtx, Sink};
use stream::{BatchSink, Stream};
use window::Window;

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
    /// Advanced as input bytes are scanned, at least every [`scan::PROGRESS_EVERY`] bytes
    /// (it reaches the files' total size).
    pub progress: AtomicU64,
    /// Set to stop the run early: its chunks stop at their next record and it returns
    /// [`Error::Abandoned`] (a map attempt that another copy has won).
    pub abandon: AtomicBool,
    /// Threads opening or scanning this run's files right now: those a read that never
    /// returns would hold.
    pub busy: AtomicUsize,
}

/// Counts a thread as busy for a run while it lives.
struct Busy<'a>(&'a AtomicUsize);

impl<'a> Busy<'a> {
    fn new(busy: &'a AtomicUsize) -> Busy<'a> {
        busy.fetch_add(1, Ordering::Relaxed);
        Busy(busy)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
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
    /// How a URL input's download went.
    pub download: Option<DownloadStats>,
}

/// Everything a local run produces.
pub struct Outcome {
    pub files: Vec<FileResult>,
    pub counted: Counted,
}

/// The most files open at once for a pool of `threads`: enough chunks in flight to keep
/// every thread busy when files are small (a file of one chunk occupies one thread), few
/// enough that maps and descriptors stay far below the system's limits.
pub fn open_window(threads: usize) -> usize {
    (2 * threads).clamp(8, 256)
}

/// Counts local `inputs` on the current rayon pool. Under `Policy::Strict` the first
/// damaged or unreadable file (in input order) fails the run. `control` reports progress
/// and can abandon the run.
pub fn run(job: &Job, inputs: &[Input], control: &Control) -> Result<Outcome> {
    let run = Run::new(job, inputs, control, None, rayon::current_num_threads());
    rayon::scope(|scope| {
        for _ in 0..run.window {
            run.open_next(scope);
        }
    });
    run.finish()
}

/// Counts `inputs`, local files and URLs, on `pool`, fetching URLs with `client`. Call it
/// from a thread outside the pool: that thread starts the downloads' threads and waits.
pub fn run_on(
    pool: &rayon::ThreadPool,
    job: &Job,
    inputs: &[Input],
    control: &Control,
    client: &Client,
) -> Result<Outcome> {
    if inputs.iter().all(|input| input.remote.is_none()) {
        return pool.install(|| run(job, inputs, control));
    }
    let run = Run::new(
        job,
        inputs,
        control,
        Some(client),
        pool.current_num_threads(),
    );
    pool.in_place_scope(|scope| {
        std::thread::scope(|threads| {
            for _ in 0..run.window {
                run.open_next(scope);
            }
            run.start_downloads(threads, scope);
        })
    });
    pool.install(|| run.finish())
}

impl FileResult {
    /// A file passed over whole (`--skip-bad-input`), for `what` reason: nothing of its
    /// `bytes_in` bytes counted. `format` is `None` when it could not be read.
    fn skipped_whole(
        path: &Path,
        format: Option<Format>,
        bytes_in: u64,
        what: String,
    ) -> FileResult {
        let mut result = FileResult::new(path);
        result.format = format;
        result.bytes_in = bytes_in;
        result.counters.skipped_bytes = bytes_in;
        result.skipped.push(Skipped {
            at: Offset::Plain { offset: 0 },
            what,
            bytes: bytes_in,
        });
        result
    }

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
            download: None,
        }
    }
}

/// One worker thread's state.
#[derive(Default)]
struct ThreadState {
    table: CountTable,
    ahead: Lookahead,
    scratch: Vec<u8>,
    window: Window,
}

/// A run under way: what every step of every file shares.
pub struct Run<'a> {
    job: &'a Job,
    inputs: &'a [Input],
    control: &'a Control,
    /// Fetches URL inputs (`None`: local inputs only).
    client: Option<&'a Client>,
    /// Places in the window: inputs open at once, at most.
    window: usize,
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

/// URL inputs whose place in the window has come, waiting for the thread that starts
/// their downloads, and the window's places still in use.
#[derive(Default)]
struct Downloads {
    state: Mutex<DownloadQueue>,
    wake: Condvar,
}

#[derive(Default)]
struct DownloadQueue {
    waiting: VecDeque<usize>,
    /// Window places that may still open an input; none left means no more downloads.
    places: usize,
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
    fn new(
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
            downloads: Downloads {
                state: Mutex::new(DownloadQueue {
                    waiting: VecDeque::new(),
                    places: window,
                }),
                wake: Condvar::new(),
            },
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
    fn finish(self) -> Result<Outcome> {
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
    fn open_next<'s>(&'s self, scope: &rayon::Scope<'s>) {
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

    /// Starts a thread for each URL input whose place in the window comes, until no place
    /// is left: runs on the caller's thread, outside the pool.
    fn start_downloads<'s, 'r, 't>(
        &'s self,
        threads: &'t std::thread::Scope<'t, '_>,
        scope: &'r rayon::Scope<'s>,
    ) where
        's: 't,
        'r: 't,
    {
        loop {
            let mut queue = self
                .downloads
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            while queue.waiting.is_empty() && queue.places > 0 {
                queue = self
                    .downloads
                    .wake
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            let Some(index) = queue.waiting.pop_front() else {
                return;
            };
            drop(queue);
            let started = std::thread::Builder::new()
                .name("wetmr-download".into())
                .spawn_scoped(threads, move || self.stream(index, scope));
            if let Err(e) = started {
                self.fail(
                    index,
                    Error::Resources(format!("cannot start a download thread: {e}")),
                );
                self.open_next(scope);
            }
        }
    }

    /// The cached copy of input `index`, when it is a URL that `--cache-dir` holds.
    fn cached(&self, index: usize) -> Option<PathBuf> {
        let url = self.inputs[index].remote.as_ref()?;
        self.client?.cached(url)
    }

    /// True when input `file` no longer matters: the run is abandoned, or fails at an
    /// earlier input.
    fn stopped_at(&self, file: usize) -> bool {
        self.control.abandon.load(Ordering::Relaxed)
            || self.failing_file.load(Ordering::Relaxed) < file
    }

    /// Counts record texts (`text` cut at `ends`) into this pool thread's table; returns
    /// their tokens.
    fn count_texts(&self, text: &[u8], ends: &[usize]) -> u64 {
        self.with_sink(1, |sink, _| stream::count_texts_into(sink, text, ends))
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
            tokenizer: self.tokenizer,
            table,
            shared: &self.shared,
            spill_at: self.job.spill_at,
            scratch,
            ahead,
            delta,
        };
        f(&mut sink, window)
    }

    /// Downloads, decodes and parses URL input `index` on this thread (see [`stream`]),
    /// settles it, and gives its place to the next input.
    fn stream<'s>(&'s self, index: usize, scope: &rayon::Scope<'s>) {
        let input = &self.inputs[index];
        let path = &input.path;
        let (Some(url), Some(client)) = (&input.remote, self.client) else {
            let error = Error::Usage(format!("{}: URL inputs need a client", url_name(path)));
            self.fail(index, error);
            return self.open_next(scope);
        };
        let unreadable = |what: String| {
            let skipped = FileResult::skipped_whole(path, None, 0, what.clone());
            let error = Error::Download {
                url: url_name(path),
                what,
            };
            (error, skipped)
        };
        let download = match Download::open(client, url) {
            Ok(download) => download,
            Err(what) => {
                let (error, skipped) = unreadable(what);
                return self.unusable(index, error, skipped, scope);
            }
        };
        let total = download.total();
        let mut stream = Stream::new(download);
        let head = match stream.bytes_from(0, 0) {
            Ok((bytes, _)) => bytes[..bytes.len().min(16)].to_vec(),
            Err(what) => {
                let (error, skipped) = unreadable(what);
                return self.unusable(index, error, skipped, scope);
            }
        };
        let format = Format::sniff(&head);
        if let Some((error, skipped)) = foreign(path, &head, total.unwrap_or(0)) {
            return self.unusable(index, error, skipped, scope);
        }
        let ctx = ScanCtx {
            policy: self.job.policy,
            file: index,
            failing_file: &self.failing_file,
            abandon: &self.control.abandon,
            progress: Some(&self.control.progress),
        };
        let mut sink = BatchSink::new(self, scope, index);
        let mut window = Window::default();
        let end = total.map_or(usize::MAX, |t| t as usize);
        let mut outcome = match format {
            Format::Gzip => {
                let mut reader = MemberReader::over(&mut stream, 0);
                scan::scan_window(&mut reader, &[0], 0, end, &ctx, &mut sink, &mut window)
            }
            Format::Plain => {
                let mut reader = PlainReader::new(&mut stream);
                scan::scan_window(&mut reader, &[0], 0, end, &ctx, &mut sink, &mut window)
            }
        };
        outcome.counters.tokens += sink.finish();
        let download = stream.reader();
        let mut result = FileResult::new(path);
        result.format = Some(format);
        result.bytes_in = download.total().unwrap_or(download.received());
        result.download = Some(download.stats.clone());
        drop(stream);
        let cancelled = outcome.cancelled;
        let (failure, _) = tally_file(&mut result, &[outcome], self.job.policy);
        if let Some(damage) = failure {
            self.fail(
                index,
                Error::Damaged {
                    path: path.clone(),
                    damage,
                },
            );
        } else if !cancelled {
            self.settled(index, result);
        }
        self.open_next(scope);
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
        let points = plan::split_points(&bytes, format, self.job.split_bytes, &mut Vec::new());
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
        let _ = self.results[index].set(result);
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

/// A URL input's name, for errors.
fn url_name(path: &Path) -> String {
    path.to_string_lossy().into_owned()
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
    result.chunks = outcomes.len();
    result.false_splits = outcomes.len() - chain.len();
    result.counters = tally.counters;
    result.skipped = tally.skipped;
    let false_chunks = (0..outcomes.len()).filter(|c| !chain.contains(c)).collect();
    (tally.failure, false_chunks)
}

/// A rayon pool of `threads` threads named `wetmr-NAME-I`.
pub fn thread_pool(threads: usize, name: &'static str) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("wetmr-{name}-{i}"))
        .build()
        .map_err(|e| Error::Resources(format!("cannot start {threads} threads: {e}")))
}
