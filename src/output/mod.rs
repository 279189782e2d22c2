//! Outputs: the ranked word list as TSV, the run's figures as JSON and as a summary line.
//!
//! Files are written atomically ([`atomic`]): to a temporary file in the destination's
//! directory, synced, then renamed over the destination. An interrupted or failed run never
//! leaves a partial or empty output, and an older output stays intact until replaced.

pub mod atomic;
pub mod stats;
pub mod tsv;
