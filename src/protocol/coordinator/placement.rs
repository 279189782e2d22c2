//! Where the partitions live: the owner of each one, each member's buddy (which keeps
//! copies of what its tasks produce for its own partitions), and the reassignments that
//! move partitions off lost workers (epochs, and the one waiting for its heirs).

use crate::protocol::ids::{partitions, Machine, Member, PartitionId};

/// A reassignment waiting for its heirs' Adopted.
#[derive(Debug)]
pub(super) struct Adoption {
    pub epoch: u32,
    /// Heirs still to answer.
    pub heirs: Vec<Machine>,
    /// Every partition moved since the last completed reassignment.
    pub moved: Vec<PartitionId>,
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
    moved_at: Vec<Vec<PartitionId>>,
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

    pub fn owner(&self, p: PartitionId) -> Member {
        self.owners[p.index()]
    }

    /// The owners table, as messages carry it.
    pub fn owners(&self) -> Vec<Member> {
        self.owners.clone()
    }

    /// The partitions `member` owns.
    pub fn owned_by(&self, member: Member) -> impl Iterator<Item = PartitionId> + '_ {
        partitions(self.partitions).filter(move |&p| self.owner(p) == member)
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

    /// Member `dead` was lost: its partitions go round robin to the members `alive`
    /// (sorted), and those whose buddy it was get the next one among them. Starts a new
    /// epoch; returns the partitions moved.
    pub fn move_from(&mut self, dead: Member, alive: &[Member]) -> Vec<PartitionId> {
        let moved: Vec<PartitionId> = self.owned_by(dead).collect();
        for (i, &p) in moved.iter().enumerate() {
            self.owners[p.index()] = alive[i % alive.len()];
        }
        self.epoch += 1;
        self.moved_at.push(moved.clone());
        for i in 0..self.buddies.len() as u32 {
            if self.buddies[i as usize] == Some(dead) && alive.contains(&Member(i)) {
                self.buddies[i as usize] = Placement::pick_buddy(Member(i), alive);
            }
        }
        moved
    }

    /// The partitions moved after `epoch`, sorted.
    pub fn moved_since(&self, epoch: u32) -> Vec<PartitionId> {
        let mut partitions: Vec<PartitionId> = self.moved_at[epoch as usize..].concat();
        partitions.sort_unstable();
        partitions.dedup();
        partitions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_member_s_partitions_go_round_robin_and_its_wards_get_new_buddies() {
        // 8 partitions over 4 members: member m owns m, m+4; each member's buddy is the next.
        let mut placement = Placement::new(8, 4);
        let [p1, p5] = [PartitionId(1), PartitionId(5)];
        assert_eq!(placement.owned_by(Member(1)).collect::<Vec<_>>(), [p1, p5]);
        assert_eq!(placement.buddy_of(Member(0)), Some(Member(1)));
        assert_eq!(placement.buddy_of(Member(3)), Some(Member(0)));
        // Member 1 is lost; 0, 2 and 3 are alive.
        let alive = [Member(0), Member(2), Member(3)];
        let moved = placement.move_from(Member(1), &alive);
        assert_eq!(moved, [p1, p5]);
        assert_eq!(placement.owner(p1), Member(0));
        assert_eq!(placement.owner(p5), Member(2));
        assert_eq!(placement.owned_by(Member(1)).count(), 0);
        // Member 0 kept its copies at 1: its buddy is now the next live member.
        assert_eq!(placement.buddy_of(Member(0)), Some(Member(2)));
        assert_eq!(placement.epoch, 1);
        // Reports made before the move resend what moved since.
        assert_eq!(placement.moved_since(0), [p1, p5]);
        assert!(placement.moved_since(1).is_empty());
    }

    #[test]
    fn a_single_member_has_no_buddy_and_a_buddy_wraps_around() {
        assert_eq!(Placement::new(4, 1).buddy_of(Member(0)), None);
        let alive = [Member(0), Member(3), Member(5)];
        assert_eq!(Placement::pick_buddy(Member(3), &alive), Some(Member(5)));
        assert_eq!(Placement::pick_buddy(Member(5), &alive), Some(Member(0)));
        assert_eq!(Placement::pick_buddy(Member(0), &[Member(0)]), None);
    }
}
