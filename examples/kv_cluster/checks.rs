//! The end-of-run verification: the cluster converges, then every
//! acknowledged write is read back from every node and through the leader.
//! Apart from the load and the faults because it is the claim the whole run
//! exists to test, and should read as such; a new check is one more function
//! here returning its own result, and one more field of the report.

use std::collections::BTreeMap;
use std::time::Instant;

use futures_util::StreamExt;
use serde_json::Value;

use crate::api::Api;
use crate::cluster::Cluster;
use crate::load::{key, value};
use crate::types::NodeId;

/// At most this many mismatches are kept for the report.
const MISMATCHES_KEPT: usize = 10;

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

/// Every acknowledged key read back.
pub struct ReadBack {
    /// From every node's own state machine (`/local`).
    pub local: BTreeMap<NodeId, NodeCheck>,
    /// Linearizable reads through the leader (`/read`).
    pub linearizable: NodeCheck,
    /// A few of the mismatches, for the summary.
    pub mismatches: Vec<String>,
}

/// Waits for a leader and for every node of `ids` to apply what it applied;
/// returns the leader and that index. `Err` if a node exited by itself.
pub async fn converge(
    cluster: &mut Cluster,
    api: &Api,
    ids: &[NodeId],
    deadline: Instant,
) -> anyhow::Result<(NodeId, u64)> {
    cluster.ensure_none_exited()?;
    let (leader, m) = api.leader(ids, deadline).await?;
    let target = m.last_applied.map(|l| l.index).unwrap_or(0);
    for &id in ids {
        api.wait_applied(id, target, deadline).await?;
    }
    Ok((leader, target))
}

/// Reads every key of `acked` (written with values of `size` bytes) from
/// every node of `ids` and then through `leader`.
pub async fn read_back(api: &Api, ids: &[NodeId], leader: NodeId, acked: &[u64], size: usize) -> ReadBack {
    let mut mismatches = Vec::new();
    let mut local = BTreeMap::new();
    for &id in ids {
        local.insert(id, check(api, id, "/local", acked, size, &mut mismatches).await);
    }
    let linearizable = check(api, leader, "/read", acked, size, &mut mismatches).await;
    ReadBack { local, linearizable, mismatches }
}

/// Every node's `/stats` (`null` for a node that does not answer).
pub async fn node_stats(api: &Api, ids: &[NodeId]) -> BTreeMap<NodeId, Value> {
    let mut stats = BTreeMap::new();
    for &id in ids {
        stats.insert(id, api.get::<Value>(id, "/stats").await.unwrap_or(Value::Null));
    }
    stats
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
        if let Some(problem) = c.count(r, &value(i, size))
            && mismatches.len() < MISMATCHES_KEPT
        {
            mismatches.push(format!("node {id} {path}/{}: {problem}", key(i)));
        }
    }
    c
}

impl NodeCheck {
    /// Counts one read that should have returned `expected`; returns what was
    /// wrong with it, if anything.
    fn count(&mut self, read: anyhow::Result<Value>, expected: &str) -> Option<String> {
        self.reads += 1;
        let v = match read {
            Ok(v) => v,
            Err(e) => {
                self.errors += 1;
                return Some(format!("error: {e:#}"));
            }
        };
        match v["value"].as_str() {
            Some(got) if got == expected => None,
            Some(got) => {
                self.wrong += 1;
                Some(format!("wrong value {:?}", got.get(..got.len().min(24)).unwrap_or(got)))
            }
            None => {
                self.missing += 1;
                Some("missing".to_string())
            }
        }
    }
}
