//! The numbers that name things in a job, as types of their own: a worker is named two ways
//! (its place in the coordinator's machines list, and its index among the job's workers,
//! which messages carry), and mixing the two is a compile error.

/// A worker's place in the coordinator's machines list: how the coordinator and its driver
/// name a connection. Stable for the job, whether or not the worker takes part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Machine(pub usize);

/// A worker's index in the job's worker list (`JobSpec::workers`): what messages name as
/// owners, buddies and peers. A worker that joins a running job gets the next index, so
/// a restarted machine has several over a job; only its last one is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Member(pub u32);

/// A copy of a task handed to a worker, counted from 1 over the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Attempt(pub u32);

impl Member {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
