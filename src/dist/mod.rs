//! The distributed engine's commands: `wetmr worker` (the daemon), `wetmr run` (the
//! coordinator) and `wetmr cluster` (both on one machine).
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

pub mod cluster_cmd;
pub mod executor;
pub mod keygen;
pub mod machines;
pub mod run_cmd;
pub mod serve;
pub mod tasks;
pub mod worker_cmd;
