//! Cluster authentication: a shared secret, a mutual challenge–response when a connection
//! opens, then a tag on every frame. No I/O here: [`crate::net::conns`] runs it for each
//! connection, before any frame reaches a protocol state machine.
//!
//! The handshake is three frames of the kinds below, with raw payloads; `mac(label, …)` is
//! HMAC-SHA256 keyed with the secret over the label, the protocol version (u16 LE) and the
//! two nonces (32 random bytes each, fresh for every connection):
//!
//! ```text
//! initiator → AUTH_HELLO      nonce_i
//! responder → AUTH_CHALLENGE  nonce_r, mac("wetmr responder", version, nonce_i, nonce_r)
//! initiator → AUTH_PROOF      mac("wetmr initiator", version, nonce_i, nonce_r)
//! ```
//!
//! Each side proves it holds the secret over a nonce the other side just chose, so a
//! recorded handshake replayed later fails, and the secret never crosses the wire. The
//! labels differ, so a responder's answer can never serve as an initiator's proof.
//!
//! Then each direction has its own key, `mac("wetmr key i→r" | "wetmr key r→i", …)`, and
//! every frame is followed by a 32-byte tag: HMAC-SHA256 under that key over a frame
//! counter (u64 LE, from 0 in each direction, never sent) and the frame's bytes (header and
//! payload). A changed, dropped, repeated or reordered frame fails its tag, and the
//! connection closes.

use std::io::{self, Read};
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::frame::{self, Frame, PROTOCOL_VERSION};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of a secret, of a nonce, and of a frame tag.
pub const SECRET: usize = 32;
pub const NONCE: usize = 32;
pub const TAG: usize = 32;

/// Frame kinds of the handshake, apart from the protocol's message kinds.
pub const AUTH_HELLO: u16 = 0xA001;
pub const AUTH_CHALLENGE: u16 = 0xA002;
pub const AUTH_PROOF: u16 = 0xA003;

/// Whether two byte strings are equal, compared in time independent of where they differ
/// (tokens and tags checked against what a peer sent).
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The cluster's shared secret (`wetmr keygen`). Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct Secret([u8; SECRET]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A new random secret, from the operating system's generator.
    pub fn generate() -> io::Result<Secret> {
        random().map(Secret)
    }

    /// The key file's text: the secret in hex, one line.
    pub fn to_hex(&self) -> String {
        let mut text: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        text.push('\n');
        text
    }

    /// A token for `purpose` derived from the secret (HMAC-SHA256, 128 bits in hex): it
    /// proves its holder was given it by someone who has the secret, and cannot be turned
    /// back into the secret or used to join the cluster.
    pub fn token(&self, purpose: &str) -> String {
        let mut mac = keyed(&self.0);
        mac.update(b"wetmr token: ");
        mac.update(purpose.as_bytes());
        let tag = mac.finalize().into_bytes();
        tag[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses a key file's text (64 hex digits, surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Secret, String> {
        let text = text.trim();
        if text.len() != 2 * SECRET || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "not a wetmr key ({} hex digits expected, as `wetmr keygen` writes)",
                2 * SECRET
            ));
        }
        let mut bytes = [0u8; SECRET];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
        }
        Ok(Secret(bytes))
    }

    /// Reads a key file. Like ssh with a private key, refuses a file that others than its
    /// owner may read or write.
    pub fn load(path: &Path) -> Result<Secret, String> {
        use std::os::unix::fs::PermissionsExt;
        let mut file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
        let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "permissions {mode:04o} are too open: the key must be readable by its owner \
                 only (chmod 600)"
            ));
        }
        let mut text = String::new();
        // (A key file is one line: anything much longer is not one.)
        file.by_ref()
            .take(4096)
            .read_to_string(&mut text)
            .map_err(|_| "not a wetmr key (not text)".to_string())?;
        Secret::from_hex(&text)
    }

    /// HMAC-SHA256 under the secret of `label`, the protocol version and the nonces.
    fn mac(&self, label: &[u8], nonce_i: &[u8; NONCE], nonce_r: &[u8; NONCE]) -> [u8; TAG] {
        self.mac_of(label, nonce_i, nonce_r)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Whether `tag` is the [`Secret::mac`] of the same (compared in constant time).
    fn verify(
        &self,
        label: &[u8],
        nonce_i: &[u8; NONCE],
        nonce_r: &[u8; NONCE],
        tag: &[u8],
    ) -> bool {
        self.mac_of(label, nonce_i, nonce_r)
            .verify_slice(tag)
            .is_ok()
    }

    fn mac_of(&self, label: &[u8], nonce_i: &[u8; NONCE], nonce_r: &[u8; NONCE]) -> HmacSha256 {
        let mut mac = keyed(&self.0);
        mac.update(label);
        mac.update(&PROTOCOL_VERSION.to_le_bytes());
        mac.update(nonce_i);
        mac.update(nonce_r);
        mac
    }
}

fn keyed(key: &[u8]) -> HmacSha256 {
    // (HMAC takes a key of any length.)
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

/// Bytes from the operating system's random generator (secrets, nonces, job ids).
pub fn random<const N: usize>() -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(bytes)
}

fn nonce() -> Result<[u8; NONCE], AuthError> {
    random().map_err(|e| AuthError::Random(e.to_string()))
}

/// Why a handshake or a frame failed authentication. The connection cannot go on after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("authentication failed: {0}")]
    Failed(&'static str),
    #[error("authentication failed: the peer speaks protocol version {0}, this build {PROTOCOL_VERSION}")]
    Version(u16),
    #[error(
        "authentication failed: a frame's tag does not match (altered, replayed or out of order)"
    )]
    BadTag,
    #[error("authentication failed: no random numbers: {0}")]
    Random(String),
}

/// One side of a connection's handshake.
#[derive(Debug)]
pub struct Handshake {
    secret: Secret,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Initiator: AUTH_HELLO sent, waiting for the challenge.
    Hello { nonce_i: [u8; NONCE] },
    /// Responder: waiting for AUTH_HELLO.
    Listening,
    /// Responder: challenge sent, waiting for the proof.
    Challenged {
        nonce_i: [u8; NONCE],
        nonce_r: [u8; NONCE],
    },
    /// Over (established or failed): no frame is expected.
    Over,
}

/// What a handshake frame leads to.
#[derive(Debug, Default)]
pub struct Step {
    /// A frame to send back.
    pub reply: Option<Vec<u8>>,
    /// The handshake is complete: the frame keys from now on.
    pub keys: Option<FrameKeys>,
}

impl Handshake {
    /// The connecting side: its handshake and the AUTH_HELLO frame to send first.
    pub fn initiate(secret: &Secret) -> Result<(Handshake, Vec<u8>), AuthError> {
        let nonce_i = nonce()?;
        let hello = frame::frame(AUTH_HELLO, &nonce_i);
        let state = State::Hello { nonce_i };
        let secret = secret.clone();
        Ok((Handshake { secret, state }, hello))
    }

    /// The accepting side: waits for the initiator's AUTH_HELLO.
    pub fn respond(secret: &Secret) -> Handshake {
        let secret = secret.clone();
        Handshake {
            secret,
            state: State::Listening,
        }
    }

    /// A frame arrived before the handshake ended.
    pub fn on_frame(&mut self, frame: &Frame) -> Result<Step, AuthError> {
        if frame.version != PROTOCOL_VERSION {
            self.state = State::Over;
            return Err(AuthError::Version(frame.version));
        }
        let state = std::mem::replace(&mut self.state, State::Over);
        let payload = &frame.payload[..];
        match (state, frame.kind) {
            (State::Listening, AUTH_HELLO) => {
                let nonce_i: [u8; NONCE] = payload
                    .try_into()
                    .map_err(|_| AuthError::Failed("malformed hello"))?;
                let nonce_r = nonce()?;
                let mut challenge = nonce_r.to_vec();
                challenge.extend(self.secret.mac(b"wetmr responder", &nonce_i, &nonce_r));
                self.state = State::Challenged { nonce_i, nonce_r };
                Ok(Step {
                    reply: Some(frame::frame(AUTH_CHALLENGE, &challenge)),
                    keys: None,
                })
            }
            (State::Hello { nonce_i }, AUTH_CHALLENGE) => {
                let Some((&nonce_r, proof)) = payload
                    .split_first_chunk::<NONCE>()
                    .filter(|(_, proof)| proof.len() == TAG)
                else {
                    return Err(AuthError::Failed("malformed challenge"));
                };
                if !self
                    .secret
                    .verify(b"wetmr responder", &nonce_i, &nonce_r, proof)
                {
                    return Err(AuthError::Failed("the peer does not hold this secret"));
                }
                let proof = self.secret.mac(b"wetmr initiator", &nonce_i, &nonce_r);
                Ok(Step {
                    reply: Some(frame::frame(AUTH_PROOF, &proof)),
                    keys: Some(FrameKeys::new(&self.secret, &nonce_i, &nonce_r, true)),
                })
            }
            (State::Challenged { nonce_i, nonce_r }, AUTH_PROOF) => {
                if !self
                    .secret
                    .verify(b"wetmr initiator", &nonce_i, &nonce_r, payload)
                {
                    return Err(AuthError::Failed("the peer does not hold this secret"));
                }
                Ok(Step {
                    reply: None,
                    keys: Some(FrameKeys::new(&self.secret, &nonce_i, &nonce_r, false)),
                })
            }
            _ => Err(AuthError::Failed(
                "unexpected frame during the handshake (is the peer started with the same \
                 --secret-file?)",
            )),
        }
    }
}

/// The keys of an established connection, one per direction.
#[derive(Debug, Clone)]
pub struct FrameKeys {
    pub signer: Signer,
    pub verifier: Verifier,
}

impl FrameKeys {
    fn new(
        secret: &Secret,
        nonce_i: &[u8; NONCE],
        nonce_r: &[u8; NONCE],
        initiator: bool,
    ) -> FrameKeys {
        let i_to_r = keyed(&secret.mac(b"wetmr key i->r", nonce_i, nonce_r));
        let r_to_i = keyed(&secret.mac(b"wetmr key r->i", nonce_i, nonce_r));
        let (send, recv) = if initiator {
            (i_to_r, r_to_i)
        } else {
            (r_to_i, i_to_r)
        };
        FrameKeys {
            signer: Signer {
                key: send,
                count: 0,
            },
            verifier: Verifier {
                key: recv,
                count: 0,
            },
        }
    }
}

/// Tags the frames a connection sends, in order.
#[derive(Clone)]
pub struct Signer {
    key: HmacSha256,
    count: u64,
}

/// Checks the tags of the frames a connection receives, in order.
#[derive(Clone)]
pub struct Verifier {
    key: HmacSha256,
    count: u64,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({} frames)", self.count)
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verifier({} frames)", self.count)
    }
}

impl Signer {
    /// The tag to send after the next frame, `bytes` (header and payload).
    pub fn tag(&mut self, bytes: &[u8]) -> [u8; TAG] {
        let mut mac = self.key.clone();
        mac.update(&self.count.to_le_bytes());
        mac.update(bytes);
        self.count += 1;
        mac.finalize().into_bytes().into()
    }
}

impl frame::Seal for Verifier {
    fn trailer_len(&self) -> usize {
        TAG
    }

    fn check(&mut self, frame: &Frame, tag: &[u8]) -> Result<(), String> {
        self.verify(frame, tag).map_err(|e| e.to_string())
    }
}

impl Verifier {
    /// Checks the tag that followed the next frame received.
    pub fn verify(&mut self, frame: &Frame, tag: &[u8]) -> Result<(), AuthError> {
        let mut mac = self.key.clone();
        mac.update(&self.count.to_le_bytes());
        mac.update(&frame::header_of(
            frame.version,
            frame.kind,
            frame.payload.len(),
        ));
        mac.update(&frame.payload);
        self.count += 1;
        mac.verify_slice(tag).map_err(|_| AuthError::BadTag)
    }
}

/// Reads `--secret-file`: what is wrong with it is a usage error that names the file.
pub fn load_secret(path: &std::path::Path) -> crate::error::Result<Secret> {
    Secret::load(path).map_err(|e| {
        crate::error::Error::Usage(format!("--secret-file {}: {e}", crate::error::shown(path)))
    })
}

#[cfg(test)]
mod tests;
