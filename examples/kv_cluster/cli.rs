//! Command line: `node ...` runs one node, no subcommand runs the driver.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{driver, node};

/// A 3-node openraft key-value cluster on chunklog.
#[derive(Parser, Debug)]
#[command(about = "A 3-node openraft key-value cluster on chunklog: the crash-and-restart driver, or one node")]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    driver: driver::Options,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one cluster node (the driver starts these itself).
    Node(node::Options),
}

/// Parses the command line and runs a node or the driver.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Node(opts)) => rt.block_on(node::run(opts)).map(|()| true),
        None => rt.block_on(driver::run(cli.driver)).map(|report| {
            print!("{}", report.summary());
            report.ok()
        }),
    };
    // Stop stray tasks before returning.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
