//! Outputs: the ranked word list ([`format`](mod@format): TSV, JSON lines or Parquet), the run's figures
//! as JSON and as a summary line.
//!
//! Files are written atomically ([`atomic`]): staged in full in the destination's directory
//! (an anonymous file where the system allows), synced, then renamed over the destination
//! once every output of the job is staged. An interrupted or failed run never leaves a
//! partial or empty output, and older outputs stay intact until replaced. Before a job
//! reads anything, [`destinations`] checks that no output would overwrite an input or the
//! other output. [`deliver`] writes a finished job's outputs, in that order.

pub mod atomic;
pub mod deliver;
pub mod destinations;
pub mod format;
pub mod parquet;
pub mod stats;
pub mod text;
