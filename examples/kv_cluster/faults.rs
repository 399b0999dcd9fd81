//! The faults injected while the load runs, and their schedule. Today one
//! kind: SIGKILL a node and restart it from its data directory once the
//! leader has purged its log past the node's last entry, alternately a
//! follower and the leader.
//!
//! Why a file of its own: the fault side is what later runs vary (power
//! loss, slow disk, full disk, pause). A round is four steps, each its own
//! method of [`Faults`]: wait for the round's point in the load, strike
//! ([`Faults::kill_victim`]), let the cluster move on without the victim
//! ([`Faults::await_purge`]), heal ([`Faults::restart_victim`]). Another
//! fault kind replaces the strike and the heal and keeps the schedule, the
//! gate and the measurements.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use openraft::RaftMetrics;
use serde_json::Value;

use crate::api::Api;
use crate::cluster::Cluster;
use crate::load::Load;
use crate::options::Options;
use crate::types::{NodeId, TypeConfig};

/// The load is cut in `kills + 1` slots of keys; the last runs without a kill.
fn slot(options: &Options) -> u64 {
    options.keys / (options.kills as u64 + 1)
}

/// Kill `i` happens when a quarter of slot `i` is acknowledged; the restart
/// when three quarters are (and the leader purged past the killed node).
fn kill_point(options: &Options, i: u64) -> u64 {
    slot(options) * i + slot(options) / 4
}

/// See [`kill_point`].
fn restart_point(options: &Options, i: u64) -> u64 {
    slot(options) * i + slot(options) * 3 / 4
}

/// Until kill `i` has happened, clients write no key past this.
pub fn gate_before_kill(options: &Options, i: u64) -> u64 {
    if i < options.kills as u64 { kill_point(options, i) + slot(options) / 4 } else { options.keys }
}

/// How far the gate may be raised while restart `i` waits for a purge: up
/// to half of the next slot (the rest of the load for the last kill).
fn gate_max_before_restart(options: &Options, i: u64) -> u64 {
    if i + 1 < options.kills as u64 { kill_point(options, i + 1) + slot(options) / 2 } else { options.keys }
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

/// A node just killed, and what was measured at the kill.
struct Kill {
    victim: NodeId,
    was_leader: bool,
    killed_at_acked: u64,
    killed_at: Instant,
    victim_last: u64,
    new_leader: Option<(NodeId, Duration)>,
}

/// What the fault rounds act on: the processes, the nodes' API, and the
/// load (its progress and its gate).
pub struct Faults<'a> {
    /// The run's options (the schedule derives from them).
    pub options: &'a Options,
    /// The node processes.
    pub cluster: &'a mut Cluster,
    /// The nodes' API.
    pub api: &'a Api,
    /// The running load.
    pub load: &'a Load,
    /// When the whole run must be over.
    pub deadline: Instant,
}

impl Faults<'_> {
    /// Kills and restarts nodes while the load runs.
    pub async fn run(mut self) -> anyhow::Result<Vec<KillReport>> {
        let mut reports = Vec::new();
        for i in 0..self.options.kills as u64 {
            reports.push(self.round(i).await?);
        }
        Ok(reports)
    }

    /// Round `i`: kill a node at its point of the load, restart it later.
    async fn round(&mut self, i: u64) -> anyhow::Result<KillReport> {
        self.load.wait_acked(kill_point(self.options, i), self.deadline).await?;
        self.cluster.ensure_none_exited()?;
        let kill = self.kill_victim(i).await?;
        let leader_purged = self.await_purge(i, kill.victim_last).await?;
        self.restart_victim(kill, leader_purged).await
    }

    /// SIGKILLs a follower (even rounds) or the leader (odd rounds), then
    /// opens the gate up to the next kill.
    async fn kill_victim(&mut self, i: u64) -> anyhow::Result<Kill> {
        let up = self.cluster.up();
        let (leader, _) = self.api.leader(&up, self.deadline).await?;
        let was_leader = i % 2 == 1;
        let victim = if was_leader {
            leader
        } else {
            *up.iter().rev().find(|&&id| id != leader).ok_or_else(|| anyhow!("no follower to kill"))?
        };
        let acked_before = self.load.acked();
        let victim_metrics = if was_leader { Some(self.api.metrics(victim).await?) } else { None };
        let killed_at_acked = self.load.acked();
        let killed_at = Instant::now();
        if was_leader {
            self.load.start_recovery(victim, killed_at);
        }
        self.cluster.kill(victim)?;
        self.load.set_gate(gate_before_kill(self.options, i + 1));
        let victim_last = self.victim_last(victim_metrics, acked_before, leader).await?;
        let mut new_leader = None;
        if was_leader {
            let (l, _) = self.api.leader(&self.cluster.up(), self.deadline).await?;
            new_leader = Some((l, killed_at.elapsed()));
        }
        Ok(Kill { victim, was_leader, killed_at_acked, killed_at, victim_last, new_leader })
    }

    /// An upper bound of the victim's last log index, to know when the
    /// leader has purged everything the victim could resume from.
    /// `victim_metrics` are a killed leader's, read before the kill, when
    /// `acked_before` writes were acknowledged.
    async fn victim_last(
        &self,
        victim_metrics: Option<RaftMetrics<TypeConfig>>,
        acked_before: u64,
        leader: NodeId,
    ) -> anyhow::Result<u64> {
        Ok(match victim_metrics {
            // The old leader appended at most one entry per write that
            // reached it: in flight at the metrics read, or sent since.
            Some(m) => {
                m.last_log_index.unwrap_or(0) + 2 * self.options.clients as u64 + (self.load.acked() - acked_before)
            }
            // A follower's log is a prefix of its leader's.
            None => self.api.metrics(leader).await?.last_log_index.unwrap_or(0),
        })
    }

    /// Waits for round `i`'s share of writes and until the leader has purged
    /// its log past `victim_last`, so that the victim can only catch up by
    /// snapshot; returns the leader's purge point then. Returns `None` if the
    /// writes allowed for this round run out first.
    async fn await_purge(&self, i: u64, victim_last: u64) -> anyhow::Result<Option<u64>> {
        self.load.wait_acked(restart_point(self.options, i), self.deadline).await?;
        loop {
            let (_, m) = self.api.leader(&self.cluster.up(), self.deadline).await?;
            let purged = m.purged.map(|l| l.index);
            if purged >= Some(victim_last) {
                return Ok(purged);
            }
            // All clients wait at the gate: let a few more writes in.
            let step = self.options.snapshot_every / 5 + 1;
            if self.load.idle() && !self.load.raise_gate(step, gate_max_before_restart(self.options, i)) {
                return Ok(None);
            }
            anyhow::ensure!(Instant::now() < self.deadline, "deadline passed waiting for the leader to purge its log");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Restarts the victim from its data directory and measures how it
    /// catches up with what the leader had applied at the restart.
    async fn restart_victim(&mut self, kill: Kill, leader_purged: Option<u64>) -> anyhow::Result<KillReport> {
        let (_, m) = self.api.leader(&self.cluster.up(), self.deadline).await?;
        let caught_up_to = m.last_applied.map(|l| l.index).unwrap_or(0);
        let restarted_at_acked = self.load.acked();
        let down_for = kill.killed_at.elapsed();
        self.cluster.start(kill.victim)?;
        let caught_up_in = self.api.wait_applied(kill.victim, caught_up_to, self.deadline).await?;
        let stats: Value = self.api.get(kill.victim, "/stats").await?;
        let first_ack_after = if kill.was_leader { self.load.end_recovery() } else { None };
        Ok(KillReport {
            node: kill.victim,
            was_leader: kill.was_leader,
            killed_at_acked: kill.killed_at_acked,
            restarted_at_acked,
            down_for,
            victim_last: kill.victim_last,
            leader_purged,
            new_leader: kill.new_leader,
            first_ack_after,
            caught_up_in,
            caught_up_to,
            snapshot_loaded_at_start: stats["snapshot_loaded_at_start"].as_u64(),
            snapshots_installed: stats["snapshots_installed"].as_u64().unwrap_or(0),
        })
    }
}
