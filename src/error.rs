//! Errors and exit codes: what can go wrong in a run, said so a user can act on it.
//!
//! Every error that comes from input names the file and, where there is one, the byte offset,
//! saying whether it counts compressed or decompressed bytes. The exit code is a function of
//! the error kind only (the codes are in [`exit`], and in the README).

use std::fmt;
use std::path::{Path, PathBuf};

/// Exit codes, documented in the README. `main` maps every outcome to one of these.
pub mod exit {
    /// The job finished and its outputs were written.
    pub const OK: u8 = 0;
    /// The command line (or a `WETMR_*` variable) was wrong; nothing was read.
    pub const USAGE: u8 = 1;
    /// An input was missing, unreadable or damaged; no output was written.
    pub const BAD_INPUT: u8 = 2;
    /// An output could not be written (disk full, permissions); older outputs are intact.
    pub const IO: u8 = 3;
    /// The cluster failed the job: no worker reachable, a worker lost, a protocol error.
    pub const CLUSTER: u8 = 4;
    /// The machine ran out of a resource (memory, address space, threads); no output was
    /// written.
    pub const RESOURCES: u8 = 5;
}

/// Where in an input file something was found.
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
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Offset {
    /// A byte offset in an uncompressed file.
    Plain { offset: u64 },
    /// A position in a gzip file: the compressed offset of the gzip member involved, and the
    /// offset in the decompressed stream when one is known.
    Gzip {
        member: u64,
        decompressed: Option<u64>,
    },
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Offset::Plain { offset } => write!(f, "byte offset {offset}"),
            Offset::Gzip {
                member,
                decompressed: Some(d),
            } => write!(
                f,
                "decompressed offset {d} (gzip member at compressed offset {member})"
            ),
            Offset::Gzip {
                member,
                decompressed: None,
            } => {
                write!(f, "gzip member at compressed offset {member}")
            }
        }
    }
}

/// What is wrong with a stretch of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub at: Offset,
    pub what: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.what, self.at)
    }
}

/// A failed run. `Display` gives the one line printed on stderr.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{path}: cannot read: {source}", path = shown(.path))]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no *.wet or *.wet.gz files in this directory", path = shown(.path))]
    EmptyDir { path: PathBuf },
    #[error("{path}: line {line}: {what}", path = shown(.path))]
    List {
        path: PathBuf,
        line: usize,
        what: String,
    },
    #[error("{path}: {what}", path = shown(.path))]
    ListFile { path: PathBuf, what: String },
    #[error("the input list names no files")]
    NoInputs,
    #[error("{path}: {damage}", path = shown(.path))]
    Damaged { path: PathBuf, damage: Damage },
    #[error("{what} {path}: {source}", path = shown(.path))]
    Output {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing to standard output: {}", stdout_failure(.0))]
    Stdout(std::io::Error),
    /// An input failed on a worker; the message names the file.
    #[error("{0}")]
    RemoteInput(String),
    /// A URL input that could not be fetched.
    #[error("{url}: {what}", url = shown(Path::new(.url)))]
    Download { url: String, what: String },
    #[error("{0}")]
    Cluster(String),
    #[error("network: {0}")]
    Net(std::io::Error),
    /// A run stopped early on request (`engine::Control::abandon`).
    #[error("abandoned")]
    Abandoned,
    /// Out of memory, maps or threads: not the input's fault.
    #[error("out of resources: {0}")]
    Resources(String),
    /// `--skip-bad-input` skipped every input: nothing was counted.
    #[error("nothing counted: every input was skipped ({files} file{s}, see above)", s = if *.files == 1 { "" } else { "s" })]
    NothingCounted { files: usize },
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Open { .. }
            | Error::EmptyDir { .. }
            | Error::List { .. }
            | Error::ListFile { .. }
            | Error::NoInputs
            | Error::Damaged { .. }
            | Error::RemoteInput(_)
            | Error::Download { .. }
            | Error::NothingCounted { .. } => exit::BAD_INPUT,
            Error::Resources(_) => exit::RESOURCES,
            Error::Output { .. } | Error::Stdout(_) => exit::IO,
            Error::Cluster(_) | Error::Net(_) | Error::Abandoned => exit::CLUSTER,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A path as messages show it: control characters (an escape sequence in a file name
/// would drive the terminal) are written as `\xHH` or `\u{...}`; invalid UTF-8 as U+FFFD.
pub fn shown(path: &Path) -> Shown<'_> {
    Shown(path)
}

/// See [`shown`].
pub struct Shown<'a>(&'a Path);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escaped(&self.0.to_string_lossy(), f)
    }
}

/// Writes `text` with its control characters escaped (see [`shown`]).
pub fn escaped(text: &str, f: &mut impl fmt::Write) -> fmt::Result {
    for c in text.chars() {
        match c {
            c if (c as u32) < 0x100 && c.is_control() => write!(f, "\\x{:02x}", c as u32)?,
            c if c.is_control() => write!(f, "\\u{{{:x}}}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    Ok(())
}

/// Why standard output failed, said for people: a closed pipe is the common case.
fn stdout_failure(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        "the reader closed it before the output was complete (broken pipe; use --top K \
         for the first K words)"
            .into()
    } else {
        e.to_string()
    }
}
