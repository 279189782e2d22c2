//! The job the worker serves: its description, the job's workers, who owns which partition
//! (and what is adopted ahead of a reassignment), and the maps under way; starting, taking
//! tasks, cancelling them, and ending.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::outputs::KeptOutputs;
use super::reducer::Ledger;
use super::shuffle::Shuffle;
use super::timers::Timers;
use super::{Action, ConnId, Dest, MapOrder, Worker};
use crate::net::frame::Outgoing;
use crate::protocol::codec::{encode, encode_job_ref, path_from_bytes, Kind};
use crate::protocol::ids::{partitions, Attempt, JobId, Member, PartitionId, TaskId};
use crate::protocol::messages::{
    self as msg, JobSpec, MapReading, RefuseReason, Role, WorkerFigures, MAX_PARTITIONS,
};

/// The job a worker serves. The maps whose order decides the order of actions are ordered
/// (B-trees), so that the actions are a function of the events alone: a simulation seed
/// replays exactly.
#[derive(Debug)]
pub(super) struct JobState {
    pub(super) spec: Arc<JobSpec>,
    pub(super) placement: Placement,
    /// The map outputs kept until the job ends.
    pub(super) kept: KeptOutputs,
    /// Tasks being mapped, with the attempt (the latest, when an abandoned one still runs).
    pub(super) mapping: HashMap<TaskId, Attempt>,
    /// Attempts another copy of which won (Cancel).
    pub(super) cancelled: HashSet<(TaskId, Attempt)>,
    pub(super) timers: Timers,
    /// Mapped tasks whose partitions are not all acknowledged yet.
    pub(super) shuffles: BTreeMap<TaskId, Shuffle>,
    /// The reducer's record of the (partition, task) pairs applied.
    pub(super) ledger: Ledger,
    pub(super) figures: WorkerFigures,
    pub(super) reduce_started: Option<Instant>,
    /// How far its maps have read, as the executor last said (sent with each Heartbeat).
    pub(super) reading: Vec<MapReading>,
}

/// Where the job's partitions live, as the coordinator last said.
#[derive(Debug)]
pub(super) struct Placement {
    /// The job's workers' addresses by index: the job's list, extended by Adopt and
    /// Reassign when workers join.
    pub(super) members: Vec<String>,
    /// The owner (job worker index) of each partition; changes with Reassign.
    pub(super) owners: Vec<Member>,
    /// Partitions adopted (Adopt) and not yet in `owners` (Reassign).
    pub(super) accepting: HashSet<PartitionId>,
    /// The coordinator's reassignment epoch, as last heard.
    pub(super) epoch: u32,
    /// Where this worker's copies go.
    pub(super) buddy: Option<Member>,
}

impl Placement {
    /// Takes a newer list of the job's workers: the same list, extended by workers that
    /// joined. False (nothing changed) for anything else.
    pub(super) fn take_members(&mut self, workers: Vec<String>) -> bool {
        let extends = workers.len() >= self.members.len()
            && workers[..self.members.len()] == self.members[..]
            && all_socket_addresses(&workers[self.members.len()..]);
        if extends {
            self.members = workers;
        }
        extends
    }
}

/// A buddy named by the coordinator is another worker of the job.
pub(super) fn valid_buddy(buddy: Option<Member>, you: Member, members: usize) -> bool {
    match buddy {
        Some(b) => b != you && b.index() < members,
        None => true,
    }
}

/// Peers are given as socket addresses, so the event loop never waits on DNS.
pub(super) fn all_socket_addresses(addresses: &[String]) -> bool {
    addresses
        .iter()
        .all(|a| a.parse::<std::net::SocketAddr>().is_ok())
}

impl Worker {
    pub(super) fn start_job(&mut self, conn: ConnId, spec: JobSpec, now: Instant) {
        let consistent = !spec.workers.is_empty()
            && all_socket_addresses(&spec.workers)
            && spec.you.index() < spec.workers.len()
            && (1..=MAX_PARTITIONS).contains(&spec.partitions)
            && spec.owners.len() == spec.partitions as usize
            && spec.owners.iter().all(|o| o.index() < spec.workers.len())
            && spec.count.split_bytes != Some(0)
            && spec.heartbeat_ms > 0
            && valid_buddy(spec.buddy, spec.you, spec.workers.len());
        if !consistent {
            return self.refuse(conn, RefuseReason::Protocol, "inconsistent job".into(), now);
        }
        let owners = spec.owners.clone();
        let owned: Vec<PartitionId> = partitions(spec.partitions)
            .filter(|p| owners[p.index()] == spec.you)
            .collect();
        self.log(format!(
            "job {}: worker {} of {}, {} of {} partitions, {} tokenizer",
            spec.job,
            spec.you,
            spec.workers.len(),
            owned.len(),
            spec.partitions,
            spec.count.tokenizer.name()
        ));
        self.actions.push_back(Action::Prepare {
            partitions: spec.partitions,
            owned: owned.clone(),
        });
        let job = spec.job;
        let next_beat = now + Duration::from_millis(u64::from(spec.heartbeat_ms));
        self.job = Some(JobState {
            placement: Placement {
                members: spec.workers.clone(),
                owners,
                accepting: HashSet::new(),
                epoch: spec.epoch,
                buddy: spec.buddy,
            },
            spec: Arc::new(spec),
            kept: KeptOutputs::new(self.kept_memory),
            mapping: HashMap::new(),
            cancelled: HashSet::new(),
            timers: Timers::new(next_beat),
            shuffles: BTreeMap::new(),
            ledger: Ledger::default(),
            figures: WorkerFigures::default(),
            reduce_started: None,
            reading: Vec::new(),
        });
        self.actions.push_back(Action::Send(
            Dest::Conn(conn),
            Outgoing::new(encode_job_ref(Kind::JobReady, job)),
        ));
    }

    /// The job `job`, if it is this worker's current one.
    pub(super) fn current(&self, job: JobId) -> Option<&JobState> {
        self.job.as_ref().filter(|j| j.spec.job == job)
    }

    pub(super) fn current_mut(&mut self, job: JobId) -> Option<&mut JobState> {
        self.job.as_mut().filter(|j| j.spec.job == job)
    }

    /// The frame that opens a connection to another worker of the current job.
    pub fn peer_hello(&self) -> Option<Vec<u8>> {
        let job = self.job.as_ref()?;
        encode(&msg::Hello {
            role: Role::Peer,
            job: job.spec.job,
            worker: job.spec.you,
        })
        .ok()
    }

    /// The address of the job's worker `peer`, if there is one.
    pub fn peer_address(&self, peer: Member) -> Option<&str> {
        let job = self.job.as_ref()?;
        job.placement.members.get(peer.index()).map(String::as_str)
    }

    /// The description of the job being served, if any.
    pub fn spec(&self) -> Option<Arc<JobSpec>> {
        self.job.as_ref().map(|j| j.spec.clone())
    }

    pub fn job_id(&self) -> Option<JobId> {
        self.job.as_ref().map(|j| j.spec.job)
    }

    /// A map task from the coordinator: mapped, unless this very attempt is mapped or
    /// was already.
    pub(super) fn task(&mut self, conn: ConnId, t: msg::Task, now: Instant) {
        let Some(job) = self.current(t.job) else {
            return self.refuse(conn, RefuseReason::UnknownJob, "task".into(), now);
        };
        // The same attempt twice (a repeated delivery): mapped once. A second map would
        // replace a resend under way with a shuffle that ends in a stale TaskDone instead
        // of the Resent the coordinator waits for.
        let repeated = job.mapping.get(&t.task) == Some(&t.attempt)
            || job
                .kept
                .own
                .get(&t.task)
                .is_some_and(|o| o.attempt == t.attempt);
        if repeated {
            return self.log(format!(
                "task {} attempt {}: received again, ignored",
                t.task, t.attempt
            ));
        }
        let spec = job.spec.clone();
        if let Some(job) = self.job.as_mut() {
            job.mapping.insert(t.task, t.attempt);
        }
        let order = MapOrder {
            job: spec,
            task: t.task,
            attempt: t.attempt,
            path: path_from_bytes(t.path),
        };
        self.actions.push_back(Action::Map(order));
    }

    /// Another copy of a task won: this attempt's map stops, its shuffle is dropped.
    pub(super) fn cancel(&mut self, c: msg::Cancel) {
        let Some(job) = self.current_mut(c.job) else {
            return;
        };
        job.cancelled.insert((c.task, c.attempt));
        let mapping = job.mapping.get(&c.task) == Some(&c.attempt);
        if job
            .shuffles
            .get(&c.task)
            .is_some_and(|s| s.attempt == c.attempt && !s.resend)
        {
            job.shuffles.remove(&c.task);
            let frames = job.kept.own.remove(&c.task);
            job.kept.release(frames);
        }
        if mapping {
            self.actions.push_back(Action::Abandon {
                job: c.job,
                task: c.task,
                attempt: c.attempt,
            });
        }
    }

    /// First step of a reassignment: accept the partitions that move here.
    pub(super) fn adopt(&mut self, conn: ConnId, a: msg::Adopt, now: Instant) {
        let Some(job) = self.current_mut(a.job) else {
            return self.refuse(conn, RefuseReason::UnknownJob, "adopt".into(), now);
        };
        if !job.placement.take_members(a.workers)
            || a.owners.len() != job.placement.owners.len()
            || a.owners
                .iter()
                .any(|o| o.index() >= job.placement.members.len())
        {
            return self.refuse(
                conn,
                RefuseReason::Protocol,
                "inconsistent adopt".into(),
                now,
            );
        }
        // Accept the partitions that come here from now on. The table used for sending,
        // and the epoch that vouches for acknowledgements, change with the Reassign that
        // follows (other heirs may not have adopted yet).
        let you = job.spec.you;
        for (p, &owner) in partitions(a.owners.len() as u32).zip(&a.owners) {
            if owner == you {
                job.placement.accepting.insert(p);
            }
        }
        let adopted = msg::Adopted {
            job: a.job,
            epoch: a.epoch,
        };
        self.send_encoded(Dest::Conn(conn), encode(&adopted));
    }

    /// The coordinator ended the job: its tables go.
    pub(super) fn end_job(&mut self, job: JobId) {
        if self.job_id() == Some(job) {
            self.job = None;
            self.actions.push_back(Action::Release);
            self.log(format!("job {job}: ended"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_worker_list_only_extends_the_known_one_with_socket_addresses() {
        let known = vec!["10.0.0.1:7070".to_string(), "10.0.0.2:7070".to_string()];
        let mut placement = Placement {
            members: known.clone(),
            owners: vec![Member(0), Member(1)],
            accepting: HashSet::new(),
            epoch: 0,
            buddy: Some(Member(1)),
        };
        let mut joined = known.clone();
        joined.push("10.0.0.1:7071".into());
        assert!(!placement.take_members(vec![known[1].clone(), known[0].clone()]));
        assert!(!placement.take_members(vec![known[0].clone()]), "shorter");
        let mut named = known.clone();
        named.push("worker3:7070".into());
        assert!(!placement.take_members(named), "a name to resolve");
        assert_eq!(placement.members, known);
        assert!(placement.take_members(joined.clone()));
        assert_eq!(placement.members, joined);
        // A buddy is another member of the job.
        assert!(valid_buddy(Some(Member(1)), Member(0), 2));
        assert!(!valid_buddy(Some(Member(0)), Member(0), 2));
        assert!(!valid_buddy(Some(Member(2)), Member(0), 2));
        assert!(valid_buddy(None, Member(0), 1));
    }
}
