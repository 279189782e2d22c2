//! Inputs: from the command line's paths to the bytes of each WET file.
//!
//! [`list`] turns paths, directories and list files (`fichiersWET.txt`, Common Crawl's
//! `wet.paths[.gz]`) into an ordered list of files; [`bytes`] maps each one into memory;
//! [`gzip`] steps through the gzip members of a `.gz` file, decoding whole members with
//! libdeflate ([`inflate`]) when they fit in memory. Whether a file is compressed is
//! decided by its first bytes, not its name.

pub mod bytes;
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
