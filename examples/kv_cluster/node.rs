//! One cluster node: `--groups G` openraft Raft groups, each with its
//! in-memory key-value state machine, chunklog as their Raft log, and one
//! HTTP API on a loopback address for all of them.
//!
//! The groups' logs: by default one chunklog directory for the whole node
//! (`D/raft-log`), opened once, with a store per group taken by
//! `LogStore::for_group` (one chunk stream, one flush thread, one
//! `fdatasync` for every group's writes); with `--separate-stores`, one
//! chunklog store per group in its own directory (`D/gN/raft-log`, opened
//! with `LogStore::from_engine`: the same store type). The shared log is
//! opened the way `LogStore::open_shared` opens it (the adapter's tag), but
//! on the fault layers' `Vfs`. Group `g`'s state machine keeps its
//! snapshots in `D/gN/snapshot.bin` (with one group: `D/snapshot.bin` and
//! `D/raft-log`, the single-group layout). A key belongs to group
//! `crc32(key) % G` ([`group_of`]).
//!
//! | method and path | what |
//! |---|---|
//! | `POST /write` `{"key","value"}` | replicate a write in the key's group; answered after it is committed and applied |
//! | `GET /read/{key}` | linearizable read (ReadIndex through this node, which must lead the key's group) |
//! | `GET /local/{key}` | this node's own state machine of the key's group, with its last applied index |
//! | `GET /g/{group}/metrics` | openraft's `RaftMetrics` of a group as JSON (its running state an error once the Raft core task stopped) |
//! | `GET /g/{group}/applied` | every entry of a group this node process applied (log id, payload CRC) and a CRC of its state, for the divergence check |
//! | `GET /leaders` | the groups this node leads, with their terms: `[[group, term],..]` |
//! | `GET /stats` | snapshot counters, chunklog statistics (summed over the node's stores) and disk-fault counters of this node |
//! | `POST /fault` `{"slow","budget_bytes"}` | switch this node's disk faults (slow fsyncs, a full disk) on or off |
//! | `POST /g/{group}/init` `[[id,"addr"],..]` | initialize a group (empty list: this node alone) |
//! | `POST /g/{group}/add-learner` `[id,"addr"]` | add a learner to a group and wait for it to catch up |
//! | `POST /g/{group}/change-membership` `[id,..]` | make these nodes a group's voters |
//! | `POST /g/{group}/raft/append`, `/vote`, `/pre-vote`, `/snapshot` | a group's Raft RPCs between nodes |
//!
//! Every `/g/{group}/...` path also answers without the prefix, for group
//! 0 (the whole cluster with `--groups 1`).
//!
//! Errors are JSON `{"error", "leader_id", "leader_addr"}`: HTTP 421 when
//! another node is (or may be) the leader of the key's group (a write answered 421 was never
//! proposed), 503 when the request could not be served now (a write answered
//! 503 may still commit), 500 when this node's Raft has failed.
//!
//! The Raft log runs on the fault layers of `faultfs.rs`: always the
//! run-time switches of `POST /fault` (inert until switched on), and with
//! `--power-loss` the layer that keeps unsynced writes in memory, so a
//! SIGKILL is a power cut. A node whose log store fails (a full disk)
//! exits with status 3 and says why, rather than serve without a log.
//! `--leader-restore` turns openraft's `enable_leader_restore` on (off
//! otherwise, as chunklog needs), for the driver's `leader-restart` fault to
//! show what goes wrong then.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, RawPathParams, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{ClientWriteError, Fatal, ForwardToLeader, RaftError};
use openraft::raft::{AppendEntriesRequest, VoteRequest};
use openraft::{BasicNode, ReadPolicy, SnapshotPolicy, TryAsRef};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::faultfs::{DiskFaults, FaultFs, FaultSettings, PowerLossFs};
use crate::network::{Router, SnapshotHeader};
use crate::store::{Applied, StateMachineStore, unframe};
use crate::types::{NodeId, Raft, Request, TypeConfig, group_of};

/// Raft timing of every node, in milliseconds. Generous for a loaded 2-core
/// machine running four processes (and debug builds in the test): a
/// heartbeat also bounds how long one append-entries RPC may take.
const HEARTBEAT_MS: u64 = 150;
const ELECTION_MIN_MS: u64 = 500;
pub const ELECTION_MAX_MS: u64 = 1000;

/// Default of `--snapshot-every`.
pub const SNAPSHOT_EVERY: u64 = 500;

/// Options of `kv_cluster node`.
#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// Raft node id.
    #[arg(long)]
    pub id: NodeId,
    /// Loopback address to serve HTTP on, e.g. 127.0.0.1:21001.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Data directory: the Raft log (`raft-log/`) and the snapshot live here.
    #[arg(long)]
    pub dir: PathBuf,
    /// Build a snapshot every this many applied entries; a fifth of that
    /// many log entries below the snapshot are kept, the rest purged.
    #[arg(long, default_value_t = SNAPSHOT_EVERY)]
    pub snapshot_every: u64,
    /// Run the Raft log on the power-loss layer: unsynced writes and
    /// directory changes stay in memory, so a SIGKILL is a power cut.
    #[arg(long)]
    pub power_loss: bool,
    /// Seed of the disk-fault layer's random fsync delays.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Turn openraft's `enable_leader_restore` on: a restarted leader
    /// resumes leading its old term without an election (unsafe with
    /// chunklog; for showing the divergence).
    #[arg(long)]
    pub leader_restore: bool,
    /// Number of Raft groups on this node (the same on every node).
    #[arg(long, default_value_t = 1)]
    pub groups: u64,
    /// One chunklog store (directory) per group instead of one log shared
    /// by all groups.
    #[arg(long)]
    pub separate_stores: bool,
}

/// Exit status of a node that stopped because its log store failed.
pub const EXIT_STORE_FAILED: i32 = 3;

/// The openraft configuration of a node that snapshots every
/// `snapshot_every` entries. It keeps `snapshot_every / 5` entries of the log
/// below the snapshot and purges the rest, so a node that fell further behind
/// catches up by snapshot. `leader_restore` switches openraft's
/// `enable_leader_restore` on (only to show what goes wrong then).
pub fn raft_config(snapshot_every: u64, leader_restore: bool) -> anyhow::Result<openraft::Config> {
    let config = openraft::Config {
        cluster_name: "chunklog-kv".to_string(),
        heartbeat_interval: HEARTBEAT_MS,
        election_timeout_min: ELECTION_MIN_MS,
        election_timeout_max: ELECTION_MAX_MS,
        install_snapshot_timeout: 10_000,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(snapshot_every.max(1)),
        max_in_snapshot_log_to_keep: snapshot_every / 5,
        purge_batch_size: 1,
        // Retry an unreachable node every 50 ms. A leader retrying a dead
        // follower also releases, at every failure, the log range it was
        // sending, which lets it purge that range.
        backoff: "50ms 50ms 50ms".to_string(),
        // Never restore a restarted leader without an election: with a log
        // store whose appends become durable after `append` returns (chunklog
        // included), a leader killed with entries still queued can come back
        // as leader of the same term and reuse log ids it already sent to a
        // follower, so two nodes would hold different entries under one id.
        // See "Using it with openraft" in the README. `--leader-restore`
        // turns it on, for the driver's `leader-restart` fault to show the
        // divergence.
        enable_leader_restore: Some(leader_restore),
        ..Default::default()
    };
    Ok(config.validate()?)
}

/// One Raft group of this node.
struct Group {
    raft: Raft,
    sm: StateMachineStore,
    core_failure: CoreFailure,
}

/// Everything a request handler needs.
struct App {
    id: NodeId,
    addr: SocketAddr,
    groups: Vec<Group>,
    /// The node's stores (non-owning handles, for statistics): the shared
    /// log, or one store per group.
    stores: Vec<chunklog::ChunkLog>,
    /// Group 0's log (a non-owning handle), for its statistics.
    log0: chunklog::ChunkLog,
    /// Group 0's last log index when this process opened its log.
    log_last_at_start: Option<u64>,
    faults: DiskFaults,
}

impl App {
    /// The group that holds `key`.
    fn group_for(&self, key: &str) -> &Group {
        &self.groups[group_of(key, self.groups.len() as u64) as usize]
    }
}

/// The group a request is for: the `{group}` of `/g/{group}/...`, group 0
/// on a path without it.
struct Grp(usize);

impl FromRequestParts<Arc<App>> for Grp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, app)
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        let g = match params.iter().find(|(k, _)| *k == "group") {
            None => 0,
            Some((_, v)) => {
                v.parse::<usize>().map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("group {v}: {e}")))?
            }
        };
        if g >= app.groups.len() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no group {g} (this node has {})", app.groups.len()),
            ));
        }
        Ok(Grp(g))
    }
}

/// Why the Raft core task stopped, once it has (see
/// [`spawn_core_watchdog`]).
type CoreFailure = Arc<std::sync::OnceLock<Fatal<TypeConfig>>>;

type AppState = State<Arc<App>>;

/// The body of every error answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
    /// The leader, if this node knows it.
    pub leader_id: Option<NodeId>,
    /// The leader's address, if this node knows it.
    pub leader_addr: Option<String>,
}

/// An error answer.
struct ApiError(StatusCode, ErrorBody);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl ApiError {
    fn new(status: StatusCode, error: impl ToString) -> Self {
        ApiError(status, ErrorBody { error: error.to_string(), leader_id: None, leader_addr: None })
    }

    /// Maps an openraft error: a hint to the leader gives 421, a failed Raft
    /// 500, anything else (no quorum, membership change in progress) 503.
    fn raft<E>(e: RaftError<TypeConfig, E>) -> Self
    where
        E: std::error::Error + TryAsRef<ForwardToLeader<TypeConfig>>,
    {
        if let Some(f) = e.forward_to_leader() {
            let (leader_id, leader_addr) = (f.leader_id, f.leader_node.as_ref().map(|n| n.addr.clone()));
            return ApiError(
                StatusCode::MISDIRECTED_REQUEST,
                ErrorBody { error: e.to_string(), leader_id, leader_addr },
            );
        }
        let status =
            if e.fatal().is_some() { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::SERVICE_UNAVAILABLE };
        ApiError::new(status, e)
    }
}

/// Runs a node until it is killed, interrupted, or its parent (the driver)
/// goes away.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let Options { id, addr, dir, snapshot_every, power_loss, seed, leader_restore, groups, separate_stores } = opts;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(std::io::stderr).init();
    anyhow::ensure!(addr.ip().is_loopback(), "node address {addr} is not a loopback address");
    spawn_parent_watchdog();

    anyhow::ensure!(groups >= 1, "--groups must be at least 1");
    let disk: Arc<dyn chunklog::vfs::Vfs> =
        if power_loss { Arc::new(PowerLossFs::new(&dir)?) } else { Arc::new(chunklog::vfs::StdVfs) };
    let faults = DiskFaults::new(seed ^ id.rotate_left(32));
    let vfs: Arc<dyn chunklog::vfs::Vfs> = Arc::new(FaultFs::new(disk, faults.clone()));
    // What `LogStore::open_shared` opens (a log with the adapter's tag), on
    // the fault layers.
    let open = |log_dir: PathBuf| {
        let cfg = chunklog::Config::new(log_dir)
            .chunk_max_size(1 << 20)
            .tag(chunklog::openraft_v010::tag::<chunklog::codec::Bincode2>());
        chunklog::ChunkLog::open_with_vfs(cfg, vfs.clone()).context("opening the raft log")
    };
    // Group g's directory: its snapshot, and its log with separate stores.
    let group_dir = |g: u64| if groups == 1 { dir.clone() } else { dir.join(format!("g{g}")) };
    let mut log_stores = Vec::new();
    // For statistics; non-owning handles do not keep a store open.
    let mut stores = Vec::new();
    if separate_stores {
        for g in 0..groups {
            let engine = open(group_dir(g).join("raft-log"))?;
            stores.push(engine.non_owning());
            log_stores.push(chunklog::LogStore::<TypeConfig>::from_engine(engine).context("opening the raft log")?);
        }
    } else {
        let shared = open(dir.join("raft-log"))?;
        for g in 0..groups {
            log_stores.push(chunklog::LogStore::<TypeConfig>::for_group(&shared, g).context("opening a group store")?);
        }
        stores.push(shared.non_owning());
        // The group stores keep the log open.
        drop(shared);
    }
    let log0 = log_stores[0].engine().non_owning();
    let log_last_at_start = log0.stats().last_index;
    let config = Arc::new(raft_config(snapshot_every, leader_restore)?);
    let network = Router::new(id)?;
    let mut rafts = Vec::new();
    for (g, log_store) in (0..groups).zip(log_stores) {
        let sm = StateMachineStore::open(&group_dir(g)).context("opening the state machine")?;
        let raft = Raft::new(id, config.clone(), network.for_group(g), log_store, sm.clone()).await?;
        let core_failure = CoreFailure::default();
        spawn_core_watchdog(id, raft.clone(), core_failure.clone());
        rafts.push(Group { raft, sm, core_failure });
    }

    spawn_store_watchdog(id, rafts.iter().map(|g| g.raft.clone()).collect(), stores.clone());
    let all: Vec<Raft> = rafts.iter().map(|g| g.raft.clone()).collect();
    let app = Arc::new(App { id, addr, groups: rafts, stores, log0, log_last_at_start, faults });
    let mut router = axum::Router::new()
        .route("/write", post(write))
        .route("/read/{key}", get(read))
        .route("/local/{key}", get(local))
        .route("/leaders", get(leaders))
        .route("/stats", get(stats))
        .route("/fault", post(fault));
    for p in ["", "/g/{group}"] {
        router = router
            .route(&format!("{p}/metrics"), get(metrics))
            .route(&format!("{p}/applied"), get(applied))
            .route(&format!("{p}/init"), post(init))
            .route(&format!("{p}/add-learner"), post(add_learner))
            .route(&format!("{p}/change-membership"), post(change_membership))
            .route(&format!("{p}/raft/append"), post(raft_append))
            .route(&format!("{p}/raft/vote"), post(raft_vote))
            .route(&format!("{p}/raft/pre-vote"), post(raft_pre_vote))
            .route(&format!("{p}/raft/snapshot"), post(raft_snapshot));
    }
    let router = router.layer(DefaultBodyLimit::max(1 << 30)).with_state(app);

    let listener = bind(addr).await?;
    let how = if separate_stores { "a chunklog store per group" } else { "one shared chunklog log" };
    eprintln!("node {id} serving {groups} group(s) on {addr} ({how}), data in {}", dir.display());
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    for raft in all {
        raft.shutdown().await.ok();
    }
    Ok(())
}

/// Binds `addr`, retrying briefly: a restarted node reuses its old port.
async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let mut last = None;
    for _ in 0..50 {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow::anyhow!("cannot bind {addr}: {last:?}"))
}

/// Exits when the parent process changes (the driver died without killing
/// this node), so no node outlives its driver by more than half a second.
fn spawn_parent_watchdog() {
    let parent = std::os::unix::process::parent_id();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if std::os::unix::process::parent_id() != parent {
                eprintln!("parent {parent} is gone; exiting");
                std::process::exit(2);
            }
        }
    });
}

/// Exits (status [`EXIT_STORE_FAILED`]) once the log store is poisoned or
/// Raft stopped on a storage error: a node without a working log must not
/// look alive. The driver restarts it once the disk is fixed.
fn spawn_store_watchdog(id: NodeId, rafts: Vec<Raft>, stores: Vec<chunklog::ChunkLog>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let failed = rafts.iter().find_map(|raft| raft.metrics().borrow_watched().running_state.clone().err());
            // A poisoned store answers any sync with the failure that
            // poisoned it (a full disk, say).
            let poisoned = stores.iter().find(|s| s.is_poisoned()).map(|s| match s.sync() {
                Err(e) => e.to_string(),
                Ok(()) => "the log store is poisoned".to_string(),
            });
            if poisoned.is_some() || failed.is_some() {
                let why = failed.map_or_else(|| poisoned.unwrap_or_default(), |f| f.to_string());
                eprintln!("node {id}: stopping, its Raft log store failed: {why}");
                std::process::exit(EXIT_STORE_FAILED);
            }
        }
    });
}

/// Records why the Raft core task stopped, once it has. openraft's metrics
/// still say the node runs after its core task panicked (one of openraft's
/// own assertions: it happens when a restored leader re-issues log ids), so
/// the watchdog asks the core every 200 ms; once it cannot answer,
/// `/metrics` reports the failure as the node's running state, and the
/// driver fails the run at once instead of waiting for a node that no
/// longer applies anything.
fn spawn_core_watchdog(id: NodeId, raft: Raft, failure: CoreFailure) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Err(fatal) = raft.with_raft_state(|_| ()).await {
                eprintln!("node {id}: its Raft core stopped: {fatal}");
                let _ = failure.set(fatal);
                return;
            }
        }
    });
}

async fn write(State(app): AppState, Json(req): Json<Request>) -> Result<Json<serde_json::Value>, ApiError> {
    let resp = app.group_for(&req.key).raft.client_write(req).await.map_err(|e| match e {
        // Proposed, then discarded on a leader change: it may still commit,
        // so not a 421 (which tells clients it was never proposed).
        RaftError::APIError(ClientWriteError::LogEntryDiscarded(_)) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e)
        }
        e => ApiError::raft(e),
    })?;
    Ok(Json(json!({ "index": resp.log_id.index })))
}

async fn read(State(app): AppState, Path(key): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    // Confirms leadership with a quorum and waits until this node has
    // applied everything committed before the read.
    let group = app.group_for(&key);
    let read_log_id = group.raft.ensure_linearizable(ReadPolicy::ReadIndex).await.map_err(ApiError::raft)?;
    let (value, applied) = group.sm.get(&key);
    Ok(Json(json!({ "value": value, "applied": applied, "read_index": read_log_id.index() })))
}

async fn local(State(app): AppState, Path(key): Path<String>) -> Json<serde_json::Value> {
    let (value, applied) = app.group_for(&key).sm.get(&key);
    Json(json!({ "value": value, "applied": applied }))
}

async fn metrics(State(app): AppState, Grp(g): Grp) -> Json<openraft::RaftMetrics<TypeConfig>> {
    let group = &app.groups[g];
    let mut m = group.raft.metrics().borrow_watched().clone();
    if let Some(fatal) = group.core_failure.get() {
        m.running_state = Err(fatal.clone());
    }
    Json(m)
}

async fn applied(State(app): AppState, Grp(g): Grp) -> Json<Applied> {
    Json(app.groups[g].sm.applied())
}

async fn leaders(State(app): AppState) -> Json<Vec<(usize, u64)>> {
    let led = app.groups.iter().enumerate().filter_map(|(g, group)| {
        let m = group.raft.metrics().borrow_watched().clone();
        (m.state == openraft::ServerState::Leader).then_some((g, m.current_term))
    });
    Json(led.collect())
}

/// The node's statistics: group 0's snapshot and log bounds (the group the
/// driver's fault rounds watch), snapshot counts summed over the groups,
/// and the store counters summed over the node's stores.
async fn stats(State(app): AppState) -> Json<serde_json::Value> {
    let g0 = &app.groups[0].sm;
    let (_, applied) = g0.size();
    let keys: usize = app.groups.iter().map(|g| g.sm.size().0).sum();
    let sum = |f: fn(&StateMachineStore) -> u64| app.groups.iter().map(|g| f(&g.sm)).sum::<u64>();
    let built = sum(|sm| sm.counters().snapshots_built.load(Ordering::Relaxed));
    let installed = sum(|sm| sm.counters().snapshots_installed.load(Ordering::Relaxed));
    let groups_installed = sum(|sm| u64::from(sm.counters().snapshots_installed.load(Ordering::Relaxed) > 0));
    let s0 = app.log0.stats();
    let all: Vec<chunklog::Stats> = app.stores.iter().map(|s| s.stats()).collect();
    Json(json!({
        "id": app.id,
        "groups": app.groups.len(),
        "stores": app.stores.len(),
        "applied": applied,
        "keys": keys,
        "snapshot_index": g0.snapshot_index(),
        "snapshot_loaded_at_start": g0.loaded_at_start(),
        "snapshots_built": built,
        "snapshots_installed": installed,
        "groups_installed_snapshot": groups_installed,
        "log": {
            "chunks": all.iter().map(|s| s.chunks).sum::<usize>(),
            "disk_bytes": all.iter().map(|s| s.disk_bytes).sum::<u64>(),
            "entries": s0.entries,
            "first_index": s0.first_index,
            "last_index": s0.last_index,
            "fsyncs": all.iter().map(|s| s.fsyncs).sum::<u64>(),
            "bytes_written": all.iter().map(|s| s.bytes_written).sum::<u64>(),
            "queued_bytes": all.iter().map(|s| s.queued_bytes).sum::<usize>(),
            "last_index_at_start": app.log_last_at_start,
        },
        "faults": app.faults.counters(),
    }))
}

async fn fault(State(app): AppState, Json(settings): Json<FaultSettings>) -> Json<()> {
    app.faults.set(settings);
    Json(())
}

async fn init(
    State(app): AppState,
    Grp(g): Grp,
    Json(nodes): Json<Vec<(NodeId, String)>>,
) -> Result<Json<()>, ApiError> {
    let mut members: BTreeMap<NodeId, BasicNode> =
        nodes.into_iter().map(|(id, addr)| (id, BasicNode::new(addr))).collect();
    if members.is_empty() {
        members.insert(app.id, BasicNode::new(app.addr));
    }
    app.groups[g].raft.initialize(members).await.map_err(|e| {
        // Already initialized, or this node is not among the members.
        let status = if e.fatal().is_some() { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::CONFLICT };
        ApiError::new(status, e)
    })?;
    Ok(Json(()))
}

async fn add_learner(
    State(app): AppState,
    Grp(g): Grp,
    Json((id, addr)): Json<(NodeId, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let resp = app.groups[g].raft.add_learner(id, BasicNode::new(addr), true).await.map_err(ApiError::raft)?;
    Ok(Json(json!({ "index": resp.log_id.index })))
}

async fn change_membership(
    State(app): AppState,
    Grp(g): Grp,
    Json(voters): Json<BTreeSet<NodeId>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let resp = app.groups[g].raft.change_membership(voters, false).await.map_err(ApiError::raft)?;
    Ok(Json(json!({ "index": resp.log_id.index })))
}

async fn raft_append(
    State(app): AppState,
    Grp(g): Grp,
    Json(rpc): Json<AppendEntriesRequest<TypeConfig>>,
) -> impl IntoResponse {
    Json(app.groups[g].raft.append_entries(rpc).await)
}

async fn raft_vote(State(app): AppState, Grp(g): Grp, Json(rpc): Json<VoteRequest<TypeConfig>>) -> impl IntoResponse {
    Json(app.groups[g].raft.vote(rpc).await)
}

async fn raft_pre_vote(
    State(app): AppState,
    Grp(g): Grp,
    Json(rpc): Json<VoteRequest<TypeConfig>>,
) -> impl IntoResponse {
    Json(app.groups[g].raft.pre_vote(rpc).await)
}

async fn raft_snapshot(State(app): AppState, Grp(g): Grp, body: Bytes) -> Result<Response, ApiError> {
    let (header, data) = unframe::<SnapshotHeader>(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("snapshot: {e}")))?;
    let snapshot = openraft::Snapshot { meta: header.meta, snapshot: data.to_vec() };
    let res =
        app.groups[g].raft.install_full_snapshot(header.vote, snapshot).await.map_err(RaftError::<TypeConfig>::Fatal);
    Ok(Json(res).into_response())
}
