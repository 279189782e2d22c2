//! The distributed engine around the protocol's state machines: the coordinator's driver
//! ([`coordinate`]), the executor of a worker's actions ([`executor`]), the CPU work it
//! runs ([`tasks`]) and the spill file of kept outputs it writes ([`spill`]), the machines list ([`machines`]) and the input server ([`serve`]).
//! The commands that run them are in [`crate::commands`] (`worker`, `run`, `cluster`).
//!
//! ```text
//!  coordinator                    workers (each: a mio loop + a rayon pool)
//!  ───────────                    ─────────────────────────────────────────
//!  Hello ───────────────────────► Welcome
//!  Job (R, partition fn, peers) ─► JobReady
//!  Task (file) ──────────────────► map: local engine → split by xxh3 mod R
//!                                  shuffle: Partition ──► owner of p (a worker)
//!                                           ◄── PartitionAck (applied once)
//!            ◄────────────────── TaskDone (all partitions acknowledged)
//!  Reduce ───────────────────────► rank owned partitions (tf desc, bytes asc)
//!            ◄────────────────── Ranked pieces…, ReduceDone
//!  k-way merge → TSV, stats
//!  JobEnd ───────────────────────► drop the job's tables
//! ```

pub mod coordinate;
pub mod executor;
pub mod machines;
pub mod serve;
pub mod spill;
pub mod tasks;
