//! The coordinator's driver: connects to every worker of the machines list, carries frames
//! between the sockets and the [`Coordinator`] state machine until the job is over, and
//! merges the ranked partitions it collected into the output order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::config::Progress;
use crate::count::{check_run, merge_sorted, OutOfOrder, WordCount};
use crate::error::{Error, Result};
use crate::net::auth::Secret;
use crate::net::conns::{ConnId, Net, NetEvent};
use crate::net::frame::Payload;
use crate::observe::status::Board;
use crate::protocol::codec::{bulk_words, Kind};
use crate::protocol::coordinator::{Action, Coordinator, JobConfig, JobError, JobOutput};
use crate::protocol::ids::Machine;

/// What the driver shows while the job runs.
#[derive(Debug, Clone)]
pub struct Reporting {
    /// Log nothing but errors.
    pub quiet: bool,
    /// Progress lines (a bar is drawn by whoever watches the board).
    pub progress: Progress,
    /// Where to publish the job's status for whoever watches it (the terminal's bars, the
    /// status page, the report), every [`PUBLISH_EVERY`] and at the end.
    pub board: Option<Arc<Board>>,
    /// The inputs' sizes in task order, when known (the status's total).
    pub sizes: Option<Vec<u64>>,
}

/// How often the status is published while someone watches.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(500);

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
pub fn coordinate(
    job: JobConfig,
    workers: &[SocketAddr],
    paths: Vec<PathBuf>,
    secret: Option<Secret>,
    report: Reporting,
) -> Result<JobOutput> {
    let started = Instant::now();
    let stall_after = job.heartbeat_interval;
    let mut net = Net::new(None, secret).map_err(Error::Net)?;
    let addresses = workers.iter().map(|a| a.to_string()).collect();
    let mut coordinator = Coordinator::new(job, addresses, paths, started);
    if let Some(sizes) = report.sizes.clone() {
        coordinator = coordinator.with_sizes(sizes);
    }
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
        if !report.quiet {
            crate::observe::terminal::say(line);
        }
    };
    let lines = match report.progress {
        Progress::Lines(every) => Some(every),
        _ => None,
    };
    let mut next_progress = lines.map(|every| started + every);
    let mut next_publish = report.board.as_ref().map(|_| started);
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
                    if let Some(board) = &report.board {
                        board.publish(coordinator.status(), true);
                    }
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
            let progress = next_progress.filter(|_| !report.quiet);
            let wake = [coordinator.next_deadline(), progress, next_publish]
                .into_iter()
                .flatten()
                .min();
            let timeout = wake.map(|at| at.saturating_duration_since(now));
            let read = net.poll(timeout, &mut events).map_err(Error::Net)?;
            coordinator.at(Instant::now());
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
        if let (Some(board), Some(at)) = (&report.board, next_publish) {
            if now >= at {
                board.publish(coordinator.status(), false);
                next_publish = Some(now + PUBLISH_EVERY);
            }
        }
        if let (Some(at), Some(every)) = (next_progress, lines) {
            if now >= at && !report.quiet {
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

/// Merges the ranked partitions (each in output order, words disjoint between them) into
/// the output order, keeping the first `top`. Every piece is checked before any is read.
pub fn merge_ranked(ranked: &[Vec<Payload>], top: Option<usize>) -> Result<Vec<WordCount<'_>>> {
    let runs: Vec<Vec<WordCount<'_>>> = ranked
        .par_iter()
        .enumerate()
        .map(|(partition, pieces)| {
            let mut run = Vec::new();
            for payload in pieces {
                let view = bulk_words(Kind::Ranked, payload)
                    .map_err(|e| Error::Cluster(format!("partition {partition}: {e}")))?;
                run.extend(view.entries());
            }
            check_run(&run).map_err(|OutOfOrder { at }| {
                Error::Cluster(format!(
                    "partition {partition}: its ranked words are out of order at word {at}"
                ))
            })?;
            Ok(run)
        })
        .collect::<Result<_>>()?;
    Ok(merge_sorted(&runs, top))
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
            job: crate::protocol::ids::JobId(1),
            partition: crate::protocol::ids::PartitionId(0),
            last,
            spectrum: Vec::new(),
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

    #[test]
    fn a_partition_out_of_order_is_refused_with_its_number() {
        let ranked = vec![
            vec![piece(&[("a", 9)], true)],
            vec![piece(&[("b", 1)], false), piece(&[("c", 5)], true)],
        ];
        let err = merge_ranked(&ranked, None).unwrap_err().to_string();
        assert!(
            err.contains("partition 1") && err.contains("out of order"),
            "{err}"
        );
    }
}
