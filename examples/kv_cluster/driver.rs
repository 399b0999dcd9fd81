//! The crash-and-restart driver.
//!
//! 1. Starts `--nodes` copies of this executable as nodes (`node --id ..`) on
//!    free loopback ports, each with its data directory in a temporary
//!    directory and its output in `nodeN.log` next to it.
//! 2. Forms the cluster: `init` on node 1, `add-learner` for the others,
//!    `change-membership` to make them all voters.
//! 3. Writes `--keys` keys from `--clients` concurrent clients. Each client
//!    sends to the node it believes is the leader, follows the leader hint of
//!    a refusal, and moves to the next node when a node does not answer. A
//!    write counts as acknowledged only when a node answered it with 200.
//! 4. Meanwhile SIGKILLs `--kills` nodes one after another, alternately a
//!    follower and the leader, each after its share of the writes, and
//!    restarts each from its data directory after more writes, once the
//!    leader has purged its log past the killed node's last entry (so the
//!    node has to catch up by snapshot). Clients pause at a key limit that
//!    the driver raises as it goes, so every kill happens mid-load even when
//!    the writes outrun the driver. `--nemesis` replaces or adds to the
//!    kills with other fault rounds (`faults.rs`): power cuts of one node, of
//!    every node or of a majority at once, slow and full disks, a paused
//!    leader, a leader restarted at once with entries queued in its store. A
//!    node whose Raft core panics ends the load with an error at once.
//! 5. After the load: waits for a leader and for every node to apply
//!    everything the leader applied, then reads every acknowledged key back
//!    from every node (`/local/{key}`) and through the leader (`/read/{key}`,
//!    linearizable), and compares the values.
//! 6. Compares what every node applied: the same log id must carry the same
//!    data everywhere, and the states must agree (`GET /applied`); no term
//!    may have had two leaders (the leader monitor's record). With
//!    `--registers N`, register clients ran beside the load, overwriting N
//!    keys and reading them linearizably; their recorded history is checked
//!    for linearizability key by key (`history.rs`, `linearizability.rs`).
//!
//! Every wait is bounded (`--timeout-secs` for the whole run) and every node
//! process is killed when the driver returns or unwinds ([`Cluster`]'s
//! `Drop`). Nodes also exit by themselves when the driver process is gone.
//!
//! This file keeps only the scenario that ties the parts together, so it
//! reads as the steps above: the node processes and forming the cluster
//! (`cluster.rs`, over the HTTP client in `api.rs`), the load (`load.rs`),
//! the kills and restarts (`faults.rs`), the leader monitor (`monitor.rs`),
//! the end-of-run verification (`checks.rs`) and the summary (`report.rs`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use hdrhistogram::Histogram;

use crate::api::Api;
use crate::checks;
use crate::cluster::{self, Cluster, NodeFlags};
use crate::faults::{self, Faults, KillReport, RestartReport, StallReport};
use crate::history::{self, RegisterLoad};
use crate::linearizability;
use crate::load::{self, Load};
use crate::monitor::{self, FsyncMeter, LeaderMonitor};
pub use crate::options::Options;
pub use crate::report::Report;
use crate::types::NodeId;

/// Runs the whole scenario and returns its report; `Err` if it could not be
/// carried out (a node failed to start, no leader, the deadline passed).
pub async fn run(options: Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.nodes >= 1, "--nodes must be at least 1");
    anyhow::ensure!(
        faults::schedule(&options).is_empty() || options.nodes >= 3,
        "injecting faults needs --nodes 3 or more"
    );
    anyhow::ensure!(options.keys >= 1 && options.clients >= 1, "--keys and --clients must be at least 1");
    let tmp = tempfile::Builder::new().prefix("kv_cluster.").tempdir()?;
    let root = tmp.path().to_path_buf();
    let timeout = Duration::from_secs(options.timeout_secs);
    let result = tokio::select! {
        r = tokio::time::timeout(timeout, scenario(options.clone(), root.clone())) => {
            r.unwrap_or_else(|_| Err(anyhow!("the run took longer than --timeout-secs {}", options.timeout_secs)))
        }
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    if options.keep || result.is_err() {
        let kept = tmp.keep();
        eprintln!("data directories and node logs kept in {}", kept.display());
    }
    result
}

/// What the load phase measured.
struct LoadRun {
    hist: Histogram<u64>,
    /// The register clients' operations (empty without `--registers`).
    history: Vec<history::Op>,
    load_time: Duration,
    kills: Vec<KillReport>,
    stalls: Vec<StallReport>,
    restarts: Vec<RestartReport>,
}

async fn scenario(options: Options, root: PathBuf) -> anyhow::Result<Report> {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(options.timeout_secs);
    let ids = ids(&options);
    let addrs = cluster::loopback_addrs(&ids)?;
    let flags = NodeFlags {
        snapshot_every: options.group_snapshot_every(),
        power_loss: options.power_loss_layer(),
        seed: options.seed,
        leader_restore: options.leader_restore,
        groups: options.groups,
        separate_stores: options.separate_stores,
    };
    let mut cluster = Cluster::new(root, flags, &addrs)?;
    let api = Api::new(addrs)?;

    // 1. Start the nodes and wait until they serve. 2. Form the cluster.
    cluster.start_all(&api, deadline).await?;
    cluster::form(&api, &ids, options.groups, deadline).await?;
    let monitor = LeaderMonitor::start(api.clone(), ids.clone());

    // 3. The load, with kills and restarts.
    let load = Arc::new(Load::new(&options, ids.clone(), faults::gate_before_first(&options)));
    let fsync_meter = FsyncMeter::start(api.clone(), ids.clone());
    let run = load_with_faults(&options, &mut cluster, &api, &load, deadline).await?;
    let fsyncs = fsync_meter.stop().await;

    // 4. Converge: in every group a leader, and every node applied what it
    // applied.
    let group_leaders = checks::converge(&mut cluster, &api, &ids, options.groups, deadline).await?;
    let (leader, target) = group_leaders[0];
    let leaders = monitor.stop().await;
    let final_term = api.metrics(leader).await?.current_term;
    let procs = ids.iter().filter_map(|&id| Some((id, cluster.proc_stats(id)?))).collect();

    // 5. Read every acknowledged key back, from every node and through its
    // group's leader.
    let acked = load.acked_keys();
    let leader_ids: Vec<NodeId> = group_leaders.iter().map(|(l, _)| *l).collect();
    let read = checks::read_back(&api, &ids, &leader_ids, &acked, options.value_size).await;
    let node_stats = checks::node_stats(&api, &ids).await;

    // 6. The same entries and the same state on every node, group by group;
    // the register history linearizable.
    let divergence = checks::divergence(&api, &ids, options.groups).await?;
    let history = match options.registers {
        0 => None,
        _ => {
            let ops = run.history;
            Some(tokio::task::spawn_blocking(move || linearizability::check(&ops)).await?)
        }
    };

    let pct = |q| run.hist.value_at_quantile(q);
    Ok(Report {
        options: options.clone(),
        acked: acked.len() as u64,
        gave_up: load.gave_up(),
        attempts: load.attempts(),
        load_time: run.load_time,
        gate_wait: Duration::from_micros(load.gate_wait_us() / options.clients as u64),
        latency_us: (pct(0.5), pct(0.99), run.hist.max()),
        kills: run.kills,
        stalls: run.stalls,
        restarts: run.restarts,
        leaders,
        final_term,
        final_leader: (leader, target),
        group_leaders,
        fsyncs,
        procs,
        node_stats,
        local_checks: read.local,
        linearizable_check: read.linearizable,
        mismatches: read.mismatches,
        divergence,
        history,
        total_time: t0.elapsed(),
    })
}

/// Runs the clients and the fault rounds side by side until both are done.
async fn load_with_faults(
    options: &Options,
    cluster: &mut Cluster,
    api: &Api,
    load: &Arc<Load>,
    deadline: Instant,
) -> anyhow::Result<LoadRun> {
    let load_start = Instant::now();
    let clients = load::spawn_clients(api, load, options.clients);
    let registers =
        Arc::new(RegisterLoad::new(options.registers, options.value_size, options.seed, ids(options), options.groups));
    let register_clients = match options.registers {
        0 => Vec::new(),
        _ => history::spawn_clients(api, &registers, options.register_clients),
    };
    // A node whose Raft stopped (an openraft panic) ends the load at once:
    // the rounds and the clients would otherwise wait for it until the
    // deadline.
    let failure = monitor::raft_failure(api, ids(options));
    tokio::pin!(failure);
    let faults = tokio::select! {
        r = Faults { options, cluster, api, load, deadline }.run() => r,
        why = &mut failure => Err(anyhow!(why)),
    };
    // Stop the clients if the controller fails, so the error is not hidden
    // behind a minute of retries.
    if faults.is_err() {
        load.stop();
    }
    let joined = async {
        let hist = load::join_clients(clients).await;
        (hist, history::join_clients(&registers, register_clients).await)
    };
    let (hist, history) = tokio::select! {
        joined = joined => joined,
        why = &mut failure => {
            load.stop();
            registers.stop();
            return Err(anyhow!(why));
        }
    };
    let (hist, history) = (hist?, history?);
    let load_time = load_start.elapsed();
    let faults = faults?;
    Ok(LoadRun { hist, history, load_time, kills: faults.kills, stalls: faults.stalls, restarts: faults.restarts })
}

/// The node ids of `options`.
fn ids(options: &Options) -> Vec<NodeId> {
    (1..=options.nodes).collect()
}
