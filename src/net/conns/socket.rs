//! Reading and writing a connection's socket: reads until `WouldBlock` (or the end of its
//! turn), cut into frames; writes its outbox in `writev`s of up to `WRITE_SLICES` buffers.

use std::io::{self, Read, Write};

use mio::Interest;

use super::conn::take_bytes;
use super::{ConnId, Net, NetEvent, OUTBOX_HIGH, OUTBOX_LOW, READ_TURN, WRITE_SLICES};

impl Net {
    pub(super) fn writable(&mut self, id: ConnId, out: &mut Vec<NetEvent>) {
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

    pub(super) fn flush(&mut self, id: ConnId, out: &mut Vec<NetEvent>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        while !conn.outbox.is_empty() {
            let mut slices = [io::IoSlice::new(&[]); WRITE_SLICES];
            let mut count = 0;
            for (i, bytes) in conn.outbox.iter().take(WRITE_SLICES).enumerate() {
                let skip = if i == 0 { conn.offset } else { 0 };
                slices[i] = io::IoSlice::new(&bytes[skip..]);
                count += 1;
            }
            match conn.stream.write_vectored(&slices[..count]) {
                Ok(0) => return self.drop_conn(id, "connection closed while writing".into(), out),
                Ok(mut n) => {
                    conn.queued -= n;
                    while n > 0 {
                        let front = conn.outbox[0].len() - conn.offset;
                        if n < front {
                            conn.offset += n;
                            break;
                        }
                        n -= front;
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
                .reregister(&mut conn.stream, id.token(), interest);
        }
    }

    pub(super) fn read(&mut self, id: ConnId, out: &mut Vec<NetEvent>) {
        let mut frames = Vec::new();
        let mut turn = 0;
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            if conn.connecting || !conn.reading || conn.paused || conn.closing {
                break;
            }
            if turn >= READ_TURN {
                self.unread.push(id);
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
                    if conn.ungreeted.is_some() {
                        let why = format!("{reason} before authenticating");
                        return self.reject(id, why, out);
                    }
                    return self.drop_conn(id, reason.into(), out);
                }
                Ok(n) => {
                    turn += n;
                    if let Err(why) = take_bytes(conn, &self.scratch[..n], &mut frames) {
                        out.extend(frames.drain(..).map(|f| NetEvent::Frame(id, f)));
                        return self.reject(id, why, out);
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
        // (A handshake step may have queued a reply.)
        self.flush(id, out);
    }
}
