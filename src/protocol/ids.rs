//! The numbers that name things in a job, as types of their own, so that mixing them is a
//! compile error: a job, a task, an attempt at it, a partition, and a worker — named two
//! ways, by its place in the coordinator's machines list ([`Machine`]) and by its index
//! among the job's workers, which messages carry ([`Member`]).
//!
//! On the wire each is its number: rkyv lays a one-field struct out as the field, so the
//! encoding is that of the plain integers (the golden frames of `codec` hold it to that).

use std::fmt;

/// An id type: a one-field struct over `$int`, shown with `$shown` (a format string).
macro_rules! id {
    ($(#[$doc:meta])* $name:ident($int:ty), $shown:literal) => {
        $(#[$doc])*
        #[derive(
            Debug,
            Clone,
            Copy,
            Default,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            rkyv::Archive,
            rkyv::Serialize,
            rkyv::Deserialize,
        )]
        pub struct $name(pub $int);

        impl $name {
            /// The number, as an index into the tables it names.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, $shown, self.0)
            }
        }
    };
}

id! {
    /// A job: a random number the coordinator draws, so that a worker tells one job from
    /// the next (and from another coordinator's).
    JobId(u64), "{:016x}"
}

id! {
    /// A map task: its input file's place in the job's list of files.
    TaskId(u32), "{}"
}

id! {
    /// A copy of a task handed to a worker, counted from 1 over the job.
    Attempt(u32), "{}"
}

id! {
    /// A partition of the job's words (`xxh3(word) mod R`).
    PartitionId(u32), "{}"
}

id! {
    /// A worker's index in the job's worker list (`JobSpec::workers`): what messages name
    /// as owners, buddies and peers. A worker that joins a running job gets the next index,
    /// so a restarted machine has several over a job; only its last one is live.
    Member(u32), "{}"
}

/// A worker's place in the coordinator's machines list: how the coordinator and its driver
/// name a connection. Stable for the job, whether or not the worker takes part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Machine(pub usize);

/// The partitions `0..count`.
pub fn partitions(count: u32) -> impl Iterator<Item = PartitionId> + Clone {
    (0..count).map(PartitionId)
}
