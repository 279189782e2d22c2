//! Counting: word → (tf, df) tables, and turning them into the sorted result.
//!
//! [`CountTable`] is the per-thread table the map side fills (keys live in a bump arena, no
//! allocation per token); [`finish`] merges tables and sorts the words into the final order:
//! tf descending, then word bytes ascending.

mod finish;
mod table;

pub use finish::{finish, Counted, WordCount};
pub use table::CountTable;
