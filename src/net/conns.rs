//! The sockets: a mio poll over one optional listener and any number of connections.
//!
//! Everything is non-blocking. After a readiness event a connection is read until
//! `WouldBlock` (edge-triggered: stopping earlier could mean never being woken again) and
//! its bytes are cut into frames; writes go through a per-connection outbox with the offset
//! reached in its first buffer, flushed until `WouldBlock`. A connection whose outbox holds
//! more than [`OUTBOX_HIGH`] bytes is not read until the outbox drains below
//! [`OUTBOX_LOW`] (backpressure: a peer that does not read our replies cannot make us
//! buffer without bound). A non-blocking connect is finished only by a writable event
//! followed by `take_error()` and `peer_addr()`. Events are hints: spurious ones are
//! harmless.
//!
//! [`Net::poll`] turns readiness into [`NetEvent`]s for a driver, which feeds them to a
//! protocol state machine and carries out its actions with [`Net::send`] and
//! [`Net::close`].

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use super::frame::{Decoder, Frame, Outgoing};

/// A connection's name, stable for its lifetime and never reused.
pub type ConnId = u64;

/// Outbox size above which a connection is no longer read.
pub const OUTBOX_HIGH: usize = 64 << 20;
/// Outbox size below which reading resumes.
pub const OUTBOX_LOW: usize = 16 << 20;

const WAKER: Token = Token(0);
const LISTENER: Token = Token(1);
/// A token the driver may use for a source of its own (e.g. a signal pipe).
pub const EXTRA: Token = Token(2);
const FIRST_CONN: usize = 16;

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
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    connecting: bool,
    decoder: Decoder,
    outbox: VecDeque<Outgoing>,
    /// Bytes of `outbox[0]` already written.
    offset: usize,
    queued: usize,
    reading: bool,
    /// Close once the outbox is flushed.
    closing: bool,
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
}

impl Net {
    pub fn new(mut listener: Option<TcpListener>) -> io::Result<Net> {
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
            next_id: FIRST_CONN as ConnId,
            scratch: vec![0; 256 << 10],
            waker,
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
        self.add(stream, addr, true)
    }

    fn add(
        &mut self,
        mut stream: TcpStream,
        peer: SocketAddr,
        connecting: bool,
    ) -> io::Result<ConnId> {
        let id = self.next_id;
        self.next_id += 1;
        self.poll.registry().register(
            &mut stream,
            Token(id as usize),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        // Control messages are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        self.conns.insert(
            id,
            Conn {
                stream,
                peer,
                connecting,
                decoder: Decoder::default(),
                outbox: VecDeque::new(),
                offset: 0,
                queued: 0,
                reading: true,
                closing: false,
            },
        );
        Ok(id)
    }

    /// The peer address of a connection.
    pub fn peer(&self, id: ConnId) -> Option<SocketAddr> {
        self.conns.get(&id).map(|c| c.peer)
    }

    /// Bytes waiting in a connection's outbox.
    pub fn queued(&self, id: ConnId) -> usize {
        self.conns.get(&id).map_or(0, |c| c.queued)
    }

    /// Queues a frame (dropped if the connection is gone) and writes what the socket takes.
    pub fn send(&mut self, id: ConnId, frame: Outgoing, out: &mut Vec<NetEvent>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.closing || frame.is_empty() {
            return;
        }
        conn.queued += frame.len();
        conn.outbox.push_back(frame);
        if !conn.connecting {
            self.flush(id, out);
        }
    }

    /// Closes a connection once its outbox is flushed ([`NetEvent::Closed`] follows).
    pub fn close(&mut self, id: ConnId, out: &mut Vec<NetEvent>) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.closing = true;
            if conn.outbox.is_empty() || conn.connecting {
                self.drop_conn(id, "closed by this side".into(), out);
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
    pub fn poll(&mut self, timeout: Option<Duration>, out: &mut Vec<NetEvent>) -> io::Result<()> {
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
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
        for (token, readable, writable) in ready {
            match token {
                WAKER => out.push(NetEvent::Woken),
                LISTENER => self.accept(out),
                EXTRA => out.push(NetEvent::Extra),
                Token(t) => {
                    let id = t as ConnId;
                    if writable {
                        self.writable(id, out);
                    }
                    if readable {
                        self.read(id, out);
                    }
                }
            }
        }
        Ok(())
    }

    fn accept(&mut self, out: &mut Vec<NetEvent>) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => match self.add(stream, peer, false) {
                    Ok(id) => out.push(NetEvent::Accepted(id, peer)),
                    Err(_) => continue,
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of descriptors, or a connection reset before it was accepted: the
                // listener stays; the next readiness event retries.
                Err(_) => return,
            }
        }
    }

    fn writable(&mut self, id: ConnId, out: &mut Vec<NetEvent>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.connecting {
            match conn.stream.take_error() {
                Ok(Some(e)) | Err(e) => return self.drop_conn(id, e.to_string(), out),
                Ok(None) => {}
            }
            match conn.stream.peer_addr() {
                Ok(_) => {
                    conn.connecting = false;
                    out.push(NetEvent::Connected(id));
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => return self.drop_conn(id, e.to_string(), out),
            }
        }
        self.flush(id, out);
    }

    fn flush(&mut self, id: ConnId, out: &mut Vec<NetEvent>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        while let Some(front) = conn.outbox.front() {
            match conn.stream.write(&front[conn.offset..]) {
                Ok(0) => return self.drop_conn(id, "connection closed while writing".into(), out),
                Ok(n) => {
                    conn.offset += n;
                    conn.queued -= n;
                    if conn.offset == front.len() {
                        conn.outbox.pop_front();
                        conn.offset = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.drop_conn(id, e.to_string(), out),
            }
        }
        if conn.outbox.is_empty() && conn.closing {
            return self.drop_conn(id, "closed by this side".into(), out);
        }
        let want_reading = if conn.reading {
            conn.queued <= OUTBOX_HIGH
        } else {
            conn.queued < OUTBOX_LOW
        };
        if want_reading != conn.reading {
            conn.reading = want_reading;
            let interest = if want_reading {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::WRITABLE
            };
            let _ = self
                .poll
                .registry()
                .reregister(&mut conn.stream, Token(id as usize), interest);
        }
    }

    fn read(&mut self, id: ConnId, out: &mut Vec<NetEvent>) {
        let mut frames = Vec::new();
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            if conn.connecting || !conn.reading || conn.closing {
                break;
            }
            match conn.stream.read(&mut self.scratch) {
                Ok(0) => {
                    let reason = if conn.decoder.is_idle() {
                        "closed by the peer"
                    } else {
                        "closed by the peer in the middle of a frame"
                    };
                    out.extend(frames.drain(..).map(|f| NetEvent::Frame(id, f)));
                    return self.drop_conn(id, reason.into(), out);
                }
                Ok(n) => {
                    if let Err(e) = conn.decoder.feed(&self.scratch[..n], &mut frames) {
                        out.extend(frames.drain(..).map(|f| NetEvent::Frame(id, f)));
                        return self.drop_conn(id, e.to_string(), out);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    out.extend(frames.drain(..).map(|f| NetEvent::Frame(id, f)));
                    return self.drop_conn(id, e.to_string(), out);
                }
            }
        }
        out.extend(frames.into_iter().map(|f| NetEvent::Frame(id, f)));
    }

    fn drop_conn(&mut self, id: ConnId, reason: String, out: &mut Vec<NetEvent>) {
        if let Some(mut conn) = self.conns.remove(&id) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            out.push(NetEvent::Closed(id, reason));
        }
    }
}
