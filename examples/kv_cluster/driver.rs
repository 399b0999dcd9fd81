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
//!    the writes outrun the driver.
//! 5. After the load: waits for a leader and for every node to apply
//!    everything the leader applied, then reads every acknowledged key back
//!    from every node (`/local/{key}`) and through the leader (`/read/{key}`,
//!    linearizable), and compares the values.
//!
//! Every wait is bounded (`--timeout-secs` for the whole run) and every node
//! process is killed when the driver returns or unwinds ([`Cluster`]'s
//! `Drop`). Nodes also exit by themselves when the driver process is gone.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use openraft::{RaftMetrics, ServerState};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::node::ErrorBody;
use crate::types::{NodeId, TypeConfig};

/// Options of the driver (the default command).
#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Number of keys to write (one write per key).
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    /// Size of every value in bytes.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Number of concurrent writing clients.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// How many SIGKILL-and-restart rounds during the load: the first kills a
    /// follower, the second the leader, and so on alternately.
    #[arg(long, default_value_t = 2)]
    pub kills: usize,
    /// Build a snapshot every this many entries (the nodes purge their log
    /// below it, keeping a fifth of that).
    #[arg(long, default_value_t = crate::node::SNAPSHOT_EVERY)]
    pub snapshot_every: u64,
    /// Give up (and fail) if the whole run takes longer than this.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Keep the data directories and node logs instead of deleting them.
    #[arg(long)]
    pub keep: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            nodes: 3,
            keys: 10_000,
            value_size: 100,
            clients: 8,
            kills: 2,
            snapshot_every: crate::node::SNAPSHOT_EVERY,
            timeout_secs: 120,
            keep: false,
        }
    }
}

/// The node processes. Dropping it SIGKILLs and reaps every node still
/// running, whatever way the driver leaves.
struct Cluster {
    exe: PathBuf,
    root: PathBuf,
    snapshot_every: u64,
    nodes: BTreeMap<NodeId, NodeProc>,
}

struct NodeProc {
    addr: SocketAddr,
    child: Option<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in self.nodes.values_mut() {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Cluster {
    fn log_path(&self, id: NodeId) -> PathBuf {
        self.root.join(format!("node{id}.log"))
    }

    /// Starts node `id` (again) from its data directory.
    fn start(&mut self, id: NodeId) -> anyhow::Result<()> {
        let dir = self.root.join(format!("node{id}"));
        let log = OpenOptions::new().create(true).append(true).open(self.log_path(id))?;
        let n = self.nodes.get_mut(&id).ok_or_else(|| anyhow!("no node {id}"))?;
        anyhow::ensure!(n.child.is_none(), "node {id} is already running");
        let child = Command::new(&self.exe)
            .arg("node")
            .args(["--id", &id.to_string(), "--addr", &n.addr.to_string()])
            .arg("--dir")
            .arg(&dir)
            .args(["--snapshot-every", &self.snapshot_every.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node {id}"))?;
        n.child = Some(child);
        Ok(())
    }

    /// SIGKILLs node `id` and reaps it.
    fn kill(&mut self, id: NodeId) -> anyhow::Result<()> {
        let n = self.nodes.get_mut(&id).ok_or_else(|| anyhow!("no node {id}"))?;
        let mut c = n.child.take().ok_or_else(|| anyhow!("node {id} is not running"))?;
        c.kill()?; // SIGKILL on Unix
        c.wait()?;
        Ok(())
    }

    fn up(&self) -> Vec<NodeId> {
        self.nodes.iter().filter(|(_, n)| n.child.is_some()).map(|(id, _)| *id).collect()
    }

    /// Nodes that exited although nobody killed them, with their exit status.
    fn exited(&mut self) -> Vec<(NodeId, String)> {
        let mut out = Vec::new();
        for (id, n) in self.nodes.iter_mut() {
            if let Some(c) = n.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                out.push((*id, status.to_string()));
                n.child = None;
            }
        }
        out
    }

    /// The last lines of node `id`'s output.
    fn log_tail(&self, id: NodeId, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path(id)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Picks `n` free loopback ports (bound and released at once).
fn free_ports(n: u64) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<Vec<_>, _>>()?;
    Ok(listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect::<Result<Vec<_>, _>>()?)
}

/// HTTP access to the nodes.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    addrs: Arc<BTreeMap<NodeId, SocketAddr>>,
}

impl Api {
    fn url(&self, id: NodeId, path: &str) -> anyhow::Result<String> {
        let addr = self.addrs.get(&id).ok_or_else(|| anyhow!("no node {id}"))?;
        Ok(format!("http://{addr}{path}"))
    }

    async fn get<T: DeserializeOwned>(&self, id: NodeId, path: &str) -> anyhow::Result<T> {
        let resp = self.http.get(self.url(id, path)?).timeout(Duration::from_secs(10)).send().await?;
        let status = resp.status();
        if !status.is_success() {
            bail!("node {id} {path}: HTTP {status}: {}", resp.text().await.unwrap_or_default());
        }
        Ok(resp.json().await?)
    }

    async fn post(&self, id: NodeId, path: &str, body: &Value, timeout: Duration) -> anyhow::Result<Value> {
        let resp = self.http.post(self.url(id, path)?).json(body).timeout(timeout).send().await?;
        let status = resp.status();
        if !status.is_success() {
            bail!("node {id} {path}: HTTP {status}: {}", resp.text().await.unwrap_or_default());
        }
        Ok(resp.json().await?)
    }

    async fn metrics(&self, id: NodeId) -> anyhow::Result<RaftMetrics<TypeConfig>> {
        self.get(id, "/metrics").await
    }

    /// Node `id`'s metrics; `Err` if it does not answer, and an error that
    /// ends the run if its Raft has stopped with a fatal error.
    async fn live_metrics(&self, id: NodeId) -> anyhow::Result<Option<RaftMetrics<TypeConfig>>> {
        let Ok(m) = self.metrics(id).await else { return Ok(None) };
        if let Err(fatal) = &m.running_state {
            bail!("node {id}'s Raft failed: {fatal}");
        }
        Ok(Some(m))
    }

    /// Waits until one of `nodes` says it is the leader and returns it with
    /// its metrics.
    async fn leader(&self, nodes: &[NodeId], deadline: Instant) -> anyhow::Result<(NodeId, RaftMetrics<TypeConfig>)> {
        loop {
            let mut best: Option<(NodeId, RaftMetrics<TypeConfig>)> = None;
            for &id in nodes {
                if let Some(m) = self.live_metrics(id).await?
                    && m.state == ServerState::Leader
                    && best.as_ref().is_none_or(|(_, b)| m.current_term > b.current_term)
                {
                    best = Some((id, m));
                }
            }
            if let Some(b) = best {
                return Ok(b);
            }
            if Instant::now() > deadline {
                bail!("no leader among nodes {nodes:?} before the deadline");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until node `id` has applied index `index`; returns how long.
    async fn wait_applied(&self, id: NodeId, index: u64, deadline: Instant) -> anyhow::Result<Duration> {
        let t = Instant::now();
        loop {
            if let Some(m) = self.live_metrics(id).await?
                && m.last_applied.map(|l| l.index) >= Some(index)
            {
                return Ok(t.elapsed());
            }
            if Instant::now() > deadline {
                bail!("node {id} did not apply index {index} before the deadline");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// The key of write `i`.
fn key(i: u64) -> String {
    format!("key-{i:08}")
}

/// The value written to key `i`: its number, then filler up to `size` bytes.
fn value(i: u64, size: usize) -> String {
    let mut v = format!("{i}:");
    let fill = char::from(b'a' + (i % 26) as u8);
    while v.len() < size {
        v.push(fill);
    }
    v
}

/// A leader kill being recovered from: the first write acknowledged by
/// another node ends it.
struct Recovery {
    killed: NodeId,
    at: Instant,
    first_ack: Option<Duration>,
}

/// State shared by the writing clients and the controller.
struct Load {
    keys: u64,
    value_size: usize,
    ids: Vec<NodeId>,
    next: AtomicU64,
    acked: Vec<AtomicBool>,
    acked_count: AtomicU64,
    attempts: AtomicU64,
    gave_up: AtomicU64,
    /// Clients write keys below this only: the controller raises it after
    /// each kill, so kills happen mid-load even when the load outruns it.
    gate: AtomicU64,
    /// Microseconds clients spent waiting at the gate, summed.
    gate_wait_us: AtomicU64,
    /// The node clients currently send to (0: none known).
    leader_hint: AtomicU64,
    recovery: Mutex<Option<Recovery>>,
    stop: AtomicBool,
}

impl Load {
    fn next_node(&self, after: NodeId) -> NodeId {
        let pos = self.ids.iter().position(|&i| i == after).map_or(0, |p| p + 1);
        self.ids[pos % self.ids.len()]
    }

    fn on_ack(&self, i: u64, node: NodeId) {
        self.acked[i as usize].store(true, Ordering::SeqCst);
        self.acked_count.fetch_add(1, Ordering::SeqCst);
        self.leader_hint.store(node, Ordering::Relaxed);
        let mut r = self.recovery.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = r.as_mut()
            && r.first_ack.is_none()
            && node != r.killed
        {
            r.first_ack = Some(r.at.elapsed());
        }
    }
}

/// One writing client: takes the next key until none is left; returns the
/// latencies (microseconds, first attempt to acknowledgement) of its
/// acknowledged writes.
async fn client(api: Api, load: Arc<Load>) -> Histogram<u64> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds");
    let url = |id| api.url(id, "/write").unwrap_or_default();
    loop {
        let i = load.next.fetch_add(1, Ordering::SeqCst);
        if i >= load.keys {
            return hist;
        }
        let waiting = Instant::now();
        while i >= load.gate.load(Ordering::SeqCst) && !load.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        load.gate_wait_us.fetch_add(waiting.elapsed().as_micros() as u64, Ordering::Relaxed);
        let body = serde_json::json!({ "key": key(i), "value": value(i, load.value_size) });
        let start = Instant::now();
        let give_up_at = start + Duration::from_secs(60);
        let mut target = match load.leader_hint.load(Ordering::Relaxed) {
            0 => load.ids[0],
            id => id,
        };
        let mut failures = 0u32;
        loop {
            if Instant::now() > give_up_at || load.stop.load(Ordering::Relaxed) {
                load.gave_up.fetch_add(1, Ordering::SeqCst);
                break;
            }
            load.attempts.fetch_add(1, Ordering::Relaxed);
            let res = api.http.post(url(target)).json(&body).timeout(Duration::from_secs(5)).send().await;
            let redirect = match res {
                Ok(r) if r.status().is_success() => {
                    load.on_ack(i, target);
                    let _ = hist.record(start.elapsed().as_micros().max(1) as u64);
                    break;
                }
                Ok(r) if r.status() == reqwest::StatusCode::MISDIRECTED_REQUEST => {
                    r.json::<ErrorBody>().await.ok().and_then(|e| e.leader_id).filter(|&l| l != target)
                }
                _ => None,
            };
            failures += 1;
            target = redirect.unwrap_or_else(|| load.next_node(target));
            if redirect.is_none() || failures > 3 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// What happened to one killed node.
#[derive(Debug, Clone)]
pub struct KillReport {
    /// The node.
    pub node: NodeId,
    /// Whether it was the leader when killed.
    pub was_leader: bool,
    /// Acknowledged writes when it was killed.
    pub killed_at_acked: u64,
    /// Acknowledged writes when it was restarted.
    pub restarted_at_acked: u64,
    /// How long it was down.
    pub down_for: Duration,
    /// An upper bound of its last log index when it was killed.
    pub victim_last: u64,
    /// The leader's purge point when it was restarted, if the leader had
    /// purged past `victim_last` by then (it then must catch up by snapshot);
    /// `None` if it was restarted because the writes reserved for this kill
    /// ran out first.
    pub leader_purged: Option<u64>,
    /// For a leader: the new leader and how long until a node said so.
    pub new_leader: Option<(NodeId, Duration)>,
    /// For a leader: how long until another node acknowledged a write.
    pub first_ack_after: Option<Duration>,
    /// From restart until it applied what the leader had applied at restart.
    pub caught_up_in: Duration,
    /// The leader's applied index it had to reach.
    pub caught_up_to: u64,
    /// Index of the snapshot it loaded from its own directory at restart.
    pub snapshot_loaded_at_start: Option<u64>,
    /// Snapshots it received from the leader after the restart.
    pub snapshots_installed: u64,
}

/// Verification of one node.
#[derive(Debug, Clone, Default)]
pub struct NodeCheck {
    /// Keys read.
    pub reads: u64,
    /// Acknowledged keys the node does not have.
    pub missing: u64,
    /// Acknowledged keys with another value.
    pub wrong: u64,
    /// Reads that failed.
    pub errors: u64,
}

/// Everything the run measured; [`Report::summary`] prints it.
#[derive(Debug, Clone)]
pub struct Report {
    /// The options of the run.
    pub options: Options,
    /// Writes acknowledged.
    pub acked: u64,
    /// Writes given up after retrying for a minute (not acknowledged).
    pub gave_up: u64,
    /// Write attempts (acknowledged or not).
    pub attempts: u64,
    /// How long the load ran.
    pub load_time: Duration,
    /// How long, on average per client, clients waited for the controller
    /// (included in `load_time`).
    pub gate_wait: Duration,
    /// Write latency percentiles in microseconds: p50, p99, max.
    pub latency_us: (u64, u64, u64),
    /// The kills.
    pub kills: Vec<KillReport>,
    /// Leaders seen by the monitor: (term, node).
    pub leaders: BTreeSet<(u64, NodeId)>,
    /// The final term.
    pub final_term: u64,
    /// The final leader and its last applied index.
    pub final_leader: (NodeId, u64),
    /// Per node: snapshots built, snapshot index, log chunks, fsyncs.
    pub node_stats: BTreeMap<NodeId, Value>,
    /// Reads of every acknowledged key from every node's own state machine.
    pub local_checks: BTreeMap<NodeId, NodeCheck>,
    /// Linearizable reads of every acknowledged key through the leader.
    pub linearizable_check: NodeCheck,
    /// A few of the mismatches, for the summary.
    pub mismatches: Vec<String>,
    /// Total run time.
    pub total_time: Duration,
}

impl Report {
    /// True if every acknowledged write was read back, right, from every node
    /// and through the leader.
    pub fn ok(&self) -> bool {
        let clean = |c: &NodeCheck| c.missing == 0 && c.wrong == 0 && c.errors == 0 && c.reads == self.acked;
        self.acked > 0
            && self.local_checks.len() == self.options.nodes as usize
            && self.local_checks.values().all(clean)
            && clean(&self.linearizable_check)
    }

    /// The human-readable summary.
    pub fn summary(&self) -> String {
        let o = &self.options;
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1e3);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "kv_cluster: {} nodes on chunklog, {} keys x {} B values, {} clients, {} kills, snapshot every {} entries",
            o.nodes, o.keys, o.value_size, o.clients, o.kills, o.snapshot_every
        );
        let secs = self.load_time.as_secs_f64();
        let _ = write!(
            s,
            "  writes      {} acknowledged in {:.2} s = {:.0} writes/s ({} attempts, {} given up",
            self.acked,
            secs,
            self.acked as f64 / secs.max(1e-9),
            self.attempts,
            self.gave_up
        );
        if self.gate_wait >= Duration::from_millis(1) {
            let _ = write!(s, "; clients waited {} for the kill schedule", ms(self.gate_wait));
        }
        let _ = writeln!(s, ")");
        let (p50, p99, max) = self.latency_us;
        let _ = writeln!(
            s,
            "  latency     p50 {:.2} ms, p99 {:.2} ms, max {:.0} ms (first attempt to acknowledgement)",
            p50 as f64 / 1e3,
            p99 as f64 / 1e3,
            max as f64 / 1e3
        );
        for (n, k) in self.kills.iter().enumerate() {
            let role = if k.was_leader { "leader" } else { "follower" };
            let _ = write!(
                s,
                "  kill {}      SIGKILL {role} node {} at {} acked writes, down {}",
                n + 1,
                k.node,
                k.killed_at_acked,
                ms(k.down_for)
            );
            if let Some((leader, after)) = k.new_leader {
                let _ = write!(s, "; node {leader} seen as leader after {}", ms(after));
            }
            if let Some(d) = k.first_ack_after {
                let _ = write!(s, ", first write acknowledged after {}", ms(d));
            }
            let _ = writeln!(s);
            let how = if k.snapshots_installed > 0 {
                format!("by snapshot ({} installed from the leader)", k.snapshots_installed)
            } else {
                "by log replication".to_string()
            };
            let loaded = match k.snapshot_loaded_at_start {
                Some(i) => format!("loaded its own snapshot at {i}, "),
                None => String::new(),
            };
            let purged = match k.leader_purged {
                Some(p) => format!("leader had purged its log to {p} (node's last entry <= {})", k.victim_last),
                None => "the writes ran out before the leader purged past the node's log".to_string(),
            };
            let _ = writeln!(s, "              restarted at {} acked writes; {purged}", k.restarted_at_acked);
            let _ = writeln!(
                s,
                "              {loaded}caught up to index {} in {} {how}",
                k.caught_up_to,
                ms(k.caught_up_in)
            );
        }
        let leaders: Vec<String> = self.leaders.iter().map(|(t, n)| format!("node {n} in term {t}")).collect();
        let _ = writeln!(
            s,
            "  elections   {} leader{} seen: {}; final term {}",
            self.leaders.len(),
            if self.leaders.len() == 1 { "" } else { "s" },
            leaders.join(", "),
            self.final_term
        );
        for (id, v) in &self.node_stats {
            let l = &v["log"];
            let plural = if l["chunks"].as_u64() == Some(1) { "" } else { "s" };
            let _ = writeln!(
                s,
                "  node {id}      snapshot at {} ({} built, {} installed), log {}..={} in {} chunk file{plural}, {} fsyncs",
                v["snapshot_index"],
                v["snapshots_built"],
                v["snapshots_installed"],
                l["first_index"],
                l["last_index"],
                l["chunks"],
                l["fsyncs"]
            );
        }
        let _ = writeln!(s, "              (counts since each node's last start)");
        let (fl, fi) = self.final_leader;
        let _ = writeln!(s, "  converged   leader node {fl}, every node applied index {fi}");
        for (id, c) in &self.local_checks {
            let _ = writeln!(
                s,
                "  check       node {id}: {} of {} acknowledged keys read back, {} missing, {} wrong, {} errors",
                c.reads - c.missing - c.wrong - c.errors,
                self.acked,
                c.missing,
                c.wrong,
                c.errors
            );
        }
        let c = &self.linearizable_check;
        let _ = writeln!(
            s,
            "  check       linearizable reads via leader: {} of {} right, {} missing, {} wrong, {} errors",
            c.reads - c.missing - c.wrong - c.errors,
            self.acked,
            c.missing,
            c.wrong,
            c.errors
        );
        for m in &self.mismatches {
            let _ = writeln!(s, "  mismatch    {m}");
        }
        let verdict = if self.ok() { "OK: every acknowledged write is on every node" } else { "FAILED" };
        let _ = writeln!(s, "  result      {verdict} (total {:.1} s)", self.total_time.as_secs_f64());
        s
    }
}

/// Runs the whole scenario and returns its report; `Err` if it could not be
/// carried out (a node failed to start, no leader, the deadline passed).
pub async fn run(options: Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.nodes >= 1, "--nodes must be at least 1");
    anyhow::ensure!(options.kills == 0 || options.nodes >= 3, "killing nodes needs --nodes 3 or more");
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

async fn scenario(options: Options, root: PathBuf) -> anyhow::Result<Report> {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(options.timeout_secs);
    let ids: Vec<NodeId> = (1..=options.nodes).collect();
    let ports = free_ports(options.nodes)?;
    let addrs: BTreeMap<NodeId, SocketAddr> =
        ids.iter().zip(&ports).map(|(&id, &p)| (id, SocketAddr::from(([127, 0, 0, 1], p)))).collect();
    let mut cluster = Cluster {
        exe: std::env::current_exe()?,
        root: root.clone(),
        snapshot_every: options.snapshot_every,
        nodes: addrs.iter().map(|(&id, &addr)| (id, NodeProc { addr, child: None })).collect(),
    };
    let http = reqwest::Client::builder().no_proxy().connect_timeout(Duration::from_secs(1)).build()?;
    let api = Api { http, addrs: Arc::new(addrs.clone()) };

    // 1. Start the nodes and wait until they serve.
    for &id in &ids {
        cluster.start(id)?;
    }
    for &id in &ids {
        while api.metrics(id).await.is_err() {
            if let Some((id, status)) = cluster.exited().pop() {
                bail!("node {id} exited ({status}):\n{}", cluster.log_tail(id, 20));
            }
            anyhow::ensure!(Instant::now() < deadline, "node {id} did not start serving");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // 2. Form the cluster.
    let long = Duration::from_secs(60);
    api.post(1, "/init", &serde_json::json!([]), long).await.context("init")?;
    api.leader(&[1], deadline).await?;
    for &id in &ids[1..] {
        api.post(1, "/add-learner", &serde_json::json!([id, addrs[&id].to_string()]), long)
            .await
            .with_context(|| format!("add-learner {id}"))?;
    }
    api.post(1, "/change-membership", &serde_json::json!(ids), long).await.context("change-membership")?;

    // A monitor records every (term, leader) any node reports.
    let leaders = Arc::new(Mutex::new(BTreeSet::new()));
    let monitor_stop = Arc::new(AtomicBool::new(false));
    let monitor = tokio::spawn({
        let (api, ids, leaders, stop) = (api.clone(), ids.clone(), leaders.clone(), monitor_stop.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                for &id in &ids {
                    if let Ok(m) = api.metrics(id).await
                        && m.state == ServerState::Leader
                    {
                        leaders.lock().unwrap_or_else(|p| p.into_inner()).insert((m.current_term, id));
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });

    // 3. The load.
    let load = Arc::new(Load {
        keys: options.keys,
        value_size: options.value_size,
        ids: ids.clone(),
        next: AtomicU64::new(0),
        acked: (0..options.keys).map(|_| AtomicBool::new(false)).collect(),
        acked_count: AtomicU64::new(0),
        attempts: AtomicU64::new(0),
        gave_up: AtomicU64::new(0),
        gate: AtomicU64::new(gate_before_kill(&options, 0)),
        gate_wait_us: AtomicU64::new(0),
        leader_hint: AtomicU64::new(1),
        recovery: Mutex::new(None),
        stop: AtomicBool::new(false),
    });
    let load_start = Instant::now();
    let clients: Vec<_> = (0..options.clients).map(|_| tokio::spawn(client(api.clone(), load.clone()))).collect();
    // Stop the clients if the controller fails, so the error is not hidden
    // behind a minute of retries.
    let controlled = control(&options, &mut cluster, &api, &load, deadline).await;
    if controlled.is_err() {
        load.stop.store(true, Ordering::SeqCst);
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    for c in clients {
        hist.add(c.await?)?;
    }
    let load_time = load_start.elapsed();
    let kills = controlled?;

    // 4. Converge: a leader, and every node applied what it applied.
    if let Some((id, status)) = cluster.exited().pop() {
        bail!("node {id} exited by itself ({status}):\n{}", cluster.log_tail(id, 20));
    }
    let (leader, m) = api.leader(&ids, deadline).await?;
    let target = m.last_applied.map(|l| l.index).unwrap_or(0);
    for &id in &ids {
        api.wait_applied(id, target, deadline).await?;
    }
    monitor_stop.store(true, Ordering::SeqCst);
    let _ = monitor.await;
    let final_term = api.metrics(leader).await?.current_term;

    // 5. Read every acknowledged key back.
    let acked: Vec<u64> = (0..options.keys).filter(|&i| load.acked[i as usize].load(Ordering::SeqCst)).collect();
    let mut mismatches = Vec::new();
    let mut local_checks = BTreeMap::new();
    for &id in &ids {
        local_checks.insert(id, check(&api, id, "/local", &acked, options.value_size, &mut mismatches).await);
    }
    let linearizable_check = check(&api, leader, "/read", &acked, options.value_size, &mut mismatches).await;
    let mut node_stats = BTreeMap::new();
    for &id in &ids {
        node_stats.insert(id, api.get::<Value>(id, "/stats").await.unwrap_or(Value::Null));
    }

    let pct = |q| hist.value_at_quantile(q);
    let leaders = leaders.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(Report {
        options: options.clone(),
        acked: acked.len() as u64,
        gave_up: load.gave_up.load(Ordering::SeqCst),
        attempts: load.attempts.load(Ordering::SeqCst),
        load_time,
        gate_wait: Duration::from_micros(load.gate_wait_us.load(Ordering::SeqCst) / options.clients as u64),
        latency_us: (pct(0.5), pct(0.99), hist.max()),
        kills,
        leaders,
        final_term,
        final_leader: (leader, target),
        node_stats,
        local_checks,
        linearizable_check,
        mismatches,
        total_time: t0.elapsed(),
    })
}

/// The load is cut in `kills + 1` slots of keys; the last runs without a kill.
fn slot(options: &Options) -> u64 {
    options.keys / (options.kills as u64 + 1)
}

/// Kill `i` happens when a quarter of slot `i` is acknowledged; the restart
/// when three quarters are (and the leader purged past the killed node).
fn kill_point(options: &Options, i: u64) -> u64 {
    slot(options) * i + slot(options) / 4
}

/// Until kill `i` has happened, clients write no key past this.
fn gate_before_kill(options: &Options, i: u64) -> u64 {
    if i < options.kills as u64 { kill_point(options, i) + slot(options) / 4 } else { options.keys }
}

/// Kills and restarts nodes while the load runs.
async fn control(
    options: &Options,
    cluster: &mut Cluster,
    api: &Api,
    load: &Load,
    deadline: Instant,
) -> anyhow::Result<Vec<KillReport>> {
    let acked = || load.acked_count.load(Ordering::SeqCst);
    // No write left to wait for: all done, or all clients at the gate.
    let done = || {
        let end = load.gate.load(Ordering::SeqCst).min(load.keys);
        load.next.load(Ordering::SeqCst) >= end && acked() + load.gave_up.load(Ordering::SeqCst) >= end
    };
    let wait_acked = |n: u64| async move {
        while acked() < n && !done() {
            anyhow::ensure!(Instant::now() < deadline, "deadline passed waiting for {n} acknowledged writes");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    };
    let mut reports = Vec::new();
    let slot = slot(options);
    for i in 0..options.kills as u64 {
        wait_acked(kill_point(options, i)).await?;
        if let Some((id, status)) = cluster.exited().pop() {
            bail!("node {id} exited by itself ({status}):\n{}", cluster.log_tail(id, 20));
        }
        let up = cluster.up();
        let (leader, _) = api.leader(&up, deadline).await?;
        let kill_leader = i % 2 == 1;
        let victim = if kill_leader {
            leader
        } else {
            *up.iter().rev().find(|&&id| id != leader).ok_or_else(|| anyhow!("no follower to kill"))?
        };
        // An upper bound of the victim's last log index, to know when the
        // leader has purged everything the victim could resume from.
        let acked_before = acked();
        let victim_metrics = if kill_leader { Some(api.metrics(victim).await?) } else { None };
        let killed_at_acked = acked();
        let killed_at = Instant::now();
        if kill_leader {
            *load.recovery.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Recovery { killed: victim, at: killed_at, first_ack: None });
        }
        cluster.kill(victim)?;
        load.gate.store(gate_before_kill(options, i + 1), Ordering::SeqCst);
        let victim_last = match victim_metrics {
            // The old leader appended at most one entry per write that
            // reached it: in flight at the metrics read, or sent since.
            Some(m) => m.last_log_index.unwrap_or(0) + 2 * options.clients as u64 + (acked() - acked_before),
            // A follower's log is a prefix of its leader's.
            None => api.metrics(leader).await?.last_log_index.unwrap_or(0),
        };
        let mut new_leader = None;
        if kill_leader {
            let (l, _) = api.leader(&cluster.up(), deadline).await?;
            new_leader = Some((l, killed_at.elapsed()));
        }

        // Restart after its share of writes and once the leader has purged
        // its log past the victim's last entry, so that the victim can only
        // catch up by snapshot (unless the writes allowed for this kill run
        // out first).
        wait_acked(slot * i + slot * 3 / 4).await?;
        let mut leader_purged = None;
        loop {
            let (_, m) = api.leader(&cluster.up(), deadline).await?;
            let purged = m.purged.map(|l| l.index);
            if purged >= Some(victim_last) {
                leader_purged = purged;
                break;
            }
            if done() {
                // All clients wait at the gate: let a few more writes in,
                // up to half of the next slot (the rest of the load for the
                // last kill).
                let gate = load.gate.load(Ordering::SeqCst);
                let max = if i + 1 < options.kills as u64 { kill_point(options, i + 1) + slot / 2 } else { load.keys };
                if gate >= max {
                    break;
                }
                load.gate.store((gate + options.snapshot_every / 5 + 1).min(max), Ordering::SeqCst);
            }
            anyhow::ensure!(Instant::now() < deadline, "deadline passed waiting for the leader to purge its log");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (_, m) = api.leader(&cluster.up(), deadline).await?;
        let caught_up_to = m.last_applied.map(|l| l.index).unwrap_or(0);
        let restarted_at_acked = acked();
        let down_for = killed_at.elapsed();
        cluster.start(victim)?;
        let caught_up_in = api.wait_applied(victim, caught_up_to, deadline).await?;
        let stats: Value = api.get(victim, "/stats").await?;
        let first_ack_after = if kill_leader {
            load.recovery.lock().unwrap_or_else(|p| p.into_inner()).take().and_then(|r| r.first_ack)
        } else {
            None
        };
        reports.push(KillReport {
            node: victim,
            was_leader: kill_leader,
            killed_at_acked,
            restarted_at_acked,
            down_for,
            victim_last,
            leader_purged,
            new_leader,
            first_ack_after,
            caught_up_in,
            caught_up_to,
            snapshot_loaded_at_start: stats["snapshot_loaded_at_start"].as_u64(),
            snapshots_installed: stats["snapshots_installed"].as_u64().unwrap_or(0),
        });
    }
    Ok(reports)
}

/// Reads every key of `acked` from node `id` through `path` (`/local` or
/// `/read`) and compares it with what was written.
async fn check(
    api: &Api,
    id: NodeId,
    path: &str,
    acked: &[u64],
    size: usize,
    mismatches: &mut Vec<String>,
) -> NodeCheck {
    let results: Vec<(u64, anyhow::Result<Value>)> = futures_util::stream::iter(acked.iter().copied())
        .map(|i| async move { (i, api.get::<Value>(id, &format!("{path}/{}", key(i))).await) })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut c = NodeCheck::default();
    for (i, r) in results {
        c.reads += 1;
        let problem = match r {
            Err(e) => {
                c.errors += 1;
                format!("error: {e:#}")
            }
            Ok(v) => match v["value"].as_str() {
                Some(got) if got == value(i, size) => continue,
                Some(got) => {
                    c.wrong += 1;
                    format!("wrong value {:?}", got.get(..got.len().min(24)).unwrap_or(got))
                }
                None => {
                    c.missing += 1;
                    "missing".to_string()
                }
            },
        };
        if mismatches.len() < 10 {
            mismatches.push(format!("node {id} {path}/{}: {problem}", key(i)));
        }
    }
    c
}
