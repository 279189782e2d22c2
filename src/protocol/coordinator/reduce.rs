//! The reduce's results as they come in: per partition, its Ranked pieces in order,
//! whether the last one came, and whether a Reduce naming it went out.

use crate::count::Spectrum;
use crate::net::frame::Payload;
use crate::protocol::codec::RankedHead;
use crate::protocol::ids::PartitionId;

#[derive(Debug, Default)]
struct Partition {
    pieces: Vec<Payload>,
    /// Its last piece came.
    complete: bool,
    /// Its frequency spectrum, from the last piece.
    spectrum: Spectrum,
    /// A Reduce naming it went out (to its current owner).
    requested: bool,
}

#[derive(Debug, Default)]
pub(super) struct Collect {
    partitions: Vec<Partition>,
}

impl Collect {
    pub fn new(partitions: u32) -> Collect {
        Collect {
            partitions: (0..partitions).map(|_| Partition::default()).collect(),
        }
    }

    /// Partition `p` is to be asked of its owner: not complete, not asked yet. Marks it
    /// asked.
    pub fn request(&mut self, p: PartitionId) -> bool {
        let part = &mut self.partitions[p.index()];
        let ask = !part.complete && !part.requested;
        part.requested |= ask;
        ask
    }

    /// A piece of partition `head.partition` may come now (asked, not complete).
    pub fn expects(&self, head: &RankedHead) -> bool {
        self.partitions
            .get(head.partition.index())
            .is_some_and(|p| p.requested && !p.complete)
    }

    /// Takes a piece (checked with [`Collect::expects`]).
    pub fn piece(&mut self, head: RankedHead, payload: Payload) {
        let part = &mut self.partitions[head.partition.index()];
        part.pieces.push(payload);
        if head.last {
            part.complete = true;
            part.spectrum = head.spectrum;
        }
    }

    /// Partition `p` moved before its owner sent it all: what came is dropped, and it
    /// will be asked of its new owner.
    pub fn moved(&mut self, p: PartitionId) {
        let part = &mut self.partitions[p.index()];
        if !part.complete {
            part.pieces.clear();
            part.requested = false;
        }
    }

    pub fn complete(&self) -> bool {
        self.partitions.iter().all(|p| p.complete)
    }

    /// The spectrum of every word of the job (the partitions' hold disjoint words).
    pub fn spectrum(&self) -> Spectrum {
        Spectrum::merge(self.partitions.iter().map(|p| &p.spectrum))
    }

    /// Every partition's pieces, in order.
    pub fn take(&mut self) -> Vec<Vec<Payload>> {
        std::mem::take(&mut self.partitions)
            .into_iter()
            .map(|p| p.pieces)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A piece; the last one holds `words` words seen `partition + 1` times.
    fn head(partition: u32, last: bool, words: u64) -> RankedHead {
        RankedHead {
            job: crate::protocol::ids::JobId(1),
            partition: PartitionId(partition),
            last,
            spectrum: Spectrum::new([(u64::from(partition) + 1, words)]),
        }
    }

    #[test]
    fn pieces_are_expected_only_once_asked_and_until_the_last() {
        let mut collect = Collect::new(2);
        assert!(!collect.expects(&head(0, false, 0)), "not asked yet");
        assert!(collect.request(PartitionId(0)));
        assert!(!collect.request(PartitionId(0)), "asked once");
        assert!(collect.expects(&head(0, false, 0)));
        collect.piece(head(0, false, 0), Payload::new());
        collect.piece(head(0, true, 7), Payload::new());
        assert!(!collect.expects(&head(0, false, 0)), "complete");
        assert!(!collect.complete(), "partition 1 is not");
        assert!(!collect.expects(&head(2, true, 0)), "no such partition");
        assert!(collect.request(PartitionId(1)));
        collect.piece(head(1, true, 5), Payload::new());
        assert!(collect.complete());
        assert_eq!(collect.spectrum().pairs(), [(2, 5), (1, 7)]);
        assert_eq!(
            collect.take().iter().map(Vec::len).collect::<Vec<_>>(),
            [2, 1]
        );
    }

    #[test]
    fn a_partition_that_moves_before_its_last_piece_starts_over() {
        let mut collect = Collect::new(1);
        collect.request(PartitionId(0));
        collect.piece(head(0, false, 0), Payload::new());
        collect.moved(PartitionId(0));
        assert!(!collect.expects(&head(0, false, 0)), "to be asked again");
        assert!(collect.request(PartitionId(0)), "asked of its new owner");
        collect.piece(head(0, true, 3), Payload::new());
        // A complete partition that moves keeps what it has.
        collect.moved(PartitionId(0));
        assert!(collect.complete());
        assert_eq!(
            collect.take()[0].len(),
            1,
            "the first owner's piece was dropped"
        );
    }
}
