//! Inputs: from the command line's paths to the bytes of each WET file.
//!
//! [`list`] turns paths, directories and list files (`fichiersWET.txt`, Common Crawl's
//! `wet.paths[.gz]`) into an ordered list of files; [`bytes`] maps each one into memory;
//! [`gzip`] steps through the gzip members of a `.gz` file, decoding whole members with
//! libdeflate ([`inflate`]) when they fit in memory. Whether a file is compressed is
//! decided by its first bytes, not its name.

pub mod bytes;
pub mod counts;
pub mod gzip;
pub mod inflate;
pub mod list;

pub use bytes::FileBytes;
pub use list::{expand_inputs, Input, InputSpec};

/// How the bytes of an input file are stored.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Uncompressed WARC: records are slices of the memory map.
    Plain,
    /// One or more gzip members back to back.
    Gzip,
}

impl Format {
    /// Detects the format from the first bytes of a file.
    pub fn sniff(data: &[u8]) -> Format {
        if data.starts_with(&[0x1f, 0x8b]) {
            Format::Gzip
        } else {
            Format::Plain
        }
    }
}

/// A compressed format wetmr does not read, recognized by its magic number (a file named
/// `.gz` that is not gzip deserves a better message than "not a WARC record").
pub fn foreign_compression(data: &[u8]) -> Option<&'static str> {
    const KNOWN: [(&[u8], &str); 5] = [
        (&[0x28, 0xb5, 0x2f, 0xfd], "zstd"),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz"),
        (&[0x04, 0x22, 0x4d, 0x18], "lz4"),
        (b"PK\x03\x04", "zip"),
        (b"BZh", "bzip2"),
    ];
    let (_, name) = KNOWN.iter().find(|(magic, _)| data.starts_with(magic))?;
    // "BZh" then the block size, a digit from 1 to 9.
    if *name == "bzip2" && !data.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        return None;
    }
    Some(name)
}
