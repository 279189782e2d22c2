//! Resolved configurations: what each command runs with, made from its command line
//! ([`crate::cli`]) once defaults and checks are applied. The commands
//! ([`crate::commands`]) take these, never clap's types.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{
    ClusterOptions, CountArgs, DownloadArgs, MapArgs, OutputArgs, ReduceArgs, WorkerArgs,
};
use crate::engine::{Job, Policy};
use crate::error::{Error, Result};
use crate::input::InputSpec;
use crate::net::auth::{load_secret, Secret};
use crate::output::format::OutputFormat;

/// A `wetmr count` job (and the counting side of `run` and `cluster`).
#[derive(Debug, Clone)]
pub struct CountConfig {
    pub inputs: InputSpec,
    /// What to count and how.
    pub job: Job,
    /// Where the counts go, in which format, and which of them.
    pub result: ResultConfig,
    /// Write the counts in no particular order, every word (`wetmr map`).
    pub unranked: bool,
    /// Print Hadoop Streaming counters at the end (`wetmr map --hadoop-counters`).
    pub hadoop_counters: bool,
    pub stats: Option<PathBuf>,
    /// Where the HTML report goes (`--report`).
    pub report: Option<PathBuf>,
    pub quiet: bool,
    /// How the job shows its progress on standard error.
    pub progress: Progress,
    pub threads: usize,
    pub download: crate::remote::Settings,
}

/// How a job shows its progress on standard error: a live bar for a person at a terminal,
/// plain lines for a log (cron), or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Off,
    /// A plain line every this often.
    Lines(Duration),
    /// A bar redrawn in place (stderr is a terminal).
    Bar,
}

impl Progress {
    /// `--progress SECS` (0: off) and `--quiet`: a bar when standard error is a terminal
    /// that can draw one, lines otherwise.
    pub fn new(secs: f64, quiet: bool) -> Progress {
        use std::io::IsTerminal;
        let every = (secs > 0.0)
            .then(|| Duration::try_from_secs_f64(secs).ok())
            .flatten();
        match every {
            None => Progress::Off,
            Some(_) if quiet => Progress::Off,
            Some(every) => {
                let dumb = std::env::var_os("TERM").is_none_or(|t| t == "dumb");
                if std::io::stderr().is_terminal() && !dumb {
                    Progress::Bar
                } else {
                    Progress::Lines(every)
                }
            }
        }
    }
}

impl CountConfig {
    pub fn new(args: CountArgs) -> Result<CountConfig> {
        Ok(CountConfig {
            inputs: InputSpec {
                paths: args.inputs,
                list: args.list,
                base: args.input_base,
            },
            job: Job {
                tokenizer: args.tokenizer,
                content_type: args.content_type,
                policy: if args.skip_bad_input {
                    Policy::Skip
                } else {
                    Policy::Strict
                },
                split_bytes: args.split_bytes.map(|b| b.get() as u64),
                spill_at: args.spill_at as u64,
            },
            result: ResultConfig::new(args.out)?,
            unranked: false,
            hadoop_counters: false,
            stats: args.stats,
            report: args.report,
            quiet: args.quiet,
            progress: Progress::new(args.progress, args.quiet),
            threads: threads_or_cores(args.threads),
            download: download(args.download, args.quiet),
        })
    }

    /// `wetmr map`: a count job whose inputs default to the lines of standard input and
    /// whose output is every word, in TSV, in no particular order.
    pub fn map(args: MapArgs) -> Result<CountConfig> {
        let result = &args.count.out;
        if result.top.is_some() || result.min_count != 1 {
            return Err(Error::Usage(
                "map writes every word: --top and --min-count belong to reduce".into(),
            ));
        }
        if args.count.report.is_some() {
            return Err(Error::Usage(
                "map writes every word, unranked: --report belongs to count, run and cluster"
                    .into(),
            ));
        }
        let mut config = CountConfig::new(args.count)?;
        if config.result.format != OutputFormat::Tsv {
            return Err(Error::Usage(
                "map writes TSV lines (the streaming contract): formats belong to reduce".into(),
            ));
        }
        config.unranked = true;
        config.hadoop_counters = args.hadoop_counters;
        if config.inputs.paths.is_empty() && config.inputs.list.is_none() {
            config.inputs.list = Some(PathBuf::from("/dev/stdin"));
        }
        Ok(config)
    }
}

/// Where a job's counts go, in which format, and which of them (`count`, `run`, `cluster`,
/// `reduce`).
#[derive(Debug, Clone)]
pub struct ResultConfig {
    pub output: Option<PathBuf>,
    pub format: OutputFormat,
    pub top: Option<usize>,
    pub min_count: u64,
}

impl ResultConfig {
    pub fn new(args: OutputArgs) -> Result<ResultConfig> {
        let format = OutputFormat::resolve(args.format, args.compression, args.output.as_deref())?;
        if args.output.is_none() {
            format.check_stdout()?;
        }
        Ok(ResultConfig {
            output: args.output,
            format,
            top: args.top,
            min_count: args.min_count,
        })
    }
}

/// A `wetmr reduce` job.
#[derive(Debug, Clone)]
pub struct ReduceConfig {
    /// Files of count lines; empty for standard input.
    pub inputs: Vec<PathBuf>,
    pub result: ResultConfig,
    pub quiet: bool,
    pub threads: usize,
}

impl ReduceConfig {
    pub fn new(args: ReduceArgs) -> Result<ReduceConfig> {
        Ok(ReduceConfig {
            inputs: args.inputs,
            result: ResultConfig::new(args.out)?,
            quiet: args.quiet,
            threads: threads_or_cores(args.threads),
        })
    }
}

/// How URL inputs are fetched (`log`: print retry lines).
fn download(args: DownloadArgs, quiet: bool) -> crate::remote::Settings {
    crate::remote::Settings {
        downloads: args.downloads as usize,
        max_retries: args.max_retries,
        retry_for: args.retry_for,
        retry_wait: args.retry_wait,
        read_timeout: args.read_timeout,
        s3_endpoint: args.s3_endpoint,
        s3_region: args.s3_region,
        cache_dir: args.cache_dir,
        log: !quiet,
    }
}

/// The cluster side of `run` and `cluster`.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub partitions: Option<u32>,
    pub heartbeat_interval: Duration,
    pub heartbeat_timeout: Duration,
    pub backup_tasks: bool,
    pub secret: Option<Secret>,
    /// Where to serve the job's input files from (`--serve-inputs`).
    pub serve_inputs: Option<std::net::SocketAddr>,
    /// Where to serve the status page (`--status`).
    pub status: Option<std::net::SocketAddr>,
}

impl ClusterConfig {
    pub fn new(options: &ClusterOptions) -> Result<ClusterConfig> {
        let secs = |what: &str, v: f64| {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| Error::Usage(format!("--{what}: not a positive duration: {v}")))
        };
        let config = ClusterConfig {
            partitions: options.partitions,
            heartbeat_interval: secs("heartbeat-interval", options.heartbeat_interval)?,
            heartbeat_timeout: secs("heartbeat-timeout", options.heartbeat_timeout)?,
            backup_tasks: !options.no_backup_tasks,
            secret: options
                .secret_file
                .as_deref()
                .map(load_secret)
                .transpose()?,
            serve_inputs: options.serve_inputs,
            status: options.status,
        };
        if config.heartbeat_timeout <= config.heartbeat_interval {
            return Err(Error::Usage(
                "--heartbeat-timeout must be longer than --heartbeat-interval".into(),
            ));
        }
        Ok(config)
    }
}

/// A `wetmr worker` daemon.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub listen: String,
    pub threads: usize,
    /// Map tasks run at once.
    pub slots: u32,
    /// Bytes of kept map outputs held in memory; beyond, they go to a spill file.
    pub kept_memory: u64,
    /// Where the spill file is made.
    pub spill_dir: PathBuf,
    /// The cluster's secret, if any (`--secret-file`).
    pub secret_file: Option<PathBuf>,
    /// Read only files under this directory (`--input-root`).
    pub input_root: Option<PathBuf>,
    /// Listen on a non-loopback address without a secret.
    pub insecure: bool,
    pub quiet: bool,
    /// How long a map may make no progress before it is reported stalled.
    pub stall_timeout: Duration,
}

impl WorkerConfig {
    pub fn new(args: WorkerArgs) -> WorkerConfig {
        WorkerConfig {
            listen: args.listen,
            threads: threads_or_cores(args.threads),
            slots: args.slots.get(),
            kept_memory: args.kept_memory,
            spill_dir: args.spill_dir.unwrap_or_else(std::env::temp_dir),
            secret_file: args.secret_file,
            input_root: args.input_root,
            insecure: args.insecure,
            quiet: args.quiet,
            stall_timeout: args.stall_timeout,
        }
    }
}

/// The thread count asked for, or the number of cores.
fn threads_or_cores(threads: Option<NonZeroUsize>) -> usize {
    threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        NonZeroUsize::get,
    )
}
