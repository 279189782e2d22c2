//! Scanning one chunk of one file: records in, counts out.
//!
//! A chunk starts at a split point (see [`super::plan`]) and runs until it reaches a later
//! split point *at a record boundary*, or the end of the file. The two scanners, for plain
//! and gzip files, differ only in where the bytes come from: a plain chunk parses records
//! straight from the memory map; a gzip chunk decodes member after member into a window
//! buffer and parses the records it holds (this module scans plain chunks, `decoded`
//! the rest). Both hand each record to a [`Sink`].
//!
//! Damage is either fatal for the chunk (`Policy::Strict`, the default) or reported and
//! passed over (`Policy::Skip`): the scanner resynchronizes at the next line starting with
//! `WARC/` (and, in a `.gz` file, at the next gzip member).
//!
//! Offsets: plain chunks report file offsets; gzip chunks report compressed offsets of gzip
//! members (exact) and decompressed offsets *relative to the chunk's start*, which
//! [`super::chain`] turns into file offsets once it knows what precedes the chunk.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::languages::{self, Languages};
use super::report::{Counters, Skipped};
use super::Job;
use crate::count::{CountTable, Lookahead, SharedTable};
use crate::error::{Damage, Offset};
use crate::input::FileBytes;
use crate::tokenize::Tokenizer;
use crate::warc::{self, After, Next};

mod decoded;

pub use decoded::{scan_gzip, scan_window};

/// What to do with damaged input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Policy {
    /// Stop at the first damage (the run fails).
    Strict,
    /// Report the damage, skip to the next record, go on.
    Skip,
}

/// A plain chunk hands back its pages to the kernel every this many bytes.
const RELEASE_EVERY: usize = 64 << 20;
/// A chunk reports its progress at least every this many input bytes.
pub const PROGRESS_EVERY: usize = 1 << 20;

/// Where records go: tokenized and counted into one thread's table, which is spilled into
/// the run's shared table when it grows past its budget.
pub struct Sink<'a> {
    /// Which records count.
    pub job: &'a Job,
    pub tokenizer: Tokenizer,
    pub table: &'a mut CountTable,
    pub shared: &'a SharedTable,
    /// Spill `table` once it holds more words than this.
    pub spill_at: usize,
    pub scratch: &'a mut Vec<u8>,
    /// Words waiting for their buckets to be prefetched (empty between records).
    pub ahead: &'a mut Lookahead,
    /// `1` to count, `1u64.wrapping_neg()` to withdraw a chunk counted by mistake.
    pub delta: u64,
}

/// Where a scan hands the records it parses.
pub trait Records {
    /// Counts `record` (and adds it to `counters` and `languages`).
    fn record(
        &mut self,
        record: &warc::Record<'_>,
        counters: &mut Counters,
        languages: &mut Languages,
    );
}

impl Sink<'_> {
    /// Counts the words of one conversion record's text; returns how many there were.
    #[inline]
    pub fn count_text(&mut self, text: &[u8]) -> u64 {
        let table = &mut *self.table;
        let delta = self.delta;
        let mut tokens = 0u64;
        let ahead = &mut *self.ahead;
        table.begin_record();
        self.tokenizer.for_each_word(text, self.scratch, |word| {
            tokens += 1;
            table.add_ahead(ahead, word, delta);
        });
        table.flush_ahead(ahead, delta);
        if table.len() > self.spill_at {
            self.shared.spill(table);
        }
        tokens
    }
}

impl Records for Sink<'_> {
    #[inline]
    fn record(
        &mut self,
        record: &warc::Record<'_>,
        counters: &mut Counters,
        languages: &mut Languages,
    ) {
        counters.records += 1;
        if !self.job.counts(record) {
            return;
        }
        counters.conversion_records += 1;
        let tokens = self.count_text(record.body);
        counters.tokens += tokens;
        languages.add(languages::key(record.language), tokens);
    }
}

/// Settings for scanning one chunk.
pub struct ScanCtx<'a> {
    pub policy: Policy,
    /// The input-order index of the file being scanned.
    pub file: usize,
    /// The lowest index of a file known to fail the run (`usize::MAX` when none). Chunks of
    /// later files stop early: their results cannot matter, while earlier files must still
    /// be scanned in full so that the error reported is the first one in input order.
    pub failing_file: &'a AtomicUsize,
    /// Set when the whole run is abandoned (see `engine::Control`).
    pub abandon: &'a AtomicBool,
    /// Where to report the input bytes scanned (`None`: not reported).
    pub progress: Option<&'a AtomicU64>,
}

impl ScanCtx<'_> {
    fn cancelled(&self) -> bool {
        self.failing_file.load(Ordering::Relaxed) < self.file
            || self.abandon.load(Ordering::Relaxed)
    }
}

/// What scanning a chunk produced.
#[derive(Debug, Default)]
pub struct ChunkOutcome {
    pub counters: Counters,
    pub languages: Languages,
    /// The index of the split point where the chunk stopped at a record boundary, or `None`
    /// when it ran to the end of the file (or failed).
    pub stopped_at: Option<usize>,
    /// The damage that ended the chunk under `Policy::Strict`.
    pub failure: Option<Damage>,
    /// Damage passed over under `Policy::Skip`.
    pub skipped: Vec<Skipped>,
    /// The chunk noticed `cancel` and stopped early; its counts are incomplete.
    pub cancelled: bool,
}

/// A chunk's share of the run's progress: the input bytes from its split point to the
/// next (or the end of the file), reported as the scan moves through them.
struct Progress<'a> {
    counter: Option<&'a AtomicU64>,
    end: usize,
    reported: usize,
}

impl<'a> Progress<'a> {
    fn new(ctx: &ScanCtx<'a>, points: &[usize], index: usize, len: usize) -> Progress<'a> {
        Progress {
            counter: ctx.progress,
            end: points.get(index + 1).copied().unwrap_or(len),
            reported: points[index],
        }
    }

    /// The scan has reached input offset `pos`.
    #[inline]
    fn at(&mut self, pos: usize) {
        if pos >= self.reported + PROGRESS_EVERY {
            self.report(pos.min(self.end));
        }
    }

    /// The chunk is over: the rest of its share is reported. (A chunk stopped early by a
    /// cancellation reports only what it read.)
    fn finish(&mut self) {
        self.report(self.end);
    }

    fn report(&mut self, upto: usize) {
        if let (Some(counter), true) = (self.counter, upto > self.reported) {
            counter.fetch_add((upto - self.reported) as u64, Ordering::Relaxed);
            self.reported = upto;
        }
    }
}

/// The upcoming split points of a chunk, so it can notice reaching one.
struct Stops<'p> {
    points: &'p [usize],
    next: usize,
}

impl Stops<'_> {
    /// If a split point lies exactly at `pos`, its index.
    fn reached(&mut self, pos: usize) -> Option<usize> {
        while self.next < self.points.len() && self.points[self.next] < pos {
            self.next += 1;
        }
        (self.points.get(self.next) == Some(&pos)).then_some(self.next)
    }
}

/// Scans chunk `index` of a plain file whose split points are `points`.
pub fn scan_plain(
    file: &FileBytes,
    points: &[usize],
    index: usize,
    ctx: &ScanCtx<'_>,
    sink: &mut impl Records,
) -> ChunkOutcome {
    let data: &[u8] = file;
    let start = points[index];
    let mut stops = Stops {
        points,
        next: index + 1,
    };
    let mut out = ChunkOutcome::default();
    let mut progress = Progress::new(ctx, points, index, data.len());
    let mut pos = start;
    let mut released = start;
    loop {
        if ctx.cancelled() {
            out.cancelled = true;
            break;
        }
        progress.at(pos);
        if pos - released > RELEASE_EVERY {
            file.release(released, pos);
            released = pos;
        }
        let next = pos
            + data[pos..]
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
        if let Some(j) = stops.reached(next) {
            out.stopped_at = Some(j);
            pos = next;
            break;
        }
        match warc::next_record(&data[pos..], After::End) {
            Ok(Next::Record(record)) => {
                sink.record(&record, &mut out.counters, &mut out.languages);
                pos += record.len;
            }
            Ok(Next::End) | Ok(Next::Incomplete { .. }) => {
                pos = data.len();
                break;
            }
            Err(e) => {
                let damage = Damage {
                    at: Offset::Plain {
                        offset: (pos + e.at) as u64,
                    },
                    what: e.kind.to_string(),
                };
                if ctx.policy == Policy::Strict {
                    out.failure = Some(damage);
                    break;
                }
                let resume =
                    warc::find_record_start(data, pos + e.resume_from).unwrap_or(data.len());
                let bytes = (resume - (pos + e.at)) as u64;
                out.counters.skipped_bytes += bytes;
                out.skipped.push(Skipped {
                    at: damage.at,
                    what: damage.what,
                    bytes,
                });
                pos = resume;
            }
        }
    }
    file.release(released, pos);
    if !out.cancelled {
        progress.finish();
    }
    out.counters.warc_bytes = (pos - start) as u64;
    out
}
