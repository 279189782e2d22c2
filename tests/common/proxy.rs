//! A TCP proxy on loopback, put in front of one worker to fault its network: it forwards
//! every connection made to it (from the coordinator and from other workers), and on demand
//! cuts them all at once, or stalls them (stops moving their bytes) for a while.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[derive(Default)]
struct Shared {
    stalled: AtomicBool,
    stopped: AtomicBool,
    /// Both ends of every connection forwarded so far.
    sockets: Mutex<Vec<TcpStream>>,
}

pub struct Proxy {
    /// Where to connect instead of the worker.
    pub addr: String,
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy to the worker listening on `target`.
    pub fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared::default());
        let (target, state) = (target.to_string(), shared.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if state.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut sockets = state.sockets.lock().unwrap();
                for s in [&client, &server] {
                    sockets.push(s.try_clone().unwrap());
                }
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (from, to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
                    let state = state.clone();
                    thread::spawn(move || pump(from, to, &state));
                }
            }
        });
        Proxy { addr, shared }
    }

    /// Closes every connection forwarded so far, both ways; new ones are forwarded.
    pub fn cut(&self) {
        for s in self.shared.sockets.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Stops (or starts again) moving bytes on every connection, new ones included.
    pub fn stall(&self, stalled: bool) {
        self.shared.stalled.store(stalled, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.stall(false);
        self.cut();
        // Wakes the accepting thread so that it sees the stop.
        let _ = TcpStream::connect(&self.addr);
    }
}

/// Copies `from` to `to` until either end closes, holding the bytes while stalled; then
/// closes both.
fn pump(mut from: TcpStream, mut to: TcpStream, state: &Shared) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = vec![0; 64 << 10];
    loop {
        while state.stalled.load(Ordering::SeqCst) && !state.stopped.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(5));
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
