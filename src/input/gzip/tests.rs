use super::*;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;

fn gz(parts: &[&[u8]]) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::new();
    let mut starts = Vec::new();
    for part in parts {
        starts.push(out.len());
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(part).unwrap();
        out.extend(enc.finish().unwrap());
    }
    (out, starts)
}

fn decode_all(data: &[u8], cap: usize) -> Result<(Vec<u8>, usize), GzError> {
    let mut reader = MemberReader::new(data, 0);
    let mut out = Vec::with_capacity(cap);
    let mut members = 0;
    loop {
        if out.len() == out.capacity() {
            out.reserve(cap);
        }
        match reader.fill(&mut out)? {
            Fill::Data => {}
            Fill::MemberEnd => members += 1,
            Fill::Eof => return Ok((out, members)),
        }
    }
}

#[test]
fn every_member_is_decoded_with_tiny_buffers() {
    let (data, _) = gz(&[b"hello ", b"", b"world", &[b'x'; 10_000]]);
    let (out, members) = decode_all(&data, 7).unwrap();
    assert_eq!(members, 4);
    assert_eq!(&out[..11], b"hello world");
    assert_eq!(out.len(), 11 + 10_000);
}

#[test]
fn truncation_names_the_last_member() {
    let (data, starts) = gz(&[b"one", b"two two two two"]);
    let err = decode_all(&data[..data.len() - 5], 64).unwrap_err();
    assert_eq!(err.member, starts[1] as u64);
    assert_eq!(err.kind, GzErrorKind::Truncated);
    let err = decode_all(&data[..starts[1] + 4], 64).unwrap_err();
    assert_eq!(err.kind, GzErrorKind::Truncated);
}

#[test]
fn checksum_mismatch_is_reported() {
    let (mut data, _) = gz(&[b"some text to check"]);
    let n = data.len();
    data[n - 6] ^= 0xff; // inside the CRC-32
    let err = decode_all(&data, 64).unwrap_err();
    assert_eq!(err.kind, GzErrorKind::Checksum);
}

#[test]
fn garbage_after_members_is_a_bad_header() {
    let (mut data, _) = gz(&[b"abc"]);
    let end = data.len();
    data.extend_from_slice(b"not gzip at all");
    let err = decode_all(&data, 64).unwrap_err();
    assert_eq!(err.member, end as u64);
    assert!(matches!(err.kind, GzErrorKind::BadHeader(_)));
}

#[test]
fn another_compression_method_is_named_as_such() {
    let (mut data, _) = gz(&[b"abc"]);
    data[2] = 9;
    assert_eq!(
        decode_all(&data, 64).unwrap_err().kind,
        GzErrorKind::BadHeader("its compression method is not deflate")
    );
    data[1] = 0;
    assert_eq!(
        decode_all(&data, 64).unwrap_err().kind,
        GzErrorKind::BadHeader("no gzip magic number")
    );
}

#[test]
fn zero_padding_is_ignored() {
    let (mut data, _) = gz(&[b"abc"]);
    data.extend_from_slice(&[0; 100]);
    assert_eq!(decode_all(&data, 64).unwrap().0, b"abc");
}

#[test]
fn header_with_name_and_extra_fields() {
    let mut enc = flate2::GzBuilder::new()
        .filename("x.warc")
        .comment("c")
        .extra(vec![1, 2, 3])
        .write(Vec::new(), Compression::default());
    enc.write_all(b"payload").unwrap();
    let data = enc.finish().unwrap();
    assert_eq!(decode_all(&data, 64).unwrap().0, b"payload");
    let mut out = Vec::new();
    assert_eq!(
        decode_member(&data, 0, &mut out, 100).unwrap(),
        Some(data.len())
    );
    assert_eq!(decode_member(&data, 0, &mut out, 3).unwrap(), None);
}

#[test]
fn a_header_crc_is_checked_when_present() {
    let mut member = vec![0x1f, 0x8b, 8, FHCRC | FNAME, 0, 0, 0, 0, 0, 0xff];
    member.extend_from_slice(b"name\0");
    let crc16 = crc32fast::hash(&member) as u16;
    member.extend_from_slice(&crc16.to_le_bytes());
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
    deflate.write_all(b"payload").unwrap();
    member.extend(deflate.finish().unwrap());
    member.extend_from_slice(&crc32fast::hash(b"payload").to_le_bytes());
    member.extend_from_slice(&7u32.to_le_bytes());
    assert_eq!(decode_all(&member, 64).unwrap().0, b"payload");
    member[15] ^= 1;
    let err = decode_member(&member, 0, &mut Vec::new(), 100).unwrap_err();
    assert_eq!(
        err.kind,
        GzErrorKind::BadHeader("header CRC-16 does not match")
    );
}

#[test]
fn candidates_find_member_starts() {
    let (data, starts) = gz(&[b"a", b"b", b"c"]);
    assert_eq!(next_header_candidate(&data, 1), Some(starts[1]));
}
