//! Scanning one chunk of one file: records in, counts out.
//!
//! A chunk starts at a split point (see [`super::plan`]) and runs until it reaches a later
//! split point *at a record boundary*, or the end of the file. The two scanners, for plain
//! and gzip files, differ only in where the bytes come from: a plain chunk parses records
//! straight from the memory map; a gzip chunk decodes member after member into a window
//! buffer and parses the records it holds. Both hand each record to a [`Sink`].
//!
//! Damage is either fatal for the chunk (`Policy::Strict`, the default) or reported and
//! passed over (`Policy::Skip`): the scanner resynchronizes at the next line starting with
//! `WARC/` (and, in a `.gz` file, at the next gzip member).
//!
//! Offsets: plain chunks report file offsets; gzip chunks report compressed offsets of gzip
//! members (exact) and decompressed offsets *relative to the chunk's start*, which
//! [`super::chain`] turns into file offsets once it knows what precedes the chunk.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::decode::Decoder;
use super::report::{Counters, Skipped};
use super::window::{Window, MAX_RECORD};
use crate::count::{CountTable, Lookahead, SharedTable};
use crate::error::{Damage, Offset};
use crate::input::gzip::{Fill, GzErrorKind, MemberReader};
use crate::input::FileBytes;
use crate::tokenize::Tokenizer;
use crate::warc::{self, After, Next};

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
    /// Counts `record` (and adds it to `counters`).
    fn record(&mut self, record: &warc::Record<'_>, counters: &mut Counters);
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
    fn record(&mut self, record: &warc::Record<'_>, counters: &mut Counters) {
        counters.records += 1;
        if !record.conversion {
            return;
        }
        counters.conversion_records += 1;
        counters.tokens += self.count_text(record.body);
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
                sink.record(&record, &mut out.counters);
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

/// Scans chunk `index` of a mapped gzip file whose split points are `points`; `window` is
/// the thread's reusable decode buffer.
pub fn scan_gzip(
    file: &FileBytes,
    points: &[usize],
    index: usize,
    ctx: &ScanCtx<'_>,
    sink: &mut impl Records,
    window: &mut Window,
) -> ChunkOutcome {
    let data: &[u8] = file;
    let start = points[index];
    let mut reader = MemberReader::new(data, start);
    let end = points.get(index + 1).copied().unwrap_or(data.len());
    let out = scan_window(&mut reader, points, index, end, ctx, sink, window);
    file.release(start, reader.pos());
    out
}

/// Scans decoded records from `reader`, which starts at split point `index` of `points`
/// (a streamed input has the one split point 0): decodes into `window`, parses the
/// records it holds and hands them to `sink`, stops at a later split point that falls at a
/// record boundary. `end` is where the chunk's share of the progress ends (`usize::MAX`
/// when the input's length is not known: then it is where the scan ends).
pub fn scan_window(
    reader: &mut impl Decoder,
    points: &[usize],
    index: usize,
    end: usize,
    ctx: &ScanCtx<'_>,
    sink: &mut impl Records,
    window: &mut Window,
) -> ChunkOutcome {
    let start = points[index];
    let mut stops = Stops {
        points,
        next: index + 1,
    };
    let mut out = ChunkOutcome::default();
    let mut progress = Progress {
        counter: ctx.progress,
        end,
        reported: start,
    };
    window.clear();
    // window[parse..] is not parsed yet; window[0] is at chunk-local decompressed `base`.
    let mut parse = 0usize;
    let mut base = 0u64;
    // (chunk-local decompressed offset, compressed offset) of member starts, for messages.
    let mut members: VecDeque<(u64, usize)> = VecDeque::from([(0, start)]);
    // Some(from): after WARC damage, looking for the next record from window[from..].
    let mut resync: Option<usize> = None;
    let mut eof = false;
    let member_at = |members: &VecDeque<(u64, usize)>, dec: u64| {
        members
            .iter()
            .rev()
            .find(|&&(d, _)| d <= dec)
            .map_or(start, |&(_, c)| c) as u64
    };
    'chunk: loop {
        if ctx.cancelled() {
            out.cancelled = true;
            break;
        }
        // Parse every complete record in the window.
        loop {
            if let Some(from) = resync {
                let found = warc::find_record_start(window.bytes(), from);
                let until = match found {
                    Some(q) => q,
                    None if eof => window.len(),
                    // Keep a few bytes: "\nWARC/" may straddle the next fill.
                    None => window.len().saturating_sub(5).max(from),
                };
                let bytes = (until - parse) as u64;
                out.counters.skipped_bytes += bytes;
                if let Some(last) = out.skipped.last_mut() {
                    last.bytes += bytes;
                }
                parse = until;
                if found.is_none() {
                    resync = (!eof).then_some(parse);
                    if eof {
                        break 'chunk;
                    }
                    break;
                }
                resync = None;
            }
            let after = if eof { After::End } else { After::More };
            // Damage in the decoded data: (offset in the window, what, where to resync).
            let (at, what, resume) = match warc::next_record(&window.bytes()[parse..], after) {
                Ok(Next::Record(record)) => {
                    sink.record(&record, &mut out.counters);
                    parse += record.len;
                    continue;
                }
                Ok(Next::Incomplete { .. }) if !eof && window.len() - parse <= MAX_RECORD => break,
                Ok(Next::Incomplete { .. }) if !eof => (
                    parse,
                    format!("WARC record larger than {} MiB", MAX_RECORD >> 20),
                    parse + 1,
                ),
                Ok(Next::Incomplete { .. } | Next::End) => break 'chunk,
                Err(e) => (parse + e.at, e.kind.to_string(), parse + e.resume_from),
            };
            let dec = base + at as u64;
            let at_offset = reader.offset(member_at(&members, dec), dec);
            if ctx.policy == Policy::Strict {
                out.failure = Some(Damage {
                    at: at_offset,
                    what,
                });
                break 'chunk;
            }
            out.skipped.push(Skipped {
                at: at_offset,
                what,
                bytes: 0,
            });
            parse = at;
            resync = Some(resume);
        }
        // At a split point between members, the chunk ends if what is pending is whole
        // records: the split point's member is known to start with "WARC/".
        if reader.at_boundary() && resync.is_none() {
            if let Some(j) = stops.reached(reader.pos()) {
                if ends_cleanly(&window.bytes()[parse..]) {
                    while let Ok(Next::Record(record)) =
                        warc::next_record(&window.bytes()[parse..], After::Record)
                    {
                        sink.record(&record, &mut out.counters);
                        parse += record.len;
                    }
                    out.stopped_at = Some(j);
                    break;
                }
            }
        }
        // Drop what is parsed and make room for more.
        if parse > 0 {
            window.consume(parse);
            resync = resync.map(|from| from - parse);
            base += parse as u64;
            parse = 0;
            while members.len() > 1 && members[1].0 <= base {
                members.pop_front();
            }
        }
        reader.release();
        window.make_room();
        progress.at(reader.pos());
        match reader.fill(window.buf()) {
            Ok(Fill::Data) => {}
            Ok(Fill::MemberEnd) => members.push_back((base + window.len() as u64, reader.pos())),
            Ok(Fill::Eof) => eof = true,
            Err(e) => {
                let damage = Damage {
                    at: reader.offset(e.member, base + window.len() as u64),
                    what: e.kind.to_string(),
                };
                if ctx.policy == Policy::Strict {
                    out.failure = Some(damage);
                    break;
                }
                if reader.at_boundary() && resync.is_none() {
                    // No member where one should start (garbage after the last one, say):
                    // what was decoded is whole members, so its whole records count.
                    while let Ok(Next::Record(record)) =
                        warc::next_record(&window.bytes()[parse..], After::End)
                    {
                        sink.record(&record, &mut out.counters);
                        parse += record.len;
                    }
                    if warc::only_line_breaks(&window.bytes()[parse..]) {
                        parse = window.len();
                    }
                }
                if let GzErrorKind::Read(_) = e.kind {
                    // The input cannot be read on: what was decoded and not yet parsed
                    // is lost with the rest.
                    let dropped = (window.len() - parse) as u64;
                    out.counters.skipped_bytes += dropped;
                    base += window.len() as u64;
                    window.clear();
                    out.skipped.push(Skipped {
                        at: damage.at,
                        what: damage.what,
                        bytes: dropped,
                    });
                    break;
                }
                // Decoded bytes of the bad member not yet parsed are dropped; decoding goes
                // on at the next gzip header that follows the bad member's start.
                let dropped = (window.len() - parse) as u64;
                base += window.len() as u64;
                window.clear();
                parse = 0;
                resync = None;
                let next = match reader.resync_after(e.member as usize) {
                    Ok(next) => next,
                    Err(why) => {
                        // The input failed while looking for the next member.
                        let at = reader.offset(e.member, base);
                        out.skipped.push(Skipped {
                            at,
                            what: why,
                            bytes: 0,
                        });
                        break;
                    }
                };
                let resume = match next {
                    Ok(at) | Err(at) => at,
                };
                out.counters.skipped_bytes += dropped;
                out.skipped.push(Skipped {
                    at: damage.at,
                    what: format!(
                        "{}; skipped {} compressed bytes",
                        damage.what,
                        resume - e.member as usize
                    ),
                    bytes: dropped,
                });
                match next {
                    Ok(next) => {
                        reader.restart_at(next);
                        members.push_back((base, next));
                    }
                    Err(_) => break,
                }
            }
        }
    }
    out.counters.warc_bytes = base + window.len() as u64;
    window.clear();
    if !out.cancelled {
        if progress.end == usize::MAX {
            progress.end = reader.pos();
        }
        progress.finish();
    }
    out
}

/// True when `buf` is whole records (or nothing) followed by line breaks, given that a
/// record starts right after it.
fn ends_cleanly(mut buf: &[u8]) -> bool {
    loop {
        match warc::next_record(buf, After::Record) {
            Ok(Next::Record(record)) => buf = &buf[record.len..],
            Ok(Next::End) => return true,
            Ok(Next::Incomplete { .. }) | Err(_) => return false,
        }
    }
}
