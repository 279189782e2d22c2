//! `wetmr run`: the coordinator. A thin driver around the [`Coordinator`] state machine:
//! connect to every worker of the machines file, carry frames between the sockets and the
//! machine, then k-way merge the ranked partitions into the output and write it exactly as
//! `wetmr count` does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::serve;
use crate::cli::{ClusterConfig, CountConfig};
use crate::count::{merge_sorted, WordCount};
use crate::count_cmd::{deliver, inputs, Delivery};
use crate::engine::FileResult;
use crate::error::{Error, Result};
use crate::input::Input;
use crate::net::auth::Secret;
use crate::net::conns::{ConnId, Net, NetEvent};
use crate::net::frame::Payload;
use crate::output::stats::ClusterStats;
use crate::partition::{Entries, PARTITION_HASH};
use crate::protocol::codec::{bulk_words, Kind};
use crate::protocol::coordinator::{
    Action, Coordinator, FileOutcome, JobConfig, JobError, JobOutput, GREETING_TIMEOUT,
};
use crate::protocol::ids::Machine;
use crate::protocol::messages::{DownloadSpec, ServedInputs};
use crate::remote::Client;

/// Runs a job on the workers at `workers` and writes its outputs.
pub fn run(config: &CountConfig, workers: &[SocketAddr], cluster: &ClusterConfig) -> Result<()> {
    let started = Instant::now();
    let files = inputs(config, &Client::new(config.download.clone()))?.files;

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
        tokenizer: config.tokenizer,
        policy: config.policy,
        split_bytes: config.split_bytes,
        spill_at: config.spill_at,
        min_count: config.min_count,
        top: config.top,
        partitions: cluster.partitions,
        greeting_timeout: GREETING_TIMEOUT,
        heartbeat_interval: cluster.heartbeat_interval,
        heartbeat_timeout: cluster.heartbeat_timeout,
        backup_tasks: cluster.backup_tasks,
        downloads: DownloadSpec::new(&config.download),
        served,
    };
    let output = coordinate(job, workers, paths, config, cluster.secret.clone())?;
    let words = merge_ranked(&output.ranked, config.top)?;
    let files: Vec<FileResult> = files
        .iter()
        .zip(&output.files)
        .map(|(input, outcome)| file_result(&input.path, outcome))
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
            distinct: output.distinct,
            threads,
            cluster: Some(ClusterStats {
                partitions: output.partitions,
                partition_hash: PARTITION_HASH,
                workers: output.workers.clone(),
                recovery: output.recovery.clone(),
            }),
            downloads: None,
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

/// The coordinator's connections to its workers.
struct Links {
    addresses: Vec<SocketAddr>,
    conns: Vec<Option<ConnId>>,
    machine_of: HashMap<ConnId, Machine>,
}

impl Links {
    /// Opens a connection to `w`, closing the one it had.
    fn connect(
        &mut self,
        net: &mut Net,
        w: Machine,
        events: &mut Vec<NetEvent>,
    ) -> std::io::Result<()> {
        self.close(net, w, events);
        let id = net.connect(self.addresses[w.0])?;
        self.conns[w.0] = Some(id);
        self.machine_of.insert(id, w);
        Ok(())
    }

    fn close(&mut self, net: &mut Net, w: Machine, events: &mut Vec<NetEvent>) {
        if let Some(id) = self.conns[w.0].take() {
            self.machine_of.remove(&id);
            net.close(id, events);
        }
    }

    /// Connection `id` closed: the worker it was to.
    fn closed(&mut self, id: ConnId) -> Option<Machine> {
        let w = self.machine_of.remove(&id)?;
        self.conns[w.0] = None;
        Some(w)
    }
}

/// Drives the coordinator over the sockets until the job is over.
fn coordinate(
    job: JobConfig,
    workers: &[SocketAddr],
    paths: Vec<PathBuf>,
    config: &CountConfig,
    secret: Option<Secret>,
) -> Result<JobOutput> {
    let started = Instant::now();
    let stall_after = job.heartbeat_interval;
    let mut net = Net::new(None, secret).map_err(Error::Net)?;
    let addresses = workers.iter().map(|a| a.to_string()).collect();
    let mut coordinator = Coordinator::new(job, addresses, paths, started);
    let mut links = Links {
        addresses: workers.to_vec(),
        conns: vec![None; workers.len()],
        machine_of: HashMap::new(),
    };
    // Connections up and not yet answered: a close then hints at a secret mismatch.
    let mut unanswered: std::collections::HashSet<ConnId> = Default::default();
    let mut events = Vec::new();
    for w in (0..workers.len()).map(Machine) {
        if let Err(e) = links.connect(&mut net, w, &mut events) {
            coordinator.lost(w, &e.to_string());
        }
    }
    let log = |line: &str| {
        if !config.quiet {
            eprintln!("wetmr: {line}");
        }
    };
    let mut next_progress = config.progress.map(|every| started + every);
    // When the last poll returned: the time from there to the next poll is this turn's.
    let mut woke = Instant::now();
    loop {
        while let Some(action) = coordinator.poll_action() {
            match action {
                Action::Connect(w) => {
                    if let Err(e) = links.connect(&mut net, w, &mut events) {
                        coordinator.lost(w, &e.to_string());
                    }
                }
                Action::Send(w, frame) => {
                    if let Some(id) = links.conns[w.0] {
                        net.send(id, frame);
                    }
                }
                // The coordinator has already counted the worker out.
                Action::Close(w) => links.close(&mut net, w, &mut events),
                Action::Log(line) => log(&line),
                Action::Finished(outcome) => {
                    flush(&mut net, &links.conns);
                    return (*outcome).map_err(|e| match e {
                        JobError::Input(m) => Error::RemoteInput(m),
                        other => Error::Cluster(other.to_string()),
                    });
                }
            }
        }
        if events.is_empty() {
            let now = Instant::now();
            let progress = next_progress.filter(|_| !config.quiet);
            let wake = [coordinator.next_deadline(), progress]
                .into_iter()
                .flatten()
                .min();
            let timeout = wake.map(|at| at.saturating_duration_since(now));
            let read = net.poll(timeout, &mut events).map_err(Error::Net)?;
            // This process's own stall (stopped, a paused machine, swapped out, or a long
            // turn): the time beyond the sleep it asked for, and the turn before it. What
            // it did not hear meanwhile is not its workers' silence.
            let turn = now.duration_since(woke);
            woke = Instant::now();
            let overslept = timeout.map_or(Duration::ZERO, |t| (woke - now).saturating_sub(t));
            let stall = turn + overslept;
            if stall > stall_after {
                coordinator.stalled(stall);
            }
            if !read {
                // A signal cut the wait short: read what waits before judging anyone.
                continue;
            }
        }
        for event in std::mem::take(&mut events) {
            match event {
                NetEvent::Connected(id) => {
                    if let Some(&w) = links.machine_of.get(&id) {
                        unanswered.insert(id);
                        coordinator.connected(w);
                    }
                }
                NetEvent::Frame(id, frame) => {
                    if let Some(&w) = links.machine_of.get(&id) {
                        unanswered.remove(&id);
                        coordinator.frame(w, frame, Instant::now());
                    }
                }
                NetEvent::Closed(id, reason) => {
                    if let Some(w) = links.closed(id) {
                        let reason = if !unanswered.remove(&id) {
                            reason
                        } else {
                            // Closed once up, before any answer: most often a secret mismatch.
                            format!(
                                "{reason}, before answering (do this coordinator and the \
                                 worker use the same --secret-file?)"
                            )
                        };
                        coordinator.lost(w, &reason);
                    }
                }
                NetEvent::Accepted(..)
                | NetEvent::Woken
                | NetEvent::Extra
                | NetEvent::Rejected(..) => {}
            }
        }
        let now = Instant::now();
        coordinator.tick(now);
        if let (Some(at), Some(every)) = (next_progress, config.progress) {
            if now >= at && !config.quiet {
                let p = coordinator.progress();
                eprintln!(
                    "wetmr: progress: {}/{} files done, {} counted, {:.0} s",
                    p.done,
                    p.tasks,
                    p.counted,
                    started.elapsed().as_secs_f64()
                );
                next_progress = Some(at + every);
            }
        }
    }
}

/// Gives the last frames (JobEnd) a moment to leave before the connections drop.
fn flush(net: &mut Net, conns: &[Option<ConnId>]) {
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut events = Vec::new();
    while conns.iter().flatten().any(|&id| net.queued(id) > 0) && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        if net.poll(Some(left), &mut events).is_err() {
            break;
        }
        events.clear();
    }
}

/// A job id: random, so that a stranger cannot name a running job (and unique enough to
/// tell jobs apart in workers' logs); from the clock if the system has no random bytes.
fn job_id() -> u64 {
    if let Ok(bytes) = crate::net::auth::random() {
        return u64::from_le_bytes(bytes);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 40)
}

fn file_result(path: &std::path::Path, outcome: &FileOutcome) -> FileResult {
    let mut result = FileResult::new(path);
    match outcome {
        FileOutcome::Counted(s) => {
            result.format = s.format;
            result.bytes_in = s.bytes_in;
            result.chunks = s.chunks as usize;
            result.false_splits = s.false_splits as usize;
            result.counters = s.counters;
            result.skipped = s.skipped.clone();
            result.download = s.download.clone();
        }
        FileOutcome::Unreadable(skipped) => result.skipped.push(skipped.clone()),
    }
    result
}

/// Merges the ranked partitions (each in output order, words disjoint between them) into
/// the output order, keeping the first `top`. Every piece is checked before any is read.
pub fn merge_ranked(ranked: &[Vec<Payload>], top: Option<usize>) -> Result<Vec<WordCount<'_>>> {
    let mut runs = Vec::with_capacity(ranked.len());
    for pieces in ranked {
        let mut blocks: Vec<Entries<'_>> = Vec::with_capacity(pieces.len());
        for payload in pieces {
            let view =
                bulk_words(Kind::Ranked, payload).map_err(|e| Error::Cluster(e.to_string()))?;
            blocks.push(view.entries());
        }
        runs.push(blocks.into_iter().flatten());
    }
    Ok(merge_sorted(runs, top))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::WordBlock;
    use crate::protocol::codec::{encode, payload_of};
    use crate::protocol::messages::Ranked;

    fn piece(words: &[(&str, u64)], last: bool) -> Payload {
        let mut block = WordBlock::default();
        for (w, tf) in words {
            block.push(w.as_bytes(), *tf, 1);
        }
        let frame = encode(&Ranked {
            job: 1,
            partition: 0,
            last,
            distinct: 0,
            words: block,
        })
        .unwrap();
        payload_of(&frame)
    }

    #[test]
    fn k_way_merge_keeps_output_order_and_top() {
        let ranked = vec![
            vec![
                piece(&[("a", 9), ("c", 5)], false),
                piece(&[("e", 1)], true),
            ],
            vec![],
            vec![piece(&[("b", 9), ("d", 5), ("f", 1)], true)],
        ];
        let all: Vec<_> = merge_ranked(&ranked, None)
            .unwrap()
            .iter()
            .map(|w| (std::str::from_utf8(w.word).unwrap().to_string(), w.tf))
            .collect();
        let want = [("a", 9), ("b", 9), ("c", 5), ("d", 5), ("e", 1), ("f", 1)];
        assert_eq!(all, want.map(|(w, t)| (w.to_string(), t)));
        assert_eq!(merge_ranked(&ranked, Some(3)).unwrap().len(), 3);
    }
}
