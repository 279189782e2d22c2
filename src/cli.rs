//! The command line: clap's definitions only (their resolution is [`crate::config`]'s).
//!
//! Every option can also be set through a `WETMR_*` environment variable (for cron); a flag
//! given on the command line wins over the environment.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::format::{Compression, Format};
use crate::tokenize::TokenizerKind;

const AFTER_HELP: &str = "\
Examples:
  wetmr count data/sample.warc.wet.gz --top 20
  wetmr count crawl/ --output counts.tsv --stats stats.json
  wetmr count --inputs wet.paths.gz --input-base /data/cc --threads 8 -o counts.tsv
  wetmr count --inputs ten.paths --input-base https://data.commoncrawl.org/ -o counts.tsv
  WETMR_TOKENIZER=cc-pyspark WETMR_QUIET=true wetmr count shard.warc.wet.gz -o out.tsv

Exit codes: 0 ok, 1 usage, 2 bad input (missing, unreadable or damaged file, a URL that
cannot be fetched, or nothing counted), 3 output error, 5 out of memory or other resources
(4: see `wetmr run --help`).";

#[derive(Debug, Parser)]
#[command(
    name = "wetmr",
    version,
    about = "Exact word counts (tf and df) over Common Crawl WET files",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Count the words of WET files on this machine.
    #[command(after_help = AFTER_HELP)]
    Count(CountArgs),
    /// Serve jobs as a worker of a cluster (a long-running daemon).
    #[command(after_help = WORKER_HELP)]
    Worker(WorkerArgs),
    /// Run a job on the workers listed in a machines file (the coordinator).
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Start N workers on this machine, run the job through them, stop them.
    #[command(after_help = CLUSTER_HELP)]
    Cluster(ClusterArgs),
    /// Count the WET files listed on standard input and write their counts in any order
    /// (the map of a streaming job: Hadoop Streaming, Spark's RDD.pipe).
    #[command(after_help = MAP_HELP)]
    Map(MapArgs),
    /// Merge count lines (word<TAB>tf<TAB>df, any order) into the final, ordered counts
    /// (the reduce of a streaming job).
    #[command(after_help = REDUCE_HELP)]
    #[allow(rustdoc::invalid_html_tags)] // (the text is --help's)
    Reduce(ReduceArgs),
    /// Print a new random cluster secret (for --secret-file).
    #[command(after_help = KEYGEN_HELP)]
    Keygen(KeygenArgs),
}

const MAP_HELP: &str = "\
The inputs are the lines of standard input, one path or URL per line (# comments and blank
lines ignored), unless INPUTs or --inputs are given. The output is one line per distinct
word, word<TAB>tf<TAB>df, in no particular order: every word of the inputs, whatever --top
or --min-count would keep (those belong to `wetmr reduce`). Words never contain a tab, a
line break or any other whitespace. `map | reduce`, over any split of the inputs between
maps, writes exactly what `wetmr count` writes.

Examples:
  ls crawl/*.warc.wet.gz | wetmr map > part-0.tsv
  cat part-*.tsv | wetmr reduce -o counts.parquet
  wetmr map --hadoop-counters < split.paths   (as a Hadoop Streaming mapper)";

const REDUCE_HELP: &str = "\
Reads count lines from the FILEs (or standard input): word<TAB>tf<TAB>df, in any order, any
number of maps' outputs concatenated. Counts of the same word are added; the result is
ordered as `wetmr count` orders it (tf descending, then the word's bytes) and written in
any output format. A malformed line (not three fields, a word that is not UTF-8, tf or df
not a decimal integer, df above tf) fails the job with exit code 2 and writes nothing.

Examples:
  cat part-*.tsv | wetmr reduce --top 1000
  wetmr reduce part-0.tsv part-1.tsv -o counts.parquet --compression zstd";

const KEYGEN_HELP: &str = "\
The key is 32 random bytes in hex, one line. Written to a file (by -o, or by the shell's
redirection), the file is made readable by its owner only (mode 0600): workers and
coordinators refuse a key file that others may read. Give the same file to every worker
and to the coordinator.

Examples:
  wetmr keygen > cluster.key
  wetmr keygen -o cluster.key";

/// Options of `wetmr keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Write the key to this new file (mode 0600) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

const WORKER_HELP: &str = "\
Prints the address it listens on (one line on stdout), logs on stderr, and stops cleanly
on SIGTERM or SIGINT. Input paths named by a job are read on this machine. It listens on
loopback unless told otherwise, and on any other address only with --secret-file (every
connection must then prove it holds the same secret) or --insecure.

Examples:
  wetmr worker --listen 127.0.0.1:7070
  wetmr worker --listen 0.0.0.0:7070 --threads 16 --secret-file cluster.key";

const RUN_HELP: &str = "\
The output, options and exit codes are those of `wetmr count`; exit code 4 means the
cluster failed the job (no worker reachable, a worker lost, a protocol error).

Examples:
  wetmr run --machines machines.txt --inputs fichiersWET.txt -o counts.tsv
  wetmr run --machines machines.txt crawl/ --top 100 --stats stats.json";

const CLUSTER_HELP: &str = "\
Examples:
  wetmr cluster --workers 3 data/sample.warc.wet.gz --top 20
  wetmr cluster --workers 2 --threads 1 crawl/ -o counts.tsv";

/// Options of `wetmr worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Address to listen on (port 0: any free port).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:7070",
        env = "WETMR_LISTEN"
    )]
    pub listen: String,

    /// Threads for counting [default: all cores; at most 4 per core].
    #[arg(long, value_name = "N", value_parser = parse_threads, env = "WETMR_THREADS")]
    pub threads: Option<NonZeroUsize>,

    /// Map tasks (files) counted at once.
    #[arg(long, value_name = "N", default_value_t = NonZeroU32::MIN, env = "WETMR_SLOTS")]
    pub slots: NonZeroU32,

    /// Memory for the map outputs kept until the job ends (to rebuild a lost worker's
    /// partitions without running its tasks again): bytes, or a number with K, M, G or T
    /// (powers of 1024). Beyond it, they go to a file in --spill-dir.
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "2G",
        value_parser = parse_size,
        env = "WETMR_KEPT_MEMORY"
    )]
    pub kept_memory: u64,

    /// Directory for the spill file of kept map outputs [default: the temporary
    /// directory]. The file is unlinked as soon as it is created: nothing is left behind.
    #[arg(long, value_name = "DIR", env = "WETMR_SPILL_DIR")]
    pub spill_dir: Option<PathBuf>,

    /// The cluster's secret (`wetmr keygen`): connections that do not prove they hold it
    /// are refused, and every frame is authenticated.
    #[arg(long, value_name = "FILE", env = "WETMR_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,

    /// Read only files under this directory (symlinks resolved): a task naming any other
    /// path fails as unreadable.
    #[arg(long, value_name = "DIR", env = "WETMR_INPUT_ROOT")]
    pub input_root: Option<PathBuf>,

    /// Listen on a non-loopback address without a secret: anyone who can reach the port
    /// can then make this worker read files and send their words.
    #[arg(long, env = "WETMR_INSECURE")]
    pub insecure: bool,

    /// Seconds a map may hold threads without progress before it is reported stalled (a
    /// read that does not return, as on a hung network file system): its task moves to
    /// another worker, and its threads are counted out until the read returns.
    #[arg(
        long,
        value_name = "SECS",
        default_value = "60",
        value_parser = parse_duration,
        env = "WETMR_STALL_TIMEOUT"
    )]
    pub stall_timeout: std::time::Duration,

    /// Log nothing but errors.
    #[arg(short, long, env = "WETMR_QUIET")]
    pub quiet: bool,
}

/// A positive number of seconds.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|secs| std::time::Duration::try_from_secs_f64(secs).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
}

/// Shortest interval between progress lines: more often is a flood, not progress.
pub const PROGRESS_MIN: f64 = 0.01;

/// `--progress`: 0 (never), or a number of seconds from [`PROGRESS_MIN`] on.
fn parse_progress(text: &str) -> Result<f64, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if secs == 0.0 || (PROGRESS_MIN..=1e9).contains(&secs) {
        Ok(secs)
    } else {
        Err(format!(
            "{text:?}: give 0 (no progress lines) or {PROGRESS_MIN} to 1e9 seconds"
        ))
    }
}

/// A size in bytes: a whole number, optionally followed by K, M, G or T (powers of 1024,
/// with an optional `B` or `iB`).
fn parse_size(text: &str) -> Result<u64, String> {
    let upper = text.trim().to_ascii_uppercase();
    let unit = upper.trim_end_matches("IB").trim_end_matches('B');
    let (digits, shift) = match unit.as_bytes().last() {
        Some(b'K') => (&unit[..unit.len() - 1], 10),
        Some(b'M') => (&unit[..unit.len() - 1], 20),
        Some(b'G') => (&unit[..unit.len() - 1], 30),
        Some(b'T') => (&unit[..unit.len() - 1], 40),
        _ => (unit, 0),
    };
    let bad = || format!("{text:?} is not a size (e.g. 512M, 2G, 1048576)");
    let n: u64 = digits.trim().parse().map_err(|_| bad())?;
    n.checked_mul(1 << shift).ok_or_else(bad)
}

/// Options of `wetmr run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workers: one host:port per line (# comments; a bare host means port 7070).
    #[arg(long, value_name = "FILE", env = "WETMR_MACHINES")]
    pub machines: PathBuf,

    #[command(flatten)]
    pub cluster: ClusterOptions,

    #[command(flatten)]
    pub count: CountArgs,
}

/// How the coordinator runs a job on its workers (`run` and `cluster`).
#[derive(Debug, Args)]
pub struct ClusterOptions {
    /// Number of partitions R, 1 to 65536 [default: 4 per worker].
    #[arg(long, value_name = "R", env = "WETMR_PARTITIONS",
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub partitions: Option<u32>,

    /// Seconds between a worker's heartbeats. With backup tasks, a worker that misses four
    /// once no task is left to hand out is taken over as a straggler.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 0.1,
        env = "WETMR_HEARTBEAT_INTERVAL"
    )]
    pub heartbeat_interval: f64,

    /// Seconds a worker may stay silent before it is declared lost (its work is then
    /// redone elsewhere).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10.0,
        env = "WETMR_HEARTBEAT_TIMEOUT"
    )]
    pub heartbeat_timeout: f64,

    /// Do not run backup copies of the last running tasks on idle workers.
    #[arg(long, env = "WETMR_NO_BACKUP_TASKS")]
    pub no_backup_tasks: bool,

    /// The cluster's secret (`wetmr keygen`), the workers' own: every connection proves it
    /// holds it, and every frame is authenticated. (`cluster` makes one for its workers.)
    #[arg(long, value_name = "FILE", env = "WETMR_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,

    /// Serve the job's input files to the workers over HTTP from this machine (for
    /// workers that cannot read them): on ADDR, default any interface and a free port.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "0.0.0.0:0",
          env = "WETMR_SERVE_INPUTS")]
    pub serve_inputs: Option<std::net::SocketAddr>,

    /// Serve a live status page (`/`) and its JSON (`/status.json`) on ADDR: a port
    /// (loopback), or HOST:PORT; an address other than loopback needs --secret-file and
    /// asks for a token derived from it (printed with the page's address).
    #[arg(long, value_name = "ADDR", value_parser = parse_status_addr, env = "WETMR_STATUS")]
    pub status: Option<std::net::SocketAddr>,
}

/// `--status`: a port (on loopback) or a socket address.
fn parse_status_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok((std::net::Ipv4Addr::LOCALHOST, port).into());
    }
    text.parse()
        .map_err(|_| format!("{text:?}: give a port, or HOST:PORT (e.g. 127.0.0.1:8080)"))
}

/// Options of `wetmr cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Worker processes to start.
    #[arg(long, value_name = "N", default_value = "2", env = "WETMR_WORKERS")]
    pub workers: NonZeroUsize,

    #[command(flatten)]
    pub cluster: ClusterOptions,

    /// (With `cluster`, --threads is per worker.)
    #[command(flatten)]
    pub count: CountArgs,
}

/// Where the counts go and which of them: options of `count`, `run`, `cluster` and
/// `reduce`.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write the counts here (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE", env = "WETMR_OUTPUT")]
    pub output: Option<PathBuf>,

    /// Format of the counts [default: parquet for an output name ending in .parquet,
    /// jsonl for .jsonl, tsv otherwise].
    #[arg(long, value_enum, value_name = "FORMAT", env = "WETMR_FORMAT")]
    pub format: Option<Format>,

    /// Compression of Parquet output [default: gzip].
    #[arg(long, value_enum, value_name = "CODEC", env = "WETMR_COMPRESSION")]
    pub compression: Option<Compression>,

    /// Keep only the K most frequent words.
    #[arg(long, value_name = "K", env = "WETMR_TOP")]
    pub top: Option<usize>,

    /// Keep only words with at least N occurrences.
    #[arg(long, value_name = "N", default_value_t = 1, env = "WETMR_MIN_COUNT")]
    pub min_count: u64,
}

/// Options of `wetmr map`.
#[derive(Debug, Args)]
pub struct MapArgs {
    /// Print Hadoop Streaming counters on stderr at the end
    /// (`reporter:counter:wetmr,NAME,VALUE` lines).
    #[arg(long, env = "WETMR_HADOOP_COUNTERS")]
    pub hadoop_counters: bool,

    #[command(flatten)]
    pub count: CountArgs,
}

/// Options of `wetmr reduce`.
#[derive(Debug, Args)]
pub struct ReduceArgs {
    /// Files of count lines, word<TAB>tf<TAB>df [default: standard input].
    #[arg(value_name = "FILE")]
    #[allow(rustdoc::invalid_html_tags)] // (the text is --help's)
    pub inputs: Vec<PathBuf>,

    #[command(flatten)]
    pub out: OutputArgs,

    /// Print nothing on standard error except errors.
    #[arg(short, long, env = "WETMR_QUIET")]
    pub quiet: bool,

    /// Worker threads [default: all cores; at most 4 per core].
    #[arg(long, value_name = "N", value_parser = parse_threads, env = "WETMR_THREADS")]
    pub threads: Option<NonZeroUsize>,
}

/// Options of `wetmr count`.
#[derive(Debug, Args)]
pub struct CountArgs {
    /// WET files (.warc.wet or .warc.wet.gz) or directories of them.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// A file or URL listing inputs, one path or URL per line (# comments); may be gzipped
    /// (wet.paths.gz).
    #[arg(long = "inputs", value_name = "LIST", env = "WETMR_INPUTS")]
    pub list: Option<PathBuf>,

    /// Directory or URL prepended to relative paths read from --inputs
    /// (e.g. https://data.commoncrawl.org/).
    #[arg(long, value_name = "DIR|URL", env = "WETMR_INPUT_BASE")]
    #[allow(rustdoc::bare_urls)] // (the text is --help's)
    pub input_base: Option<PathBuf>,

    /// Definition of a word (see README).
    #[arg(long, value_enum, default_value_t, env = "WETMR_TOKENIZER")]
    pub tokenizer: TokenizerKind,

    /// Count only conversion records whose Content-Type is exactly TYPE (cc-pyspark counts
    /// `text/plain` ones only) [default: every conversion record].
    #[arg(long, value_name = "TYPE", env = "WETMR_CONTENT_TYPE")]
    pub content_type: Option<String>,

    #[command(flatten)]
    pub out: OutputArgs,

    /// Write the run's figures, overall and per file, as JSON.
    #[arg(long, value_name = "FILE.json", env = "WETMR_STATS")]
    pub stats: Option<PathBuf>,

    /// Write a report: one self-contained HTML page with the run's figures and plots
    /// (rank–frequency with Zipf's law, vocabulary growth with Heaps' law, top words,
    /// languages, throughput; for a cluster, tasks per worker and shuffle).
    #[arg(long, value_name = "FILE.html", env = "WETMR_REPORT")]
    pub report: Option<PathBuf>,

    /// Print nothing on standard error except errors.
    #[arg(short, long, env = "WETMR_QUIET")]
    pub quiet: bool,

    /// Print a progress line on stderr every SECS seconds (at least 0.01; 0: never); when
    /// stderr is a terminal, a live bar instead.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10.0,
        value_parser = parse_progress,
        env = "WETMR_PROGRESS"
    )]
    pub progress: f64,

    /// Worker threads [default: all cores; at most 4 per core].
    #[arg(long, value_name = "N", value_parser = parse_threads, env = "WETMR_THREADS")]
    pub threads: Option<NonZeroUsize>,

    /// Count every intact record of damaged files, skip the rest and report it, instead of
    /// failing.
    #[arg(long, env = "WETMR_SKIP_BAD_INPUT")]
    pub skip_bad_input: bool,

    /// Target chunk size for splitting one file between threads (testing aid).
    #[arg(long, hide = true, value_name = "BYTES", env = "WETMR_SPLIT_BYTES")]
    pub split_bytes: Option<NonZeroUsize>,

    /// Words a thread's table may hold before it is spilled into the shared table.
    #[arg(long, hide = true, value_name = "WORDS", env = "WETMR_SPILL_AT",
          default_value_t = crate::count::SPILL_AT)]
    pub spill_at: usize,

    #[command(flatten)]
    pub download: DownloadArgs,
}

/// How URL inputs are fetched.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Downloads (URL inputs)")]
pub struct DownloadArgs {
    /// Files downloaded at once, at most (1 to 10); rate limits lower it for a while.
    #[arg(long, value_name = "N", default_value_t = 4, env = "WETMR_DOWNLOADS",
          value_parser = clap::value_parser!(u16).range(1..=10))]
    pub downloads: u16,

    /// Retries of one download in a row without progress before it fails.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1000,
        env = "WETMR_MAX_RETRIES"
    )]
    pub max_retries: u32,

    /// The most time one download may spend waiting to retry before it fails.
    #[arg(long, value_name = "SECS", default_value = "7200", value_parser = parse_duration,
          env = "WETMR_RETRY_FOR")]
    pub retry_for: std::time::Duration,

    /// The first wait before a retry; later ones grow exponentially, with jitter.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_duration,
          env = "WETMR_RETRY_WAIT")]
    pub retry_wait: std::time::Duration,

    /// A connection, answer or read that brings nothing for this long is retried.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_duration,
          env = "WETMR_READ_TIMEOUT")]
    pub read_timeout: std::time::Duration,

    /// An S3-compatible endpoint for s3:// inputs (default: AWS).
    #[arg(long, value_name = "URL", env = "WETMR_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// The region of s3:// inputs [default: AWS_REGION, else us-east-1].
    #[arg(long, value_name = "REGION", env = "WETMR_S3_REGION")]
    pub s3_region: Option<String>,

    /// Keep downloaded files in DIR, and read them from there in later runs.
    #[arg(long, value_name = "DIR", env = "WETMR_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// The most threads `--threads` may ask for: counting is CPU-bound, so threads beyond the
/// cores only compete for them (and rayon's idle threads spin): 4 per core, or 16.
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    (4 * cores).max(16)
}

/// `--threads`: 1 to [`max_threads`].
fn parse_threads(text: &str) -> Result<NonZeroUsize, String> {
    let n: NonZeroUsize = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a positive whole number"))?;
    let max = max_threads();
    if n.get() > max {
        return Err(format!(
            "{n} threads: at most {max} on this machine (4 per core); more threads than \
             cores only slow the count down"
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn progress_intervals_are_zero_or_sensible() {
        use super::parse_progress;
        assert_eq!(parse_progress("0"), Ok(0.0));
        assert_eq!(parse_progress("2.5"), Ok(2.5));
        for bad in ["nan", "inf", "-1", "1e-300", "0.001", "1e300", "x", ""] {
            assert!(parse_progress(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sizes_take_binary_suffixes_and_refuse_anything_else() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1536"), Ok(1536));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("3KiB"), Ok(3 << 10));
        assert_eq!(parse_size("1TB"), Ok(1 << 40));
        for bad in ["", "G", "-1", "1.5G", "2X", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }
}
