//! The `kv_cluster` example's crash-and-restart scenario at a small size:
//! three node processes on loopback, 500 keys, one follower and then the
//! leader SIGKILLed mid-load and restarted from their directories; every
//! acknowledged write must then be on every node.
//!
//! How the test gets node processes: it compiles the example's own modules
//! (`examples/kv_cluster/*.rs`, through `#[path]`) into this test binary,
//! which is built with `harness = false` (see `Cargo.toml`). The driver
//! starts `std::env::current_exe()` as its nodes, so here the nodes are this
//! very binary, invoked as `kv_cluster-HASH node --id ..`, and `main` below
//! hands that to the example's command line. The alternatives are fragile:
//! `CARGO_BIN_EXE_*` exists only for `[[bin]]` targets (and a bin cannot use
//! the dev-dependencies the example needs), and `target/<profile>/examples/
//! kv_cluster` is not rebuilt by `cargo test --test kv_cluster`, so the test
//! could run a stale or missing binary; running cargo from a test is out.
//!
//! Without the libtest harness, `main` honours the usual arguments itself:
//! `--list`, name filters, `--exact`, `--skip NAME` and `--ignored` (this
//! test is not ignored, so `--ignored` runs nothing).

#[path = "../examples/kv_cluster/api.rs"]
mod api;
#[path = "../examples/kv_cluster/checks.rs"]
mod checks;
#[path = "../examples/kv_cluster/cli.rs"]
mod cli;
#[path = "../examples/kv_cluster/cluster.rs"]
mod cluster;
#[path = "../examples/kv_cluster/driver.rs"]
mod driver;
#[path = "../examples/kv_cluster/faultfs.rs"]
mod faultfs;
#[path = "../examples/kv_cluster/faults.rs"]
mod faults;
#[path = "../examples/kv_cluster/load.rs"]
mod load;
#[path = "../examples/kv_cluster/monitor.rs"]
mod monitor;
#[path = "../examples/kv_cluster/network.rs"]
mod network;
#[path = "../examples/kv_cluster/node.rs"]
mod node;
#[path = "../examples/kv_cluster/options.rs"]
mod options;
#[path = "../examples/kv_cluster/report.rs"]
mod report;
#[path = "../examples/kv_cluster/store.rs"]
mod store;
#[path = "../examples/kv_cluster/types.rs"]
mod types;

use std::process::ExitCode;

const NAME: &str = "kv_cluster_keeps_every_acknowledged_write_across_follower_and_leader_kills";

/// libtest options that take a value as the next argument.
const VALUE_OPTIONS: &[&str] =
    &["--skip", "--test-threads", "--format", "--color", "--logfile", "--shuffle-seed", "-Z"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("node") {
        // Started by the driver as one of its nodes.
        return cli::main();
    }

    let (mut filters, mut skips, mut exact, mut list, mut ignored) = (Vec::new(), Vec::new(), false, false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => list = true,
            "--exact" => exact = true,
            "--ignored" => ignored = true,
            "--skip" => skips.extend(it.next().cloned()),
            o if VALUE_OPTIONS.contains(&o) => {
                it.next();
            }
            o if o.starts_with('-') => {}
            f => filters.push(f.to_string()),
        }
    }
    if list {
        println!("{NAME}: test");
        return ExitCode::SUCCESS;
    }
    let matches = |f: &String| if exact { NAME == f } else { NAME.contains(f.as_str()) };
    let selected = !ignored && (filters.is_empty() || filters.iter().any(matches)) && !skips.iter().any(matches);
    if !selected {
        println!("\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out\n");
        return ExitCode::SUCCESS;
    }

    println!("\nrunning 1 test");
    let started = std::time::Instant::now();
    let outcome = std::panic::catch_unwind(run);
    let secs = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            println!(
                "test {NAME} ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs:.2}s\n"
            );
            ExitCode::SUCCESS
        }
        Err(_) => {
            println!(
                "test {NAME} ... FAILED\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs:.2}s\n"
            );
            ExitCode::FAILURE
        }
    }
}

/// The scenario; panics on failure (every node process is killed by then:
/// the driver's process guard is dropped when `driver::run` returns).
fn run() {
    let options = driver::Options {
        nodes: 3,
        keys: 500,
        value_size: 64,
        clients: 4,
        kills: 2,
        // Snapshot (and purge) often, so the killed nodes fall behind the
        // leader's purged log and must catch up by snapshot.
        snapshot_every: 20,
        timeout_secs: 240,
        keep: false,
        ..driver::Options::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let report = rt.block_on(driver::run(options.clone())).expect("the scenario ran to the end");
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    print!("{}", report.summary());

    assert!(report.acked > 0, "no write was acknowledged");
    assert_eq!(report.kills.len(), 2, "both kills happened");
    assert!(!report.kills[0].was_leader && report.kills[1].was_leader, "a follower, then the leader, was killed");
    for (id, c) in &report.local_checks {
        assert_eq!(c.reads, report.acked, "node {id}: every acknowledged key was read");
        assert_eq!((c.missing, c.wrong, c.errors), (0, 0, 0), "node {id}: acknowledged writes missing or wrong");
    }
    assert_eq!(report.local_checks.len(), 3, "every node was checked");
    let c = &report.linearizable_check;
    assert_eq!((c.reads, c.missing, c.wrong, c.errors), (report.acked, 0, 0, 0), "linearizable reads via the leader");
    // A node restarted after the leader purged its log past the node's last
    // entry can only have caught up by snapshot. The driver lets the load
    // run on (up to half of the next slot) until such a purge, so at least
    // one kill gets there.
    assert!(
        report.kills.iter().any(|k| k.leader_purged.is_some()),
        "the leader purged past a killed node: {:?}",
        report.kills
    );
    for k in &report.kills {
        if k.leader_purged.is_some() {
            assert!(k.snapshots_installed > 0, "node {} caught up by snapshot: {k:?}", k.node);
        }
    }
    assert!(report.ok());
}
