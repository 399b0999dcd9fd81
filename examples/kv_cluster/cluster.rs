//! The node processes under test: starting, SIGKILLing and reaping them, and
//! forming them into one Raft cluster. Kept in one place so that no node
//! outlives the driver ([`Cluster`]'s `Drop`) whichever part of the scenario
//! fails, and so that later fault kinds find the process control they need
//! here.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

use crate::api::Api;
use crate::types::NodeId;

/// How every node is started: the node options the driver passes on.
#[derive(Debug, Clone, Copy)]
pub struct NodeFlags {
    /// Build a snapshot every this many entries.
    pub snapshot_every: u64,
    /// Run the log on the power-loss layer (`--power-loss`).
    pub power_loss: bool,
    /// Seed of the disk-fault layer.
    pub seed: u64,
    /// openraft's `enable_leader_restore` on (`--leader-restore`).
    pub leader_restore: bool,
    /// Raft groups per node (`--groups`).
    pub groups: u64,
    /// One chunklog store per group (`--separate-stores`).
    pub separate_stores: bool,
}

/// The node processes. Dropping it SIGKILLs and reaps every node still
/// running, whatever way the driver leaves.
pub struct Cluster {
    exe: PathBuf,
    root: PathBuf,
    flags: NodeFlags,
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
    /// Nodes of this executable at `addrs`, none started yet, with their
    /// data directories and logs under `root`, each started with `flags`.
    pub fn new(root: PathBuf, flags: NodeFlags, addrs: &BTreeMap<NodeId, SocketAddr>) -> anyhow::Result<Cluster> {
        Ok(Cluster {
            exe: std::env::current_exe()?,
            root,
            flags,
            nodes: addrs.iter().map(|(&id, &addr)| (id, NodeProc { addr, child: None })).collect(),
        })
    }

    fn log_path(&self, id: NodeId) -> PathBuf {
        self.root.join(format!("node{id}.log"))
    }

    /// Node `id`'s data directory.
    pub fn dir(&self, id: NodeId) -> PathBuf {
        self.root.join(format!("node{id}"))
    }

    /// Starts node `id` (again) from its data directory.
    pub fn start(&mut self, id: NodeId) -> anyhow::Result<()> {
        let dir = self.dir(id);
        let f = self.flags;
        let mut faults = vec!["--seed".to_string(), f.seed.to_string()];
        if f.power_loss {
            faults.push("--power-loss".to_string());
        }
        if f.leader_restore {
            faults.push("--leader-restore".to_string());
        }
        faults.extend(["--groups".to_string(), f.groups.to_string()]);
        if f.separate_stores {
            faults.push("--separate-stores".to_string());
        }
        let log = OpenOptions::new().create(true).append(true).open(self.log_path(id))?;
        let n = self.nodes.get_mut(&id).ok_or_else(|| anyhow!("no node {id}"))?;
        anyhow::ensure!(n.child.is_none(), "node {id} is already running");
        let child = Command::new(&self.exe)
            .arg("node")
            .args(["--id", &id.to_string(), "--addr", &n.addr.to_string()])
            .arg("--dir")
            .arg(&dir)
            .args(["--snapshot-every", &f.snapshot_every.to_string()])
            .args(&faults)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node {id}"))?;
        n.child = Some(child);
        Ok(())
    }

    /// Starts every node and waits until each serves its API.
    pub async fn start_all(&mut self, api: &Api, deadline: Instant) -> anyhow::Result<()> {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for &id in &ids {
            self.start(id)?;
        }
        for &id in &ids {
            while api.metrics(id).await.is_err() {
                if let Some((id, status)) = self.exited().pop() {
                    bail!("node {id} exited ({status}):\n{}", self.log_tail(id, 20));
                }
                anyhow::ensure!(Instant::now() < deadline, "node {id} did not start serving");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    /// SIGKILLs node `id` and reaps it.
    pub fn kill(&mut self, id: NodeId) -> anyhow::Result<()> {
        self.kill_together(&[id])
    }

    /// SIGKILLs every node of `ids`, one signal right after the other and
    /// none reaped before all are signalled, then reaps them.
    pub fn kill_together(&mut self, ids: &[NodeId]) -> anyhow::Result<()> {
        for id in ids {
            let n = self.nodes.get(id).ok_or_else(|| anyhow!("no node {id}"))?;
            anyhow::ensure!(n.child.is_some(), "node {id} is not running");
        }
        let mut killed: Vec<Child> = ids.iter().filter_map(|id| self.nodes.get_mut(id)?.child.take()).collect();
        for c in &mut killed {
            c.kill()?; // SIGKILL on Unix
        }
        for c in &mut killed {
            c.wait()?;
        }
        Ok(())
    }

    /// Stops (`pause`: SIGSTOP) or resumes (SIGCONT) node `id`'s process.
    pub fn signal_stop(&mut self, id: NodeId, pause: bool) -> anyhow::Result<()> {
        let n = self.nodes.get(&id).ok_or_else(|| anyhow!("no node {id}"))?;
        let pid = n.child.as_ref().ok_or_else(|| anyhow!("node {id} is not running"))?.id();
        let signal = if pause { "-STOP" } else { "-CONT" };
        let status = Command::new("kill").args([signal, &pid.to_string()]).status()?;
        anyhow::ensure!(status.success(), "kill {signal} {pid} failed: {status}");
        Ok(())
    }

    /// Waits until node `id` exits by itself; returns its exit status and
    /// the last line of its output.
    pub async fn wait_exit(&mut self, id: NodeId, deadline: Instant) -> anyhow::Result<(String, String)> {
        loop {
            let n = self.nodes.get_mut(&id).ok_or_else(|| anyhow!("no node {id}"))?;
            let c = n.child.as_mut().ok_or_else(|| anyhow!("node {id} is not running"))?;
            if let Some(status) = c.try_wait()? {
                n.child = None;
                return Ok((status.to_string(), self.log_tail(id, 1)));
            }
            anyhow::ensure!(Instant::now() < deadline, "node {id} did not exit before the deadline");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The process id of node `id`, if it runs.
    pub fn pid(&self, id: NodeId) -> Option<u32> {
        self.nodes.get(&id)?.child.as_ref().map(|c| c.id())
    }

    /// Threads and open files of node `id`'s process (`/proc/<pid>/status`
    /// `Threads`, entries of `/proc/<pid>/fd`), if it runs.
    pub fn proc_stats(&self, id: NodeId) -> Option<(u64, u64)> {
        let pid = self.pid(id)?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let threads = status.lines().find_map(|l| l.strip_prefix("Threads:"))?.trim().parse().ok()?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
        Some((threads, fds))
    }

    /// The nodes running now.
    pub fn up(&self) -> Vec<NodeId> {
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

    /// `Err`, with the end of its output, if a node exited by itself.
    pub fn ensure_none_exited(&mut self) -> anyhow::Result<()> {
        if let Some((id, status)) = self.exited().pop() {
            bail!("node {id} exited by itself ({status}):\n{}", self.log_tail(id, 20));
        }
        Ok(())
    }

    /// The last lines of node `id`'s output.
    fn log_tail(&self, id: NodeId, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path(id)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// A free loopback address for each of `ids`.
pub fn loopback_addrs(ids: &[NodeId]) -> anyhow::Result<BTreeMap<NodeId, SocketAddr>> {
    let ports = free_ports(ids.len() as u64)?;
    Ok(ids.iter().zip(&ports).map(|(&id, &p)| (id, SocketAddr::from(([127, 0, 0, 1], p)))).collect())
}

/// Picks `n` free loopback ports (bound and released at once).
fn free_ports(n: u64) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<Vec<_>, _>>()?;
    Ok(listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect::<Result<Vec<_>, _>>()?)
}

/// Forms the cluster, every group of `groups` at once: `init` on node 1,
/// `add-learner` for the others, `change-membership` to make them all
/// voters. Node 1 starts as the leader of every group.
pub async fn form(api: &Api, ids: &[NodeId], groups: u64, deadline: Instant) -> anyhow::Result<()> {
    let formed = futures_util::future::join_all((0..groups).map(|g| form_group(api, ids, g, deadline))).await;
    formed.into_iter().collect()
}

/// Forms group `g`.
async fn form_group(api: &Api, ids: &[NodeId], g: u64, deadline: Instant) -> anyhow::Result<()> {
    let long = Duration::from_secs(60);
    api.post(1, &format!("/g/{g}/init"), &serde_json::json!([]), long).await.with_context(|| format!("init {g}"))?;
    api.group_leader(g, &[1], deadline).await?;
    for &id in &ids[1..] {
        let learner = serde_json::json!([id, api.addr(id)?.to_string()]);
        post_retrying(api, &format!("/g/{g}/add-learner"), &learner, deadline)
            .await
            .with_context(|| format!("group {g}: add-learner {id}"))?;
    }
    post_retrying(api, &format!("/g/{g}/change-membership"), &serde_json::json!(ids), deadline)
        .await
        .with_context(|| format!("group {g}: change-membership"))?;
    Ok(())
}

/// POSTs a membership change to node 1, again every 50 ms while it answers
/// 503: a new leader refuses one until its initial membership entry is
/// committed ("already undergoing a configuration change"), which with
/// many groups formed at once on a loaded machine can take a moment.
async fn post_retrying(api: &Api, path: &str, body: &serde_json::Value, deadline: Instant) -> anyhow::Result<()> {
    loop {
        match api.post(1, path, body, Duration::from_secs(60)).await {
            Ok(_) => return Ok(()),
            Err(e) if format!("{e}").contains("503") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
