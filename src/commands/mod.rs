//! One module per command: each takes its resolved configuration ([`crate::config`]) and
//! runs the stages (`input`, `engine`, `output`, or the cluster) in order. [`run()`] is the
//! one entry point `main` calls.

pub mod cluster;
pub mod count;
pub mod keygen;
pub mod reduce;
pub mod run;
pub mod worker;

use std::path::Path;

use crate::cli::Command;
use crate::cluster::machines::read_machines;
use crate::config::{ClusterConfig, CountConfig, ReduceConfig, WorkerConfig};
use crate::error::{Error, Result};
use crate::input::{expand_inputs, Input};
use crate::output::destinations;
use crate::remote::Client;

/// Runs the command the command line names.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Count(args) => count::count(&CountConfig::new(args)?),
        Command::Worker(args) => worker::serve(&WorkerConfig::new(args)),
        Command::Run(args) => {
            let cluster = ClusterConfig::new(&args.cluster)?;
            let workers = read_machines(&args.machines)?;
            run::run(&CountConfig::new(args.count)?, &workers, &cluster)
        }
        Command::Cluster(args) => {
            let cluster = ClusterConfig::new(&args.cluster)?;
            let workers = args.workers.get();
            cluster::cluster(&CountConfig::new(args.count)?, workers, &cluster)
        }
        Command::Map(args) => count::count(&CountConfig::map(args)?),
        Command::Reduce(args) => reduce::reduce(&ReduceConfig::new(args)?),
        Command::Keygen(args) => keygen::keygen(args.output.as_deref()),
    }
}

/// A job's inputs, expanded.
pub struct Inputs {
    /// Never empty.
    pub files: Vec<Input>,
    /// Each one's size, where it is known (not for URLs), for progress.
    pub sizes: Vec<Option<u64>>,
}

impl Inputs {
    /// Their total size, as far as it is known.
    pub fn bytes(&self) -> u64 {
        self.sizes.iter().flatten().sum()
    }

    /// Every input's size, if every one is known (local files).
    pub fn all_sizes(&self) -> Option<Vec<u64>> {
        (self.files.iter().zip(&self.sizes))
            .map(|(file, size)| size.filter(|_| file.remote.is_none()))
            .collect()
    }
}

/// The inputs of a job, expanded (directories listed, list files read), after checking
/// that no output would overwrite one of them or another output.
pub fn inputs(config: &CountConfig, client: &Client) -> Result<Inputs> {
    if config.inputs.paths.is_empty() && config.inputs.list.is_none() {
        return Err(Error::Usage(
            "no inputs: give WET files or directories, or --inputs LIST".into(),
        ));
    }
    let files = expand_inputs(&config.inputs, Some(client))?;
    if files.is_empty() {
        return Err(Error::NoInputs);
    }
    let outputs: Vec<(&'static str, &Path)> = [
        ("--output", config.result.output.as_deref()),
        ("--stats", config.stats.as_deref()),
        ("--report", config.report.as_deref()),
    ]
    .into_iter()
    .filter_map(|(flag, path)| Some((flag, path?)))
    .collect();
    let sizes = destinations::check(&outputs, &files, config.inputs.list.as_deref())?;
    Ok(Inputs { files, sizes })
}
