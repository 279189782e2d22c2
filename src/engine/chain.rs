//! Proving split points: which chunks really start at a record boundary.
//!
//! Chunk 0 starts at the start of the file, so it is real. A real chunk that stops at split
//! point `j` proves `j`: reading from the start of the file, a record begins there with the
//! decoder between gzip members and the parser between records — exactly the state chunk
//! `j` started from, so chunk `j`'s results are the ones a single sequential scan would have
//! produced. Following stops from chunk 0 gives the chain of real chunks; every other chunk
//! started at a false candidate, and the engine withdraws its counts.
//!
//! The chain also turns chunk-relative decompressed offsets into file offsets, since it
//! knows how many decompressed bytes precede each real chunk.

use super::report::{Counters, Skipped};
use super::scan::ChunkOutcome;
use crate::error::{Damage, Offset};

/// The indices of the real chunks, in file order.
pub fn follow(outcomes: &[ChunkOutcome]) -> Vec<usize> {
    let mut chain = vec![0];
    let mut at = 0;
    while let Some(next) = outcomes[at].stopped_at {
        debug_assert!(next > at, "chunks only stop at later split points");
        chain.push(next);
        at = next;
    }
    chain
}

/// What the real chunks of a file add up to.
#[derive(Debug, Default)]
pub struct FileTally {
    pub counters: Counters,
    pub languages: super::Languages,
    pub skipped: Vec<Skipped>,
    /// The first damage, under `Policy::Strict`.
    pub failure: Option<Damage>,
}

/// Sums the chain's chunks, with offsets made relative to the file.
pub fn tally(outcomes: &[ChunkOutcome], chain: &[usize]) -> FileTally {
    let mut tally = FileTally::default();
    for &i in chain {
        let chunk = &outcomes[i];
        let base = tally.counters.warc_bytes;
        let rebase = |at: Offset| match at {
            Offset::Gzip {
                member,
                decompressed: Some(d),
            } => Offset::Gzip {
                member,
                decompressed: Some(base + d),
            },
            other => other,
        };
        tally.counters += chunk.counters;
        tally.languages.merge(&chunk.languages);
        tally.skipped.extend(chunk.skipped.iter().map(|s| Skipped {
            at: rebase(s.at),
            ..s.clone()
        }));
        if tally.failure.is_none() {
            tally.failure = chunk.failure.as_ref().map(|d| Damage {
                at: rebase(d.at),
                what: d.what.clone(),
            });
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stop(at: Option<usize>) -> ChunkOutcome {
        ChunkOutcome {
            stopped_at: at,
            ..Default::default()
        }
    }

    #[test]
    fn chain_skips_false_candidates() {
        // 0 ran past split point 1 (a false candidate) and stopped at 2; 2 ran to the end.
        let outcomes = [stop(Some(2)), stop(Some(3)), stop(None), stop(None)];
        assert_eq!(follow(&outcomes), [0, 2]);
    }

    #[test]
    fn gzip_offsets_are_rebased() {
        let mut a = stop(Some(1));
        a.counters.warc_bytes = 100;
        let mut b = stop(None);
        b.failure = Some(Damage {
            at: Offset::Gzip {
                member: 7,
                decompressed: Some(5),
            },
            what: "x".into(),
        });
        let t = tally(&[a, b], &[0, 1]);
        assert_eq!(
            t.failure.unwrap().at,
            Offset::Gzip {
                member: 7,
                decompressed: Some(105)
            }
        );
    }
}
