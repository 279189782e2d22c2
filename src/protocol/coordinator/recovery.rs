//! Workers leaving and joining a running job: a lost worker's tasks and partitions move to
//! live ones (heirs adopt first, then everyone sends its outputs for the moved partitions
//! again), and a worker that answers a new greeting joins under a new index.

use super::members::Link;
use super::placement::{Adoption, Placement};
use super::{Coordinator, JobError, Phase};
use crate::observe::status::EventKind;
use crate::protocol::ids::{Machine, Member, TaskId};
use crate::protocol::messages as msg;

impl Coordinator {
    /// Worker `w` is out of the job. `blameless`: the loss says nothing about the tasks it
    /// ran (it was taken over as too slow for the job's tail, see
    /// [`super::timers::Timers::allowed_silence`], or left over its own spill file), so
    /// they do not count toward [`super::MAX_LOST_RUNS`].
    pub(super) fn lose(&mut self, w: Machine, reason: &str, blameless: bool) {
        let entry = &mut self.members[w];
        if matches!(entry.link, Link::Gone(_)) || self.phase == Phase::Over {
            return;
        }
        entry.link = Link::Gone(reason.to_string());
        self.timers.retry[w.0] = None;
        // (A worker outside the job failing a new greeting is no news.)
        if self.phase == Phase::Connecting || self.members[w].member.is_some() {
            self.journal.lost_worker(w);
            let detail = reason.to_string();
            self.journal
                .event(EventKind::WorkerLost, Some(w), None, detail);
        }
        let addr = self.members.address(w).to_string();
        if self.phase == Phase::Connecting {
            self.log(format!(
                "worker {addr}: {reason}; the job goes on without it"
            ));
            self.check_greetings();
        } else if self.members[w].member.is_some() {
            self.recover(w, &addr, reason, blameless);
        }
        // Otherwise it was trying to join: it will be tried again.
    }

    /// Worker `w` was lost after the job started: its running tasks run again elsewhere,
    /// its partitions move to live workers (round robin), and every live worker sends its
    /// outputs for them again — the outputs of the lost worker's finished tasks from its
    /// buddy's copies, or, where those are gone too, by running the tasks again.
    fn recover(&mut self, w: Machine, addr: &str, reason: &str, blameless: bool) {
        let Some(dead) = self.members[w].member.take() else {
            return;
        };
        let entry = &mut self.members[w];
        entry.reducing = 0;
        entry.running = 0;
        entry.report.lost = Some(reason.to_string());
        self.recovery.workers_lost += 1;
        let alive = self.members.alive();
        if alive.is_empty() {
            return self.finish(Err(JobError::Worker {
                addr: addr.to_string(),
                reason: format!("lost during the job ({reason}), and no live worker is left"),
            }));
        }
        let lost = self.schedule.lose(w, &alive, blameless);
        self.recovery.tasks_reexecuted += lost.again;
        self.recovery.tasks_from_copies += lost.from_copies;
        if let Some(reason) = lost.give_up {
            return self.finish(Err(JobError::Worker {
                addr: addr.to_string(),
                reason: format!("lost during the job ({reason}); giving up"),
            }));
        }
        // Round robin over the members alive (`alive` is empty only when none is left,
        // which ended the job above).
        let moved = (self.placement).move_from(dead, &self.members.alive_members());
        for &p in &moved {
            // Pieces of a partition the lost worker had not finished sending are dropped.
            self.collect.moved(p);
        }
        self.recovery.partitions_moved += moved.len() as u64;
        self.log(format!(
            "worker {addr} lost ({reason}); tasks to run again: {}, sent from copies: {}, \
             partitions moved: {}",
            lost.again,
            lost.from_copies,
            moved.len()
        ));
        // Heirs first (Adopt), everyone once they have answered (Reassign): nobody sends
        // a moved partition to a worker that does not know it owns it yet.
        let mut all_moved = (self.placement.adopting.take())
            .map(|a| a.moved)
            .unwrap_or_default();
        all_moved.extend(moved);
        all_moved.sort_unstable();
        all_moved.dedup();
        let heirs: Vec<Machine> = (self.members.alive().into_iter())
            .filter(|&v| {
                let index = self.members[v].member;
                all_moved
                    .iter()
                    .any(|&p| Some(self.placement.owner(p)) == index)
            })
            .collect();
        let adopt = msg::Adopt {
            job: self.config.job,
            epoch: self.placement.epoch,
            owners: self.placement.owners(),
            workers: self.members.addresses(),
        };
        for &h in &heirs {
            self.send(h, &adopt);
        }
        let no_heirs = heirs.is_empty();
        self.placement.adopting = Some(Adoption {
            epoch: self.placement.epoch,
            heirs,
            moved: all_moved,
        });
        if no_heirs {
            self.reassign_all();
        }
        match self.phase {
            Phase::Preparing => self.check_prepared(),
            Phase::Reducing => {
                // Rebuild the moved partitions, then ask their new owners to rank them.
                self.phase = Phase::Mapping;
                self.advance();
            }
            _ => self.advance(),
        }
    }

    /// Second step of a reassignment: every live worker gets the owners table and sends
    /// again what it produced for the moved partitions.
    pub(super) fn reassign_all(&mut self) {
        let Some(adoption) = self.placement.adopting.take() else {
            return;
        };
        for v in self.members.alive() {
            let resend = self.schedule.resend_all(v);
            self.recovery.resends += resend.len() as u64;
            let buddy = (self.members[v].member).and_then(|i| self.placement.buddy_of(i));
            let reassign = msg::Reassign {
                job: self.config.job,
                epoch: adoption.epoch,
                owners: self.placement.owners(),
                workers: self.members.addresses(),
                moved: adoption.moved.clone(),
                resend,
                buddy,
            };
            self.send(v, &reassign);
        }
        self.admit_joiners();
        self.advance();
    }

    /// Asks the worker that finished task `t` to send its outputs again for the partitions
    /// moved after `epoch`.
    pub(super) fn request_resend(&mut self, t: TaskId, epoch: u32) {
        let partitions = self.placement.moved_since(epoch);
        let Some(w) = self.schedule.resend(t) else {
            return;
        };
        self.recovery.resends += 1;
        let resend = msg::Resend {
            job: self.config.job,
            task: t,
            partitions,
        };
        self.send(w, &resend);
    }

    /// Workers that answered a new greeting join the job, unless a reassignment is under
    /// way (they would miss its Adopt): then they join when it completes. A joiner owns
    /// no partition at first; it takes tasks, and may inherit partitions later.
    pub(super) fn admit_joiners(&mut self) {
        if self.placement.adopting.is_some() {
            return;
        }
        for w in self.members.welcomed() {
            let index: Member = self.members.next_member();
            let buddy = Placement::pick_buddy(index, &self.members.alive_members());
            self.placement.join(buddy);
            self.members.join(w);
            self.recovery.workers_joined += 1;
            self.timers.forget(w);
            let detail = format!("joined as worker #{}", index.0);
            self.journal
                .event(EventKind::WorkerJoined, Some(w), None, detail);
            let addr = self.members.address(w);
            let line = format!("worker {addr} joined the job (worker #{})", index.0);
            self.log(line);
            self.send_job(w, index);
            if self.phase == Phase::Mapping {
                self.dispatch();
            }
        }
    }
}
