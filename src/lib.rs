//! wetmr: exact word counts (tf and df) over Common Crawl WET files.
//!
//! The data path, in module order:
//!
//! ```text
//! inputs ─ input ─► WET bytes (mmap, or streamed from a URL by remote; gzip members
//!                   decoded into a window)
//!        ─ warc ─► records (header fields + zero-copy body slices)
//!        ─ tokenize ─► lowercased words
//!        ─ count ─► per-thread tables (word → tf, df), merged and ranked
//!        ─ output ─► TSV, stats JSON, summary
//! ```
//!
//! [`engine`] drives the map side on every core: it splits each file at candidate record
//! boundaries, scans the chunks in parallel, and proves the splits afterwards, so the result
//! is exactly that of a sequential scan.
//!
//! Distributed, the same map side runs on each worker: [`partition`] assigns words to
//! reducers, [`net`] carries the [`protocol`]'s messages over TCP between its two state
//! machines, and [`cluster`] runs them (the coordinator's driver, the executor of a
//! worker's actions, the CPU work of its tasks).
//!
//! On top: [`cli`] (the command line, clap's types only) → [`config`] (what each command
//! runs with) → [`commands`] (one module per command). [`error`] says what went wrong and
//! which exit code that is.

// Reading inputs: files, directories, lists; mmap and gzip members.
pub mod input;

// URL inputs: HTTP(S) and S3, streamed, resumed, retried politely.
pub mod remote;

// WARC records: header fields and body slices.
pub mod warc;

// Words: the tokenizers.
pub mod tokenize;

// Counting tables, ranking and the k-way merge.
pub mod count;

// TSV, stats JSON and summary, written atomically.
pub mod output;

// The map side on every core.
pub mod engine;

// Which reducer owns a word.
pub mod partition;

// Frames on TCP, authentication, non-blocking connections.
pub mod net;

// The distributed engine's messages and state machines.
pub mod protocol;

// What a person sees: the terminal bar, the status page, the report.
pub mod observe;

// The drivers and executor around the state machines.
pub mod cluster;

// The command line (clap's types).
pub mod cli;

// Resolved configurations.
pub mod config;

// One module per command.
pub mod commands;

// Errors and exit codes.
pub mod error;

// Log lines at a bounded rate.
pub mod log_limit;

// Malloc heaps shared by the counting threads.
pub mod malloc;
