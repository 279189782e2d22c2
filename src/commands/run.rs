//! `wetmr run`: the coordinator's command. Expands the inputs (serving them to the workers
//! if asked), runs the job on the workers of the machines file
//! ([`crate::cluster::coordinate`]), merges the ranked partitions into the output order,
//! and writes the outputs exactly as `wetmr count` does.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::inputs;
use crate::cluster::coordinate::{coordinate, merge_ranked, Reporting};
use crate::cluster::serve;
use crate::config::{ClusterConfig, CountConfig, Progress};
use crate::engine::FileResult;
use crate::error::{Error, Result};
use crate::input::Input;
use crate::observe::cluster::Watcher;
use crate::observe::server;
use crate::observe::status::Board;
use crate::output::deliver::{deliver, Delivery, ReportInputs};
use crate::output::stats::ClusterStats;
use crate::partition::PARTITION_HASH;
use crate::protocol::coordinator::{JobConfig, GREETING_TIMEOUT};
use crate::protocol::ids::JobId;
use crate::protocol::messages::{DownloadSpec, ServedInputs};
use crate::remote::Client;

/// Runs a job on the workers at `workers` and writes its outputs.
pub fn run(config: &CountConfig, workers: &[SocketAddr], cluster: &ClusterConfig) -> Result<()> {
    let started = Instant::now();
    let inputs = inputs(config, &Client::new(config.download.clone()))?;
    let sizes = inputs.all_sizes();
    let files = inputs.files;

    let paths = remote_paths(&files)?;
    let served = match cluster.serve_inputs {
        None => None,
        Some(bind) => {
            let server = serve::start(bind, paths.clone()).map_err(|e| {
                Error::Usage(format!(
                    "--serve-inputs {bind}: cannot serve from there: {e}"
                ))
            })?;
            if !config.quiet {
                eprintln!(
                    "wetmr: serving the job's files to its workers on port {}",
                    server.port
                );
            }
            Some(ServedInputs {
                port: server.port,
                token: server.token,
            })
        }
    };
    let job = JobConfig {
        job: job_id(),
        count: config.job.clone(),
        min_count: config.result.min_count,
        top: config.result.top,
        partitions: cluster.partitions,
        greeting_timeout: GREETING_TIMEOUT,
        heartbeat_interval: cluster.heartbeat_interval,
        heartbeat_timeout: cluster.heartbeat_timeout,
        backup_tasks: cluster.backup_tasks,
        downloads: DownloadSpec::new(&config.download),
        served,
    };
    let bars = config.progress == Progress::Bar;
    let watched = bars || cluster.status.is_some() || config.report.is_some();
    let board = watched.then(|| Arc::new(Board::default()));
    if let (Some(addr), Some(board)) = (cluster.status, &board) {
        let server = server::start(addr, Arc::clone(board), cluster.secret.as_ref())
            .map_err(|e| Error::Usage(format!("--status: {e}")))?;
        if !config.quiet {
            eprintln!("wetmr: status page on {}", server.url());
        }
    }
    let watcher = board
        .as_ref()
        .map(|board| Watcher::start(Arc::clone(board), bars))
        .transpose()?;
    let report = Reporting {
        quiet: config.quiet,
        progress: config.progress,
        board: board.clone(),
        sizes,
    };
    let output = coordinate(job, workers, paths, cluster.secret.clone(), report);
    if let Some(board) = &board {
        board.close();
    }
    let throughput = watcher.and_then(Watcher::finish);
    let output = output?;
    let words = merge_ranked(&output.ranked, config.result.top)?;
    let files: Vec<FileResult> = files
        .iter()
        .zip(output.files)
        .map(|(input, result)| FileResult {
            path: input.path.clone(),
            ..result
        })
        .collect();
    let threads = output
        .workers
        .iter()
        .filter(|w| w.took_part)
        .map(|w| w.threads as usize)
        .sum();
    deliver(
        config,
        Delivery {
            words: &words,
            files: &files,
            distinct: output.spectrum.words(),
            threads,
            cluster: Some(ClusterStats {
                partitions: output.partitions,
                partition_hash: PARTITION_HASH,
                workers: output.workers.clone(),
                recovery: output.recovery.clone(),
            }),
            downloads: None,
            report: config.report.is_some().then(|| ReportInputs {
                spectrum: output.spectrum,
                throughput,
                cluster: board.as_ref().and_then(|b| b.latest()),
            }),
        },
        started,
    )
}

/// The paths to send to workers: absolute, since a worker resolves nothing against its
/// own working directory (a URL as it is: each worker fetches its own). A worker reads
/// regular files only: anything else fails there, as a device or a pipe fails `count`.
fn remote_paths(files: &[Input]) -> Result<Vec<PathBuf>> {
    files
        .iter()
        .map(|Input { path, remote, .. }| {
            if remote.is_some() {
                return Ok(path.clone());
            }
            std::path::absolute(path).map_err(|source| Error::Open {
                path: path.clone(),
                source,
            })
        })
        .collect()
}

/// A job id: random, so that a stranger cannot name a running job (and unique enough to
/// tell jobs apart in workers' logs); from the clock if the system has no random bytes.
fn job_id() -> JobId {
    if let Ok(bytes) = crate::net::auth::random() {
        return JobId(u64::from_le_bytes(bytes));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    JobId(nanos ^ (u64::from(std::process::id()) << 40))
}
