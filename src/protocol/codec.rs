//! How messages become frames, and frames messages: the table of message kinds (one line
//! per kind: its number in the frame header, its name, its type), encoding, validation and
//! decoding. The frame itself is [`crate::net::frame`]'s.
//!
//! Control messages are validated and deserialized whole with `rkyv::from_bytes`. The bulk
//! messages ([`Partition`], [`Copy`](Kind::Copy) and [`Ranked`]) are validated with
//! `rkyv::access` and kept as their received payload: their word lists are read in place by
//! the code that merges them, after [`WordBlock::check`] ([`bulk_words`]).
//!
//! Any change to what a message encodes to must come with a new
//! [`PROTOCOL_VERSION`]: the golden-bytes test below (and `wire.golden` beside this file)
//! fails otherwise.

use rkyv::api::high::HighSerializer;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;

use super::ids::{Attempt, JobId, PartitionId, TaskId};
use super::messages::*;
use crate::count::Spectrum;
use crate::net::frame::{self, Frame, Outgoing, Payload, HEADER, MAX_FRAME, PROTOCOL_VERSION};
use crate::partition::WordBlock;

/// The type a message of each shape carries.
macro_rules! carried {
    (whole $ty:ty) => { $ty };
    (bulk $ty:ty) => { Bulk<<$ty as BulkBody>::Head> };
}

/// A message of each shape from a validated payload.
macro_rules! decoded {
    (whole $ty:ty, $kind:expr, $payload:expr) => {
        rkyv::from_bytes::<$ty, rancor::Error>(&$payload).map_err(|e| invalid($kind, e))?
    };
    (bulk $ty:ty, $kind:expr, $payload:expr) => {{
        let head = <$ty as BulkBody>::head(&$payload).map_err(|e| invalid($kind, e))?;
        Bulk {
            head,
            payload: $payload,
        }
    }};
}

/// A message of each shape as a frame.
macro_rules! encoded {
    (whole $kind:expr, $m:expr) => {
        encode_as($kind, $m)
    };
    (bulk $kind:expr, $m:expr) => {
        Ok(frame::frame($kind as u16, &$m.payload))
    };
}

/// [`Wire`] for a type that is the message of one kind only.
macro_rules! wire_type {
    (by_type $ty:ty, $name:ident) => {
        impl Wire for $ty {
            const KIND: Kind = Kind::$name;
        }
    };
}

/// The table: `Name = number: shape Type[, by_type]`. The shape is `whole` (decoded into
/// its type) or `bulk` (kept as its payload, its head read out); `by_type` makes the type
/// [`Wire`] (sent with [`encode`]): the types that several kinds share have not it.
macro_rules! message_table {
    ($($(#[$doc:meta])* $name:ident = $code:literal: $shape:ident $ty:ty $(, $by:ident)?;)*) => {
        /// Frame kinds, one per message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum Kind {
            $($(#[$doc])* $name = $code,)*
        }

        impl Kind {
            /// Every kind, in number order.
            pub const ALL: &'static [Kind] = &[$(Kind::$name),*];

            pub fn from_u16(v: u16) -> Option<Kind> {
                match v {
                    $($code => Some(Kind::$name),)*
                    _ => None,
                }
            }

            /// Its name, for logs.
            pub fn name(self) -> &'static str {
                match self {
                    $(Kind::$name => stringify!($name),)*
                }
            }
        }

        /// A decoded message. The bulk kinds keep their validated payload (see the module
        /// docs).
        #[derive(Debug)]
        pub enum Message {
            $($(#[$doc])* $name(carried!($shape $ty)),)*
        }

        impl Message {
            pub fn kind(&self) -> Kind {
                match self {
                    $(Message::$name(_) => Kind::$name,)*
                }
            }

            /// The message as a complete frame again.
            pub fn to_frame(&self) -> Result<Vec<u8>, ProtocolError> {
                match self {
                    $(Message::$name(m) => encoded!($shape Kind::$name, m),)*
                }
            }
        }

        /// The message of `kind` in a payload of this build's version.
        fn decode_payload(kind: Kind, payload: Payload) -> Result<Message, ProtocolError> {
            Ok(match kind {
                $(Kind::$name => Message::$name(decoded!($shape $ty, kind, payload)),)*
            })
        }

        $($(wire_type!($by $ty, $name);)?)*
    };
}

message_table! {
    Hello = 1: whole Hello, by_type;
    Welcome = 2: whole Welcome, by_type;
    Job = 3: whole JobSpec, by_type;
    JobReady = 4: whole JobRef;
    Task = 5: whole Task, by_type;
    TaskDone = 6: whole TaskDone, by_type;
    TaskFailed = 7: whole TaskFailed, by_type;
    Partition = 8: bulk Partition, by_type;
    PartitionAck = 9: whole PartitionAck, by_type;
    Reduce = 10: whole Reduce, by_type;
    Ranked = 11: bulk Ranked, by_type;
    ReduceDone = 12: whole ReduceDone, by_type;
    JobEnd = 13: whole JobRef;
    Refused = 14: whole Refused, by_type;
    Reassign = 15: whole Reassign, by_type;
    Resent = 16: whole Resent, by_type;
    Resend = 17: whole Resend, by_type;
    Adopt = 18: whole Adopt, by_type;
    Adopted = 19: whole Adopted, by_type;
    Heartbeat = 20: whole Heartbeat, by_type;
    Cancel = 21: whole Cancel, by_type;
    /// A copy of a [`Partition`] the sender owns and applied itself (same payload), pushed
    /// to its buddy, which keeps it unapplied until the job ends: if the sender is lost,
    /// the buddy sends it to the partition's new owner, and the task need not run again.
    Copy = 22: bulk Partition;
    Kept = 23: whole Kept, by_type;
    Mapped = 24: whole Mapped, by_type;
}

/// A bulk message: its small fields read out, and the payload they came from.
#[derive(Debug)]
pub struct Bulk<H> {
    pub head: H,
    pub payload: Payload,
}

/// The small fields of a [`Ranked`] piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankedHead {
    pub job: JobId,
    pub partition: PartitionId,
    pub last: bool,
    /// Checked: canonical, and empty unless `last`.
    pub spectrum: Spectrum,
}

/// A message kept as its payload: how its head is read out, and where its words are.
pub trait BulkBody {
    type Head;
    /// The head, or why the payload is not a valid message of this kind.
    fn head(payload: &Payload) -> Result<Self::Head, String>;
    fn words(payload: &Payload) -> Result<&ArchivedWordBlock, rancor::Error>;
}

type ArchivedWordBlock = <WordBlock as rkyv::Archive>::Archived;

impl BulkBody for Partition {
    type Head = PartitionAck;

    fn head(payload: &Payload) -> Result<PartitionAck, String> {
        let p =
            rkyv::access::<ArchivedPartition, rancor::Error>(payload).map_err(|e| e.to_string())?;
        Ok(PartitionAck {
            job: JobId(p.job.0.to_native()),
            task: TaskId(p.task.0.to_native()),
            attempt: Attempt(p.attempt.0.to_native()),
            partition: PartitionId(p.partition.0.to_native()),
        })
    }

    fn words(payload: &Payload) -> Result<&ArchivedWordBlock, rancor::Error> {
        Ok(&rkyv::access::<ArchivedPartition, rancor::Error>(payload)?.words)
    }
}

impl BulkBody for Ranked {
    type Head = RankedHead;

    fn head(payload: &Payload) -> Result<RankedHead, String> {
        let r =
            rkyv::access::<ArchivedRanked, rancor::Error>(payload).map_err(|e| e.to_string())?;
        let pairs: Vec<(u64, u64)> = (r.spectrum.iter())
            .map(|p| (p.0.to_native(), p.1.to_native()))
            .collect();
        if !r.last && !pairs.is_empty() {
            return Err("a frequency spectrum on a piece that is not the last".into());
        }
        let spectrum = Spectrum::from_canonical(pairs)?;
        Ok(RankedHead {
            job: JobId(r.job.0.to_native()),
            partition: PartitionId(r.partition.0.to_native()),
            last: r.last,
            spectrum,
        })
    }

    fn words(payload: &Payload) -> Result<&ArchivedWordBlock, rancor::Error> {
        Ok(&rkyv::access::<ArchivedRanked, rancor::Error>(payload)?.words)
    }
}

/// Why a frame could not be turned into a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("peer speaks wetmr protocol version {theirs}, this build speaks {PROTOCOL_VERSION}")]
    Version { theirs: u16 },
    #[error("unknown message kind {0}")]
    UnknownKind(u16),
    #[error("invalid {kind:?} message: {reason}")]
    Invalid { kind: Kind, reason: String },
    #[error("message of {0} bytes is over the frame limit")]
    TooLarge(usize),
}

fn invalid(kind: Kind, e: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::Invalid {
        kind,
        reason: e.to_string(),
    }
}

/// A message type that is the message of one kind, and can be sent as it is.
pub trait Wire:
    for<'a> rkyv::Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>
{
    const KIND: Kind;
}

/// Encodes a message as a complete frame (header and payload).
pub fn encode<T: Wire>(msg: &T) -> Result<Vec<u8>, ProtocolError> {
    encode_as(T::KIND, msg)
}

/// Encodes one of the messages that name a job and nothing else (JobReady, JobEnd).
pub fn encode_job_ref(kind: Kind, job: JobId) -> Vec<u8> {
    debug_assert!(matches!(kind, Kind::JobReady | Kind::JobEnd));
    // A JobRef is 8 bytes: it cannot fail to serialize or exceed the limit.
    encode_as(kind, &JobRef { job }).unwrap_or_default()
}

fn encode_as<T>(kind: Kind, msg: &T) -> Result<Vec<u8>, ProtocolError>
where
    T: for<'a> rkyv::Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>,
{
    let payload = rkyv::to_bytes::<rancor::Error>(msg).map_err(|e| invalid(kind, e))?;
    if payload.len() > MAX_FRAME {
        return Err(ProtocolError::TooLarge(payload.len()));
    }
    Ok(frame::frame(kind as u16, &payload))
}

/// Validates a frame and decodes its message.
pub fn decode(frame: Frame) -> Result<Message, ProtocolError> {
    if frame.version != PROTOCOL_VERSION {
        return Err(ProtocolError::Version {
            theirs: frame.version,
        });
    }
    let kind = Kind::from_u16(frame.kind).ok_or(ProtocolError::UnknownKind(frame.kind))?;
    decode_payload(kind, frame.payload)
}

/// The word list of a received Partition (or Copy) or Ranked payload, checked whole
/// ([`WordBlock::check`]) before it is returned.
pub fn bulk_words(kind: Kind, payload: &Payload) -> Result<BlockView<'_>, ProtocolError> {
    let block = match kind {
        Kind::Partition | Kind::Copy => Partition::words(payload),
        Kind::Ranked => Ranked::words(payload),
        _ => return Err(invalid(kind, "not a bulk message")),
    }
    .map_err(|e| invalid(kind, e))?;
    let view = BlockView {
        count: block.count.to_native(),
        words: block.words.as_slice(),
        meta: block.meta.as_slice(),
    };
    WordBlock::check(view.count, view.words, view.meta).map_err(|e| invalid(kind, e))?;
    Ok(view)
}

/// A checked word list, read in place.
#[derive(Debug, Clone, Copy)]
pub struct BlockView<'a> {
    pub count: u32,
    pub words: &'a [u8],
    pub meta: &'a [u8],
}

impl<'a> BlockView<'a> {
    pub fn entries(self) -> crate::partition::Entries<'a> {
        WordBlock::entries(self.count, self.words, self.meta)
    }
}

/// A Partition frame (encoded by this build) as the Copy of the same payload, or the
/// reverse: a worker keeps its map outputs as frames, and copies them to its buddy.
pub fn reframe(frame: &[u8], kind: Kind) -> Outgoing {
    debug_assert!(matches!(kind, Kind::Partition | Kind::Copy));
    Outgoing::new(frame::frame(kind as u16, payload_bytes(frame)))
}

/// A Partition frame (encoded by this build) as a payload to merge, as it would arrive.
pub fn payload_of(frame: &[u8]) -> Payload {
    let bytes = payload_bytes(frame);
    let mut payload = Payload::with_capacity(bytes.len());
    payload.extend_from_slice(bytes);
    payload
}

/// A received bulk payload as the frame of `kind` that carries it.
pub fn frame_of(kind: Kind, payload: &Payload) -> Outgoing {
    Outgoing::new(frame::frame(kind as u16, payload))
}

/// The size of the frame that carried a payload of `len` bytes.
pub fn frame_len(len: usize) -> usize {
    HEADER + len
}

fn payload_bytes(frame: &[u8]) -> &[u8] {
    frame.get(HEADER..).unwrap_or_default()
}

/// Paths travel as bytes (Unix paths need not be UTF-8).
pub fn path_from_bytes(bytes: Vec<u8>) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStringExt;
    std::path::PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

/// The bytes of a path, for a Task message.
pub fn path_to_bytes(path: &std::path::Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(test)]
mod tests;
