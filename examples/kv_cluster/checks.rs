//! The end-of-run verification: the cluster converges, then every
//! acknowledged write is read back from every node and through the leader.
//! Apart from the load and the faults because it is the claim the whole run
//! exists to test, and should read as such; a new check is one more function
//! here returning its own result, and one more field of the report.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use crate::api::Api;
use crate::cluster::Cluster;
use crate::load::{key, value};
use crate::store::Applied;
use crate::types::{NodeId, TypeConfig, group_of};
use openraft::type_config::alias::LogIdOf;

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

/// Waits, group by group, for a leader and for every node of `ids` to
/// apply what it applied; returns each group's leader and that index.
/// `Err` if a node exited by itself.
pub async fn converge(
    cluster: &mut Cluster,
    api: &Api,
    ids: &[NodeId],
    groups: u64,
    deadline: Instant,
) -> anyhow::Result<Vec<(NodeId, u64)>> {
    cluster.ensure_none_exited()?;
    let mut leaders = Vec::new();
    for g in 0..groups {
        let (leader, m) = api.group_leader(g, ids, deadline).await?;
        let target = m.last_applied.map(|l| l.index).unwrap_or(0);
        for &id in ids {
            api.wait_group_applied(g, id, target, deadline).await?;
        }
        leaders.push((leader, target));
    }
    Ok(leaders)
}

/// Reads every key of `acked` (written with values of `size` bytes) from
/// every node of `ids`, and then each through the leader of its group
/// (`leaders[g]` leads group `g`).
pub async fn read_back(api: &Api, ids: &[NodeId], leaders: &[NodeId], acked: &[u64], size: usize) -> ReadBack {
    let mut mismatches = Vec::new();
    let mut local = BTreeMap::new();
    for &id in ids {
        local.insert(id, check(api, |_| id, "/local", acked, size, &mut mismatches).await);
    }
    let groups = leaders.len() as u64;
    let leader_of = |i: u64| leaders[group_of(&key(i), groups) as usize];
    let linearizable = check(api, leader_of, "/read", acked, size, &mut mismatches).await;
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

/// Reads every key `i` of `acked` from node `node(i)` through `path`
/// (`/local` or `/read`) and compares it with what was written.
async fn check(
    api: &Api,
    node: impl Fn(u64) -> NodeId,
    path: &str,
    acked: &[u64],
    size: usize,
    mismatches: &mut Vec<String>,
) -> NodeCheck {
    let results: Vec<(u64, NodeId, anyhow::Result<Value>)> =
        futures_util::stream::iter(acked.iter().map(|&i| (i, node(i))))
            .map(|(i, id)| async move { (i, id, api.get::<Value>(id, &format!("{path}/{}", key(i))).await) })
            .buffer_unordered(16)
            .collect()
            .await;
    let mut c = NodeCheck::default();
    for (i, id, r) in results {
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

/// At most this many divergences are kept for the report.
const DIVERGENCES_KEPT: usize = 10;

/// How long the nodes get to agree on their last applied entry before
/// their states are compared.
const STATE_AGREE_TIMEOUT: Duration = Duration::from_secs(15);

/// An applied entry as `GET /applied` lists it: its log id, its payload CRC.
type AppliedEntry = (LogIdOf<TypeConfig>, u32);

/// The divergence check: the same log id carries the same data on every
/// node, and the nodes' states agree once they applied the same entry.
#[derive(Debug, Clone, Default)]
pub struct Divergence {
    /// Log indexes applied by two or more node processes, compared.
    pub entries_compared: u64,
    /// Indexes where nodes applied different log ids or different data.
    pub entries_diverged: u64,
    /// The last applied log index all nodes reached, if they agreed on one.
    pub state_index: Option<u64>,
    /// True if every node's state had the same CRC at `state_index`.
    pub states_agree: bool,
    /// A few of the divergences, for the summary.
    pub examples: Vec<String>,
}

impl Divergence {
    /// True if nothing diverged and the states agree.
    pub fn ok(&self) -> bool {
        self.entries_diverged == 0 && self.states_agree
    }
}

/// Compares what every node of `ids` applied in each of `groups` groups
/// (`GET /g/{group}/applied`), and sums the groups' results. Run after
/// [`converge`].
pub async fn divergence(api: &Api, ids: &[NodeId], groups: u64) -> anyhow::Result<Divergence> {
    let mut all = Divergence { states_agree: true, ..Divergence::default() };
    for g in 0..groups {
        let d = group_divergence(api, ids, g).await?;
        all.entries_compared += d.entries_compared;
        all.entries_diverged += d.entries_diverged;
        all.states_agree &= d.states_agree;
        if g == 0 {
            all.state_index = d.state_index;
        }
        let label = |e: String| if groups == 1 { e } else { format!("group {g}: {e}") };
        all.examples.extend(d.examples.into_iter().map(label));
    }
    all.examples.truncate(DIVERGENCES_KEPT);
    Ok(all)
}

/// Compares what every node of `ids` applied in group `g`; waits a little
/// for the nodes to agree on their last applied entry (a new leader's
/// blank entry may still be on its way).
async fn group_divergence(api: &Api, ids: &[NodeId], g: u64) -> anyhow::Result<Divergence> {
    let give_up = Instant::now() + STATE_AGREE_TIMEOUT;
    let applied = loop {
        let mut applied = BTreeMap::new();
        for &id in ids {
            applied.insert(id, api.get::<Applied>(id, &format!("/g/{g}/applied")).await?);
        }
        let mut last = applied.values().map(|a| a.last_applied);
        let first = last.next().flatten();
        if last.all(|l| l == first) || Instant::now() > give_up {
            break applied;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut d = Divergence::default();
    let mut by_index: BTreeMap<u64, Vec<(NodeId, &AppliedEntry)>> = BTreeMap::new();
    for (&id, a) in &applied {
        for e in &a.entries {
            by_index.entry(e.0.index).or_default().push((id, e));
        }
    }
    for (index, seen) in by_index.into_iter().filter(|(_, s)| s.len() > 1) {
        d.entries_compared += 1;
        let (first_id, first) = seen[0];
        if let Some((id, other)) = seen.iter().find(|(_, e)| *e != first) {
            d.entries_diverged += 1;
            if d.examples.len() < DIVERGENCES_KEPT {
                d.examples.push(format!(
                    "index {index}: node {first_id} applied {} (data crc {:08x}), node {id} applied {} (data crc {:08x})",
                    first.0, first.1, other.0, other.1
                ));
            }
        }
    }
    let mut states = applied.values().map(|a| (a.last_applied, a.state_crc));
    let first = states.next();
    if states.all(|s| Some(s) == first) {
        d.state_index = first.and_then(|(l, _)| l.map(|l| l.index));
        d.states_agree = true;
    } else if d.examples.len() < DIVERGENCES_KEPT {
        let each: Vec<String> = applied
            .iter()
            .map(|(id, a)| {
                let at = a.last_applied.map_or("nothing".to_string(), |l| l.to_string());
                format!("node {id} at {at}: state crc {:08x}, {} keys", a.state_crc, a.keys)
            })
            .collect();
        d.examples.push(format!("states differ: {}", each.join("; ")));
    }
    Ok(d)
}
