//! Gzip members, one after another, decoded into a caller's buffer.
//!
//! Common Crawl compresses each WARC record as its own gzip member, so a `.warc.wet.gz` file
//! is tens of thousands of members back to back; a file compressed as one stream must work
//! too. [`MemberReader`] parses each member's header (RFC 1952) itself, inflates the raw
//! deflate data, and checks the trailer's CRC-32 and length, so that it knows the exact
//! compressed offset where every member starts and ends. Those offsets are what lets the
//! engine split one `.gz` file between threads (see `engine::plan`), and what error messages
//! quote.
//!
//! A member is decoded in one call by libdeflate ([`super::inflate`]) when its output fits
//! in the buffer (growing the buffer up to [`WHOLE_MEMBER_MAX`]); larger members, and
//! members libdeflate rejects, go through a streaming inflater (zlib-rs), which also tells a
//! truncated member from a corrupt one for error messages.

use flate2::{Decompress, FlushDecompress, Status};

use super::inflate::{Inflated, Inflater};

/// Largest decoded member the whole-member fast path will make room for.
pub const WHOLE_MEMBER_MAX: usize = 4 << 20;

/// The gzip magic number and the deflate method byte.
const MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;

/// A problem in the compressed stream, at the compressed offset of the member involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GzError {
    /// Compressed offset of the start of the member in which the problem was found.
    pub member: u64,
    pub kind: GzErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GzErrorKind {
    /// The compressed bytes could not be had (a download that failed for good).
    Read(String),
    /// The bytes where a member should start are not a gzip header.
    BadHeader(&'static str),
    /// The deflate data is invalid.
    Corrupt(String),
    /// The file ends inside this member.
    Truncated,
    /// The member decoded, but its CRC-32 or length does not match its trailer.
    Checksum,
}

impl std::fmt::Display for GzErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GzErrorKind::Read(why) => f.write_str(why),
            GzErrorKind::BadHeader(why) => write!(f, "not a gzip member ({why})"),
            GzErrorKind::Corrupt(why) => write!(f, "corrupt gzip data ({why})"),
            GzErrorKind::Truncated => {
                write!(f, "gzip stream truncated (file ends inside a member)")
            }
            GzErrorKind::Checksum => write!(f, "gzip member fails its CRC-32/length check"),
        }
    }
}

/// What a call to [`MemberReader::fill`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Some bytes were appended; the current member goes on.
    Data,
    /// The current member ended (and verified); the reader is now at the next member's start.
    MemberEnd,
    /// No more members: the end of the compressed data.
    Eof,
}

/// Where a [`MemberReader`] gets its compressed bytes: a whole file in memory, or a window
/// onto a file that is still arriving (see `engine::stream`).
pub trait Compressed {
    /// The bytes from offset `pos` on, and whether they run to the end of the input. A
    /// source that does not hold the whole input returns at least [`LOOKAHEAD`] bytes
    /// (fetching them first) unless the input ends or fails sooner, and may drop what lies before
    /// `keep` (the start of the member being decoded, which a resynchronization after
    /// damage searches from). An `Err` says why the bytes cannot be had (a download that
    /// failed for good).
    fn bytes_from(&mut self, pos: usize, keep: usize) -> Result<(&[u8], bool), String>;

    /// The next offset at or after `from` that looks like a gzip member header (see
    /// [`next_header_candidate`]), or `None` when the input ends first.
    fn next_header(&mut self, from: usize) -> Result<Option<usize>, String>;

    /// The input's length, once its end has been reached.
    fn end(&self) -> usize;

    /// The reader is done with the bytes before `pos`.
    fn release(&mut self, _pos: usize) {}
}

impl<T: Compressed + ?Sized> Compressed for &mut T {
    fn bytes_from(&mut self, pos: usize, keep: usize) -> Result<(&[u8], bool), String> {
        (**self).bytes_from(pos, keep)
    }

    fn next_header(&mut self, from: usize) -> Result<Option<usize>, String> {
        (**self).next_header(from)
    }

    fn end(&self) -> usize {
        (**self).end()
    }

    fn release(&mut self, pos: usize) {
        (**self).release(pos)
    }
}

/// How much a source that does not hold the whole input offers at a time: a member this
/// size or smaller is decoded whole by libdeflate.
pub const LOOKAHEAD: usize = 1 << 20;

impl Compressed for &[u8] {
    fn bytes_from(&mut self, pos: usize, _keep: usize) -> Result<(&[u8], bool), String> {
        Ok((&self[pos.min(self.len())..], true))
    }

    fn next_header(&mut self, from: usize) -> Result<Option<usize>, String> {
        Ok(next_header_candidate(self, from))
    }

    fn end(&self) -> usize {
        self.len()
    }
}

/// Decodes the members of a compressed input, starting at a member boundary.
pub struct MemberReader<S> {
    src: S,
    /// Compressed offset of the next byte to read.
    pos: usize,
    inflate: Decompress,
    /// The whole-member decoder (`None` if libdeflate could not allocate one).
    whole: Option<Inflater>,
    /// The member being decoded, or `None` between members.
    member: Option<MemberState>,
}

struct MemberState {
    start: usize,
    crc: crc32fast::Hasher,
    out_len: u64,
    /// The deflate data ended; the trailer is still to be read.
    inflated: bool,
}

impl<'a> MemberReader<&'a [u8]> {
    /// A reader over `data` whose first member starts at `start`.
    pub fn new(data: &'a [u8], start: usize) -> Self {
        MemberReader::over(data, start)
    }
}

impl<S: Compressed> MemberReader<S> {
    /// A reader over `src` whose first member starts at `start`.
    pub fn over(src: S, start: usize) -> Self {
        MemberReader {
            src,
            pos: start,
            inflate: Decompress::new(false),
            whole: Inflater::new(),
            member: None,
        }
    }

    /// The source the reader reads.
    pub fn source(&mut self) -> &mut S {
        &mut self.src
    }

    /// Compressed offset of the next byte to read: between members, where the next starts.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Compressed offset where the member being decoded started (or the next will start).
    pub fn member_start(&self) -> usize {
        self.member.as_ref().map_or(self.pos, |m| m.start)
    }

    /// True between members.
    pub fn at_boundary(&self) -> bool {
        self.member.is_none()
    }

    /// Abandons the current member and continues at compressed offset `pos`, which must be
    /// where a member is believed to start (used to resynchronize after damage).
    pub fn restart_at(&mut self, pos: usize) {
        self.pos = pos;
        self.member = None;
    }

    /// Appends decoded bytes to `out`, up to its spare capacity (at least one byte of spare
    /// capacity is required), and reports whether a member or the file ended.
    pub fn fill(&mut self, out: &mut Vec<u8>) -> Result<Fill, GzError> {
        debug_assert!(out.capacity() > out.len());
        let at = self.pos;
        let member_start = self.member_start() as u64;
        let (rest, at_end) = self
            .src
            .bytes_from(at, member_start as usize)
            .map_err(|what| GzError {
                member: member_start,
                kind: GzErrorKind::Read(what),
            })?;
        if self.member.is_none() {
            if at_end && (rest.is_empty() || rest.iter().all(|&b| b == 0)) {
                // Like gzip(1), zero padding after the last member is ignored.
                return Ok(Fill::Eof);
            }
            let header_len = match parse_header(rest) {
                Ok(len) => len,
                Err(GzErrorKind::Truncated) if !at_end => {
                    // The source failed inside the header: say why it did.
                    let end = at + rest.len();
                    let kind = match self.src.bytes_from(end, at) {
                        Err(why) => GzErrorKind::Read(why),
                        Ok(_) => GzErrorKind::Truncated,
                    };
                    return Err(GzError {
                        member: at as u64,
                        kind,
                    });
                }
                Err(kind) => {
                    return Err(GzError {
                        member: at as u64,
                        kind,
                    })
                }
            };
            if let Some(len) = whole_member(self.whole.as_mut(), rest, header_len, at, out)? {
                self.pos = at + len;
                return Ok(Fill::MemberEnd);
            }
            self.member = Some(MemberState {
                start: at,
                crc: crc32fast::Hasher::new(),
                out_len: 0,
                inflated: false,
            });
            self.pos += header_len;
            self.inflate.reset(false);
        }
        let member = self.member.as_mut().expect("member state set above");
        let err = |kind| GzError {
            member: member.start as u64,
            kind,
        };
        let input = &rest[self.pos - at..];
        if !member.inflated {
            let before_in = self.inflate.total_in();
            let before_len = out.len();
            let status = self
                .inflate
                .decompress_vec(input, out, FlushDecompress::None)
                .map_err(|e| err(GzErrorKind::Corrupt(e.to_string())))?;
            let consumed = (self.inflate.total_in() - before_in) as usize;
            self.pos += consumed;
            member.crc.update(&out[before_len..]);
            member.out_len += (out.len() - before_len) as u64;
            match status {
                Status::StreamEnd => member.inflated = true,
                Status::Ok | Status::BufError => {
                    // (A source offers bytes until the input ends: no input means the end.)
                    return if consumed > 0 || out.len() != before_len {
                        Ok(Fill::Data)
                    } else if input.is_empty() {
                        Err(err(GzErrorKind::Truncated))
                    } else {
                        Err(err(GzErrorKind::Corrupt("inflate made no progress".into())))
                    };
                }
            }
        }
        let Some(trailer) = rest.get(self.pos - at..self.pos - at + 8) else {
            return if at_end {
                Err(err(GzErrorKind::Truncated))
            } else {
                // The trailer lies beyond what the source had at hand.
                Ok(Fill::Data)
            };
        };
        let crc = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
        let isize = u32::from_le_bytes(trailer[4..].try_into().expect("4 bytes"));
        let member = self.member.take().expect("member state set above");
        if crc != member.crc.finalize() || isize != member.out_len as u32 {
            return Err(GzError {
                member: member.start as u64,
                kind: GzErrorKind::Checksum,
            });
        }
        self.pos += 8;
        Ok(Fill::MemberEnd)
    }
}

/// The fast path: decodes the member at the start of `rest` (compressed offset `start`,
/// header `header_len` bytes) in one call, growing `out` as needed up to
/// [`WHOLE_MEMBER_MAX`]. Returns the member's length, or `None` to take the streaming path
/// (member too large or not whole in `rest`, or data libdeflate rejects, which the
/// streaming path will diagnose).
fn whole_member(
    whole: Option<&mut Inflater>,
    rest: &[u8],
    header_len: usize,
    start: usize,
    out: &mut Vec<u8>,
) -> Result<Option<usize>, GzError> {
    let Some(whole) = whole else {
        return Ok(None);
    };
    let body = &rest[header_len..];
    let before = out.len();
    loop {
        match whole.inflate(body, out) {
            Inflated::Done { consumed } => {
                let trailer_at = header_len + consumed;
                let Some(trailer) = rest.get(trailer_at..trailer_at + 8) else {
                    out.truncate(before);
                    return Ok(None);
                };
                let crc = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
                let isize = u32::from_le_bytes(trailer[4..].try_into().expect("4 bytes"));
                let decoded = &out[before..];
                if crc != crc32fast::hash(decoded) || isize != decoded.len() as u32 {
                    out.truncate(before);
                    return Err(GzError {
                        member: start as u64,
                        kind: GzErrorKind::Checksum,
                    });
                }
                return Ok(Some(trailer_at + 8));
            }
            Inflated::NoRoom if out.capacity() - before < WHOLE_MEMBER_MAX => {
                // Exact growth: room for the member, never a doubling of a large buffer.
                let spare = out.capacity() - before;
                out.reserve_exact((spare * 2).clamp(256 * 1024, WHOLE_MEMBER_MAX));
            }
            Inflated::NoRoom | Inflated::Bad => return Ok(None),
        }
    }
}

/// Parses a gzip member header at the start of `data` and returns its length.
pub fn parse_header(data: &[u8]) -> Result<usize, GzErrorKind> {
    if data.len() < 10 {
        return Err(if MAGIC.starts_with(data) || data.starts_with(&MAGIC) {
            GzErrorKind::Truncated
        } else {
            GzErrorKind::BadHeader("no gzip magic number")
        });
    }
    if data[..2] != MAGIC[..2] {
        return Err(GzErrorKind::BadHeader("no gzip magic number"));
    }
    if data[2] != MAGIC[2] {
        return Err(GzErrorKind::BadHeader(
            "its compression method is not deflate",
        ));
    }
    let flags = data[3];
    if flags & FRESERVED != 0 {
        return Err(GzErrorKind::BadHeader("reserved flag bits set"));
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let xlen = data.get(at..at + 2).ok_or(GzErrorKind::Truncated)?;
        at += 2 + u16::from_le_bytes([xlen[0], xlen[1]]) as usize;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = data.get(at..).ok_or(GzErrorKind::Truncated)?;
            let nul = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or(GzErrorKind::Truncated)?;
            at += nul + 1;
        }
    }
    if flags & FHCRC != 0 {
        // The low 16 bits of the CRC-32 of the header before it (RFC 1952, 2.3.1).
        let stored = data.get(at..at + 2).ok_or(GzErrorKind::Truncated)?;
        let stored = u16::from_le_bytes([stored[0], stored[1]]);
        if stored != crc32fast::hash(&data[..at]) as u16 {
            return Err(GzErrorKind::BadHeader("header CRC-16 does not match"));
        }
        at += 2;
    }
    if at > data.len() {
        return Err(GzErrorKind::Truncated);
    }
    Ok(at)
}

/// Finds the next offset at or after `from` where bytes look like a gzip member header
/// (magic, method, flags). A candidate only: decoding it is the proof.
pub fn next_header_candidate(data: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at + 10 <= data.len() {
        let idx = memchr::memchr(0x1f, &data[at..data.len() - 9])?;
        let cand = at + idx;
        if data[cand + 1] == 0x8b && data[cand + 2] == 0x08 && data[cand + 3] & FRESERVED == 0 {
            return Some(cand);
        }
        at = cand + 1;
    }
    None
}

/// Decodes the single member starting at `start` into `out` (cleared first), verifying it.
/// Returns the compressed offset just past the member.
/// Returns `Ok(None)` if the member decodes to more than `limit` bytes (nothing beyond the
/// limit is kept: a compressed bomb cannot exhaust memory here).
pub fn decode_member(
    data: &[u8],
    start: usize,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<Option<usize>, GzError> {
    out.clear();
    let mut reader = MemberReader::new(data, start);
    loop {
        if out.len() > limit {
            return Ok(None);
        }
        if out.capacity() - out.len() < 64 * 1024 {
            out.reserve(256 * 1024);
        }
        match reader.fill(out)? {
            Fill::Data => {}
            Fill::MemberEnd if out.len() > limit => return Ok(None),
            Fill::MemberEnd => return Ok(Some(reader.pos())),
            Fill::Eof => {
                return Err(GzError {
                    member: start as u64,
                    kind: GzErrorKind::Truncated,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests;
