//! Where the partitions live: the owner of each one, each member's buddy (which keeps
//! copies of what its tasks produce for its own partitions), and the reassignments that
//! move partitions off lost workers (epochs, and the one waiting for its heirs).

use crate::protocol::ids::{Machine, Member};

/// A reassignment waiting for its heirs' Adopted.
#[derive(Debug)]
pub(super) struct Adoption {
    pub epoch: u32,
    /// Heirs still to answer.
    pub heirs: Vec<Machine>,
    /// Every partition moved since the last completed reassignment.
    pub moved: Vec<u32>,
}

#[derive(Debug, Default)]
pub(super) struct Placement {
    /// R.
    pub partitions: u32,
    /// The owner of each partition.
    owners: Vec<Member>,
    /// The buddy of each member, if any.
    buddies: Vec<Option<Member>>,
    /// Reassignments so far, and the partitions each one moved.
    pub epoch: u32,
    moved_at: Vec<Vec<u32>>,
    pub adopting: Option<Adoption>,
}

impl Placement {
    /// `partitions` over `n` members: partition `p` is member `p mod n`'s, and each
    /// member's buddy is the next one.
    pub fn new(partitions: u32, n: u32) -> Placement {
        Placement {
            partitions,
            owners: (0..partitions).map(|p| Member(p % n)).collect(),
            buddies: (0..n)
                .map(|i| Some(Member((i + 1) % n)).filter(|&b| b != Member(i)))
                .collect(),
            ..Placement::default()
        }
    }

    pub fn owner(&self, p: u32) -> Member {
        self.owners[p as usize]
    }

    /// The owners table as messages carry it.
    pub fn owners(&self) -> Vec<u32> {
        self.owners.iter().map(|m| m.0).collect()
    }

    /// The partitions `member` owns.
    pub fn owned_by(&self, member: Member) -> impl Iterator<Item = u32> + '_ {
        (0..self.partitions).filter(move |&p| self.owner(p) == member)
    }

    pub fn buddy_of(&self, member: Member) -> Option<Member> {
        self.buddies.get(member.index()).copied().flatten()
    }

    /// A buddy for `member`: the next live member after it, in index order, wrapping
    /// around (`alive`: sorted).
    pub fn pick_buddy(member: Member, alive: &[Member]) -> Option<Member> {
        let others: Vec<Member> = alive.iter().copied().filter(|&i| i != member).collect();
        others
            .iter()
            .copied()
            .find(|&i| i > member)
            .or(others.first().copied())
    }

    /// A member joins, with this buddy.
    pub fn join(&mut self, buddy: Option<Member>) {
        self.buddies.push(buddy);
    }

    /// Member `dead` was lost: its partitions go round robin to `heirs`, those whose
    /// buddy it was get a new one among `alive` (the members alive, sorted) — for those
    /// `is_alive` says are. Starts a new epoch; returns the partitions moved.
    pub fn move_from(
        &mut self,
        dead: Member,
        heirs: &[Member],
        alive: &[Member],
        is_alive: impl Fn(Member) -> bool,
    ) -> Vec<u32> {
        let moved: Vec<u32> = self.owned_by(dead).collect();
        for (i, &p) in moved.iter().enumerate() {
            self.owners[p as usize] = heirs[i % heirs.len()];
        }
        self.epoch += 1;
        self.moved_at.push(moved.clone());
        for i in 0..self.buddies.len() as u32 {
            if self.buddies[i as usize] == Some(dead) && is_alive(Member(i)) {
                self.buddies[i as usize] = Placement::pick_buddy(Member(i), alive);
            }
        }
        moved
    }

    /// The partitions moved after `epoch`, sorted.
    pub fn moved_since(&self, epoch: u32) -> Vec<u32> {
        let mut partitions: Vec<u32> = self.moved_at[epoch as usize..].concat();
        partitions.sort_unstable();
        partitions.dedup();
        partitions
    }
}
