use super::*;
use crate::engine::{Counters, FileResult, Policy, Skipped};
use crate::error::Offset;
use crate::input::Format;
use crate::net::frame::Decoder;
use crate::protocol::ids::Member;
use crate::tokenize::TokenizerKind;

fn roundtrip(bytes: &[u8]) -> Result<Message, ProtocolError> {
    let mut frames = Vec::new();
    Decoder::default().feed(bytes, &mut frames).unwrap();
    assert_eq!(frames.len(), 1);
    decode(frames.pop().unwrap())
}

fn words() -> WordBlock {
    let mut words = WordBlock::default();
    words.push(b"abc", 5, 2);
    words.push("день".as_bytes(), 1, 1);
    words
}

fn summary() -> FileResult {
    FileResult {
        path: std::path::PathBuf::new(),
        format: Some(Format::Gzip),
        bytes_in: 1 << 33,
        chunks: 3,
        false_splits: 1,
        counters: Counters {
            records: 10,
            conversion_records: 9,
            tokens: 1234,
            warc_bytes: 99_999,
            skipped_bytes: 7,
        },
        skipped: vec![Skipped {
            at: Offset::Gzip {
                member: 100,
                decompressed: Some(2000),
            },
            what: "bad CRC".into(),
            bytes: 7,
        }],
        languages: vec![crate::engine::LanguageShare {
            language: "eng".into(),
            records: 9,
            tokens: 1234,
        }],
        download: Some(crate::remote::DownloadStats {
            attempts: 2,
            resumes: 1,
            retries: [("HTTP 503".to_string(), 1)].into_iter().collect(),
            ranges_ignored: 0,
            bytes: 4096,
            backoff_ms: 250,
            ms: 1500,
            cached: false,
        }),
    }
}

fn spec() -> JobSpec {
    JobSpec {
        job: JobId(0x0123_4567_89ab_cdef),
        count: crate::engine::Job {
            tokenizer: TokenizerKind::Uax29,
            content_type: Some("text/plain".into()),
            policy: Policy::Skip,
            split_bytes: Some(1 << 20),
            spill_at: 1 << 16,
        },
        hash: PartitionHash::Xxh3Seed0Mod,
        partitions: 8,
        workers: vec!["127.0.0.1:7001".into(), "[::1]:7002".into()],
        you: Member(1),
        owners: vec![
            Member(0),
            Member(1),
            Member(0),
            Member(1),
            Member(0),
            Member(1),
            Member(0),
            Member(1),
        ],
        epoch: 2,
        buddy: Some(Member(0)),
        heartbeat_ms: 1000,
        tasks: 40,
        downloads: DownloadSpec {
            downloads: 4,
            max_retries: 1000,
            retry_for_ms: 7_200_000,
            retry_wait_ms: 1000,
            read_timeout_ms: 60_000,
            s3_endpoint: Some("http://127.0.0.1:9000".into()),
            s3_region: None,
            cache_dir: Some("/var/cache/wetmr".into()),
        },
        served: Some(ServedInputs {
            port: 8123,
            token: "tok".into(),
        }),
    }
}

/// One message of every kind, with every field set to something other than its default.
fn samples() -> Vec<Vec<u8>> {
    let job = JobId(0x0123_4567_89ab_cdef);
    let ack = PartitionAck {
        job,
        task: TaskId(3),
        attempt: Attempt(1),
        partition: PartitionId(5),
    };
    let partition = Partition {
        job,
        task: TaskId(3),
        attempt: Attempt(1),
        partition: PartitionId(5),
        words: words(),
    };
    let partition_frame = encode(&partition).unwrap();
    vec![
        encode(&Hello {
            role: Role::Peer,
            job,
            worker: Member(2),
        }),
        encode(&Welcome {
            threads: 8,
            slots: 2,
        }),
        encode(&spec()),
        Ok(encode_job_ref(Kind::JobReady, job)),
        encode(&Task {
            job,
            task: TaskId(3),
            attempt: Attempt(1),
            path: b"/data/CC-MAIN-x.warc.wet.gz".to_vec(),
        }),
        encode(&TaskDone {
            job,
            task: TaskId(3),
            attempt: Attempt(1),
            file: summary(),
            shuffle_bytes: 11,
            kept_bytes: 12,
            map_micros: 13,
            shuffle_micros: 14,
            epoch: 2,
            copied_to: Some(Member(0)),
            copied_bytes: 15,
        }),
        encode(&TaskFailed {
            job,
            task: TaskId(3),
            attempt: Attempt(1),
            failure: Failure::Stalled,
            message: "no progress".into(),
        }),
        Ok(partition_frame.clone()),
        encode(&ack),
        encode(&Reduce {
            job,
            partitions: vec![PartitionId(1), PartitionId(5)],
            min_count: 2,
            top: Some(100),
        }),
        encode(&Ranked {
            job,
            partition: PartitionId(5),
            last: true,
            spectrum: vec![(9, 2), (1, 75)],
            words: words(),
        }),
        encode(&ReduceDone {
            job,
            figures: WorkerFigures {
                shuffle_bytes_received: 1,
                duplicates_ignored: 2,
                reduce_micros: 3,
                kept_bytes_spilled: 4,
                refused: 5,
            },
        }),
        Ok(encode_job_ref(Kind::JobEnd, job)),
        encode(&Refused {
            reason: RefuseReason::Leaving,
            detail: "spill file failed".into(),
        }),
        encode(&Reassign {
            job,
            epoch: 3,
            owners: vec![Member(1), Member(1), Member(0)],
            workers: vec!["127.0.0.1:7001".into()],
            moved: vec![PartitionId(0)],
            resend: vec![TaskId(4), TaskId(9)],
            buddy: Some(Member(1)),
        }),
        encode(&Resent {
            job,
            task: TaskId(3),
            epoch: 3,
            bytes: 999,
            lacking: vec![PartitionId(2)],
        }),
        encode(&Resend {
            job,
            task: TaskId(3),
            partitions: vec![PartitionId(0), PartitionId(2)],
        }),
        encode(&Adopt {
            job,
            epoch: 3,
            owners: vec![Member(1), Member(1), Member(0)],
            workers: vec!["127.0.0.1:7001".into()],
        }),
        encode(&Adopted { job, epoch: 3 }),
        encode(&Heartbeat {
            job,
            maps: vec![MapReading {
                task: TaskId(3),
                attempt: Attempt(2),
                bytes: 123_456,
            }],
        }),
        encode(&Cancel {
            job,
            task: TaskId(3),
            attempt: Attempt(2),
        }),
        Ok(reframe(&partition_frame, Kind::Copy).to_vec()),
        encode(&Kept {
            head: ack,
            keeper: Member(1),
        }),
        encode(&Mapped {
            job,
            task: TaskId(3),
            attempt: Attempt(1),
        }),
    ]
    .into_iter()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn every_kind_round_trips_to_the_same_bytes() {
    let samples = samples();
    let mut kinds = Vec::new();
    for bytes in &samples {
        let message = roundtrip(bytes).unwrap();
        kinds.push(message.kind());
        assert_eq!(&message.to_frame().unwrap(), bytes, "{message:?}");
        assert_eq!(
            u16::from_le_bytes([bytes[6], bytes[7]]),
            message.kind() as u16
        );
    }
    assert_eq!(kinds, Kind::ALL, "a sample of every kind, in number order");
    for &kind in Kind::ALL {
        assert_eq!(Kind::from_u16(kind as u16), Some(kind));
        assert!(!kind.name().is_empty());
    }
}

#[test]
fn decoded_fields_are_the_encoded_ones() {
    let task = Task {
        job: JobId(7),
        task: TaskId(3),
        attempt: Attempt(1),
        path: path_to_bytes(std::path::Path::new("/data/x.warc.wet.gz")),
    };
    match roundtrip(&encode(&task).unwrap()).unwrap() {
        Message::Task(t) => assert_eq!(t, task),
        m => panic!("{m:?}"),
    }
    match roundtrip(&encode(&spec()).unwrap()).unwrap() {
        Message::Job(s) => assert_eq!(s, spec()),
        m => panic!("{m:?}"),
    }
    let part = Partition {
        job: JobId(7),
        task: TaskId(3),
        attempt: Attempt(1),
        partition: PartitionId(9),
        words: words(),
    };
    let partition = encode(&part).unwrap();
    for (bytes, kind) in [
        (partition.clone(), Kind::Partition),
        (reframe(&partition, Kind::Copy).to_vec(), Kind::Copy),
    ] {
        let (Message::Partition(bulk) | Message::Copy(bulk)) = roundtrip(&bytes).unwrap() else {
            panic!("not a partition");
        };
        assert_eq!(bulk.head.partition, PartitionId(9));
        assert_eq!(bulk.payload[..], payload_of(&partition)[..]);
        assert_eq!(frame_of(kind, &bulk.payload)[..], bytes[..]);
        let view = bulk_words(kind, &bulk.payload).unwrap();
        let got: Vec<_> = view.entries().map(|w| (w.word, w.tf, w.df)).collect();
        assert_eq!(got, [(&b"abc"[..], 5, 2), ("день".as_bytes(), 1, 1)]);
    }
}

#[test]
fn bad_payloads_and_versions_are_errors() {
    // A Task header over a payload of junk.
    let mut bytes = frame::header(Kind::Task as u16, 16).to_vec();
    bytes.extend([0xff; 16]);
    assert!(matches!(
        roundtrip(&bytes),
        Err(ProtocolError::Invalid { .. })
    ));
    let mut bytes = frame::header(99, 0).to_vec();
    assert_eq!(
        roundtrip(&bytes).unwrap_err(),
        ProtocolError::UnknownKind(99)
    );
    let hello = Hello {
        role: Role::Peer,
        job: JobId(1),
        worker: Member(0),
    };
    bytes = encode(&hello).unwrap();
    let other = crate::net::frame::PROTOCOL_VERSION + 1;
    bytes[4..6].copy_from_slice(&other.to_le_bytes());
    assert_eq!(
        roundtrip(&bytes).unwrap_err(),
        ProtocolError::Version { theirs: other }
    );
}

#[test]
fn a_ranked_piece_carries_a_canonical_spectrum_on_its_last_piece_only() {
    let ranked = |last: bool, spectrum: Vec<(u64, u64)>| {
        encode(&Ranked {
            job: JobId(1),
            partition: PartitionId(2),
            last,
            spectrum,
            words: words(),
        })
        .unwrap()
    };
    match roundtrip(&ranked(true, vec![(9, 2), (1, 75)])).unwrap() {
        Message::Ranked(bulk) => assert_eq!(bulk.head.spectrum.pairs(), [(9, 2), (1, 75)]),
        m => panic!("{m:?}"),
    }
    for (last, spectrum) in [
        (false, vec![(1, 1)]),
        (true, vec![(1, 1), (9, 2)]),
        (true, vec![(3, 0)]),
        (true, vec![(2, u64::MAX), (1, 1)]),
    ] {
        let err = roundtrip(&ranked(last, spectrum.clone())).unwrap_err();
        assert!(
            matches!(&err, ProtocolError::Invalid { kind: Kind::Ranked, reason } if reason.contains("spectrum")),
            "{spectrum:?}: {err:?}"
        );
    }
}

/// Where the encodings of [`samples`] under the current [`PROTOCOL_VERSION`] are kept.
const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/protocol/codec/wire.golden"
);

/// The golden file's text for this build: its version, then one line per kind.
fn golden_text() -> String {
    let mut text = format!(
        "# The frames of codec::tests::samples, one per kind. An encoding that changes under\n\
         # the same protocol version fails the test: bump PROTOCOL_VERSION, then run the\n\
         # test with WETMR_BLESS_WIRE=1 to record the new version's frames.\n\
         version {PROTOCOL_VERSION}\n"
    );
    for bytes in samples() {
        let kind = Kind::from_u16(u16::from_le_bytes([bytes[6], bytes[7]])).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        text.push_str(&format!("{} {hex}\n", kind.name()));
    }
    text
}

#[test]
fn an_encoding_changes_only_with_the_protocol_version() {
    let recorded = std::fs::read_to_string(GOLDEN).unwrap_or_default();
    let version = recorded
        .lines()
        .find_map(|l| l.strip_prefix("version "))
        .and_then(|v| v.parse::<u16>().ok());
    let now = golden_text();
    if recorded == now {
        return;
    }
    let bless = std::env::var_os("WETMR_BLESS_WIRE").is_some();
    if version == Some(PROTOCOL_VERSION) {
        let changed: Vec<&str> = now
            .lines()
            .filter(|l| !recorded.lines().any(|r| r == *l))
            .filter_map(|l| l.split(' ').next())
            .collect();
        panic!(
            "the encoding of {changed:?} changed under protocol version {PROTOCOL_VERSION}: \
             bump PROTOCOL_VERSION (net/frame.rs), then run this test with WETMR_BLESS_WIRE=1"
        );
    }
    assert!(
        bless,
        "{GOLDEN} holds version {version:?}, this build speaks {PROTOCOL_VERSION}: run this \
         test with WETMR_BLESS_WIRE=1 to record its frames"
    );
    std::fs::write(GOLDEN, now).unwrap();
}
