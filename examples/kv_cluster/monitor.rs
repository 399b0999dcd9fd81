//! A background poll of who leads, for the report's election line, and a
//! watch for a node whose Raft stopped. Apart from the faults because they
//! watch the whole run, whatever faults it has, and from the checks because
//! they must run during the load, not after it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::ServerState;
use openraft::error::Fatal;
use tokio::task::JoinHandle;

use crate::api::Api;
use crate::types::NodeId;

/// Records every (term, leader) any node reports until stopped.
pub struct LeaderMonitor {
    leaders: Arc<Mutex<BTreeSet<(u64, NodeId)>>>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl LeaderMonitor {
    /// Starts polling `ids` every 100 ms.
    pub fn start(api: Api, ids: Vec<NodeId>) -> LeaderMonitor {
        let leaders = Arc::new(Mutex::new(BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(poll(api, ids, leaders.clone(), stop.clone()));
        LeaderMonitor { leaders, stop, task }
    }

    /// Stops polling; returns the leaders seen as (term, node).
    pub async fn stop(self) -> BTreeSet<(u64, NodeId)> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        self.leaders.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn poll(api: Api, ids: Vec<NodeId>, leaders: Arc<Mutex<BTreeSet<(u64, NodeId)>>>, stop: Arc<AtomicBool>) {
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
