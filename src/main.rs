//! The `wetmr` binary: parse the command line, run the command, map the outcome to an exit
//! code (documented in the README).

use std::process::ExitCode;

use clap::Parser;
use wetmr::cli::{Cli, Command};
use wetmr::error::exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let result = match cli.command {
        Command::Count(args) => wetmr::count_cmd::count(&args.resolve()),
        Command::Worker(args) => wetmr::dist::worker_cmd::serve(&args.resolve()),
        Command::Run(args) => args.cluster.resolve().and_then(|cluster| {
            wetmr::dist::machines::read_machines(&args.machines).and_then(|workers| {
                wetmr::dist::run_cmd::run(&args.count.resolve(), &workers, &cluster)
            })
        }),
        Command::Cluster(args) => args.cluster.resolve().and_then(|cluster| {
            wetmr::dist::cluster_cmd::cluster(&args.count.resolve(), args.workers.get(), &cluster)
        }),
        Command::Keygen(args) => wetmr::dist::keygen::keygen(args.output.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("wetmr: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
