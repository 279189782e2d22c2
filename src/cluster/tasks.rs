//! A worker's CPU work, run on its rayon pool and never on the event loop: map a file,
//! merge a received partition into the owned partition's table, rank the owned partitions.
//! Each function is what a protocol action asks for (see [`crate::protocol::worker`]); the
//! driver runs it and hands the result back as a completion.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use crate::count::{prefetched, CountTable, Counted};
use crate::engine;
use crate::error::Error;
use crate::input::Input;
use crate::net::frame::{Outgoing, MAX_FRAME};
use crate::partition::{self, WordBlock};
use crate::protocol::codec::{bulk_words, encode, Kind};
use crate::protocol::ids::{Attempt, JobId, PartitionId, TaskId};
use crate::protocol::messages::{Failure, JobSpec, Partition, Ranked};
use crate::protocol::worker::{MapOutput, MergeOrder};
use crate::remote::{Client, RemoteUrl};

/// Entries per Ranked piece are cut at about this many bytes.
const RANKED_PIECE: usize = 1 << 20;

/// `--input-root`: the directory's real path (symlinks resolved), or why it cannot be one.
pub fn input_root(dir: &Path) -> Result<PathBuf, String> {
    let real = std::fs::canonicalize(dir)
        .map_err(|e| format!("--input-root {}: {e}", crate::error::shown(dir)))?;
    if !real.is_dir() {
        return Err(format!(
            "--input-root {}: not a directory",
            crate::error::shown(dir)
        ));
    }
    Ok(real)
}

/// The file a task names, as the worker opens it. With an input root, its real path
/// (symlinks resolved), which must lie under the root: anything else fails as unreadable.
/// The real path is what is opened, so a symlink cannot lead the reading elsewhere after
/// the check (a directory under the root that others may write to still could be swapped
/// for a symlink between the check and the open: keep such directories out of the root).
pub fn confine(path: &Path, root: Option<&Path>, url: bool) -> Result<PathBuf, (Failure, String)> {
    let Some(root) = root.filter(|_| !url) else {
        return Ok(path.to_path_buf());
    };
    let real = std::fs::canonicalize(path).map_err(|e| {
        (
            Failure::Unreadable,
            format!("{}: {e}", crate::error::shown(path)),
        )
    })?;
    if !real.starts_with(root) {
        let why = format!(
            "{}: refused, outside this worker's --input-root {}",
            crate::error::shown(path),
            crate::error::shown(root)
        );
        return Err((Failure::Unreadable, why));
    }
    Ok(real)
}

/// Counts one file (or URL, fetched with `fetch`, from a thread outside the pool) with
/// the local engine and encodes one Partition frame per partition. Setting
/// `control.abandon` stops it early (with a fatal failure nobody reads).
pub fn map_file(
    spec: &JobSpec,
    task: TaskId,
    attempt: Attempt,
    path: &Path,
    control: &engine::Control,
    fetch: Option<(&rayon::ThreadPool, &Client)>,
) -> Result<MapOutput, (Failure, String)> {
    let job = &spec.count;
    let outcome = match (fetch, path.to_str().map(RemoteUrl::parse)) {
        (Some((pool, client)), Some(Ok(url))) => {
            let input = Input::url(url, &path.to_string_lossy());
            engine::run_on(pool, job, &[input], control, client)
        }
        (None, _) => engine::run(job, &[Input::file(path)], control),
        (Some(_), _) => Err(Error::Usage(format!(
            "{}: not a usable URL",
            crate::error::shown(path)
        ))),
    };
    let outcome = outcome.map_err(|e| {
        let failure = match e {
            Error::Open { .. } | Error::Download { .. } => Failure::Unreadable,
            Error::Damaged { .. } => Failure::Damaged,
            _ => Failure::Fatal,
        };
        (failure, e.to_string())
    })?;
    let Some(file) = outcome.files.into_iter().next() else {
        return Err((Failure::Fatal, "the engine returned no file".into()));
    };
    if file.format.is_none() {
        // Under the skip policy the engine reports an unreadable file as skipped; here
        // another worker may be able to read it.
        let why = file
            .skipped
            .first()
            .map_or(String::new(), |s| s.what.clone());
        return Err((
            Failure::Unreadable,
            format!("{}: {why}", crate::error::shown(path)),
        ));
    }
    let blocks = partition::split(&outcome.counted, spec.partitions);
    let frames = blocks
        .into_par_iter()
        .enumerate()
        .map(|(p, words)| {
            encode(&Partition {
                job: spec.job,
                task,
                attempt,
                partition: PartitionId(p as u32),
                words,
            })
            .map(Outgoing::new)
            .map_err(|e| {
                let what = format!(
                    "{}: partition {p} cannot be sent: {e}",
                    crate::error::shown(path)
                );
                (Failure::Fatal, what)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MapOutput { file, frames })
}

/// A reducer's tables, one per partition of the job (only the owned ones fill up).
pub type Tables = Vec<Mutex<CountTable>>;

/// Adds a received partition into its table. The block is checked whole first, so a
/// malformed one changes nothing.
pub fn merge(tables: &Tables, order: &MergeOrder) -> Result<(), String> {
    let view = bulk_words(Kind::Partition, &order.payload).map_err(|e| e.to_string())?;
    let Some(table) = tables.get(order.head.partition.index()) else {
        return Err(format!("no table for partition {}", order.head.partition));
    };
    let mut table = table.lock().unwrap_or_else(PoisonError::into_inner);
    for w in view.entries() {
        table.add_counts(w.word, w.tf, w.df);
    }
    Ok(())
}

/// Ranks each owned partition (tf ≥ `min_count`, at most `top` words) and encodes it as
/// Ranked pieces, partitions in order. The tables are emptied.
pub fn rank(
    tables: &Tables,
    job: JobId,
    owned: &[PartitionId],
    min_count: u64,
    top: Option<u64>,
) -> Result<Vec<Vec<u8>>, String> {
    let per_partition: Vec<Result<Vec<Vec<u8>>, String>> = owned
        .par_iter()
        .map(|&p| {
            let table = tables
                .get(p.index())
                .map(|t| std::mem::take(&mut *t.lock().unwrap_or_else(PoisonError::into_inner)))
                .unwrap_or_default();
            let counted = Counted::from_tables(vec![table]);
            let top = top.map(|k| usize::try_from(k).unwrap_or(usize::MAX));
            let words = counted.ranked(min_count, top);
            let mut pieces = Vec::new();
            let mut block = WordBlock::default();
            for w in prefetched(&words) {
                if block.bytes() >= RANKED_PIECE.min(MAX_FRAME / 2) {
                    pieces.push(std::mem::take(&mut block));
                }
                block.push(w.word, w.tf, w.df);
            }
            pieces.push(block);
            let last = pieces.len() - 1;
            // The last piece carries the partition's spectrum.
            let mut spectrum = counted.spectrum().into_pairs();
            pieces
                .into_iter()
                .enumerate()
                .map(|(i, words)| {
                    encode(&Ranked {
                        job,
                        partition: p,
                        last: i == last,
                        spectrum: if i == last {
                            std::mem::take(&mut spectrum)
                        } else {
                            Vec::new()
                        },
                        words,
                    })
                    .map_err(|e| e.to_string())
                })
                .collect()
        })
        .collect();
    let mut frames = Vec::new();
    for r in per_partition {
        frames.extend(r?);
    }
    Ok(frames)
}
