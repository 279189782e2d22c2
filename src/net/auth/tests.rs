use super::*;
use crate::net::frame::{Decoder, FrameError};

fn parse(bytes: &[u8]) -> Frame {
    let mut out = Vec::new();
    Decoder::default().feed(bytes, &mut out).unwrap();
    out.pop().unwrap()
}

/// Runs a handshake between two secrets; returns both sides' keys or the error.
fn shake(a: &Secret, b: &Secret) -> Result<(FrameKeys, FrameKeys), AuthError> {
    let (mut init, hello) = Handshake::initiate(a)?;
    let mut resp = Handshake::respond(b);
    let challenge = resp.on_frame(&parse(&hello))?.reply.unwrap();
    let step = init.on_frame(&parse(&challenge))?;
    let proof = step.reply.unwrap();
    let done = resp.on_frame(&parse(&proof))?;
    Ok((step.keys.unwrap(), done.keys.unwrap()))
}

#[test]
fn the_same_secret_authenticates_both_ways_and_tags_every_frame() {
    let secret = Secret::generate().unwrap();
    let (mut i, mut r) = shake(&secret, &secret).unwrap();
    for (kind, payload) in [(5u16, &b"task"[..]), (8, &[7u8; 3000][..]), (20, &b""[..])] {
        let bytes = frame::frame(kind, payload);
        let tag = i.signer.tag(&bytes);
        r.verifier.verify(&parse(&bytes), &tag).unwrap();
        let tag = r.signer.tag(&bytes);
        i.verifier.verify(&parse(&bytes), &tag).unwrap();
    }
}

#[test]
fn a_wrong_secret_fails_on_either_side() {
    let (a, b) = (Secret::generate().unwrap(), Secret::generate().unwrap());
    assert!(matches!(shake(&a, &b), Err(AuthError::Failed(_))));
    // The responder with the wrong secret is caught by the initiator, before it proves
    // anything; an initiator with the wrong secret fails at the responder.
    let (mut init, hello) = Handshake::initiate(&a).unwrap();
    let challenge = Handshake::respond(&b)
        .on_frame(&parse(&hello))
        .unwrap()
        .reply
        .unwrap();
    assert!(init.on_frame(&parse(&challenge)).is_err());
}

#[test]
fn a_replayed_handshake_fails() {
    let secret = Secret::generate().unwrap();
    // Record a good handshake's initiator frames…
    let (mut init, hello) = Handshake::initiate(&secret).unwrap();
    let mut resp = Handshake::respond(&secret);
    let challenge = resp.on_frame(&parse(&hello)).unwrap().reply.unwrap();
    let proof = init.on_frame(&parse(&challenge)).unwrap().reply.unwrap();
    resp.on_frame(&parse(&proof)).unwrap();
    // …and play them to a new responder: its fresh nonce makes the old proof worthless.
    let mut victim = Handshake::respond(&secret);
    victim.on_frame(&parse(&hello)).unwrap();
    assert!(victim.on_frame(&parse(&proof)).is_err());
}

#[test]
fn altered_dropped_or_repeated_frames_fail_their_tag() {
    let secret = Secret::generate().unwrap();
    let (mut i, r) = shake(&secret, &secret).unwrap();
    let mut r = r.verifier;
    let one = frame::frame(5, b"first");
    let two = frame::frame(5, b"second");
    let (t1, t2) = (i.signer.tag(&one), i.signer.tag(&two));
    // Dropped (or reordered): the second frame arrives where the first was due.
    assert_eq!(r.clone().verify(&parse(&two), &t2), Err(AuthError::BadTag));
    // Altered.
    let mut bad = one.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(r.clone().verify(&parse(&bad), &t1), Err(AuthError::BadTag));
    // In order: fine; then the first again (a replay): refused.
    r.verify(&parse(&one), &t1).unwrap();
    r.verify(&parse(&two), &t2).unwrap();
    assert_eq!(r.verify(&parse(&one), &t1), Err(AuthError::BadTag));
    // Through a decoder, tags are expected and checked after every frame.
    let (mut i, r) = shake(&secret, &secret).unwrap();
    let mut stream = Vec::new();
    for payload in [&b"a"[..], b"bb", b""] {
        let bytes = frame::frame(9, payload);
        stream.extend(&bytes);
        stream.extend(i.signer.tag(&bytes));
    }
    for piece in [1, 7, 33, stream.len()] {
        let mut d = Decoder::default();
        d.seal(Box::new(r.verifier.clone()));
        let mut out = Vec::new();
        for chunk in stream.chunks(piece) {
            d.feed(chunk, &mut out).unwrap();
        }
        assert_eq!(out.len(), 3, "pieces of {piece}");
        assert!(d.is_idle());
    }
    let mut d = Decoder::default();
    d.seal(Box::new(r.verifier));
    let last = stream.len() - 1;
    stream[last] ^= 1;
    let err = d.feed(&stream, &mut Vec::new()).unwrap_err();
    assert_eq!(err, FrameError::Seal(AuthError::BadTag.to_string()));
}

#[test]
fn key_files_are_hex_and_private() {
    let secret = Secret::generate().unwrap();
    let back = Secret::from_hex(&secret.to_hex()).unwrap();
    assert_eq!(back.0, secret.0);
    assert!(Secret::from_hex("abc").is_err());
    assert!(Secret::from_hex(&"zz".repeat(SECRET)).is_err());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.key");
    std::fs::write(&path, secret.to_hex()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Secret::load(&path).unwrap_err();
    assert!(err.contains("0644") && err.contains("too open"), "{err}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(Secret::load(&path).unwrap().0, secret.0);
    assert!(format!("{secret:?}").find(&secret.to_hex()[..8]).is_none());
}

#[test]
fn same_bytes_compares_whole_strings() {
    assert!(same_bytes(b"abc", b"abc"));
    assert!(!same_bytes(b"abc", b"abd"));
    assert!(!same_bytes(b"ab", b"abc"));
    assert!(!same_bytes(b"", b"a"));
}
