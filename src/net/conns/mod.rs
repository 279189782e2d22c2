//! The sockets: a mio poll over one optional listener and any number of connections.
//!
//! Everything is non-blocking. After a readiness event a connection is read until
//! `WouldBlock` (edge-triggered: stopping earlier could mean never being woken again) and
//! its bytes are cut into frames; writes go through a per-connection outbox with the offset
//! reached in its first buffer, flushed until `WouldBlock`: the frames queued between two
//! polls go out together at the next one, up to 64 buffers per `writev` (a task's small
//! frames and their tags cost one system call, not two each). A connection whose outbox holds
//! more than [`OUTBOX_HIGH`] bytes is not read until the outbox drains below
//! [`OUTBOX_LOW`] (backpressure: a peer that does not read our replies cannot make us
//! buffer without bound). A non-blocking connect is finished only by a writable event
//! followed by `take_error()` and `peer_addr()`. Events are hints: spurious ones are
//! harmless.
//!
//! With the cluster's secret, every connection first runs the handshake of
//! [`super::auth`] (the driver's frames wait until it succeeds, and no frame reaches the
//! driver before), then every frame goes out followed by its tag and comes in checked.
//! Strangers are bounded: an accepted connection has [`HANDSHAKE_TIMEOUT`] to
//! authenticate, at most [`MAX_UNGREETED`] may be waiting to (the oldest goes first), and
//! at most [`MAX_CONNS`] are open in all. A connection closed for what its peer did is
//! reported as [`NetEvent::Rejected`].
//!
//! [`Net::poll`] turns readiness into [`NetEvent`]s for a driver, which feeds them to a
//! protocol state machine and carries out its actions with [`Net::send`] and
//! [`Net::close`].

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};

mod conn;
mod socket;

use super::auth::{Handshake, Secret};
use super::frame::{Decoder, Frame, Outgoing};
use conn::{Auth, Conn};

/// A connection's name, stable for its lifetime and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl ConnId {
    /// Its token in the poll.
    fn token(self) -> Token {
        Token(self.0 as usize)
    }
}

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Outbox size above which a connection is no longer read.
pub const OUTBOX_HIGH: usize = 64 << 20;
/// Outbox size below which reading resumes.
pub const OUTBOX_LOW: usize = 16 << 20;

/// Buffers given to one `writev` at most.
const WRITE_SLICES: usize = 64;
const WAKER: Token = Token(0);
const LISTENER: Token = Token(1);
/// A token the driver may use for a source of its own (e.g. a signal pipe).
pub const EXTRA: Token = Token(2);
const FIRST_CONN: usize = 16;

/// How long an accepted connection may take to authenticate (or, without a secret, to send
/// its first frame) before it is closed: a stranger holding connections open costs little.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Accepted connections not yet authenticated, at most; beyond it the oldest is closed.
pub const MAX_UNGREETED: usize = 64;
/// Connections in all, at most; beyond it a new one is closed at once.
pub const MAX_CONNS: usize = 1024;
/// The largest frame accepted before a connection has authenticated (or, without a
/// secret, on an accepted connection's first frame): handshakes and Hellos are small, and
/// strangers must not make us buffer [`super::frame::MAX_FRAME`] each.
pub const GREETING_MAX: usize = 4 << 10;
/// Bytes read from one connection per turn: beyond it the connection waits for the next
/// [`Net::poll`] (so one busy peer cannot starve the others, and a driver's
/// [`Net::pause`] takes effect before more is read).
const READ_TURN: usize = 4 << 20;

/// What happened on the sockets.
#[derive(Debug)]
pub enum NetEvent {
    Accepted(ConnId, SocketAddr),
    /// An outgoing connection is established.
    Connected(ConnId),
    /// A complete frame arrived.
    Frame(ConnId, Frame),
    /// The connection is gone (refused, reset, closed by the peer, a framing error, or
    /// closed by us); the reason is for logs.
    Closed(ConnId, String),
    /// The waker was woken (work finished off the loop).
    Woken,
    /// The [`EXTRA`] source is readable.
    Extra,
    /// A connection was closed for what its peer did (failed authentication, broke the
    /// framing, took too long to authenticate, came over a limit): for the logs and the
    /// counters. A [`NetEvent::Closed`] for it follows when the driver knew of it.
    Rejected(SocketAddr, String),
}

/// The poll, its listener and connections (see the module docs).
pub struct Net {
    poll: Poll,
    events: Events,
    listener: Option<TcpListener>,
    conns: HashMap<ConnId, Conn>,
    next_id: ConnId,
    scratch: Vec<u8>,
    waker: Arc<Waker>,
    /// The cluster's secret: every connection authenticates with it.
    secret: Option<Secret>,
    /// Connections that may have bytes left to read without a new readiness event (their
    /// turn ended, or they were resumed): read at the next poll.
    unread: Vec<ConnId>,
    /// Connections with frames queued since the last poll: written at the next poll, all
    /// of a connection's frames (and their tags) in one `writev`, instead of one write
    /// each as they come.
    unflushed: Vec<ConnId>,
}

impl Net {
    /// The sockets, with `listener` if any; with a `secret`, every connection runs the
    /// handshake of [`super::auth`] and every frame is tagged.
    pub fn new(mut listener: Option<TcpListener>, secret: Option<Secret>) -> io::Result<Net> {
        let poll = Poll::new()?;
        if let Some(l) = &mut listener {
            poll.registry().register(l, LISTENER, Interest::READABLE)?;
        }
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(Net {
            poll,
            events: Events::with_capacity(1024),
            listener,
            conns: HashMap::new(),
            next_id: ConnId(FIRST_CONN as u64),
            scratch: vec![0; 256 << 10],
            waker,
            secret,
            unread: Vec::new(),
            unflushed: Vec::new(),
        })
    }

    /// Wakes [`Net::poll`] from another thread.
    pub fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }

    /// For registering a driver's own source under [`EXTRA`].
    pub fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// The listener's address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Stops accepting connections.
    pub fn close_listener(&mut self) {
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
    }

    /// Starts connecting to `addr`; [`NetEvent::Connected`] or [`NetEvent::Closed`] follows.
    /// Frames sent before the connection is up wait in its outbox.
    pub fn connect(&mut self, addr: SocketAddr) -> io::Result<ConnId> {
        let stream = TcpStream::connect(addr)?;
        let (auth, hello) = match &self.secret {
            None => (Auth::Off, None),
            Some(secret) => {
                let (handshake, hello) = Handshake::initiate(secret).map_err(io::Error::other)?;
                let held = Vec::new();
                (Auth::Pending { handshake, held }, Some(hello))
            }
        };
        let id = self.add(stream, addr, true, auth)?;
        if let (Some(hello), Some(conn)) = (hello, self.conns.get_mut(&id)) {
            conn.push(Arc::new(hello));
        }
        Ok(id)
    }

    fn add(
        &mut self,
        mut stream: TcpStream,
        peer: SocketAddr,
        connecting: bool,
        auth: Auth,
    ) -> io::Result<ConnId> {
        let id = self.next_id;
        self.next_id.0 += 1;
        self.poll.registry().register(
            &mut stream,
            id.token(),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        // Control messages are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let mut decoder = Decoder::default();
        if !connecting || matches!(auth, Auth::Pending { .. }) {
            decoder.limit(GREETING_MAX);
        }
        self.conns.insert(
            id,
            Conn {
                stream,
                peer,
                connecting,
                decoder,
                outbox: VecDeque::new(),
                offset: 0,
                queued: 0,
                reading: true,
                paused: false,
                closing: false,
                auth,
                ungreeted: (!connecting).then(Instant::now),
            },
        );
        Ok(id)
    }

    /// The peer address of a connection.
    pub fn peer(&self, id: ConnId) -> Option<SocketAddr> {
        self.conns.get(&id).map(|c| c.peer)
    }

    /// Bytes waiting to be sent on a connection (also those held for its handshake).
    pub fn queued(&self, id: ConnId) -> usize {
        self.conns.get(&id).map_or(0, |c| {
            let held = match &c.auth {
                Auth::Pending { held, .. } => held.iter().map(|f| f.len()).sum(),
                _ => 0,
            };
            c.queued + held
        })
    }

    /// Queues a frame (dropped if the connection is gone), to be written at the next poll
    /// with whatever else is queued for the connection by then.
    pub fn send(&mut self, id: ConnId, frame: Outgoing) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.closing || frame.is_empty() {
            return;
        }
        let was_empty = conn.outbox.is_empty();
        conn.enqueue(frame);
        if was_empty && !conn.connecting {
            // (A connection with an older backlog is flushed by its writable events.)
            self.unflushed.push(id);
        }
    }

    /// Stops reading a connection (`true`) until resumed (`false`): a driver's
    /// backpressure, e.g. while what the peer sent waits for the CPU. Its peer then blocks
    /// on a full socket buffer.
    pub fn pause(&mut self, id: ConnId, paused: bool) {
        if let Some(conn) = self.conns.get_mut(&id) {
            if conn.paused && !paused {
                // Bytes may wait in the socket with no new edge to announce them.
                self.unread.push(id);
            }
            conn.paused = paused;
        }
    }

    /// Closes the accepted connections that have not authenticated (or, without a
    /// secret, sent a frame) within [`HANDSHAKE_TIMEOUT`].
    pub fn expire(&mut self, now: Instant, out: &mut Vec<NetEvent>) {
        let late: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.ungreeted.is_some_and(|t| now >= t + HANDSHAKE_TIMEOUT))
            .map(|(&id, _)| id)
            .collect();
        for id in late {
            let why = format!(
                "nothing authenticated within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            );
            self.reject(id, why, out);
        }
    }

    /// When [`Net::expire`] next has something to do, if ever.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.conns
            .values()
            .filter_map(|c| c.ungreeted)
            .min()
            .map(|t| t + HANDSHAKE_TIMEOUT)
    }

    /// Closes a connection for what its peer did, now ([`NetEvent::Rejected`]).
    fn reject(&mut self, id: ConnId, reason: String, out: &mut Vec<NetEvent>) {
        if let Some(conn) = self.conns.get(&id) {
            out.push(NetEvent::Rejected(conn.peer, reason.clone()));
            self.drop_conn(id, reason, out);
        }
    }

    /// Closes a connection once its outbox is flushed ([`NetEvent::Closed`] follows).
    pub fn close(&mut self, id: ConnId, out: &mut Vec<NetEvent>) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.closing = true;
            if conn.outbox.is_empty() || conn.connecting {
                self.drop_conn(id, "closed by this side".into(), out);
            } else {
                self.unflushed.push(id);
            }
        }
    }

    /// Closes everything now.
    pub fn close_all(&mut self, out: &mut Vec<NetEvent>) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            self.drop_conn(id, "shutting down".into(), out);
        }
    }

    /// Waits for readiness (at most `timeout`) and appends what happened to `out`.
    /// Connections that take too long to authenticate are closed here too, after what
    /// they sent is read (a process that was stopped does not blame its peers for it).
    /// Returns false when a signal cut the wait short (after SIGSTOP and SIGCONT, say)
    /// and nothing was read: a caller that judges silence must poll again first.
    pub fn poll(&mut self, timeout: Option<Duration>, out: &mut Vec<NetEvent>) -> io::Result<bool> {
        let now = Instant::now();
        let expiry = self.next_expiry().map(|t| t.saturating_duration_since(now));
        let timeout = match (timeout, expiry) {
            _ if !self.unread.is_empty() => Some(Duration::ZERO),
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for id in std::mem::take(&mut self.unflushed) {
            self.flush(id, out);
        }
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(false),
            r => r?,
        }
        let ready: Vec<(Token, bool, bool)> = self
            .events
            .iter()
            .map(|e| {
                (
                    e.token(),
                    e.is_readable() || e.is_read_closed() || e.is_error(),
                    e.is_writable() || e.is_error(),
                )
            })
            .collect();
        for id in std::mem::take(&mut self.unread) {
            self.read(id, out);
        }
        for (token, readable, writable) in ready {
            match token {
                WAKER => out.push(NetEvent::Woken),
                LISTENER => self.accept(out),
                EXTRA => out.push(NetEvent::Extra),
                Token(t) => {
                    let id = ConnId(t as u64);
                    if writable {
                        self.writable(id, out);
                    }
                    if readable {
                        self.read(id, out);
                    }
                }
            }
        }
        self.expire(Instant::now(), out);
        Ok(true)
    }

    fn accept(&mut self, out: &mut Vec<NetEvent>) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    if self.conns.len() >= MAX_CONNS {
                        // (Dropping the stream closes it.)
                        let why = format!("over the limit of {MAX_CONNS} connections");
                        out.push(NetEvent::Rejected(peer, why));
                        continue;
                    }
                    self.make_room(out);
                    let auth = match &self.secret {
                        None => Auth::Off,
                        Some(secret) => Auth::Pending {
                            handshake: Handshake::respond(secret),
                            held: Vec::new(),
                        },
                    };
                    match self.add(stream, peer, false, auth) {
                        Ok(id) => out.push(NetEvent::Accepted(id, peer)),
                        Err(_) => continue,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of descriptors, or a connection reset before it was accepted: the
                // listener stays; the next readiness event retries.
                Err(_) => return,
            }
        }
    }

    /// At [`MAX_UNGREETED`] connections waiting to authenticate, closes the oldest of them
    /// (a flood of idle connections cannot crowd out a peer that authenticates at once).
    fn make_room(&mut self, out: &mut Vec<NetEvent>) {
        let waiting = self
            .conns
            .values()
            .filter(|c| c.ungreeted.is_some())
            .count();
        if waiting < MAX_UNGREETED {
            return;
        }
        let oldest = self
            .conns
            .iter()
            .filter_map(|(&id, c)| c.ungreeted.map(|t| (t, id)))
            .min();
        if let Some((_, id)) = oldest {
            let why =
                format!("over the limit of {MAX_UNGREETED} connections not yet authenticated");
            self.reject(id, why, out);
        }
    }

    fn drop_conn(&mut self, id: ConnId, reason: String, out: &mut Vec<NetEvent>) {
        if let Some(mut conn) = self.conns.remove(&id) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            out.push(NetEvent::Closed(id, reason));
        }
    }
}
