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

/// `--compare`: the scenario with the shared log, then with one store per
/// group, each summary printed as it ends, then the table of both.
async fn compare(options: driver::Options) -> anyhow::Result<bool> {
    let mut reports = Vec::new();
    for separate_stores in [false, true] {
        let report = driver::run(driver::Options { separate_stores, compare: false, ..options.clone() }).await?;
        println!("{}", report.summary());
        reports.push(report);
    }
    println!("{}", driver::Report::table_header());
    for r in &reports {
        println!("{}", r.table_row());
    }
    Ok(reports.iter().all(driver::Report::ok))
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
        None if cli.driver.compare => rt.block_on(compare(cli.driver)),
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
