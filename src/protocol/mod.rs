//! The wire protocol of the distributed engine: [`messages`] (one rkyv type each), their
//! table of kinds and their encoding into frames ([`codec`]), and the two state machines
//! that speak it, [`coordinator`] and [`worker`]. No sockets, no
//! threads, no clock inside: drivers (the mio loops in [`crate::cluster`], or the in-memory
//! router of the tests) feed them events and carry out their actions. The one exception is
//! the worker's store of kept map outputs, [`kept`], which spills to a local file beyond
//! its memory budget.

pub mod codec;
pub mod coordinator;
pub mod ids;
pub mod kept;
pub mod messages;
pub mod worker;
