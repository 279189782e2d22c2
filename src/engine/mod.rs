//! The local engine: files in, one merged count table out, using every core.
//!
//! Files stream through a bounded window: at most [`open_window`] of them are open (memory-
//! mapped) at once, whatever the number of inputs, so a crawl's 90,000 files cost no more
//! maps, descriptors or memory than a few. Each file goes through four steps, all on the
//! rayon pool:
//!
//! 1. Open (map) it and plan its split points ([`plan`]).
//! 2. Scan its chunks in parallel ([`scan`]); each thread counts into its own
//!    [`CountTable`](crate::count::CountTable), beside the chunks of the other open files.
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
pub mod languages;
pub mod plan;
pub mod report;
mod run;

pub(crate) use run::Run;
pub mod scan;
pub mod stream;
pub mod window;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::count::Counted;
use crate::error::{Error, Offset, Result};
use crate::input::{Format, Input};
use crate::remote::{Client, DownloadStats};
use crate::tokenize::TokenizerKind;
pub use languages::{LanguageShare, Languages};
pub use report::{Counters, Skipped};
pub use scan::Policy;

/// What to count and how: one description from the command line to the engine, and to
/// every worker of a cluster (it travels inside the job's [`JobSpec`]).
///
/// [`JobSpec`]: crate::protocol::messages::JobSpec
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Job {
    pub tokenizer: TokenizerKind,
    /// Count only conversion records whose `Content-Type` is exactly this
    /// (`--content-type`); `None` counts every conversion record.
    pub content_type: Option<String>,
    pub policy: Policy,
    /// Chunk size override (see `plan::split_points`); `None` for the built-in sizes.
    pub split_bytes: Option<u64>,
    /// Words a thread's table may hold before it is spilled (see `count::SharedTable`).
    pub spill_at: u64,
}

impl Job {
    /// Whether `record` is counted: a conversion record, of the job's content type if it
    /// names one.
    #[inline]
    pub fn counts(&self, record: &crate::warc::Record<'_>) -> bool {
        record.conversion
            && self
                .content_type
                .as_deref()
                .is_none_or(|t| record.content_type == Some(t.as_bytes()))
    }
}

/// What a caller shares with a [`run`] under way.
#[derive(Debug, Default)]
pub struct Control {
    /// Advanced as input bytes are scanned, at least every [`scan::PROGRESS_EVERY`] bytes
    /// (it reaches the files' total size).
    pub progress: AtomicU64,
    /// Input files settled (counted, or passed over under the skip policy).
    pub files_done: AtomicU64,
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

/// The outcome for one input file: what a worker reports for its task (its path stays
/// behind: the coordinator knows the task's) and what the stats document prints, field for
/// field, in this order.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct FileResult {
    /// The input as it was given.
    #[serde(serialize_with = "shown_path")]
    #[rkyv(with = rkyv::with::Skip)]
    pub path: PathBuf,
    /// `None` when the file could not be read.
    pub format: Option<Format>,
    /// Size of the file on disk.
    pub bytes_in: u64,
    #[serde(flatten)]
    pub counters: Counters,
    /// Chunks the file was scanned in, and how many of them started at a false split point.
    pub chunks: u64,
    pub false_splits: u64,
    /// Damage passed over (`--skip-bad-input`).
    pub skipped: Vec<Skipped>,
    /// Conversion records and tokens by language (`WARC-Identified-Content-Language`),
    /// most tokens first.
    pub languages: Vec<LanguageShare>,
    /// How a URL input's download went (URL inputs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download: Option<DownloadStats>,
}

/// A path in the stats document, as `Path::display` writes it.
fn shown_path<S: serde::Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&path.display())
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
            languages: Vec::new(),
            download: None,
        }
    }
}

/// A rayon pool of `threads` threads named `wetmr-NAME-I`.
pub fn thread_pool(threads: usize, name: &'static str) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("wetmr-{name}-{i}"))
        .build()
        .map_err(|e| Error::Resources(format!("cannot start {threads} threads: {e}")))
}
