//! Who is in the job: every listed worker's link (greeting, taking part, gone), its slots
//! and reduces under way, its report, and the job's worker list (member index → machine).

use std::ops::{Index, IndexMut};

use super::config::MAX_WORKER_THREADS;
use super::report::WorkerReport;
use crate::protocol::ids::{Machine, Member};
use crate::protocol::messages::Welcome;

/// Where a listed worker stands.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Link {
    Connecting,
    Greeted,
    /// Joining a running job: answered, waiting for a reassignment to complete.
    Welcomed,
    Ready,
    Gone(String),
}

/// One listed worker.
#[derive(Debug)]
pub(super) struct WorkerEntry {
    pub link: Link,
    /// Slots taken by its tasks.
    pub running: u32,
    pub report: WorkerReport,
    /// Its index in the job's worker list, while it takes part.
    pub member: Option<Member>,
    /// It answered the job description (JobReady).
    pub answered: bool,
    /// Reduces sent to it whose ReduceDone has not come yet (a second one names the
    /// partitions it inherited while it ranked its own).
    pub reducing: u32,
}

impl WorkerEntry {
    pub fn has_free_slot(&self) -> bool {
        self.running < self.report.slots
    }

    pub fn free_slot(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    /// Takes a Welcome's figures (checked with [`plausible`]).
    pub fn welcomed(&mut self, welcome: &Welcome) {
        self.report.threads = welcome.threads;
        self.report.slots = welcome.slots.max(1);
    }

    /// Outside the job, and trying to get in (or to be heard at the start).
    pub fn greeting(&self) -> bool {
        matches!(self.link, Link::Connecting | Link::Greeted)
    }
}

/// A Welcome whose figures a real worker could send (they size the work it is given).
pub(super) fn plausible(welcome: &Welcome) -> bool {
    (1..=MAX_WORKER_THREADS).contains(&welcome.threads) && welcome.slots <= MAX_WORKER_THREADS
}

/// The listed workers, and the job's worker list.
#[derive(Debug)]
pub(super) struct Members {
    entries: Vec<WorkerEntry>,
    /// By member index: the machine that took it (lost ones stay: indices are never reused).
    list: Vec<Machine>,
}

impl Index<Machine> for Members {
    type Output = WorkerEntry;
    fn index(&self, m: Machine) -> &WorkerEntry {
        &self.entries[m.0]
    }
}

impl IndexMut<Machine> for Members {
    fn index_mut(&mut self, m: Machine) -> &mut WorkerEntry {
        &mut self.entries[m.0]
    }
}

impl Members {
    pub fn new(addresses: Vec<String>) -> Members {
        let entries = addresses
            .into_iter()
            .map(|address| WorkerEntry {
                link: Link::Connecting,
                running: 0,
                report: WorkerReport {
                    address,
                    ..WorkerReport::default()
                },
                member: None,
                answered: false,
                reducing: 0,
            })
            .collect();
        Members {
            entries,
            list: Vec::new(),
        }
    }

    /// Every listed worker.
    pub fn machines(&self) -> impl Iterator<Item = Machine> {
        (0..self.entries.len()).map(Machine)
    }

    pub fn address(&self, m: Machine) -> &str {
        &self[m].report.address
    }

    /// Some worker has not answered its greeting yet.
    pub fn greeting(&self) -> bool {
        self.entries.iter().any(WorkerEntry::greeting)
    }

    /// The job starts with the workers that answered: they become members 0, 1, …
    /// Returns how many.
    pub fn start(&mut self) -> u32 {
        self.list = self
            .machines()
            .filter(|&m| self[m].link == Link::Ready)
            .collect();
        self.list.len() as u32
    }

    /// The job's members, in index order, with their machines.
    pub fn list(&self) -> impl Iterator<Item = (Member, Machine)> + '_ {
        self.list
            .iter()
            .enumerate()
            .map(|(i, &m)| (Member(i as u32), m))
    }

    /// `m` joins the running job under the next index.
    pub fn join(&mut self, m: Machine) -> Member {
        let member = Member(self.list.len() as u32);
        self.list.push(m);
        let entry = &mut self[m];
        entry.link = Link::Ready;
        entry.report.joined += 1;
        member
    }

    /// The next index a joiner gets.
    pub fn next_member(&self) -> Member {
        Member(self.list.len() as u32)
    }

    /// The workers of the job still alive.
    pub fn alive(&self) -> Vec<Machine> {
        // A worker that joined again appears under its old index too: only its current
        // index counts.
        self.list()
            .filter(|&(i, m)| self[m].member == Some(i) && self[m].link == Link::Ready)
            .map(|(_, m)| m)
            .collect()
    }

    /// The members alive, in index order.
    pub fn alive_members(&self) -> Vec<Member> {
        let mut alive: Vec<Member> = self
            .alive()
            .into_iter()
            .filter_map(|m| self[m].member)
            .collect();
        alive.sort_unstable();
        alive
    }

    /// The machine that is member `index` now, if it is alive.
    pub fn current(&self, index: Member) -> Option<Machine> {
        let m = *self.list.get(index.index())?;
        let entry = &self[m];
        (entry.member == Some(index) && entry.link == Link::Ready).then_some(m)
    }

    /// The job's workers' addresses, by member index (lost ones included: indices stay).
    pub fn addresses(&self) -> Vec<String> {
        self.list
            .iter()
            .map(|&m| self[m].report.address.clone())
            .collect()
    }

    /// Machines whose Welcome came while the job ran, waiting to join.
    pub fn welcomed(&self) -> Vec<Machine> {
        self.machines()
            .filter(|&m| self[m].link == Link::Welcomed)
            .collect()
    }

    /// Some worker still has a reduce to answer.
    pub fn reducing(&self) -> bool {
        self.entries.iter().any(|e| e.reducing > 0)
    }

    /// Why each listed worker is out, for a job that no worker took.
    pub fn reasons(&self) -> String {
        let reasons: Vec<String> = self
            .entries
            .iter()
            .map(|e| match &e.link {
                Link::Gone(r) => format!("{}: {r}", e.report.address),
                _ => e.report.address.clone(),
            })
            .collect();
        reasons.join("; ")
    }

    pub fn reports(&self) -> Vec<WorkerReport> {
        self.entries.iter().map(|e| e.report.clone()).collect()
    }

    /// Machine `m` is member `member` now.
    pub fn is(&self, m: Machine, member: Member) -> bool {
        self[m].member == Some(member)
    }
}
