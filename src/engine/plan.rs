//! Where to split one file so that every core can work on it.
//!
//! A split point is a *candidate* record start: in a plain file, a line that begins with
//! `WARC/` and parses as a record header; in a `.gz` file, a gzip member that decodes, passes
//! its CRC-32 check, and begins with `WARC/`. Candidates can be wrong (a page's text may quote
//! a WARC header, compressed data may contain a gzip header), so they are only guesses:
//! `engine::chain` proves or discards each one, and the result never depends on them.

use crate::input::gzip;
use crate::input::Format;
use crate::warc;

/// Target size of one chunk of a plain file, in bytes.
pub const PLAIN_CHUNK: usize = 16 << 20;
/// Target size of one chunk of a `.gz` file, in compressed bytes.
pub const GZIP_CHUNK: usize = 4 << 20;

/// Chunk start offsets for `data`: always `0` first, then increasing candidates. `target`
/// overrides the chunk size (tests use tiny chunks to exercise splitting).
pub fn split_points(
    data: &[u8],
    format: Format,
    target: Option<usize>,
    scratch: &mut Vec<u8>,
) -> Vec<usize> {
    let target = target.unwrap_or(match format {
        Format::Plain => PLAIN_CHUNK,
        Format::Gzip => GZIP_CHUNK,
    });
    let pieces = data.len() / target.max(1);
    let mut points = vec![0];
    for k in 1..pieces {
        let from = (k * data.len() / pieces).max(points[points.len() - 1] + 1);
        let limit = (k + 1) * data.len() / pieces;
        let found = match format {
            Format::Plain => plain_candidate(data, from, limit),
            Format::Gzip => gzip_candidate(data, from, limit, scratch),
        };
        points.extend(found);
    }
    points
}

fn plain_candidate(data: &[u8], mut from: usize, limit: usize) -> Option<usize> {
    while let Some(at) = warc::find_record_start(data, from) {
        if at >= limit {
            return None;
        }
        if let Ok(warc::Next::Record(_)) = warc::next_record(&data[at..], warc::After::End) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn gzip_candidate(data: &[u8], mut from: usize, limit: usize, out: &mut Vec<u8>) -> Option<usize> {
    while let Some(at) = gzip::next_header_candidate(data, from) {
        if at >= limit {
            return None;
        }
        // A split point must look like a record of Common Crawl's layout: one member, of a
        // size the whole-member path decodes (a larger one is no candidate, and no bomb).
        let decoded = gzip::decode_member(data, at, out, gzip::WHOLE_MEMBER_MAX);
        if matches!(decoded, Ok(Some(_))) && out.starts_with(b"WARC/") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}
