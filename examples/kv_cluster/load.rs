//! The write load: concurrent clients that each take the next key, find the
//! leader and retry until a node acknowledges the write. Kept apart from the
//! faults so that any fault kind runs under the same load, with the gate
//! (below) as the only handle the fault schedule has on it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::task::JoinHandle;

use crate::api::Api;
use crate::node::ErrorBody;
use crate::options::Options;
use crate::types::{NodeId, group_of};

/// The key of write `i`.
pub fn key(i: u64) -> String {
    format!("key-{i:08}")
}

/// The value written to key `i`: its number, then filler up to `size` bytes.
pub fn value(i: u64, size: usize) -> String {
    let mut v = format!("{i}:");
    let fill = char::from(b'a' + (i % 26) as u8);
    while v.len() < size {
        v.push(fill);
    }
    v
}

/// A histogram of write latencies in microseconds, up to an hour.
pub fn latency_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?)
}

/// A leader kill being recovered from: the first write acknowledged by
/// another node (by any node if `killed` is `None`) ends it.
struct Recovery {
    killed: Option<NodeId>,
    at: Instant,
    first_ack: Option<Duration>,
}

/// State shared by the writing clients and the controller.
pub struct Load {
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
    /// Number of Raft groups the keys are sharded to.
    groups: u64,
    /// Per group: the node clients currently send its keys to.
    leader_hint: Vec<AtomicU64>,
    recovery: Mutex<Option<Recovery>>,
    stop: AtomicBool,
}

/// How a node answered one write attempt.
enum Reply {
    Acked,
    /// Not acknowledged; the leader it named, if another node.
    Refused(Option<NodeId>),
}

impl Load {
    /// The load of `options` on nodes `ids`, letting clients write keys below
    /// `gate` only.
    pub fn new(options: &Options, ids: Vec<NodeId>, gate: u64) -> Load {
        Load {
            keys: options.keys,
            value_size: options.value_size,
            ids,
            next: AtomicU64::new(0),
            acked: (0..options.keys).map(|_| AtomicBool::new(false)).collect(),
            acked_count: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            gave_up: AtomicU64::new(0),
            gate: AtomicU64::new(gate),
            gate_wait_us: AtomicU64::new(0),
            groups: options.groups.max(1),
            leader_hint: (0..options.groups.max(1)).map(|_| AtomicU64::new(1)).collect(),
            recovery: Mutex::new(None),
            stop: AtomicBool::new(false),
        }
    }

    /// Writes acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.acked_count.load(Ordering::SeqCst)
    }

    /// The acknowledged keys' numbers, in order.
    pub fn acked_keys(&self) -> Vec<u64> {
        (0..self.keys).filter(|&i| self.acked[i as usize].load(Ordering::SeqCst)).collect()
    }

    /// Writes given up after retrying for a minute.
    pub fn gave_up(&self) -> u64 {
        self.gave_up.load(Ordering::SeqCst)
    }

    /// Write attempts, acknowledged or not.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::SeqCst)
    }

    /// Time the clients waited at the gate, summed over clients.
    pub fn gate_wait_us(&self) -> u64 {
        self.gate_wait_us.load(Ordering::SeqCst)
    }

    /// No write left to wait for: all done, or all clients at the gate.
    pub fn idle(&self) -> bool {
        let end = self.gate.load(Ordering::SeqCst).min(self.keys);
        self.next.load(Ordering::SeqCst) >= end && self.acked() + self.gave_up() >= end
    }

    /// Waits until `n` writes are acknowledged or none is left to wait for.
    pub async fn wait_acked(&self, n: u64, deadline: Instant) -> anyhow::Result<()> {
        while self.acked() < n && !self.idle() {
            anyhow::ensure!(Instant::now() < deadline, "deadline passed waiting for {n} acknowledged writes");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Lets clients write keys below `gate`.
    pub fn set_gate(&self, gate: u64) {
        self.gate.store(gate, Ordering::SeqCst);
    }

    /// Raises the gate by `step`, to `max` at most; false if it already is
    /// at `max`.
    pub fn raise_gate(&self, step: u64, max: u64) -> bool {
        let gate = self.gate.load(Ordering::SeqCst);
        if gate >= max {
            return false;
        }
        self.set_gate((gate + step).min(max));
        true
    }

    /// Makes the clients give up their writes and return.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Starts timing how long after killing leader `killed` (at `at`)
    /// another node acknowledges a write.
    pub fn start_recovery(&self, killed: NodeId, at: Instant) {
        self.start_timing(Some(killed), at);
    }

    /// Starts timing how long after an outage that began `at` (every node
    /// down, or a node restarted at once) any node acknowledges a write.
    pub fn start_outage(&self, at: Instant) {
        self.start_timing(None, at);
    }

    fn start_timing(&self, killed: Option<NodeId>, at: Instant) {
        *self.recovery.lock().unwrap_or_else(|p| p.into_inner()) = Some(Recovery { killed, at, first_ack: None });
    }

    /// Ends the timing begun by [`Load::start_recovery`] or
    /// [`Load::start_outage`]: how long until a node acknowledged a write,
    /// if one did.
    pub fn end_recovery(&self) -> Option<Duration> {
        self.recovery.lock().unwrap_or_else(|p| p.into_inner()).take().and_then(|r| r.first_ack)
    }

    fn next_node(&self, after: NodeId) -> NodeId {
        let pos = self.ids.iter().position(|&i| i == after).map_or(0, |p| p + 1);
        self.ids[pos % self.ids.len()]
    }

    /// The leader hint of key `i`'s group.
    fn hint(&self, i: u64) -> &AtomicU64 {
        &self.leader_hint[group_of(&key(i), self.groups) as usize]
    }

    fn on_ack(&self, i: u64, node: NodeId) {
        self.acked[i as usize].store(true, Ordering::SeqCst);
        self.acked_count.fetch_add(1, Ordering::SeqCst);
        self.hint(i).store(node, Ordering::Relaxed);
        let mut r = self.recovery.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = r.as_mut()
            && r.first_ack.is_none()
            && r.killed != Some(node)
        {
            r.first_ack = Some(r.at.elapsed());
        }
    }

    /// Waits until key `i` is below the gate (or the load is stopped).
    async fn pass_gate(&self, i: u64) {
        let waiting = Instant::now();
        while i >= self.gate.load(Ordering::SeqCst) && !self.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        self.gate_wait_us.fetch_add(waiting.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
}

/// Starts `n` writing clients.
pub fn spawn_clients(api: &Api, load: &Arc<Load>, n: usize) -> Vec<JoinHandle<Histogram<u64>>> {
    (0..n).map(|_| tokio::spawn(client(api.clone(), load.clone()))).collect()
}

/// Waits for the clients to finish; returns their latencies merged.
pub async fn join_clients(clients: Vec<JoinHandle<Histogram<u64>>>) -> anyhow::Result<Histogram<u64>> {
    let mut hist = latency_histogram()?;
    for c in clients {
        hist.add(c.await?)?;
    }
    Ok(hist)
}

/// One writing client: takes the next key until none is left; returns the
/// latencies (microseconds, first attempt to acknowledgement) of its
/// acknowledged writes.
async fn client(api: Api, load: Arc<Load>) -> Histogram<u64> {
    let mut hist = latency_histogram().expect("valid histogram bounds");
    loop {
        let i = load.next.fetch_add(1, Ordering::SeqCst);
        if i >= load.keys {
            return hist;
        }
        load.pass_gate(i).await;
        if let Some(latency) = write(&api, &load, i).await {
            let _ = hist.record(latency.as_micros().max(1) as u64);
        }
    }
}

/// Writes key `i` until a node acknowledges it (returns the latency) or a
/// minute has passed (returns `None`). Follows the leader hint of a refusal
/// and moves to the next node when a node does not answer.
async fn write(api: &Api, load: &Load, i: u64) -> Option<Duration> {
    let body = serde_json::json!({ "key": key(i), "value": value(i, load.value_size) });
    let start = Instant::now();
    let give_up_at = start + Duration::from_secs(60);
    let mut target = match load.hint(i).load(Ordering::Relaxed) {
        0 => load.ids[0],
        id => id,
    };
    let mut failures = 0u32;
    loop {
        if Instant::now() > give_up_at || load.stop.load(Ordering::Relaxed) {
            load.gave_up.fetch_add(1, Ordering::SeqCst);
            return None;
        }
        load.attempts.fetch_add(1, Ordering::Relaxed);
        let redirect = match attempt(api, target, &body).await {
            Reply::Acked => {
                load.on_ack(i, target);
                return Some(start.elapsed());
            }
            Reply::Refused(redirect) => redirect,
        };
        failures += 1;
        target = redirect.unwrap_or_else(|| load.next_node(target));
        if redirect.is_none() || failures > 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One write attempt at node `target`.
async fn attempt(api: &Api, target: NodeId, body: &serde_json::Value) -> Reply {
    match api.send_write(target, body).await {
        Ok(r) if r.status().is_success() => Reply::Acked,
        Ok(r) if r.status() == reqwest::StatusCode::MISDIRECTED_REQUEST => {
            Reply::Refused(r.json::<ErrorBody>().await.ok().and_then(|e| e.leader_id).filter(|&l| l != target))
        }
        _ => Reply::Refused(None),
    }
}
