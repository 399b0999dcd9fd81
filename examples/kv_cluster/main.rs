//! A 3-node openraft key-value cluster on chunklog, with a crash-and-restart
//! driver.
//!
//! One binary plays both parts:
//!
//! - `kv_cluster node --id N --addr 127.0.0.1:P --dir D` is one cluster node:
//!   an HTTP API on a loopback port, chunklog as its Raft log in `D/raft-log`,
//!   an in-memory `BTreeMap<String, String>` state machine whose snapshots are
//!   kept in `D/snapshot.bin` (see `node.rs` for the endpoints).
//! - `kv_cluster` (no subcommand) is the driver (`driver.rs`): it starts
//!   itself three times as nodes on free loopback ports with data directories
//!   in a temporary directory, forms the cluster, writes keys from concurrent
//!   clients, SIGKILLs a follower and later the leader mid-load, restarts each
//!   from its directory, waits for the cluster to converge, reads every
//!   acknowledged write back from every node and prints a summary. It exits
//!   non-zero if any acknowledged write is missing or wrong.
//!
//! Every node runs `--groups` Raft groups (16 by default; keys sharded by
//! a CRC-32 of the key) on one chunklog log per node (`LogStore::for_group`),
//! or one store per group with `--separate-stores`; their RPCs share one
//! router per node (`openraft-multi`, see `network.rs`).
//!
//! `--nemesis` picks other faults (`faults.rs`): a power cut of one node, of
//! every node or of a majority at once (the nodes' logs on the power-loss
//! layer of `faultfs.rs`), a slow or a full disk, a paused leader, and a
//! leader SIGKILLed with entries queued in its store and restarted at once
//! (`leader-restart`; with `--leader-restore`, openraft's leader restore on,
//! that run must fail). `--registers` adds a history of overwrites and
//! linearizable reads, checked for linearizability; every run also compares
//! what each node applied (divergence check) and fails if two nodes led one
//! term.
//!
//! `cargo run --release --example kv_cluster -- --help` lists the flags.
//! `tests/kv_cluster.rs` compiles these same modules into a test binary that
//! runs a small version of the scenario.

mod api;
mod checks;
mod cli;
mod cluster;
mod driver;
mod faultfs;
mod faults;
mod history;
mod linearizability;
mod load;
mod monitor;
mod network;
mod node;
mod options;
mod report;
mod store;
mod types;

fn main() -> std::process::ExitCode {
    cli::main()
}
