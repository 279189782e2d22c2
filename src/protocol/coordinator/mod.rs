//! The coordinator's protocol logic, as a state machine with no sockets, threads or clock.
//!
//! Phases: greet every worker of the machines list (those that cannot be reached, or do not
//! answer within the greeting timeout, are left out with a warning), send the job
//! description (R partitions, owner of partition `p` is worker `p mod W`, the partition
//! function named), hand out map tasks dynamically — a worker gets its next file when it
//! has a free slot, so faster machines do more — then, once every task is done (its
//! partitions acknowledged by their reducers), ask every worker to reduce, and collect the
//! ranked partitions. The driver merges them into the output (see
//! [`crate::count::merge_sorted`]).
//!
//! Failures: an input no worker can read, or a damaged input under the strict policy,
//! fails the job with the first such file in input order, as `wetmr count` does. A worker
//! lost after the job started (connection closed, or silent past the heartbeat timeout) is
//! recovered from (`recovery`): the tasks it was running run again, its partitions move
//! to live workers (heirs adopt them first, then everyone gets the new owners and sends its
//! outputs for them again), and reports made under an older assignment (epoch) are
//! followed by a resend of what moved since. Each worker has a buddy that keeps copies of
//! what its tasks produced for the worker's own partitions: the lost worker's finished
//! tasks are sent to the new owners from those copies, and run again only when the copies
//! are gone too. The job fails only when no worker is left.
//!
//! The state is split by what owns it: `members` (who is in the job), `schedule` (the
//! tasks), `placement` (who owns which partition), `reduce` (the ranked results),
//! `timers` (every deadline); this module moves data between them as messages arrive
//! (`handle`).

pub mod config;
mod handle;
mod journal;
mod members;
mod placement;
mod recovery;
mod reduce;
pub mod report;
mod schedule;
mod status;
mod timers;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use config::{
    Action, JobConfig, GREETING_TIMEOUT, MAX_LOST_RUNS, MAX_WORKER_THREADS, PARTITIONS_PER_WORKER,
    REJOIN_AFTER_INTERVALS, SUSPECT_AFTER_INTERVALS,
};
pub use report::{JobError, JobOutput, Progress, Recovery, WorkerReport};

use journal::Journal;
use members::{Link, Members};
use placement::Placement;
use reduce::Collect;
use schedule::Schedule;
use timers::Timers;

use super::codec::{decode, encode, encode_job_ref, Kind, Wire};
use super::ids::{Machine, Member, PartitionId};
use super::messages::{self as msg, JobSpec, PartitionHash, Role, MAX_PARTITIONS};
use crate::net::frame::{Frame, Outgoing};
use crate::observe::status::EventKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Preparing,
    Mapping,
    Reducing,
    Over,
}

/// The coordinator state machine (see the module docs).
#[derive(Debug)]
pub struct Coordinator {
    config: JobConfig,
    members: Members,
    schedule: Schedule,
    placement: Placement,
    collect: Collect,
    timers: Timers,
    phase: Phase,
    recovery: Recovery,
    journal: Journal,
    /// Why the job failed, once it has.
    failed: Option<String>,
    /// What the status keeps from one publication to the next.
    shown: status::Shown,
    /// The inputs' sizes, when known (the status's total).
    sizes: Option<Vec<u64>>,
    /// The inputs as the status names them.
    files_shown: std::sync::Arc<Vec<String>>,
    actions: VecDeque<Action>,
}

impl Coordinator {
    /// A job over `paths` (expanded, non-empty) on the workers at `addresses`, starting
    /// `now` (the greeting timeout runs from it).
    pub fn new(
        config: JobConfig,
        addresses: Vec<String>,
        paths: Vec<PathBuf>,
        now: Instant,
    ) -> Coordinator {
        let timers = Timers::new(addresses.len(), now + config.greeting_timeout);
        let shown = paths.iter().map(|p| crate::error::shown(p).to_string());
        let files_shown = std::sync::Arc::new(shown.collect());
        Coordinator {
            config,
            members: Members::new(addresses),
            schedule: Schedule::new(paths),
            placement: Placement::default(),
            collect: Collect::default(),
            timers,
            phase: Phase::Connecting,
            recovery: Recovery::default(),
            journal: Journal::new(now),
            failed: None,
            shown: status::Shown::default(),
            sizes: None,
            files_shown,
            actions: VecDeque::new(),
        }
    }

    /// The inputs' sizes, in task order, when they are all known: the status then says how
    /// many bytes of the total are done.
    pub fn with_sizes(mut self, sizes: Vec<u64>) -> Coordinator {
        self.sizes = (sizes.len() == self.schedule.len()).then_some(sizes);
        self
    }

    /// The driver's clock says `now`: what happens next happens then (the journal's times).
    pub fn at(&mut self, now: Instant) {
        self.journal.at(now);
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// How far the map phase is.
    pub fn progress(&self) -> Progress {
        self.schedule.progress()
    }

    /// The connection to worker `w` is up: greet it.
    pub fn connected(&mut self, w: Machine) {
        let hello = msg::Hello {
            role: Role::Coordinator,
            job: self.config.job,
            // (Only a peer names itself.)
            worker: Member(0),
        };
        self.members[w].link = Link::Greeted;
        self.send(w, &hello);
    }

    /// Worker `w` could not be reached, or its connection closed.
    pub fn lost(&mut self, w: Machine, reason: &str) {
        self.lose(w, reason, false);
    }

    /// A frame arrived from worker `w`.
    pub fn frame(&mut self, w: Machine, frame: Frame, now: Instant) {
        self.journal.at(now);
        if !matches!(self.phase, Phase::Connecting | Phase::Over) {
            self.timers.heard(w, now);
        }
        if self.phase == Phase::Over {
            return;
        }
        match decode(frame) {
            Ok(m) => self.message(w, m),
            Err(e) => self.protocol_error(w, e.to_string()),
        }
    }

    /// Time passes: the workers that have not answered by the greeting timeout are left
    /// out; a worker of the job silent for longer than its allowed silence
    /// (`Timers::allowed_silence`) is declared lost (a hung or cut-off machine) and its
    /// connection closed; workers outside the job are tried again.
    pub fn tick(&mut self, now: Instant) {
        self.journal.at(now);
        match self.phase {
            Phase::Over => return,
            Phase::Connecting => {
                if self.timers.greeting.is_some_and(|at| now >= at) {
                    self.greeting_over();
                }
                return;
            }
            _ => {}
        }
        let (allowed, tail) = self.allowed_silence();
        for w in self.members.alive() {
            let silent = self.timers.silence(w, now);
            if silent > allowed {
                self.actions.push_back(Action::Close(w));
                let reason = if tail {
                    format!(
                        "no heartbeat for {:.1} s while the job's last tasks wait on it \
                         (taken over as a straggler)",
                        silent.as_secs_f64()
                    )
                } else {
                    format!(
                        "silent for {:.1} s (heartbeat timeout)",
                        silent.as_secs_f64()
                    )
                };
                self.lose(w, &reason, tail);
            }
        }
        self.retry_outsiders(now);
    }

    /// The coordinator itself did not run for `stall` (it was stopped, its machine paused,
    /// or a turn took that long): its deadlines move by as much, since it could not hear
    /// its workers meanwhile. (Their frames sent meanwhile wait in the sockets and are read
    /// before the next judgement.)
    pub fn stalled(&mut self, stall: Duration) {
        self.timers.shift(stall);
    }

    /// When [`Coordinator::tick`] may have something to do, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Over => return None,
            Phase::Connecting => return self.timers.greeting,
            _ => {}
        }
        let (allowed, _) = self.allowed_silence();
        let silence =
            (self.members.alive().into_iter()).filter_map(|w| self.timers.silence_ends(w, allowed));
        let outsiders = self
            .members
            .machines()
            .filter_map(|w| match self.members[w].link {
                Link::Gone(_) | Link::Connecting | Link::Greeted => self.timers.retry[w.0],
                _ => None,
            });
        // (A worker just gone gets its retry time at the tick that follows every event.)
        silence.chain(outsiders).min()
    }

    fn allowed_silence(&self) -> (Duration, bool) {
        let tail = match self.phase {
            Phase::Mapping => self.schedule.all_handed_out(),
            Phase::Reducing => true,
            _ => false,
        };
        Timers::allowed_silence(&self.config, tail)
    }

    /// The time allowed for greetings is over: workers that have not answered are left out.
    fn greeting_over(&mut self) {
        let waited = self.config.greeting_timeout;
        let late: Vec<Machine> = (self.members.machines())
            .filter(|&w| self.members[w].greeting())
            .collect();
        for w in late {
            self.actions.push_back(Action::Close(w));
            let reason = format!("no answer within {:.0} s", waited.as_secs_f64());
            self.lost(w, &reason);
        }
    }

    /// Listed workers outside the running job are tried again every
    /// [`REJOIN_AFTER_INTERVALS`] heartbeat intervals (a restarted or late worker joins);
    /// one that connects but does not answer within the heartbeat timeout is dropped until
    /// the next try.
    fn retry_outsiders(&mut self, now: Instant) {
        let machines: Vec<Machine> = self.members.machines().collect();
        for w in machines {
            let retry = &mut self.timers.retry[w.0];
            match self.members[w].link {
                Link::Gone(_) => match *retry {
                    None => {
                        let every = self.config.heartbeat_interval * REJOIN_AFTER_INTERVALS;
                        *retry = Some(now + every);
                    }
                    Some(at) if at <= now => {
                        self.members[w].link = Link::Connecting;
                        *retry = Some(now + self.config.heartbeat_timeout);
                        self.actions.push_back(Action::Connect(w));
                    }
                    Some(_) => {}
                },
                Link::Connecting | Link::Greeted if retry.is_some_and(|at| at <= now) => {
                    self.actions.push_back(Action::Close(w));
                    self.lost(w, "no answer to a new greeting");
                }
                _ => {}
            }
        }
    }

    /// All workers answered (or are gone): send the job to those that took part.
    fn check_greetings(&mut self) {
        if self.members.greeting() {
            return;
        }
        self.timers.greeting = None;
        let n = self.members.start();
        if n == 0 {
            let reasons = self.members.reasons();
            return self.finish(Err(JobError::NoWorkers(reasons)));
        }
        let partitions = (self.config.partitions)
            .unwrap_or(PARTITIONS_PER_WORKER * n)
            .clamp(1, MAX_PARTITIONS);
        self.placement = Placement::new(partitions, n);
        self.collect = Collect::new(partitions);
        let list: Vec<(Member, Machine)> = self.members.list().collect();
        for (index, w) in list {
            self.send_job(w, index);
        }
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let files = self.schedule.len();
        self.log(format!(
            "job {}: {files} file{} on {n} worker{}, R = {partitions} partitions ({})",
            self.config.job,
            plural(files),
            plural(n as usize),
            crate::partition::PARTITION_HASH
        ));
        self.phase = Phase::Preparing;
    }

    /// Makes worker `w` the job's member `index` (listed already) and sends it the job
    /// description, with the current owners table.
    fn send_job(&mut self, w: Machine, index: Member) {
        let config = &self.config;
        let spec = JobSpec {
            job: config.job,
            count: config.count.clone(),
            hash: PartitionHash::Xxh3Seed0Mod,
            partitions: self.placement.partitions,
            workers: self.members.addresses(),
            you: index,
            owners: self.placement.owners(),
            epoch: self.placement.epoch,
            buddy: self.placement.buddy_of(index),
            heartbeat_ms: (config.heartbeat_interval.as_millis()).clamp(1, u32::MAX as u128) as u32,
            tasks: self.schedule.len() as u32,
            downloads: config.downloads.clone(),
            served: config.served.clone(),
        };
        let owned = self.placement.owned_by(index).count() as u32;
        let entry = &mut self.members[w];
        entry.member = Some(index);
        entry.answered = false;
        entry.running = 0;
        entry.reducing = 0;
        entry.report.took_part = true;
        entry.report.partitions_owned = owned;
        self.send(w, &spec);
    }

    /// Every live worker answered the job description: hand out tasks.
    fn check_prepared(&mut self) {
        let alive = self.members.alive();
        if self.phase == Phase::Preparing && alive.iter().all(|&w| self.members[w].answered) {
            self.phase = Phase::Mapping;
            self.advance();
        }
    }

    /// After a task changed state: hand out more, fail, or start the reduce.
    fn advance(&mut self) {
        let open = self.schedule.open();
        if let Some(message) = self.schedule.failure() {
            if !open {
                let error = JobError::Input(message.to_string());
                return self.finish(Err(error));
            }
        } else if !open && self.placement.adopting.is_none() {
            return self.start_reduce();
        }
        if !self.dispatch() {
            return;
        }
        // Nothing runs and nothing can start: the only slots taken are stalled maps'.
        let stuck = self.phase == Phase::Mapping
            && self.placement.adopting.is_none()
            && self.schedule.stuck(&self.members);
        if stuck {
            self.finish(Err(JobError::Stuck(self.schedule.pending())));
        }
    }

    /// Hands out what the free slots can take; false if the job ended on the way (a task
    /// that cannot be sent).
    fn dispatch(&mut self) -> bool {
        let handouts = self.schedule.dispatch(
            self.config.job,
            self.config.backup_tasks,
            &mut self.members,
            &mut self.recovery,
        );
        for handout in handouts {
            let (t, attempt, w) = (handout.task.task, handout.task.attempt, handout.worker);
            self.journal.started(t, attempt, w, handout.backup);
            if handout.backup {
                let addr = self.members.address(w);
                let line = format!("task {t}: backup copy on worker {addr}");
                let detail = format!("backup copy on worker {addr}");
                self.journal
                    .event(EventKind::BackupStarted, Some(w), Some(t), detail);
                self.log(line);
            }
            if !self.send(handout.worker, &handout.task) {
                return false;
            }
        }
        true
    }

    /// Asks each live worker to rank the partitions it owns that are not complete yet
    /// (all of them the first time; after a loss, those that moved).
    fn start_reduce(&mut self) {
        self.phase = Phase::Reducing;
        for w in self.members.alive() {
            let Some(index) = self.members[w].member else {
                continue;
            };
            let owned: Vec<PartitionId> = self.placement.owned_by(index).collect();
            let partitions: Vec<PartitionId> = (owned.into_iter())
                .filter(|&p| self.collect.request(p))
                .collect();
            if partitions.is_empty() {
                continue;
            }
            let reduce = msg::Reduce {
                job: self.config.job,
                partitions,
                min_count: self.config.min_count,
                top: self.config.top.map(|k| k as u64),
            };
            if !self.send(w, &reduce) {
                return;
            }
            self.members[w].reducing += 1;
        }
        self.check_reduced();
    }

    /// Every partition complete and no Reduce outstanding: the job is done.
    fn check_reduced(&mut self) {
        if self.phase == Phase::Reducing && !self.members.reducing() && self.collect.complete() {
            let output = JobOutput {
                files: self.schedule.outcomes(),
                spectrum: self.collect.spectrum(),
                ranked: self.collect.take(),
                partitions: self.placement.partitions,
                workers: self.members.reports(),
                recovery: self.recovery.clone(),
            };
            self.finish(Ok(output));
        }
    }

    /// Queues `message` for worker `w`. One that cannot be encoded (over the frame size
    /// limit) fails the job; returns whether it was queued.
    fn send<T: Wire>(&mut self, w: Machine, message: &T) -> bool {
        match encode(message) {
            Ok(frame) => {
                self.actions
                    .push_back(Action::Send(w, Outgoing::new(frame)));
                true
            }
            Err(e) => {
                self.finish(Err(JobError::Input(e.to_string())));
                false
            }
        }
    }

    fn protocol_error(&mut self, w: Machine, what: String) {
        let addr = self.members.address(w).to_string();
        self.actions.push_back(Action::Close(w));
        if self.phase == Phase::Connecting {
            return self.lost(w, &format!("protocol error: {what}"));
        }
        self.finish(Err(JobError::Worker {
            addr,
            reason: format!("protocol error: {what}"),
        }));
    }

    /// Ends the job: tells the workers to drop it, then reports the outcome.
    fn finish(&mut self, outcome: Result<JobOutput, JobError>) {
        if self.phase == Phase::Over {
            return;
        }
        self.phase = Phase::Over;
        if let Err(e) = &outcome {
            self.journal
                .event(EventKind::JobFailed, None, None, e.to_string());
            self.failed = Some(e.to_string());
        }
        for w in self.members.alive() {
            let end = encode_job_ref(Kind::JobEnd, self.config.job);
            self.actions.push_back(Action::Send(w, Outgoing::new(end)));
        }
        self.actions.push_back(Action::Finished(Box::new(outcome)));
    }

    fn log(&mut self, line: String) {
        self.actions.push_back(Action::Log(line));
    }
}

/// A job's settings for unit tests of the coordinator's parts.
#[cfg(test)]
pub(crate) fn tests_config() -> JobConfig {
    JobConfig {
        job: crate::protocol::ids::JobId(1),
        count: crate::engine::Job {
            tokenizer: crate::tokenize::TokenizerKind::Word,
            content_type: None,
            policy: crate::engine::Policy::Strict,
            split_bytes: None,
            spill_at: 1000,
        },
        min_count: 1,
        top: None,
        partitions: None,
        greeting_timeout: GREETING_TIMEOUT,
        heartbeat_interval: Duration::from_secs(1),
        heartbeat_timeout: Duration::from_secs(10),
        backup_tasks: true,
        downloads: super::messages::DownloadSpec::new(&crate::remote::Settings::default()),
        served: None,
    }
}
