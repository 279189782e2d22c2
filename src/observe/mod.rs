//! What a person sees of a job: while it runs, a live bar on a terminal ([`terminal`],
//! [`local`] for `count`) or plain progress lines in a log, and on the coordinator a
//! status page ([`status`] is the document, [`server`] serves it); at the end, a report
//! with plots ([`report`]).
//!
//! None of it is on the data path. The counting threads and the coordinator's event loop
//! only publish what they already keep (atomic counters, a snapshot now and then); the
//! threads here read it, draw and serve, so a slow terminal or a slow browser never slows
//! the job.

pub mod cluster;
pub mod local;
pub mod report;
pub mod samples;
pub mod server;
pub mod status;
pub mod terminal;
