//! Scanning a chunk of decoded bytes: a gzip chunk of a mapped file, or a streamed input,
//! decoded member after member into a window buffer whose records are parsed and handed
//! to a [`Records`] sink (see the parent module for what a chunk is).

use std::collections::VecDeque;

use super::{ChunkOutcome, Policy, Progress, Records, ScanCtx, Stops};
use crate::engine::decode::Decoder;
use crate::engine::report::Skipped;
use crate::engine::window::{Window, MAX_RECORD};
use crate::error::Damage;
use crate::input::gzip::{Fill, GzErrorKind, MemberReader};
use crate::input::FileBytes;
use crate::warc::{self, After, Next};

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
                    sink.record(&record, &mut out.counters, &mut out.languages);
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
                        sink.record(&record, &mut out.counters, &mut out.languages);
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
                        sink.record(&record, &mut out.counters, &mut out.languages);
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
