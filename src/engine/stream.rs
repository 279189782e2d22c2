//! Counting an input that arrives as a stream (a URL): decoded on its own thread, counted
//! on the pool.
//!
//! A download cannot be mapped and split like a file on disk, so each one gets a thread
//! of its own (outside the pool, which it never blocks on the network): it receives the
//! body through a bounded window ([`Stream`]), decodes it member by member and parses its
//! records with the same scanner as a mapped gzip chunk (`scan::scan_window`, so damage,
//! offsets and skips are the same as for the file on disk), and hands the text of the
//! records to the pool in batches ([`BatchSink`]), where any thread counts them into its
//! own table. Sequential decoding knows every record boundary, so no count is ever
//! withdrawn; a download's memory is its window, its decode window and a few batches in
//! flight, whatever the file's size.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use super::scan::{Records, Sink};
use super::Run;
use crate::engine::languages::{self, Languages};
use crate::engine::report::Counters;
use crate::input::gzip::{next_header_candidate, Compressed, LOOKAHEAD};
use crate::warc;

/// A stream keeps at most this much before the current member's start, so that a
/// resynchronization after damage searches the same bytes it would in a file on disk
/// (members larger than this are searched from this far back).
pub const KEEP_BEHIND: usize = 4 << 20;
/// Bytes asked of the network per read.
const READ_SIZE: usize = 256 << 10;
/// Record text per batch handed to the pool.
pub const BATCH_BYTES: usize = 128 << 10;
/// Batches of one download waiting for or being counted, at most: the decoder waits for
/// the pool beyond it (a fast network cannot fill memory).
pub const BATCHES_IN_FLIGHT: usize = 4;

/// A window onto a byte stream, with stable offsets (see [`Compressed`]).
pub struct Stream<R> {
    reader: R,
    buf: Vec<u8>,
    /// Offset of `buf[0]`.
    base: usize,
    ended: bool,
    /// A read failed for good: every later call that needs more says so.
    failed: Option<String>,
}

impl<R: Read> Stream<R> {
    pub fn new(reader: R) -> Stream<R> {
        Stream {
            reader,
            buf: Vec::new(),
            base: 0,
            ended: false,
            failed: None,
        }
    }

    pub fn reader(&self) -> &R {
        &self.reader
    }

    /// Reads until the window reaches `upto` or the stream ends.
    fn fill_to(&mut self, upto: usize) -> Result<(), String> {
        if let Some(why) = &self.failed {
            return Err(why.clone());
        }
        while !self.ended && self.base + self.buf.len() < upto {
            let len = self.buf.len();
            self.buf.resize(len + READ_SIZE, 0);
            let read = self.reader.read(&mut self.buf[len..]);
            match read {
                Ok(n) => {
                    self.buf.truncate(len + n);
                    self.ended = n == 0;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    self.buf.truncate(len);
                }
                Err(e) => {
                    self.buf.truncate(len);
                    let why = e.to_string();
                    self.failed = Some(why.clone());
                    return Err(why);
                }
            }
        }
        Ok(())
    }

    /// Drops what lies before `pos`, when that is worth a move.
    fn drop_before(&mut self, pos: usize) {
        let n = pos.saturating_sub(self.base).min(self.buf.len());
        if n > 0 && n >= self.buf.len() / 2 {
            self.buf.drain(..n);
            self.base += n;
        }
    }
}

impl<R: Read> Compressed for Stream<R> {
    fn bytes_from(&mut self, pos: usize, keep: usize) -> Result<(&[u8], bool), String> {
        self.drop_before(keep.min(pos).max(pos.saturating_sub(KEEP_BEHIND)));
        if let Err(why) = self.fill_to(pos.saturating_add(LOOKAHEAD)) {
            // What came before the failure is read first; the failure is said once the
            // reader reaches it.
            if pos >= self.end() {
                return Err(why);
            }
        }
        let from = pos.max(self.base) - self.base;
        let bytes = &self.buf[from.min(self.buf.len())..];
        Ok((bytes, self.ended))
    }

    fn next_header(&mut self, from: usize) -> Result<Option<usize>, String> {
        let mut at = from.max(self.base);
        loop {
            let (bytes, ended) = self.bytes_from(at, at)?;
            if let Some(found) = next_header_candidate(bytes, 0) {
                return Ok(Some(at + found));
            }
            if ended {
                return Ok(None);
            }
            // A header may straddle the window's end: look again from its last 9 bytes.
            at += bytes.len().saturating_sub(9).max(1);
        }
    }

    fn end(&self) -> usize {
        self.base + self.buf.len()
    }
}

/// The text of some conversion records.
#[derive(Default)]
struct Batch {
    text: Vec<u8>,
    ends: Vec<usize>,
    /// The language key of each record.
    languages: Vec<u64>,
}

/// What a download's batches share with it.
#[derive(Default)]
struct InFlight {
    batches: Mutex<usize>,
    done: Condvar,
    tokens: AtomicU64,
    languages: Mutex<Languages>,
    /// Counted batches, emptied, for the decoder to fill again: the same few buffers go
    /// round, instead of one allocation per batch made on one thread and freed on another.
    spare: Mutex<Vec<Batch>>,
}

/// Where a download's scanner puts records: their text goes to the pool in batches.
pub struct BatchSink<'r, 's> {
    run: &'s Run<'s>,
    scope: &'r rayon::Scope<'s>,
    /// The input's index.
    file: usize,
    batch: Batch,
    in_flight: Arc<InFlight>,
}

impl<'r, 's> BatchSink<'r, 's> {
    pub(crate) fn new(run: &'s Run<'s>, scope: &'r rayon::Scope<'s>, file: usize) -> Self {
        BatchSink {
            run,
            scope,
            file,
            batch: Batch::default(),
            in_flight: Arc::default(),
        }
    }

    /// Hands the batch to the pool, first waiting while too many are in flight.
    fn send(&mut self) {
        let spare = self
            .in_flight
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        let batch = std::mem::replace(&mut self.batch, spare);
        let in_flight = self.in_flight.clone();
        let mut count = in_flight
            .batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *count >= BATCHES_IN_FLIGHT {
            count = in_flight
                .done
                .wait(count)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *count += 1;
        drop(count);
        let (run, file) = (self.run, self.file);
        self.scope.spawn(move |_| {
            let mut batch = batch;
            if !run.stopped_at(file) {
                let mut languages = Languages::default();
                let tokens =
                    run.count_texts(&batch.text, &batch.ends, &batch.languages, &mut languages);
                in_flight.tokens.fetch_add(tokens, Ordering::Relaxed);
                (in_flight.languages.lock())
                    .unwrap_or_else(PoisonError::into_inner)
                    .merge(&languages);
            }
            if batch.text.capacity() <= 4 * BATCH_BYTES {
                batch.text.clear();
                batch.ends.clear();
                batch.languages.clear();
                in_flight
                    .spare
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(batch);
            }
            *in_flight
                .batches
                .lock()
                .unwrap_or_else(PoisonError::into_inner) -= 1;
            in_flight.done.notify_all();
        });
    }

    /// Sends what is left and waits until every batch is counted: the tokens they held,
    /// and their records and tokens by language.
    pub fn finish(mut self) -> (u64, Languages) {
        if !self.batch.ends.is_empty() {
            self.send();
        }
        let mut count = self
            .in_flight
            .batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *count > 0 {
            count = self
                .in_flight
                .done
                .wait(count)
                .unwrap_or_else(PoisonError::into_inner);
        }
        drop(count);
        let tokens = self.in_flight.tokens.load(Ordering::Relaxed);
        let languages = std::mem::take(
            &mut *(self.in_flight.languages.lock()).unwrap_or_else(PoisonError::into_inner),
        );
        (tokens, languages)
    }
}

impl Records for BatchSink<'_, '_> {
    fn record(&mut self, record: &warc::Record<'_>, counters: &mut Counters, _: &mut Languages) {
        // (Its language is tallied with its tokens, once they are counted.)
        counters.records += 1;
        if !self.run.job.counts(record) {
            return;
        }
        counters.conversion_records += 1;
        if self.batch.text.capacity() == 0 {
            self.batch
                .text
                .reserve_exact(BATCH_BYTES + record.body.len());
        }
        self.batch.text.extend_from_slice(record.body);
        self.batch.ends.push(self.batch.text.len());
        (self.batch.languages).push(languages::key(record.language));
        if self.batch.text.len() >= BATCH_BYTES {
            self.send();
        }
    }
}

/// Counts texts into the current pool thread's table (see [`Sink::count_text`]), each
/// record's tokens under its language; returns the tokens.
pub(super) fn count_texts_into(
    sink: &mut Sink<'_>,
    text: &[u8],
    ends: &[usize],
    keys: &[u64],
    languages: &mut Languages,
) -> u64 {
    let mut start = 0;
    let mut tokens = 0;
    for (&end, &key) in ends.iter().zip(keys) {
        let counted = sink.count_text(&text[start..end]);
        languages.add(key, counted);
        tokens += counted;
        start = end;
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Reads in dribs: at most `step` bytes per read.
    struct Dribble(Cursor<Vec<u8>>, usize);

    impl Read for Dribble {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn a_stream_offers_lookahead_and_keeps_offsets() {
        let data: Vec<u8> = (0..3 * LOOKAHEAD + 77).map(|i| (i % 251) as u8).collect();
        let mut stream = Stream::new(Dribble(Cursor::new(data.clone()), 1000));
        let (bytes, ended) = stream.bytes_from(0, 0).unwrap();
        assert!(bytes.len() >= LOOKAHEAD && !ended);
        assert_eq!(bytes[..10], data[..10]);
        let at = 2 * LOOKAHEAD + 100;
        let (bytes, ended) = stream.bytes_from(at, at).unwrap();
        assert!(ended);
        assert_eq!(bytes, &data[at..]);
        assert_eq!(stream.end(), data.len());
        // The window let go of what lay far behind.
        assert!(stream.buf.len() < 2 * LOOKAHEAD);
    }

    #[test]
    fn headers_are_found_across_window_ends() {
        let mut data = vec![0u8; 2 * LOOKAHEAD];
        let at = LOOKAHEAD + 3;
        data[at..at + 4].copy_from_slice(&[0x1f, 0x8b, 0x08, 0]);
        let mut stream = Stream::new(Dribble(Cursor::new(data.clone()), 4096));
        assert_eq!(stream.next_header(1).unwrap(), Some(at));
        let mut stream = Stream::new(Dribble(Cursor::new(data), 4096));
        assert_eq!(stream.next_header(at + 1).unwrap(), None);
        assert_eq!(stream.end(), 2 * LOOKAHEAD);
    }

    #[test]
    fn a_failed_read_stays_failed() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("gave up"))
            }
        }
        let mut stream = Stream::new(Failing);
        assert_eq!(stream.bytes_from(0, 0).unwrap_err(), "gave up");
        assert_eq!(stream.next_header(0).unwrap_err(), "gave up");
    }
}
