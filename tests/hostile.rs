//! Hostile clients against a live worker that holds the cluster's secret: garbage, frames
//! that lie about their length, magic or version, an invalid payload from an authenticated
//! peer, the wrong secret, a replayed handshake, a half-open connection, a flood of idle
//! connections, and a partition for a job that does not exist. Each is turned away and
//! logged, and the worker then runs a legitimate job (`wetmr run`) whose output is that of
//! `wetmr count`.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{keygen, stderr, wetmr, Rng, Worker};
use wetmr::net::auth::{FrameKeys, Handshake, Secret, Signer, AUTH_HELLO, AUTH_PROOF};
use wetmr::net::frame::{frame, header, header_of, Decoder, Frame};
use wetmr::protocol::ids::{Attempt, JobId, Member, PartitionId, TaskId};
use wetmr::protocol::{
    codec::{self, Kind},
    messages::{self, Hello, Role},
};

fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Reads until the worker closes the connection (what it sent before is returned).
fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the worker did not close the connection: {e}"),
        }
    }
}

/// Sends `bytes` on a new connection and waits for the worker to close it.
fn send_and_wait(addr: &str, bytes: &[u8]) {
    let mut stream = connect(addr);
    // (The worker may close before reading everything.)
    let _ = stream.write_all(bytes);
    until_closed(&mut stream);
}

/// Reads one frame (untagged).
fn read_frame(stream: &mut TcpStream, decoder: &mut Decoder) -> Frame {
    let mut byte = [0u8; 1];
    loop {
        let n = stream.read(&mut byte).unwrap();
        assert_eq!(n, 1, "closed during the handshake");
        if let (_, Some(frame)) = decoder.feed_one(&byte).unwrap() {
            return frame;
        }
    }
}

/// Runs the initiator's handshake; returns the signer for its frames and every byte it
/// sent (to replay them).
fn authenticate(stream: &mut TcpStream, secret: &Secret) -> (Signer, Vec<u8>) {
    let (mut handshake, hello) = Handshake::initiate(secret).unwrap();
    stream.write_all(&hello).unwrap();
    let mut sent = hello;
    let mut decoder = Decoder::default();
    loop {
        let frame = read_frame(stream, &mut decoder);
        let step = handshake.on_frame(&frame).expect("the worker's handshake");
        if let Some(reply) = step.reply {
            stream.write_all(&reply).unwrap();
            sent.extend(reply);
        }
        if let Some(FrameKeys { signer, .. }) = step.keys {
            return (signer, sent);
        }
    }
}

/// A frame followed by its tag.
fn tagged(signer: &mut Signer, frame: Vec<u8>) -> Vec<u8> {
    let tag = signer.tag(&frame);
    let mut out = frame;
    out.extend_from_slice(&tag);
    out
}

#[test]
fn hostile_clients_are_turned_away_and_the_worker_still_counts_right() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "cluster.key");
    let secret = Secret::load(&key).unwrap();
    let log_path = dir.path().join("worker.log");
    let worker = Worker::start_logged(2, &["--secret-file", key.to_str().unwrap()], &log_path);
    let addr = worker.addr.clone();

    // Half-open: half a header, then silence (checked at the end, after the time limit).
    let mut half_open = connect(&addr);
    half_open.write_all(&header(1, 10)[..6]).unwrap();
    let half_open_since = Instant::now();

    // Random bytes.
    let mut rng = Rng(7);
    let mut noise: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
    noise[..4].copy_from_slice(b"\x00RND");
    send_and_wait(&addr, &noise);
    // Wrong magic: another protocol.
    send_and_wait(&addr, b"GET / HTTP/1.1\r\nHost: worker\r\n\r\n");
    // A huge length prefix: refused before anything is allocated.
    let mut huge = header(1, 0).to_vec();
    huge[8..].copy_from_slice(&u32::MAX.to_le_bytes());
    send_and_wait(&addr, &huge);
    // Larger than a greeting may be, before authenticating.
    let mut big = header(AUTH_HELLO, 1 << 20).to_vec();
    big.extend(vec![0u8; 1 << 16]);
    send_and_wait(&addr, &big);
    // Wrong version.
    let mut old = header_of(2, AUTH_HELLO, 32).to_vec();
    old.extend([7u8; 32]);
    send_and_wait(&addr, &old);
    // The wrong secret: a coordinator holding another key (it sees the worker's proof
    // fail and leaves), and a client that sends a proof it could not compute.
    let wrong = keygen(dir.path(), "wrong.key");
    let machines = dir.path().join("machines.txt");
    std::fs::write(&machines, format!("{addr}\n")).unwrap();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample.warc.wet.gz");
    let run = |key: &Path| {
        let (m, k) = (machines.to_str().unwrap(), key.to_str().unwrap());
        wetmr(&["run", "--machines", m, "--secret-file", k, sample], &[])
    };
    let refused = run(&wrong);
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    let mut stream = connect(&addr);
    let (_, hello) = Handshake::initiate(&Secret::generate().unwrap()).unwrap();
    stream.write_all(&hello).unwrap();
    read_frame(&mut stream, &mut Decoder::default());
    stream.write_all(&frame(AUTH_PROOF, &[0x5a; 32])).unwrap();
    until_closed(&mut stream);

    // An authenticated peer: a replayed handshake, then invalid payloads.
    let mut stream = connect(&addr);
    let (mut signer, recorded) = authenticate(&mut stream, &secret);
    send_and_wait(&addr, &recorded);
    // A valid frame whose payload is not a valid archive.
    let garbage = tagged(&mut signer, frame(Kind::Hello as u16, &[0xff; 40]));
    stream.write_all(&garbage).unwrap();
    until_closed(&mut stream);
    // A partition for a job that does not exist.
    let mut stream = connect(&addr);
    let (mut signer, _) = authenticate(&mut stream, &secret);
    let hello = Hello {
        role: Role::Coordinator,
        job: JobId(0),
        worker: Member(0),
    };
    let partition = messages::Partition {
        job: JobId(0x3039),
        task: TaskId(0),
        attempt: Attempt(1),
        partition: PartitionId(0),
        words: Default::default(),
    };
    for m in [
        codec::encode(&hello).unwrap(),
        codec::encode(&partition).unwrap(),
    ] {
        let bytes = tagged(&mut signer, m);
        stream.write_all(&bytes).unwrap();
    }
    until_closed(&mut stream);
    // An altered frame: its tag no longer matches.
    let mut stream = connect(&addr);
    let (mut signer, _) = authenticate(&mut stream, &secret);
    let mut altered = tagged(&mut signer, codec::encode(&hello).unwrap());
    altered[14] ^= 1;
    stream.write_all(&altered).unwrap();
    until_closed(&mut stream);

    // The half-open connection is closed after the time limit for authenticating.
    until_closed(&mut half_open);
    assert!(half_open_since.elapsed() >= Duration::from_secs(4));
    half_open.shutdown(Shutdown::Both).ok();

    // 1,000 idle connections at once (the test may need more descriptors than its default).
    wetmr::commands::worker::raise_open_files_limit();
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();

    // A legitimate job, while the idle connections are still open.
    let good = run(&key);
    assert_eq!(good.status.code(), Some(0), "{}", stderr(&good));
    assert!(good.stdout.len() > 1000);
    let count = wetmr(&["count", sample], &[]);
    assert!(good.stdout == count.stdout, "output differs from count");
    drop(idle);

    let (code, _) = worker.stop();
    assert_eq!(code, Some(0), "the worker did not stop cleanly");
    let log = std::fs::read_to_string(&log_path).unwrap();
    for (what, line) in [
        (
            "random bytes",
            "not a wetmr peer (bad magic [00, 52, 4e, 44])",
        ),
        (
            "wrong magic",
            "not a wetmr peer (bad magic [47, 45, 54, 20])",
        ),
        ("huge length", "frame of 4294967295 bytes is over the limit"),
        (
            "big greeting",
            "frame of 1048576 bytes is over the limit of 4096 bytes",
        ),
        ("wrong version", "protocol version 2"),
        ("wrong secret", "closed by the peer before authenticating"),
        ("forged proof", "authentication failed"),
        (
            "invalid payload",
            "refused (Protocol): invalid Hello message",
        ),
        (
            "unknown job",
            "refused (UnknownJob): partition for job 0000000000003039",
        ),
        ("altered frame", "tag"),
        ("half-open", "nothing authenticated within 5 s"),
        ("idle flood", "connections not yet authenticated"),
    ] {
        assert!(log.contains(line), "{what}: no {line:?} in the log:\n{log}");
    }
    assert_no_panic(&log, "the worker's log");
}

fn assert_no_panic(text: &str, whose: &str) {
    assert!(!text.contains("panicked"), "{whose}: {text}");
}

/// A "worker" that answers the coordinator with `reply`, on a loopback port.
fn fake_worker(reply: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        // The coordinator may try again: answer every connection the same way.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut buf = [0u8; 64];
            let _ = stream.read(&mut buf);
            if stream.write_all(&reply).is_err() {
                continue;
            }
            // Until the coordinator hangs up (closing with its bytes unread would reset
            // the connection, and the reply could be lost with it).
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
        }
    });
    (addr, handle)
}

#[test]
fn a_coordinator_turns_away_workers_that_speak_garbage() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample.warc.wet.gz");
    let mut huge = header(Kind::Welcome as u16, 0).to_vec();
    huge[8..].copy_from_slice(&u32::MAX.to_le_bytes());
    for (what, reply, expect) in [
        (
            "wrong magic",
            b"SSH-2.0-OpenSSH_9.2\r\n".to_vec(),
            "bad magic",
        ),
        ("huge length", huge, "over the limit"),
        (
            "invalid payload",
            frame(Kind::Welcome as u16, &[0xee; 3]),
            "invalid Welcome message",
        ),
        (
            "implausible figures",
            frame(Kind::Welcome as u16, &[0xee; 8]),
            "implausible Welcome (4008636142 threads",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (addr, fake) = fake_worker(reply);
        let machines = dir.path().join("machines.txt");
        std::fs::write(&machines, format!("{addr}\n")).unwrap();
        let m = machines.to_str().unwrap();
        let out = wetmr(&["run", "--machines", m, sample], &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(4), "{what}: {err}");
        assert!(out.stdout.is_empty(), "{what}");
        assert!(err.contains(&addr), "{what}: the peer is not named: {err}");
        assert!(err.contains(expect), "{what}: no {expect:?} in {err}");
        assert_no_panic(&err, what);
        drop(fake);
    }
}
