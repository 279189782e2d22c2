//! What a windowed scan reads records from: the decoded bytes of an input, filled into the
//! scan's window piece by piece.
//!
//! A `.gz` input is decoded member by member ([`MemberReader`]); a plain input that is
//! streamed rather than mapped (a download) is copied into the window as it comes
//! ([`PlainReader`]), so that both go through the same record parser, damage handling and
//! offsets (see `scan::scan_window`). A plain input that is mapped is scanned in place
//! instead (`scan::scan_plain`).

use crate::error::Offset;
use crate::input::gzip::{Compressed, Fill, GzError, GzErrorKind, MemberReader};

/// A source of decoded bytes with stable input offsets.
pub trait Decoder {
    /// Input offset of the next byte to read.
    fn pos(&self) -> usize;
    /// True where the scan may stop or resynchronize: between gzip members (always, for a
    /// plain input).
    fn at_boundary(&self) -> bool;
    /// Appends decoded bytes to `out` (which has spare capacity).
    fn fill(&mut self, out: &mut Vec<u8>) -> Result<Fill, GzError>;
    /// After damage in the member that starts at `member`: the next member candidate, or
    /// `Err(end of input)` when there is none.
    fn resync_after(&mut self, member: usize) -> Result<Result<usize, usize>, String>;
    /// Continues at `pos` (a member candidate that `resync_after` found).
    fn restart_at(&mut self, pos: usize);
    /// Done with everything before the current position.
    fn release(&mut self);
    /// Where decoded offset `decoded` of the member at compressed offset `member` is, as
    /// messages show it.
    fn offset(&self, member: u64, decoded: u64) -> Offset;
}

impl<S: Compressed> Decoder for MemberReader<S> {
    fn pos(&self) -> usize {
        MemberReader::pos(self)
    }

    fn at_boundary(&self) -> bool {
        MemberReader::at_boundary(self)
    }

    fn fill(&mut self, out: &mut Vec<u8>) -> Result<Fill, GzError> {
        MemberReader::fill(self, out)
    }

    fn resync_after(&mut self, member: usize) -> Result<Result<usize, usize>, String> {
        let src = self.source();
        Ok(src.next_header(member + 1)?.ok_or_else(|| src.end()))
    }

    fn restart_at(&mut self, pos: usize) {
        MemberReader::restart_at(self, pos)
    }

    fn release(&mut self) {
        let pos = MemberReader::pos(self);
        self.source().release(pos);
    }

    fn offset(&self, member: u64, decoded: u64) -> Offset {
        Offset::Gzip {
            member,
            decompressed: Some(decoded),
        }
    }
}

/// A plain (uncompressed) input that arrives as a stream, copied into the window.
pub struct PlainReader<S> {
    src: S,
    pos: usize,
}

impl<S: Compressed> PlainReader<S> {
    pub fn new(src: S) -> PlainReader<S> {
        PlainReader { src, pos: 0 }
    }
}

impl<S: Compressed> Decoder for PlainReader<S> {
    fn pos(&self) -> usize {
        self.pos
    }

    fn at_boundary(&self) -> bool {
        true
    }

    fn fill(&mut self, out: &mut Vec<u8>) -> Result<Fill, GzError> {
        let (rest, at_end) = self
            .src
            .bytes_from(self.pos, self.pos)
            .map_err(|what| GzError {
                member: self.pos as u64,
                kind: GzErrorKind::Read(what),
            })?;
        if rest.is_empty() && at_end {
            return Ok(Fill::Eof);
        }
        let n = rest.len().min(out.capacity() - out.len());
        out.extend_from_slice(&rest[..n]);
        self.pos += n;
        Ok(Fill::Data)
    }

    fn resync_after(&mut self, _member: usize) -> Result<Result<usize, usize>, String> {
        // A plain input has no members: only a failed read ends up here.
        Ok(Err(self.src.end()))
    }

    fn restart_at(&mut self, pos: usize) {
        self.pos = pos;
    }

    fn release(&mut self) {
        self.src.release(self.pos);
    }

    fn offset(&self, _member: u64, decoded: u64) -> Offset {
        Offset::Plain { offset: decoded }
    }
}
