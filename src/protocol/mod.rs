//! The wire protocol of the distributed engine: [`messages`] (typed, rkyv-encoded), and
//! the two state machines that speak it, [`coordinator`] and [`worker`]. No sockets, no
//! threads, no clock inside: drivers (the mio loops in [`crate::dist`], or the in-memory
//! router of the tests) feed them events and carry out their actions.

pub mod coordinator;
pub mod messages;
pub mod worker;
