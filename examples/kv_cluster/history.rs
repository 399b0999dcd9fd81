//! The register load and its history: clients that overwrite a few hundred
//! keys (every write a value never written before) and read them back with
//! linearizable reads, recording every operation with its invoke and
//! completion times and its outcome. `linearizability.rs` checks the
//! history. Apart from the write-once load (`load.rs`) because that load
//! paces the fault schedule and feeds the end-of-run check, while this one
//! only runs beside it and keeps what happened.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::api::Api;
use crate::node::ErrorBody;
use crate::types::NodeId;

/// The key of register `k`.
pub fn register_key(k: u64) -> String {
    format!("reg-{k:04}")
}

/// The value of write `id` (never 0): `id:` then filler up to `size` bytes.
fn register_value(id: u64, size: usize) -> String {
    let mut v = format!("{id}:");
    while v.len() < size {
        v.push('r');
    }
    v
}

/// The write id a value read back carries; 0 for an absent key.
fn write_id(value: Option<&str>) -> Option<u64> {
    match value {
        None => Some(0),
        Some(v) => v.split(':').next()?.parse().ok(),
    }
}

/// What an operation asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Write the value of this write id.
    Write(u64),
    /// Read (linearizable, through the leader).
    Read,
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The write was acknowledged.
    Written,
    /// The read returned the value of this write id (0: the key was absent).
    Read(u64),
    /// Certainly without effect: refused before it was proposed, never sent,
    /// or a read that did not answer.
    Failed,
    /// A write whose fate is unknown (timed out, discarded on a leader
    /// change, no answer): it may or may not have taken effect.
    Unknown,
}

/// One recorded operation.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    /// The client that issued it (one operation at a time per client).
    pub client: usize,
    /// The register.
    pub key: u64,
    /// What it asked.
    pub call: Call,
    /// Microseconds since the load started, before the request was sent.
    pub invoked_us: u64,
    /// Microseconds since the load started, after the answer (or the error).
    pub completed_us: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// State shared by the register clients.
pub struct RegisterLoad {
    keys: u64,
    value_size: usize,
    seed: u64,
    ids: Vec<NodeId>,
    start: Instant,
    /// Per group: the node believed to lead it.
    leader_hint: Vec<AtomicU64>,
    groups: u64,
    stop: AtomicBool,
}

impl RegisterLoad {
    /// A load over `keys` registers on nodes `ids`, values of `value_size`
    /// bytes, its choices drawn from `seed`.
    /// `groups`: the number of Raft groups the keys are sharded to.
    pub fn new(keys: u64, value_size: usize, seed: u64, ids: Vec<NodeId>, groups: u64) -> RegisterLoad {
        RegisterLoad {
            keys: keys.max(1),
            value_size,
            seed,
            leader_hint: (0..groups.max(1)).map(|_| AtomicU64::new(ids[0])).collect(),
            groups: groups.max(1),
            ids,
            start: Instant::now(),
            stop: AtomicBool::new(false),
        }
    }

    /// Makes the clients return after their current operation.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The leader hint of register `key`'s group.
    fn hint(&self, key: u64) -> &AtomicU64 {
        &self.leader_hint[crate::types::group_of(&register_key(key), self.groups) as usize]
    }

    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn next_node(&self, after: NodeId) -> NodeId {
        let pos = self.ids.iter().position(|&i| i == after).map_or(0, |p| p + 1);
        self.ids[pos % self.ids.len()]
    }
}

/// Starts `n` register clients.
pub fn spawn_clients(api: &Api, load: &Arc<RegisterLoad>, n: usize) -> Vec<JoinHandle<Vec<Op>>> {
    (0..n).map(|c| tokio::spawn(client(api.clone(), load.clone(), c))).collect()
}

/// Stops the clients and returns every operation they recorded.
pub async fn join_clients(load: &RegisterLoad, clients: Vec<JoinHandle<Vec<Op>>>) -> anyhow::Result<Vec<Op>> {
    load.stop();
    let mut ops = Vec::new();
    for c in clients {
        ops.extend(c.await?);
    }
    Ok(ops)
}

/// One client: a random register, then a write (half the time) or a read,
/// one at a time until stopped. Operations go to the node believed to be
/// the leader, except a quarter of the reads, which go to any node.
async fn client(api: Api, load: Arc<RegisterLoad>, c: usize) -> Vec<Op> {
    let mut rng = (load.seed ^ (c as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
    let mut ops = Vec::new();
    let mut writes = 0u64;
    while !load.stop.load(Ordering::SeqCst) {
        // xorshift64: reproducible choices from the seed.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let key = rng % load.keys;
        let call = if (rng >> 32).is_multiple_of(2) {
            writes += 1;
            // Unique per write: the client in the low bits.
            Call::Write(writes * 1024 + c as u64 + 1)
        } else {
            Call::Read
        };
        // A quarter of the reads go to any node: a node that is not the
        // leader must refuse them, not answer from its own state.
        let target = match call {
            Call::Read if (rng >> 40).is_multiple_of(4) => load.ids[(rng >> 48) as usize % load.ids.len()],
            _ => load.hint(key).load(Ordering::Relaxed),
        };
        let invoked_us = load.now_us();
        let (outcome, redirect) = attempt(&api, &load, target, key, call).await;
        ops.push(Op { client: c, key, call, invoked_us, completed_us: load.now_us(), outcome });
        if matches!(outcome, Outcome::Failed | Outcome::Unknown) {
            let next = redirect.unwrap_or_else(|| load.next_node(target));
            load.hint(key).store(next, Ordering::Relaxed);
            if redirect.is_none() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    ops
}

/// One operation at node `target`: its outcome and the leader a refusal
/// named.
async fn attempt(api: &Api, load: &RegisterLoad, target: NodeId, key: u64, call: Call) -> (Outcome, Option<NodeId>) {
    let sent = match call {
        Call::Write(id) => {
            let body = serde_json::json!({ "key": register_key(key), "value": register_value(id, load.value_size) });
            api.send_write(target, &body).await
        }
        Call::Read => api.send_read(target, &register_key(key)).await,
    };
    let resp = match sent {
        Ok(r) => r,
        // Never reached the node: certainly without effect.
        Err(e) if e.is_connect() => return (Outcome::Failed, None),
        Err(_) => return (if call == Call::Read { Outcome::Failed } else { Outcome::Unknown }, None),
    };
    let status = resp.status();
    if status.is_success() {
        let outcome = match call {
            Call::Write(_) => Outcome::Written,
            Call::Read => match resp.json::<serde_json::Value>().await.ok().and_then(|v| write_id(v["value"].as_str()))
            {
                Some(id) => Outcome::Read(id),
                None => Outcome::Failed,
            },
        };
        return (outcome, None);
    }
    // 421: refused before it was proposed (the node answers a write whose
    // entry was discarded with 503, see `node.rs`).
    if status == reqwest::StatusCode::MISDIRECTED_REQUEST {
        let leader = resp.json::<ErrorBody>().await.ok().and_then(|e| e.leader_id).filter(|&l| l != target);
        return (Outcome::Failed, leader);
    }
    (if call == Call::Read { Outcome::Failed } else { Outcome::Unknown }, None)
}
