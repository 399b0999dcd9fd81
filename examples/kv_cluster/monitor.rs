//! A background poll of who leads, for the report's election line, and a
//! watch for a node whose Raft stopped. Apart from the faults because they
//! watch the whole run, whatever faults it has, and from the checks because
//! they must run during the load, not after it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::Fatal;
use tokio::task::JoinHandle;

use crate::api::Api;
use crate::types::NodeId;

/// A leader seen: (group, term, node).
pub type Led = (u64, u64, NodeId);

/// Records every (group, term, leader) any node reports until stopped.
pub struct LeaderMonitor {
    leaders: Arc<Mutex<BTreeSet<Led>>>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl LeaderMonitor {
    /// Starts polling `ids` every 100 ms (`GET /leaders`: the groups each
    /// node leads, with their terms).
    pub fn start(api: Api, ids: Vec<NodeId>) -> LeaderMonitor {
        let leaders = Arc::new(Mutex::new(BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(poll(api, ids, leaders.clone(), stop.clone()));
        LeaderMonitor { leaders, stop, task }
    }

    /// Stops polling; returns the leaders seen as (group, term, node).
    pub async fn stop(self) -> BTreeSet<Led> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        self.leaders.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn poll(api: Api, ids: Vec<NodeId>, leaders: Arc<Mutex<BTreeSet<Led>>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        for &id in &ids {
            if let Ok(led) = api.get::<Vec<(u64, u64)>>(id, "/leaders").await {
                let mut l = leaders.lock().unwrap_or_else(|p| p.into_inner());
                l.extend(led.into_iter().map(|(group, term)| (group, term, id)));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Counts the fsyncs of every node's stores while it runs (`GET /stats`,
/// every 200 ms): the counters restart with a node, so a counter that went
/// down counts from zero. Fsyncs between a node's last poll and its kill
/// are not counted.
pub struct FsyncMeter {
    total: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl FsyncMeter {
    /// Starts counting on `ids`.
    pub fn start(api: Api, ids: Vec<NodeId>) -> FsyncMeter {
        let total = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (total.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut last: BTreeMap<NodeId, u64> = BTreeMap::new();
            loop {
                // One last poll after the stop.
                let stopping = s.load(Ordering::SeqCst);
                for &id in &ids {
                    let Ok(v) = api.get::<serde_json::Value>(id, "/stats").await else { continue };
                    let Some(now) = v["log"]["fsyncs"].as_u64() else { continue };
                    match last.insert(id, now) {
                        Some(before) if now >= before => t.fetch_add(now - before, Ordering::SeqCst),
                        Some(_) => t.fetch_add(now, Ordering::SeqCst),
                        None => 0,
                    };
                }
                if stopping {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        FsyncMeter { total, stop, task }
    }

    /// Stops counting; returns the fsyncs counted on all nodes.
    pub async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        self.total.load(Ordering::SeqCst)
    }
}

/// Polls every node of `ids` every 200 ms and returns once one says its Raft
/// core task panicked (its metrics' running state is `Fatal::Panicked`),
/// saying which. Nodes that do not answer are skipped: they are down, which
/// the faults and the checks handle; so is a storage error, on which a node
/// exits by itself (a full disk).
pub async fn raft_failure(api: &Api, ids: Vec<NodeId>) -> String {
    loop {
        for &id in &ids {
            if let Ok(m) = api.metrics(id).await
                && let Err(fatal @ Fatal::Panicked) = m.running_state
            {
                return format!("node {id}'s Raft failed: {fatal} (see its log)");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
