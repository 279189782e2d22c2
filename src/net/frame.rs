//! Frames: how messages are cut out of a TCP byte stream. No I/O here.
//!
//! A frame is a 12-byte header — magic `b"WTMR"`, protocol version (u16), message kind
//! (u16), payload length (u32), all little-endian — then the payload, an rkyv archive of the
//! message of that kind. The length is checked against [`MAX_FRAME`] before any allocation,
//! and the payload is read into an aligned buffer of exactly that length, ready for
//! validation with `rkyv::access`. On a sealed connection a trailer of fixed length follows
//! every frame, checked by a [`Seal`] before the frame is handed out: the authentication
//! tag of [`super::auth`], which builds on this module (framing knows nothing of keys).

use rkyv::util::AlignedVec;

/// The first bytes of every frame.
pub const MAGIC: [u8; 4] = *b"WTMR";
/// The protocol spoken by this build. Peers speaking another version are refused at Hello.
pub const PROTOCOL_VERSION: u16 = 12;
/// Header size in bytes.
pub const HEADER: usize = 12;
/// The largest payload accepted (and sent): a length beyond it is refused before
/// allocating.
pub const MAX_FRAME: usize = 256 << 20;

/// An encoded frame ready to send, shareable: a worker keeps its map outputs until the job
/// ends (to send them again after a failure) while the same bytes sit in an outbox.
pub type Outgoing = std::sync::Arc<Vec<u8>>;

/// A payload buffer aligned for rkyv's archived types.
pub type Payload = AlignedVec<16>;

/// A frame read from a peer: its header fields and its payload, not yet validated.
#[derive(Debug)]
pub struct Frame {
    pub version: u16,
    pub kind: u16,
    pub payload: Payload,
}

/// Why a byte stream is not a stream of frames. The connection cannot go on after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("not a wetmr peer (bad magic {0:02x?})")]
    BadMagic([u8; 4]),
    #[error("frame of {0} bytes is over the limit of {1} bytes")]
    TooLong(u64, usize),
    /// The trailer after a frame did not check out (the [`Seal`]'s reason).
    #[error("{0}")]
    Seal(String),
}

/// What checks the trailer that follows every frame of a sealed connection.
pub trait Seal: std::fmt::Debug + Send {
    /// The trailer's length in bytes.
    fn trailer_len(&self) -> usize;
    /// Checks the trailer that followed `frame` (the frames of a connection, in order);
    /// the error says why the connection must close.
    fn check(&mut self, frame: &Frame, trailer: &[u8]) -> Result<(), String>;
}

/// Writes the header for a payload of `len` bytes.
pub fn header(kind: u16, len: usize) -> [u8; HEADER] {
    header_of(PROTOCOL_VERSION, kind, len)
}

/// The header of a frame of protocol `version` (a received frame's, to check its tag).
pub fn header_of(version: u16, kind: u16, len: usize) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&version.to_le_bytes());
    h[6..8].copy_from_slice(&kind.to_le_bytes());
    h[8..].copy_from_slice(&(len as u32).to_le_bytes());
    h
}

/// A complete frame: the header, then `payload`.
pub fn frame(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&header(kind, payload.len()));
    out.extend_from_slice(payload);
    out
}

/// Cuts frames out of the bytes received on one connection, in any pieces. Once given a
/// [`Seal`] (an authenticated connection), it expects a trailer after every frame and has
/// it checked before handing the frame out. Payloads are at most [`MAX_FRAME`] bytes, or
/// less with [`Decoder::limit`] (e.g. until a connection has authenticated).
#[derive(Debug)]
pub struct Decoder {
    head: [u8; HEADER],
    head_len: usize,
    /// The frame being filled once its header is complete.
    body: Option<(u16, u16, usize, Payload)>,
    seal: Option<Box<dyn Seal>>,
    /// A complete frame waiting for its trailer, and the trailer bytes so far.
    sealed: Option<Frame>,
    trailer: Vec<u8>,
    /// The largest payload accepted now.
    limit: usize,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder {
            head: [0; HEADER],
            head_len: 0,
            body: None,
            seal: None,
            sealed: None,
            trailer: Vec::new(),
            limit: MAX_FRAME,
        }
    }
}

impl Decoder {
    /// Accepts payloads of at most `limit` bytes (and never more than [`MAX_FRAME`]) from
    /// the next header on.
    pub fn limit(&mut self, limit: usize) {
        self.limit = limit.min(MAX_FRAME);
    }

    /// Consumes `bytes`, pushing every completed frame to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Frame>) -> Result<(), FrameError> {
        while !bytes.is_empty() {
            let (used, frame) = self.feed_one(bytes)?;
            bytes = &bytes[used..];
            out.extend(frame);
        }
        Ok(())
    }

    /// Consumes `bytes` up to the end of the next complete frame (all of them if none
    /// completes): how many it consumed, and the frame. A handshake reads frames one at a
    /// time, as the frames after it are tagged.
    pub fn feed_one(&mut self, mut bytes: &[u8]) -> Result<(usize, Option<Frame>), FrameError> {
        let total = bytes.len();
        while !bytes.is_empty() {
            let done = if let (Some(_), Some(seal)) = (&self.sealed, &self.seal) {
                let wanted = seal.trailer_len();
                let take = (wanted - self.trailer.len()).min(bytes.len());
                self.trailer.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                self.trailer.len() == wanted
            } else {
                match &mut self.body {
                    None => {
                        let take = (HEADER - self.head_len).min(bytes.len());
                        self.head[self.head_len..self.head_len + take]
                            .copy_from_slice(&bytes[..take]);
                        self.head_len += take;
                        bytes = &bytes[take..];
                        self.head_len == HEADER && self.start_body()?
                    }
                    Some((_, _, len, payload)) => {
                        let take = (*len - payload.len()).min(bytes.len());
                        payload.extend_from_slice(&bytes[..take]);
                        bytes = &bytes[take..];
                        payload.len() == *len
                    }
                }
            };
            if done {
                if let Some(frame) = self.finish()? {
                    return Ok((total - bytes.len(), Some(frame)));
                }
            }
        }
        Ok((total, None))
    }

    /// From the next frame on, every frame must be followed by a trailer that `seal`
    /// accepts.
    pub fn seal(&mut self, seal: Box<dyn Seal>) {
        self.trailer = Vec::with_capacity(seal.trailer_len());
        self.seal = Some(seal);
    }

    /// Reads a complete header: whether the frame is complete already (empty payload).
    fn start_body(&mut self) -> Result<bool, FrameError> {
        let h = self.head;
        let magic: [u8; 4] = h[..4].try_into().unwrap_or_default();
        if magic != MAGIC {
            return Err(FrameError::BadMagic(magic));
        }
        let version = u16::from_le_bytes([h[4], h[5]]);
        let kind = u16::from_le_bytes([h[6], h[7]]);
        let len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
        if len > self.limit {
            return Err(FrameError::TooLong(len as u64, self.limit));
        }
        self.head_len = 0;
        self.body = Some((version, kind, len, Payload::with_capacity(len.min(1 << 20))));
        Ok(len == 0)
    }

    /// The payload (or the trailer) is complete: the frame, unless its trailer is still to
    /// come.
    fn finish(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(frame) = self.sealed.take() {
            if let Some(seal) = &mut self.seal {
                seal.check(&frame, &self.trailer)
                    .map_err(FrameError::Seal)?;
            }
            self.trailer.clear();
            return Ok(Some(frame));
        }
        let Some((version, kind, _, payload)) = self.body.take() else {
            return Ok(None);
        };
        let frame = Frame {
            version,
            kind,
            payload,
        };
        if self.seal.is_some() {
            self.sealed = Some(frame);
            return Ok(None);
        }
        Ok(Some(frame))
    }

    /// True when no partial frame is pending (a clean place for the stream to end).
    pub fn is_idle(&self) -> bool {
        self.head_len == 0 && self.body.is_none() && self.sealed.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_cut() {
        let mut stream = frame(3, b"hello");
        stream.extend(frame(9, b""));
        stream.extend(frame(4, &[7; 1000]));
        for piece in [1, 2, 5, 11, 12, 13, 100, stream.len()] {
            let mut d = Decoder::default();
            let mut out = Vec::new();
            for chunk in stream.chunks(piece) {
                d.feed(chunk, &mut out).unwrap();
            }
            assert!(d.is_idle());
            let got: Vec<_> = out.iter().map(|f| (f.kind, f.payload.len())).collect();
            assert_eq!(got, [(3, 5), (9, 0), (4, 1000)], "pieces of {piece}");
            assert_eq!(&out[0].payload[..], b"hello");
            assert!(out.iter().all(|f| f.version == PROTOCOL_VERSION));
        }
    }

    #[test]
    fn bad_magic_and_huge_lengths_are_refused_before_allocating() {
        let mut d = Decoder::default();
        let err = d.feed(b"GET / HTTP/1.1\r\n", &mut Vec::new()).unwrap_err();
        assert!(matches!(err, FrameError::BadMagic(_)));
        let mut h = header(1, 0);
        h[8..].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = Decoder::default().feed(&h, &mut Vec::new()).unwrap_err();
        assert_eq!(err, FrameError::TooLong(u64::from(u32::MAX), MAX_FRAME));
    }

    #[test]
    fn a_lower_limit_refuses_what_the_default_takes() {
        let stream = frame(5, &[1; 100]);
        let mut d = Decoder::default();
        d.limit(99);
        let err = d.feed(&stream, &mut Vec::new()).unwrap_err();
        assert_eq!(err, FrameError::TooLong(100, 99));
        let mut d = Decoder::default();
        d.limit(100);
        let mut out = Vec::new();
        d.feed(&stream, &mut out).unwrap();
        assert_eq!(out.len(), 1);
    }
}
