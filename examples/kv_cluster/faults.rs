//! The faults injected while the load runs, and their schedule. The
//! `--nemesis` list (each kind once, `kill` `--kills` times, the whole list
//! `--repeat` times) cuts the load in rounds; a round waits for its point in
//! the load, strikes, lets the cluster move on, and heals:
//!
//! - kill, power loss, full disk take the node down: SIGKILL (a power cut
//!   when the nodes run on the power-loss layer), or ENOSPC until the node
//!   stops by itself ([`Faults::strike`]); then the cluster moves on until
//!   the leader purged past the node's last entry ([`Faults::await_purge`]);
//!   then the node restarts from its directory, with its space given back
//!   ([`Faults::restart_victim`]).
//! - pause and slow disk keep the node up ([`Faults::stall_round`]):
//!   SIGSTOP the leader past the election timeout, or delay one node's
//!   fsyncs, then SIGCONT or clear the delay and time the catch-up.
//! - a correlated power cut and a quick leader restart take nodes down and
//!   bring them back at once ([`Faults::restart_round`]): every node, or
//!   the leader and followers up to a majority, SIGKILLed together on the
//!   power-loss layer (what a power cut of the rack does: no node is left
//!   holding what the others dropped); or the leader SIGKILLed while its
//!   slowed fsyncs leave entries queued in its store that the followers
//!   already have, restarted within the election timeout. Then the round
//!   times the first leader and write and the catch-up.
//!
//! Why a file of its own: the fault side is what runs vary, under the same
//! load, gate and measurements.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use openraft::RaftMetrics;
use serde_json::Value;

use crate::api::Api;
use crate::cluster::Cluster;
use crate::faultfs::{FaultCounters, FaultSettings, SlowDisk, Unsynced};
use crate::load::Load;
use crate::node::ELECTION_MAX_MS;
use crate::options::{FaultKind, Options};
use crate::types::{NodeId, TypeConfig};

/// The full disk's budget: a few dozen small entries, or the first chunk
/// preallocation, whichever comes first.
const FULL_DISK_BUDGET_BYTES: u64 = 4096;

/// The slow disk: 5-50 ms per fsync, every 8th stalls for 2 s.
const SLOW_DISK: SlowDisk = SlowDisk { min_ms: 5, max_ms: 50, stall_ms: 2000, stall_every: 8 };

/// Before a power cut, the victim's fsyncs take 20-50 ms, so that the cut
/// finds written, unsynced bytes.
const CUT_WINDOW: SlowDisk = SlowDisk { min_ms: 20, max_ms: 50, stall_ms: 0, stall_every: 0 };

/// How long a disk stays slow at least.
const SLOW_DISK_FOR: Duration = Duration::from_secs(4);

/// How long the leader stays paused: twice the longest election timeout.
const PAUSE_FOR: Duration = Duration::from_millis(2 * ELECTION_MAX_MS);

/// The leader's fsyncs before a quick restart: 100-300 ms each, so that its
/// own store lags behind what it already sent to the followers (their
/// fsyncs stay fast, so they commit without it).
const LEADER_LAG: SlowDisk = SlowDisk { min_ms: 100, max_ms: 300, stall_ms: 0, stall_every: 0 };

/// One round of the schedule: what strikes, and whether the leader (else a
/// follower).
#[derive(Debug, Clone, Copy)]
pub struct Round {
    /// The fault.
    pub kind: FaultKind,
    /// Whether it strikes the leader.
    pub on_leader: bool,
    /// A seeded draw: which followers a majority power cut takes with the
    /// leader.
    pub draw: u64,
}

/// The rounds of a run: the nemesis list in order, `kill` as `--kills`
/// rounds alternately on a follower and the leader, the whole list
/// `--repeat` times. Power loss, pause and leader restart strike the leader
/// (a leader's queued entries are what a cut can lose); the seed picks the
/// victims of the disk faults and the followers of a majority cut.
pub fn schedule(options: &Options) -> Vec<Round> {
    let mut rng = options.seed | 1;
    let mut draw = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut rounds = Vec::new();
    for _ in 0..options.repeat {
        for &kind in &options.nemesis {
            let on = |on_leader| Round { kind, on_leader, draw: 0 };
            match kind {
                FaultKind::Kill => rounds.extend((0..options.kills).map(|i| on(i % 2 == 1))),
                FaultKind::PowerLoss | FaultKind::Pause | FaultKind::LeaderRestart | FaultKind::PowerLossAll => {
                    rounds.push(on(true))
                }
                FaultKind::SlowDisk | FaultKind::FullDisk => rounds.push(on(draw().is_multiple_of(2))),
                FaultKind::PowerLossMajority => rounds.push(Round { draw: draw(), ..on(true) }),
            }
        }
    }
    rounds
}

/// Where in the load the rounds happen: it is cut in `rounds + 1` slots of
/// keys; the last runs without a fault.
#[derive(Debug, Clone, Copy)]
struct Points {
    keys: u64,
    rounds: u64,
}

impl Points {
    fn new(options: &Options) -> Points {
        Points { keys: options.keys, rounds: schedule(options).len() as u64 }
    }

    fn slot(self) -> u64 {
        self.keys / (self.rounds + 1)
    }

    /// Round `i` strikes when a quarter of slot `i` is acknowledged; it
    /// heals when three quarters are (for a node taken down: and the
    /// leader purged past it).
    fn strike(self, i: u64) -> u64 {
        self.slot() * i + self.slot() / 4
    }

    /// See [`Points::strike`].
    fn heal(self, i: u64) -> u64 {
        self.slot() * i + self.slot() * 3 / 4
    }

    /// Until round `i` has struck, clients write no key past this.
    fn gate_before(self, i: u64) -> u64 {
        if i < self.rounds { self.strike(i) + self.slot() / 4 } else { self.keys }
    }

    /// How far the gate may be raised while round `i` waits for a purge: up
    /// to half of the next slot (the rest of the load for the last round).
    fn gate_max_before_heal(self, i: u64) -> u64 {
        if i + 1 < self.rounds { self.strike(i + 1) + self.slot() / 2 } else { self.keys }
    }
}

/// Until the first round has struck, clients write no key past this.
pub fn gate_before_first(options: &Options) -> u64 {
    Points::new(options).gate_before(0)
}

/// What happened to one node taken down (killed, cut, or stopped by a full
/// disk) and restarted.
#[derive(Debug, Clone)]
pub struct KillReport {
    /// What took it down.
    pub kind: FaultKind,
    /// What a power cut dropped: unsynced bytes and names (nodes on the
    /// power-loss layer only).
    pub dropped: Option<Unsynced>,
    /// How a node that stopped by itself exited, and its last words.
    pub stopped: Option<(String, String)>,
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

/// What happened to a node paused, or whose disk was slowed, while it
/// stayed up.
#[derive(Debug, Clone)]
pub struct StallReport {
    /// Pause or slow disk.
    pub kind: FaultKind,
    /// The node.
    pub node: NodeId,
    /// Whether it was the leader.
    pub was_leader: bool,
    /// Acknowledged writes when it struck.
    pub at_acked: u64,
    /// Acknowledged writes when it healed.
    pub healed_at_acked: u64,
    /// How long the fault lasted.
    pub lasted: Duration,
    /// For a paused leader: the new leader and how long until a node said so.
    pub new_leader: Option<(NodeId, Duration)>,
    /// For a paused leader: how long until another node acknowledged a write.
    pub first_ack_after: Option<Duration>,
    /// The leader after the fault healed.
    pub leader_after: NodeId,
    /// What the slow disk did (fsyncs delayed, stalls).
    pub disk: FaultCounters,
    /// From healing until it applied what the leader had applied then.
    pub caught_up_in: Duration,
    /// The leader's applied index it had to reach.
    pub caught_up_to: u64,
}

/// One node of a restart round (a correlated power cut, a quick leader
/// restart).
#[derive(Debug, Clone)]
pub struct Victim {
    /// The node.
    pub node: NodeId,
    /// Whether it was the leader when it was killed.
    pub was_leader: bool,
    /// What its power cut dropped (nodes on the power-loss layer only).
    pub dropped: Option<Unsynced>,
    /// Its log's last index when it had restarted (`None`: empty, or it did
    /// not say).
    pub last_at_start: Option<u64>,
}

/// What happened in a round that killed nodes together and restarted them
/// at once: a power cut of every node or of a majority, or a quick restart
/// of the leader.
#[derive(Debug, Clone)]
pub struct RestartReport {
    /// The fault.
    pub kind: FaultKind,
    /// The nodes killed, in id order.
    pub victims: Vec<Victim>,
    /// The leader and its term when the round struck.
    pub leader_before: (NodeId, u64),
    /// Acknowledged writes when it struck.
    pub at_acked: u64,
    /// From the SIGKILL until every victim was started again.
    pub down_for: Duration,
    /// The first leader seen after the restart, its term, and how long
    /// after the SIGKILL.
    pub leader_after: (NodeId, u64, Duration),
    /// How long after the SIGKILL a node acknowledged a write (`None`: none
    /// did before the victims caught up).
    pub first_ack_after: Option<Duration>,
    /// For a leader restart: bytes queued in the leader's store (not yet
    /// written, or being written and synced) at the last look before the
    /// kill, and how many fsyncs the slow disk had delayed by then.
    pub leader_queue: Option<(u64, u64)>,
    /// For a leader restart: the last log index of the nodes left up, right
    /// after the kill (what reached the followers).
    pub followers_last: Option<u64>,
    /// The leader's applied index the victims had to reach.
    pub caught_up_to: u64,
    /// From the restart until every victim applied `caught_up_to`.
    pub caught_up_in: Duration,
}

impl RestartReport {
    /// For a leader restart: how many entries the followers held past the
    /// restarted leader's log (entries it had sent but lost).
    pub fn leader_lost(&self) -> Option<u64> {
        let last = self.victims.first()?.last_at_start.unwrap_or(0);
        Some(self.followers_last?.saturating_sub(last))
    }

    /// Whether the killed leader came back as the leader of its old term,
    /// without a new term: openraft's leader restore, or a lost vote.
    pub fn restored(&self) -> bool {
        let (node, term, _) = self.leader_after;
        (node, term) == self.leader_before && self.victims.iter().any(|v| v.node == node)
    }
}

/// What the rounds reported.
#[derive(Debug, Default)]
pub struct FaultsRun {
    /// Nodes taken down and restarted.
    pub kills: Vec<KillReport>,
    /// Nodes paused or slowed.
    pub stalls: Vec<StallReport>,
    /// Nodes killed together and restarted at once.
    pub restarts: Vec<RestartReport>,
}

/// A node just taken down, and what was measured then.
struct Kill {
    kind: FaultKind,
    dropped: Option<Unsynced>,
    stopped: Option<(String, String)>,
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
    /// Runs the schedule's rounds while the load runs.
    pub async fn run(mut self) -> anyhow::Result<FaultsRun> {
        let mut run = FaultsRun::default();
        for (i, round) in schedule(self.options).into_iter().enumerate() {
            let i = i as u64;
            self.load.wait_acked(self.points().strike(i), self.deadline).await?;
            self.cluster.ensure_none_exited()?;
            match round.kind {
                FaultKind::Pause | FaultKind::SlowDisk => run.stalls.push(self.stall_round(i, round).await?),
                FaultKind::PowerLossAll | FaultKind::PowerLossMajority | FaultKind::LeaderRestart => {
                    run.restarts.push(self.restart_round(i, round).await?)
                }
                FaultKind::Kill | FaultKind::PowerLoss | FaultKind::FullDisk => {
                    let kill = self.strike(i, round).await?;
                    let leader_purged = self.await_purge(i, kill.victim_last).await?;
                    run.kills.push(self.restart_victim(kill, leader_purged).await?);
                }
            }
        }
        Ok(run)
    }

    fn points(&self) -> Points {
        Points::new(self.options)
    }

    /// The leader, or the last follower, of the nodes up.
    async fn pick(&self, on_leader: bool) -> anyhow::Result<(NodeId, NodeId)> {
        let up = self.cluster.up();
        let (leader, _) = self.api.leader(&up, self.deadline).await?;
        let victim = if on_leader {
            leader
        } else {
            *up.iter().rev().find(|&&id| id != leader).ok_or_else(|| anyhow!("no follower to strike"))?
        };
        Ok((leader, victim))
    }

    /// Takes a node down: SIGKILL (a power cut on the power-loss layer), or
    /// a full disk until the node stops by itself. Then opens the gate up
    /// to the next round.
    async fn strike(&mut self, i: u64, round: Round) -> anyhow::Result<Kill> {
        let (leader, victim) = self.pick(round.on_leader).await?;
        let was_leader = victim == leader;
        let acked_before = self.load.acked();
        let victim_metrics = if was_leader { Some(self.api.metrics(victim).await?) } else { None };
        let mut killed_at_acked = self.load.acked();
        let mut killed_at = Instant::now();
        if was_leader {
            self.load.start_recovery(victim, killed_at);
        }
        let mut stopped = None;
        if round.kind == FaultKind::FullDisk {
            let full = FaultSettings { budget_bytes: Some(FULL_DISK_BUDGET_BYTES), ..FaultSettings::default() };
            self.api.post(victim, "/fault", &serde_json::to_value(full)?, Duration::from_secs(10)).await?;
            self.load.set_gate(self.points().gate_before(i + 1));
            stopped = Some(self.cluster.wait_exit(victim, self.deadline).await?);
            (killed_at_acked, killed_at) = (self.load.acked(), Instant::now());
        } else {
            if round.kind == FaultKind::PowerLoss {
                // chunklog fdatasyncs right after it writes: widen that
                // window so the cut lands inside it.
                let slow = FaultSettings { slow: Some(CUT_WINDOW), ..FaultSettings::default() };
                self.set_faults(victim, slow).await?;
                self.load.set_gate(self.points().gate_before(i + 1));
                self.await_unsynced(victim).await;
                (killed_at_acked, killed_at) = (self.load.acked(), Instant::now());
            }
            self.cluster.kill(victim)?;
            self.load.set_gate(self.points().gate_before(i + 1));
        }
        let dropped = self.dropped(victim);
        let victim_last = self.victim_last(victim_metrics, acked_before, leader).await?;
        let mut new_leader = None;
        if was_leader {
            let (l, _) = self.api.leader(&self.cluster.up(), self.deadline).await?;
            new_leader = Some((l, killed_at.elapsed()));
        }
        Ok(Kill {
            kind: round.kind,
            dropped,
            stopped,
            victim,
            was_leader,
            killed_at_acked,
            killed_at,
            victim_last,
            new_leader,
        })
    }

    /// Pauses the leader (SIGSTOP) past the election timeout, or slows a
    /// node's fsyncs for a while; then heals it and times its catch-up.
    async fn stall_round(&mut self, i: u64, round: Round) -> anyhow::Result<StallReport> {
        let (leader, victim) = self.pick(round.on_leader).await?;
        let was_leader = victim == leader;
        let others: Vec<NodeId> = self.cluster.up().into_iter().filter(|&id| id != victim).collect();
        let at_acked = self.load.acked();
        let started = Instant::now();
        let pause = round.kind == FaultKind::Pause;
        if pause {
            if was_leader {
                self.load.start_recovery(victim, started);
            }
            self.cluster.signal_stop(victim, true)?;
        } else {
            self.set_faults(victim, FaultSettings { slow: Some(SLOW_DISK), ..FaultSettings::default() }).await?;
        }
        self.load.set_gate(self.points().gate_before(i + 1));
        let mut new_leader = None;
        if pause && was_leader {
            let (l, _) = self.api.leader(&others, self.deadline).await?;
            new_leader = Some((l, started.elapsed()));
        }
        let hold = if pause { PAUSE_FOR } else { SLOW_DISK_FOR };
        tokio::time::sleep(hold.saturating_sub(started.elapsed())).await;
        if !pause {
            self.load.wait_acked(self.points().heal(i), self.deadline).await?;
        }
        let healed_at_acked = self.load.acked();
        let lasted = started.elapsed();
        let disk = if pause {
            self.cluster.signal_stop(victim, false)?;
            FaultCounters::default()
        } else {
            self.set_faults(victim, FaultSettings::default()).await?;
            let stats: Value = self.api.get(victim, "/stats").await?;
            serde_json::from_value(stats["faults"].clone())?
        };
        let (leader_after, m) = self.api.leader(&self.cluster.up(), self.deadline).await?;
        let caught_up_to = m.last_applied.map(|l| l.index).unwrap_or(0);
        let caught_up_in = self.api.wait_applied(victim, caught_up_to, self.deadline).await?;
        let first_ack_after = if pause && was_leader { self.load.end_recovery() } else { None };
        Ok(StallReport {
            kind: round.kind,
            node: victim,
            was_leader,
            at_acked,
            healed_at_acked,
            lasted,
            new_leader,
            first_ack_after,
            leader_after,
            disk,
            caught_up_in,
            caught_up_to,
        })
    }

    /// Kills several nodes together and restarts them at once: every node
    /// or a majority on the power-loss layer (a correlated power cut), or
    /// the leader with entries queued in its store (a quick restart, within
    /// the election timeout). Then waits for a leader, a write, and for
    /// every victim to catch up.
    async fn restart_round(&mut self, i: u64, round: Round) -> anyhow::Result<RestartReport> {
        let up = self.cluster.up();
        let (leader, m) = self.api.leader(&up, self.deadline).await?;
        let leader_before = (leader, m.current_term);
        let followers: Vec<NodeId> = up.iter().copied().filter(|&id| id != leader).collect();
        let mut victims = match round.kind {
            FaultKind::PowerLossAll => up.clone(),
            FaultKind::PowerLossMajority => {
                // The leader and `len / 2` followers, from a seeded start.
                let from = (round.draw % followers.len().max(1) as u64) as usize;
                let mut v: Vec<NodeId> = followers.iter().cycle().skip(from).take(up.len() / 2).copied().collect();
                v.push(leader);
                v
            }
            _ => vec![leader],
        };
        victims.sort_unstable();
        let restart = round.kind == FaultKind::LeaderRestart;
        let slow = if restart { LEADER_LAG } else { CUT_WINDOW };
        for &v in &victims {
            self.set_faults(v, FaultSettings { slow: Some(slow), ..FaultSettings::default() }).await?;
        }
        self.load.set_gate(self.points().gate_before(i + 1));
        let leader_queue = if restart {
            Some(self.await_queued(leader).await)
        } else {
            for &v in &victims {
                self.await_unsynced(v).await;
            }
            None
        };
        let at_acked = self.load.acked();
        let killed_at = Instant::now();
        self.cluster.kill_together(&victims)?;
        self.load.start_outage(killed_at);
        let dropped: Vec<Option<Unsynced>> = victims.iter().map(|&v| self.dropped(v)).collect();
        let mut followers_last = None;
        if restart {
            for &id in up.iter().filter(|id| !victims.contains(id)) {
                let last = self.api.metrics(id).await?.last_log_index;
                followers_last = followers_last.max(last);
            }
        }
        for &v in &victims {
            self.cluster.start(v)?;
        }
        let down_for = killed_at.elapsed();
        let (l, lm) = self.api.leader(&up, self.deadline).await?;
        let leader_after = (l, lm.current_term, killed_at.elapsed());
        let caught_up_to = lm.last_applied.map(|l| l.index).unwrap_or(0);
        let mut caught_up_in = Duration::ZERO;
        let mut out = Vec::new();
        for (&node, dropped) in victims.iter().zip(dropped) {
            caught_up_in = caught_up_in.max(self.api.wait_applied(node, caught_up_to, self.deadline).await?);
            let stats: Value = self.api.get(node, "/stats").await?;
            let last_at_start = stats["log"]["last_index_at_start"].as_u64();
            out.push(Victim { node, was_leader: node == leader, dropped, last_at_start });
        }
        Ok(RestartReport {
            kind: round.kind,
            victims: out,
            leader_before,
            at_acked,
            down_for,
            leader_after,
            first_ack_after: self.load.end_recovery(),
            leader_queue,
            followers_last,
            caught_up_to,
            caught_up_in,
        })
    }

    /// What node `id`'s power cut dropped, if it runs on the power-loss
    /// layer.
    fn dropped(&self, id: NodeId) -> Option<Unsynced> {
        if self.options.power_loss_layer() { Unsynced::read(&self.cluster.dir(id)) } else { None }
    }

    /// Waits (a few seconds at most) until the leader `id`'s slowed fsyncs
    /// hold entries back: at least two fsyncs were delayed, and between two
    /// looks its store's queue grew while no new fsync began, so entries
    /// appended (and sent to the followers) wait behind a running fsync,
    /// not yet written. Returns the queued bytes and delayed fsyncs at the
    /// last look.
    async fn await_queued(&self, id: NodeId) -> (u64, u64) {
        let until = Instant::now() + Duration::from_secs(3);
        let mut last = (0, 0);
        while Instant::now() < until {
            if let Ok(stats) = self.api.get::<Value>(id, "/stats").await {
                let queued = stats["log"]["queued_bytes"].as_u64().unwrap_or(0);
                let seen = (queued, stats["faults"]["fsyncs_delayed"].as_u64().unwrap_or(0));
                let grew = last.0 > 0 && seen.0 > last.0 && seen.1 == last.1;
                last = seen;
                if grew && seen.1 >= 2 {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        last
    }

    async fn set_faults(&self, node: NodeId, settings: FaultSettings) -> anyhow::Result<()> {
        self.api.post(node, "/fault", &serde_json::to_value(settings)?, Duration::from_secs(10)).await?;
        Ok(())
    }

    /// Waits (a few seconds at most) until node `id`'s power-loss layer
    /// holds unsynced writes, so that the cut strikes while there is
    /// something to lose: a store that acknowledged before its fdatasync
    /// would lose acknowledged entries here.
    async fn await_unsynced(&self, id: NodeId) {
        let dir = self.cluster.dir(id);
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until && Unsynced::read(&dir).is_none_or(|u| u.bytes == 0) {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
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
        self.load.wait_acked(self.points().heal(i), self.deadline).await?;
        loop {
            let (_, m) = self.api.leader(&self.cluster.up(), self.deadline).await?;
            let purged = m.purged.map(|l| l.index);
            if purged >= Some(victim_last) {
                return Ok(purged);
            }
            // All clients wait at the gate: let a few more writes in.
            let step = self.options.snapshot_every / 5 + 1;
            if self.load.idle() && !self.load.raise_gate(step, self.points().gate_max_before_heal(i)) {
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
            kind: kill.kind,
            dropped: kill.dropped,
            stopped: kill.stopped,
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
