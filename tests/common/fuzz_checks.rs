//! What the fuzzers check (tools/fuzz), shared with their regression tests on stable
//! (tests/fuzz.rs): each check takes any bytes, and panics only on a bug in wetmr.
//!
//! - [`warc`]: the WARC reader never reads out of bounds, always makes progress, and gives
//!   the same record whether the bytes come whole or as a growing window.
//! - [`gzip`]: a member the gzip reader accepts decodes to what `flate2` (another inflater)
//!   makes of it, and a compressed bomb stops at the output limit.
//! - [`tokenize`]: the three tokenizers give the words of their `regex` references.
//! - [`frames`]: cut in any pieces, frames decode the same; no frame makes a worker (with a
//!   running job) panic, nor a handshake succeed without the secret.

use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::reference;
use wetmr::input::gzip::{decode_member, MemberReader};
use wetmr::net::auth::{Handshake, Secret};
use wetmr::net::frame::{Decoder, Frame};
use wetmr::protocol::ids::{JobId, Member};
use wetmr::protocol::worker::{Action, Completion, ConnId, Worker};
use wetmr::protocol::{
    codec,
    messages::{Hello, JobSpec, PartitionHash, Role},
};
use wetmr::tokenize::{Tokenizer, TokenizerKind};
use wetmr::warc::{find_record_start, next_record, only_line_breaks, After, Next};

/// Reads every record of `data` as the engine does (resynchronizing after damage).
pub fn warc(data: &[u8]) {
    let mut pos = 0;
    while pos <= data.len() {
        let buf = &data[pos..];
        match next_record(buf, After::End) {
            Ok(Next::End) => {
                assert!(only_line_breaks(buf), "End before the end at {pos}");
                return;
            }
            Ok(Next::Incomplete { .. }) => panic!("Incomplete at {pos} with nothing to come"),
            Ok(Next::Record(r)) => {
                assert!(r.len > 0 && r.len <= buf.len(), "record length at {pos}");
                let body_end = r.body_start + r.body.len();
                assert!(body_end <= r.len, "body beyond the record at {pos}");
                assert_eq!(&buf[r.body_start..body_end], r.body);
                // The same bytes as a window that may grow: the same record, or a request
                // for more, never another answer.
                for cut in [r.len, r.len + (buf.len() - r.len) / 2, buf.len()] {
                    match next_record(&buf[..cut], After::More) {
                        Ok(Next::Record(s)) => assert_eq!(s, r, "window of {cut} at {pos}"),
                        Ok(Next::Incomplete { .. }) => {}
                        other => panic!("window of {cut} at {pos}: {other:?}, whole: {r:?}"),
                    }
                }
                pos += r.len;
            }
            Err(e) => {
                assert!(
                    e.at <= buf.len() && e.resume_from <= buf.len(),
                    "{e:?} at {pos}"
                );
                match find_record_start(buf, e.resume_from) {
                    Some(next) => {
                        assert!(next > 0, "no progress at {pos}");
                        pos += next;
                    }
                    None => return,
                }
            }
        }
    }
}

/// Decoded output kept per member, at most: a bomb stops here.
const GZIP_LIMIT: usize = 1 << 20;

/// Decodes the gzip member at the start of `data`, then reads all of `data` member by
/// member as the engine does.
pub fn gzip(data: &[u8]) {
    let mut out = Vec::new();
    match decode_member(data, 0, &mut out, GZIP_LIMIT) {
        Ok(Some(end)) => {
            assert!(end <= data.len());
            let mut theirs = Vec::new();
            flate2::read::GzDecoder::new(&data[..end])
                .read_to_end(&mut theirs)
                .expect("flate2 decodes a member wetmr accepted");
            assert!(
                out == theirs,
                "wetmr and flate2 decode the member differently"
            );
        }
        Ok(None) => assert!(out.len() > GZIP_LIMIT),
        Err(e) => assert_eq!(e.member, 0),
    }
    let mut reader = MemberReader::new(data, 0);
    let mut out = Vec::new();
    let mut last = 0;
    for _ in 0..data.len() + 2 {
        if out.len() > GZIP_LIMIT {
            out.clear();
        }
        out.reserve(64 << 10);
        match reader.fill(&mut out) {
            Ok(wetmr::input::gzip::Fill::Eof) | Err(_) => return,
            Ok(_) => {
                assert!(reader.pos() >= last && reader.pos() <= data.len());
                last = reader.pos();
            }
        }
    }
}

/// The three tokenizers against their references.
pub fn tokenize(text: &[u8]) {
    for (kind, name) in [
        (TokenizerKind::Word, "word"),
        (TokenizerKind::CcPyspark, "cc-pyspark"),
        (TokenizerKind::Uax29, "uax29"),
    ] {
        let mut fast = Vec::new();
        let mut scratch = b"dirty".to_vec();
        Tokenizer::new(kind).for_each_word(text, &mut scratch, |w| {
            fast.push(String::from_utf8(w.to_vec()).expect("words are UTF-8"));
        });
        assert_eq!(fast, reference::words(name, text), "{name} on {text:?}");
    }
}

/// The job the worker of [`frames`] runs: worker 0 of two, four partitions, three tasks.
pub fn job() -> JobSpec {
    JobSpec {
        job: JobId(7),
        count: wetmr::engine::Job {
            tokenizer: TokenizerKind::Word,
            content_type: None,
            policy: wetmr::engine::Policy::Strict,
            split_bytes: None,
            spill_at: 1 << 20,
        },
        hash: PartitionHash::Xxh3Seed0Mod,
        partitions: 4,
        workers: vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()],
        you: Member(0),
        owners: vec![Member(0), Member(1), Member(0), Member(1)],
        epoch: 0,
        buddy: Some(Member(1)),
        heartbeat_ms: 100,
        tasks: 3,
        downloads: wetmr::protocol::messages::DownloadSpec::new(&wetmr::remote::Settings::default()),
        served: None,
    }
}

/// The opening of [`frames`]'s sessions: the coordinator's Hello and Job on connection 1.
pub fn opening() -> Vec<Vec<u8>> {
    let hello = |role, worker| Hello {
        role,
        job: JobId(7),
        worker,
    };
    vec![
        codec::encode(&hello(Role::Coordinator, Member(0))).unwrap(),
        codec::encode(&job()).unwrap(),
        codec::encode(&hello(Role::Peer, Member(1))).unwrap(),
    ]
}

/// `data`: a byte saying how to cut, then a stream of frames. The stream is decoded whole
/// and in pieces (the same frames), then fed to a worker that runs [`job`] (the first
/// byte's low bit says on which connection: the coordinator's or a peer's), and to a
/// handshake responder, which must never succeed.
pub fn frames(data: &[u8]) {
    let Some((&how, stream)) = data.split_first() else {
        return;
    };
    let whole = decode(stream, stream.len().max(1));
    let cut = decode(stream, usize::from(how >> 1) + 1);
    assert_eq!(whole.len(), cut.len());
    for (a, b) in whole.iter().zip(&cut) {
        assert_eq!(
            (a.version, a.kind, &a.payload[..]),
            (b.version, b.kind, &b.payload[..])
        );
    }

    let mut worker = Worker::new(1, 1);
    let now = Instant::now();
    let mut tables: wetmr::cluster::tasks::Tables = Vec::new();
    let (coordinator, peer) = (ConnId(1), ConnId(2));
    for (i, bytes) in opening().into_iter().enumerate() {
        let conn = if i < 2 { coordinator } else { peer };
        for frame in decode(&bytes, bytes.len()) {
            worker.frame(conn, frame, now);
        }
    }
    let conn = if how & 1 == 0 { coordinator } else { peer };
    for (i, frame) in whole.into_iter().enumerate() {
        let now = now + Duration::from_millis(i as u64);
        worker.frame(conn, frame, now);
        worker.tick(now);
        while let Some(action) = worker.poll_action() {
            match action {
                Action::Prepare { partitions, .. } => {
                    tables = (0..partitions).map(|_| Mutex::default()).collect();
                }
                Action::Merge(order) => {
                    let result = wetmr::cluster::tasks::merge(&tables, &order);
                    let done = Completion::Merged {
                        job: JobId(7),
                        from: order.from,
                        head: order.head,
                        result,
                    };
                    worker.complete(done, now);
                }
                _ => {}
            }
        }
    }

    let secret = Secret::from_hex(&"ab".repeat(32)).unwrap();
    let mut responder = Handshake::respond(&secret);
    for frame in &cut {
        match responder.on_frame(frame) {
            Ok(step) => assert!(
                step.keys.is_none(),
                "a handshake succeeded without the secret"
            ),
            Err(_) => break,
        }
    }
}

fn decode(stream: &[u8], piece: usize) -> Vec<Frame> {
    let mut decoder = Decoder::default();
    let mut out = Vec::new();
    for chunk in stream.chunks(piece) {
        if decoder.feed(chunk, &mut out).is_err() {
            break;
        }
    }
    out
}
