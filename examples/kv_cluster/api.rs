//! The driver's HTTP client of the nodes' API (the server side is
//! `node.rs`). Kept apart from the node processes because the load, the
//! faults and the checks all talk to the nodes this way, while only the
//! cluster set-up starts and kills processes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use openraft::{RaftMetrics, ServerState};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::types::{NodeId, TypeConfig};

/// HTTP access to the nodes.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    addrs: Arc<BTreeMap<NodeId, SocketAddr>>,
}

impl Api {
    /// A client of the nodes listening on `addrs`.
    pub fn new(addrs: BTreeMap<NodeId, SocketAddr>) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder().no_proxy().connect_timeout(Duration::from_secs(1)).build()?;
        Ok(Api { http, addrs: Arc::new(addrs) })
    }

    /// Node `id`'s address.
    pub fn addr(&self, id: NodeId) -> anyhow::Result<SocketAddr> {
        self.addrs.get(&id).copied().ok_or_else(|| anyhow!("no node {id}"))
    }

    fn url(&self, id: NodeId, path: &str) -> anyhow::Result<String> {
        Ok(format!("http://{}{path}", self.addr(id)?))
    }

    /// `GET path` on node `id`, decoded; `Err` unless it answered 2xx.
    pub async fn get<T: DeserializeOwned>(&self, id: NodeId, path: &str) -> anyhow::Result<T> {
        let resp = self.http.get(self.url(id, path)?).timeout(Duration::from_secs(10)).send().await?;
        let status = resp.status();
        if !status.is_success() {
            bail!("node {id} {path}: HTTP {status}: {}", resp.text().await.unwrap_or_default());
        }
        Ok(resp.json().await?)
    }

    /// `POST path` on node `id`; `Err` unless it answered 2xx.
    pub async fn post(&self, id: NodeId, path: &str, body: &Value, timeout: Duration) -> anyhow::Result<Value> {
        let resp = self.http.post(self.url(id, path)?).json(body).timeout(timeout).send().await?;
        let status = resp.status();
        if !status.is_success() {
            bail!("node {id} {path}: HTTP {status}: {}", resp.text().await.unwrap_or_default());
        }
        Ok(resp.json().await?)
    }

    /// One `POST /write` attempt, answered as it came: the writing clients
    /// read the status and the leader hint themselves.
    pub async fn send_write(&self, id: NodeId, body: &Value) -> reqwest::Result<reqwest::Response> {
        let url = self.url(id, "/write").unwrap_or_default();
        self.http.post(url).json(body).timeout(Duration::from_secs(5)).send().await
    }

    /// One `GET /read/{key}` attempt (linearizable), answered as it came.
    pub async fn send_read(&self, id: NodeId, key: &str) -> reqwest::Result<reqwest::Response> {
        let url = self.url(id, &format!("/read/{key}")).unwrap_or_default();
        self.http.get(url).timeout(Duration::from_secs(5)).send().await
    }

    /// Node `id`'s Raft metrics of group 0 (the group the fault rounds
    /// watch; the whole cluster with one group).
    pub async fn metrics(&self, id: NodeId) -> anyhow::Result<RaftMetrics<TypeConfig>> {
        self.group_metrics(id, 0).await
    }

    /// Node `id`'s Raft metrics of group `group`.
    pub async fn group_metrics(&self, id: NodeId, group: u64) -> anyhow::Result<RaftMetrics<TypeConfig>> {
        self.get(id, &format!("/g/{group}/metrics")).await
    }

    /// Node `id`'s metrics of `group`; `Err` if it does not answer, and an
    /// error that ends the run if its Raft has stopped with a fatal error.
    async fn live_metrics(&self, id: NodeId, group: u64) -> anyhow::Result<Option<RaftMetrics<TypeConfig>>> {
        let Ok(m) = self.group_metrics(id, group).await else { return Ok(None) };
        if let Err(fatal) = &m.running_state {
            bail!("node {id}'s Raft (group {group}) failed: {fatal}");
        }
        Ok(Some(m))
    }

    /// Waits until one of `nodes` says it is the leader of group 0 and
    /// returns it with its metrics.
    pub async fn leader(
        &self,
        nodes: &[NodeId],
        deadline: Instant,
    ) -> anyhow::Result<(NodeId, RaftMetrics<TypeConfig>)> {
        self.group_leader(0, nodes, deadline).await
    }

    /// Waits until one of `nodes` says it is the leader of `group` and
    /// returns it with its metrics.
    pub async fn group_leader(
        &self,
        group: u64,
        nodes: &[NodeId],
        deadline: Instant,
    ) -> anyhow::Result<(NodeId, RaftMetrics<TypeConfig>)> {
        loop {
            let mut best: Option<(NodeId, RaftMetrics<TypeConfig>)> = None;
            for &id in nodes {
                if let Some(m) = self.live_metrics(id, group).await?
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
                bail!("no leader of group {group} among nodes {nodes:?} before the deadline");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until node `id` has applied index `index` of group 0; returns
    /// how long.
    pub async fn wait_applied(&self, id: NodeId, index: u64, deadline: Instant) -> anyhow::Result<Duration> {
        self.wait_group_applied(0, id, index, deadline).await
    }

    /// Waits until node `id` has applied index `index` of `group`; returns
    /// how long.
    pub async fn wait_group_applied(
        &self,
        group: u64,
        id: NodeId,
        index: u64,
        deadline: Instant,
    ) -> anyhow::Result<Duration> {
        let t = Instant::now();
        loop {
            if let Some(m) = self.live_metrics(id, group).await?
                && m.last_applied.map(|l| l.index) >= Some(index)
            {
                return Ok(t.elapsed());
            }
            if Instant::now() > deadline {
                bail!("node {id} did not apply index {index} of group {group} before the deadline");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
