//! `wetmr reduce`: count lines from maps (`word<TAB>tf<TAB>df`, any order, any number of
//! streams) merged into the final counts, ranked and written like `wetmr count`'s.
//!
//! With `wetmr map` it is the streaming contract that Hadoop Streaming, Spark's `RDD.pipe`
//! and shell pipelines drive: `map | reduce` over any split of the inputs writes exactly
//! what `count` writes, since a record's words are counted by exactly one map and the
//! counts of a word add up.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::ReduceConfig;
use crate::count::{finish, SharedTable};
use crate::engine::thread_pool;
use crate::error::{Error, Result};
use crate::input::counts::{read_counts, Totals};
use crate::output::deliver::{print_result, stage_result};

/// The name standard input goes by in messages.
const STDIN: &str = "standard input";

/// Runs a reduce job and writes its result.
pub fn reduce(config: &ReduceConfig) -> Result<()> {
    let started = Instant::now();
    let pool = thread_pool(config.threads, "reduce")?;
    let shared = SharedTable::new();
    let mut totals = Totals::default();
    let sources: Vec<Option<&Path>> = if config.inputs.is_empty() {
        vec![None]
    } else {
        config.inputs.iter().map(|p| Some(p.as_path())).collect()
    };
    pool.install(|| -> Result<()> {
        for source in &sources {
            let name = source.map_or_else(|| PathBuf::from(STDIN), Path::to_path_buf);
            let open_err = |source| Error::Open {
                path: name.clone(),
                source,
            };
            let mut input: Box<dyn io::Read> = match source {
                None => Box::new(io::stdin().lock()),
                Some(path) => Box::new(File::open(path).map_err(open_err)?),
            };
            let before = totals.lines;
            read_counts(&mut input, &shared, &mut totals)
                .map_err(open_err)?
                .map_err(|bad| Error::List {
                    path: name.clone(),
                    line: (bad.line - before) as usize,
                    what: bad.what,
                })?;
        }
        let counted = finish(shared);
        let words = counted.ranked(config.result.min_count, config.result.top);
        let staged = stage_result(&config.result, &words)?;
        print_result(&config.result, &words)?;
        if let Some(staged) = staged {
            staged.commit()?;
        }
        if !config.quiet {
            eprintln!(
                "wetmr: reduced {} lines into {} distinct words ({} written) in {:.2} s",
                totals.lines,
                counted.distinct(),
                words.len(),
                started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    })
}
