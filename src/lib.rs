//! wetmr: exact word counts (tf and df) over Common Crawl WET files.
//!
//! The data path, in module order:
//!
//! ```text
//! inputs ─ input ─► WET bytes (mmap; gzip members decoded into a window)
//!        ─ warc ─► records (header fields + zero-copy body slices)
//!        ─ tokenize ─► lowercased words
//!        ─ count ─► per-thread tables (word → tf, df), merged and ranked
//!        ─ output ─► TSV, stats JSON, summary
//! ```
//!
//! Distributed, the same map side runs on each worker; [`partition`] assigns words to
//! reducers, [`net`] carries [`protocol`] messages over TCP, and [`dist`] holds the
//! `worker`, `run` and `cluster` commands.
//!
//! [`engine`] drives the map side on every core: it splits each file at candidate record
//! boundaries, scans the chunks in parallel, and proves the splits afterwards, so the result
//! is exactly that of a sequential scan.

pub mod cli;
pub mod count;
pub mod count_cmd;
pub mod dist;
pub mod engine;
pub mod error;
pub mod input;
pub mod log_limit;
pub mod malloc;
pub mod net;
pub mod output;
pub mod partition;
pub mod protocol;
pub mod remote;
pub mod tokenize;
pub mod warc;
