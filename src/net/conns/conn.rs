//! One connection's state: its socket, the decoder of what it reads, its outbox, and where
//! it stands with authentication (the handshake runs on its first frames).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;

use crate::net::auth::{FrameKeys, Handshake, Signer};
use crate::net::frame::{Decoder, Frame, Outgoing, MAX_FRAME};

/// Where a connection stands with authentication.
pub(super) enum Auth {
    /// The cluster has no secret: frames flow untagged.
    Off,
    /// The handshake runs; what the driver sends waits here, untagged.
    Pending {
        handshake: Handshake,
        held: Vec<Outgoing>,
    },
    /// Authenticated: every frame sent is followed by its tag.
    On(Signer),
}

pub(super) struct Conn {
    pub(super) stream: TcpStream,
    pub(super) peer: SocketAddr,
    pub(super) connecting: bool,
    pub(super) decoder: Decoder,
    pub(super) outbox: VecDeque<Outgoing>,
    /// Bytes of `outbox[0]` already written.
    pub(super) offset: usize,
    pub(super) queued: usize,
    /// Read it (false while its outbox is over [`super::OUTBOX_HIGH`]).
    pub(super) reading: bool,
    /// The driver asked not to read it for now ([`super::Net::pause`]).
    pub(super) paused: bool,
    /// Close once the outbox is flushed.
    pub(super) closing: bool,
    pub(super) auth: Auth,
    /// Accepted and not yet authenticated (or, without a secret, no frame yet): since when.
    pub(super) ungreeted: Option<Instant>,
}

impl Conn {
    /// Queues a frame of the driver's as the connection stands: as is without a secret,
    /// held while the handshake runs, followed by its tag once authenticated.
    pub(super) fn enqueue(&mut self, frame: Outgoing) {
        let tag = match &mut self.auth {
            Auth::Off => None,
            Auth::Pending { held, .. } => return held.push(frame),
            Auth::On(signer) => Some(signer.tag(&frame)),
        };
        self.push(frame);
        if let Some(tag) = tag {
            self.push(Arc::new(tag.to_vec()));
        }
    }

    /// The peer has authenticated (or, without a secret, sent its first frame): no more
    /// deadline, and frames up to the full size.
    pub(super) fn greeted(&mut self) {
        self.ungreeted = None;
        self.decoder.limit(MAX_FRAME);
    }

    /// Appends bytes to the outbox.
    pub(super) fn push(&mut self, bytes: Outgoing) {
        self.queued += bytes.len();
        self.outbox.push_back(bytes);
    }
}

/// Bytes read on `conn`: runs its handshake while it lasts, then cuts (and checks) frames.
/// An error is the reason to close the connection.
pub(super) fn take_bytes(
    conn: &mut Conn,
    mut bytes: &[u8],
    frames: &mut Vec<Frame>,
) -> Result<(), String> {
    while !bytes.is_empty() {
        let Auth::Pending { handshake, held } = &mut conn.auth else {
            if conn.ungreeted.is_none() {
                return conn.decoder.feed(bytes, frames).map_err(|e| e.to_string());
            }
            // Without a secret, an accepted connection's first frame is its greeting, under
            // the greeting's limit; the frames after it may be larger.
            let (used, frame) = conn.decoder.feed_one(bytes).map_err(|e| e.to_string())?;
            bytes = &bytes[used..];
            if let Some(frame) = frame {
                frames.push(frame);
                conn.greeted();
            }
            continue;
        };
        // One frame at a time: the frames after the handshake are tagged.
        let (used, frame) = conn.decoder.feed_one(bytes).map_err(|e| e.to_string())?;
        bytes = &bytes[used..];
        let Some(frame) = frame else { continue };
        let step = handshake.on_frame(&frame).map_err(|e| e.to_string())?;
        // The driver's frames held so far go out (tagged) once the handshake ends.
        let held = match step.keys {
            Some(_) => std::mem::take(held),
            None => Vec::new(),
        };
        if let Some(reply) = step.reply {
            conn.push(Arc::new(reply));
        }
        if let Some(FrameKeys { signer, verifier }) = step.keys {
            conn.decoder.seal(Box::new(verifier));
            conn.auth = Auth::On(signer);
            conn.greeted();
            for frame in held {
                conn.enqueue(frame);
            }
        }
    }
    Ok(())
}
