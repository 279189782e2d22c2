//! Counting: word → (tf, df) tables, and turning them into the sorted result.
//!
//! [`CountTable`] is the per-thread table the map side fills (short keys inline, long keys in
//! a bump arena, no allocation per token); threads spill their tables into a
//! [`SharedTable`], which holds each word once; [`finish()`] ranks the words into the final
//! order: tf descending, then word bytes ascending; [`merge_sorted`] merges ranked runs (a
//! cluster's partitions) into that order; [`Spectrum`] is how many words have each tf.

mod finish;
mod merge;
mod shared;
mod spectrum;
mod table;

pub use finish::{finish, output_order, prefetched, Counted, WordCount};
pub use merge::{check_run, merge_sorted, OutOfOrder};
pub use shared::{SharedTable, SPILL_AT};
pub use spectrum::{Spectrum, Tally};
pub(crate) use table::prefetch_address;
pub use table::{CountTable, Lookahead};
