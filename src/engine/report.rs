//! What one file, or one chunk of it, yielded: counters and damage reports.

use serde::Serialize;

use crate::error::{Damage, Offset};

/// Counters for a stretch of input. Chunks add up to files, files to the run.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Counters {
    /// WARC records of any type.
    pub records: u64,
    /// `WARC-Type: conversion` records counted (with `--content-type`, those of that type).
    pub conversion_records: u64,
    /// Words emitted by the tokenizer.
    pub tokens: u64,
    /// Bytes of WARC data (decompressed bytes for `.gz` files).
    pub warc_bytes: u64,
    /// Bytes passed over because they were damaged (`--skip-bad-input`).
    pub skipped_bytes: u64,
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.records += o.records;
        self.conversion_records += o.conversion_records;
        self.tokens += o.tokens;
        self.warc_bytes += o.warc_bytes;
        self.skipped_bytes += o.skipped_bytes;
    }
}

/// A damaged stretch that `--skip-bad-input` passed over.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct Skipped {
    pub at: Offset,
    pub what: String,
    /// Bytes skipped (decompressed bytes for `.gz` files, except when a whole gzip member
    /// was skipped, which `what` says).
    pub bytes: u64,
}

impl Skipped {
    pub fn damage(&self) -> Damage {
        Damage {
            at: self.at,
            what: self.what.clone(),
        }
    }
}
