//! What a run measured and its human-readable summary. Apart from the
//! scenario so that the printed format is in one place, section by section
//! (load, each fault, the cluster at the end, the checks); a new fault kind
//! or check adds its section here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::checks::{Divergence, NodeCheck};
use crate::faults::{KillReport, RestartReport, StallReport};
use crate::linearizability::Verdict;
use crate::monitor::Led;
use crate::options::FaultKind;
use crate::options::Options;
use crate::types::NodeId;

/// Everything the run measured; [`Report::summary`] prints it.
#[derive(Debug, Clone)]
pub struct Report {
    /// The options of the run.
    pub options: Options,
    /// Writes acknowledged.
    pub acked: u64,
    /// Writes given up after retrying for a minute (not acknowledged).
    pub gave_up: u64,
    /// Write attempts (acknowledged or not).
    pub attempts: u64,
    /// How long the load ran.
    pub load_time: Duration,
    /// How long, on average per client, clients waited for the controller
    /// (included in `load_time`).
    pub gate_wait: Duration,
    /// Write latency percentiles in microseconds: p50, p99, max.
    pub latency_us: (u64, u64, u64),
    /// The nodes taken down and restarted (kill, power loss, full disk).
    pub kills: Vec<KillReport>,
    /// The nodes paused or slowed while they stayed up.
    pub stalls: Vec<StallReport>,
    /// The nodes killed together and restarted at once (correlated power
    /// cuts, quick leader restarts).
    pub restarts: Vec<RestartReport>,
    /// Leaders seen by the monitor: (group, term, node).
    pub leaders: BTreeSet<Led>,
    /// The final term.
    pub final_term: u64,
    /// The final leader of group 0 and its last applied index.
    pub final_leader: (NodeId, u64),
    /// Every group's final leader and its last applied index.
    pub group_leaders: Vec<(NodeId, u64)>,
    /// Fsyncs of every node's stores during the load, summed over the nodes.
    pub fsyncs: u64,
    /// Per node at the end of the run: threads and open files of its
    /// process.
    pub procs: BTreeMap<NodeId, (u64, u64)>,
    /// Per node: snapshots built, snapshot index, log chunks, fsyncs.
    pub node_stats: BTreeMap<NodeId, Value>,
    /// Reads of every acknowledged key from every node's own state machine.
    pub local_checks: BTreeMap<NodeId, NodeCheck>,
    /// Linearizable reads of every acknowledged key through the leader.
    pub linearizable_check: NodeCheck,
    /// A few of the mismatches, for the summary.
    pub mismatches: Vec<String>,
    /// What the nodes applied, compared.
    pub divergence: Divergence,
    /// The register history's linearizability (with `--registers`).
    pub history: Option<Verdict>,
    /// Total run time.
    pub total_time: Duration,
}

impl Report {
    /// True if every acknowledged write was read back, right, from every node
    /// and through the leader.
    pub fn ok(&self) -> bool {
        let clean = |c: &NodeCheck| c.missing == 0 && c.wrong == 0 && c.errors == 0 && c.reads == self.acked;
        self.acked > 0
            && self.local_checks.len() == self.options.nodes as usize
            && self.local_checks.values().all(clean)
            && self.group_leaders.len() as u64 == self.options.groups
            && clean(&self.linearizable_check)
            && self.divergence.ok()
            && self.history.as_ref().is_none_or(Verdict::ok)
            && self.terms_with_two_leaders().is_empty()
    }

    /// (group, term) in which the leader monitor saw two different nodes
    /// lead (Raft allows one leader per term: a node that forgot its vote
    /// can make a second).
    pub fn terms_with_two_leaders(&self) -> Vec<(u64, u64)> {
        // Sorted by group, term, then node: two leaders of one term are
        // neighbours.
        let leaders: Vec<&Led> = self.leaders.iter().collect();
        let same = |w: &[&Led]| (w[0].0, w[0].1) == (w[1].0, w[1].1);
        let mut twice: Vec<(u64, u64)> = leaders.windows(2).filter(|w| same(w)).map(|w| (w[0].0, w[0].1)).collect();
        twice.dedup();
        twice
    }

    /// Write throughput of the load.
    pub fn writes_per_sec(&self) -> f64 {
        self.acked as f64 / self.load_time.as_secs_f64().max(1e-9)
    }

    /// Fsyncs per second and node during the load.
    pub fn fsyncs_per_sec_per_node(&self) -> f64 {
        self.fsyncs as f64 / self.load_time.as_secs_f64().max(1e-9) / self.options.nodes.max(1) as f64
    }

    /// The mode of the run: how the groups' logs are stored.
    pub fn mode(&self) -> &'static str {
        if self.options.separate_stores { "separate" } else { "shared" }
    }

    /// The run's row of the mode table: mode, groups, writes/s, p50 and p99
    /// write latency, fsyncs/s per node, threads and open files per node.
    pub fn table_row(&self) -> String {
        let (p50, p99, _) = self.latency_us;
        let each = |f: fn(&(u64, u64)) -> u64| {
            let v: Vec<String> = self.procs.values().map(|p| f(p).to_string()).collect();
            v.join("/")
        };
        format!(
            "{:<9} {:>6} {:>9.0} {:>7.2} {:>7.2} {:>13.0} {:>12} {:>15}",
            self.mode(),
            self.options.groups,
            self.writes_per_sec(),
            p50 as f64 / 1e3,
            p99 as f64 / 1e3,
            self.fsyncs_per_sec_per_node(),
            each(|p| p.0),
            each(|p| p.1)
        )
    }

    /// The header of [`Report::table_row`].
    pub fn table_header() -> String {
        format!(
            "{:<9} {:>6} {:>9} {:>7} {:>7} {:>13} {:>12} {:>15}",
            "mode", "groups", "writes/s", "p50 ms", "p99 ms", "fsyncs/s/node", "threads/node", "open files/node"
        )
    }

    /// The human-readable summary.
    pub fn summary(&self) -> String {
        self.to_string()
    }

    fn fmt_load(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        let nemesis: Vec<&str> = o.nemesis.iter().map(|k| k.name()).collect();
        let groups = match (o.groups, o.separate_stores) {
            (1, _) => "1 Raft group".to_string(),
            (g, false) => format!("{g} Raft groups sharing one chunklog log per node"),
            (g, true) => format!("{g} Raft groups, one chunklog store each per node (--separate-stores)"),
        };
        writeln!(
            f,
            "kv_cluster: {} nodes x {groups}, {} keys x {} B values, {} clients, nemesis {} ({} kills, x{}, seed {}), snapshot every {} entries{}",
            o.nodes,
            o.keys,
            o.value_size,
            o.clients,
            nemesis.join(","),
            o.kills,
            o.repeat,
            o.seed,
            o.group_snapshot_every(),
            if o.groups > 1 { " per group" } else { "" }
        )?;
        let secs = self.load_time.as_secs_f64();
        write!(
            f,
            "  writes      {} acknowledged in {:.2} s = {:.0} writes/s ({} attempts, {} given up",
            self.acked,
            secs,
            self.acked as f64 / secs.max(1e-9),
            self.attempts,
            self.gave_up
        )?;
        if self.gate_wait >= Duration::from_millis(1) {
            write!(f, "; clients waited {} for the kill schedule", ms(self.gate_wait))?;
        }
        writeln!(f, ")")?;
        let (p50, p99, max) = self.latency_us;
        writeln!(
            f,
            "  latency     p50 {:.2} ms, p99 {:.2} ms, max {:.0} ms (first attempt to acknowledgement)",
            p50 as f64 / 1e3,
            p99 as f64 / 1e3,
            max as f64 / 1e3
        )?;
        let each = |f: fn(&(u64, u64)) -> u64| {
            let v: Vec<String> = self.procs.values().map(|p| f(p).to_string()).collect();
            v.join("/")
        };
        let nodes: Vec<String> = self.procs.keys().map(|id| id.to_string()).collect();
        writeln!(
            f,
            "  per node    {:.0} fsyncs/s during the load; threads {}, open files {} (nodes {}, at the end of the run)",
            self.fsyncs_per_sec_per_node(),
            each(|p| p.0),
            each(|p| p.1),
            nodes.join("/")
        )
    }

    fn fmt_cluster(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g0: Vec<String> =
            self.leaders.iter().filter(|l| l.0 == 0).map(|(_, t, n)| format!("node {n} in term {t}")).collect();
        let of = if self.options.groups > 1 { " of group 0" } else { "" };
        write!(
            f,
            "  elections   {} leader{} seen{of}: {}; final term {}",
            g0.len(),
            if g0.len() == 1 { "" } else { "s" },
            g0.join(", "),
            self.final_term
        )?;
        if self.options.groups > 1 {
            write!(f, "; {} (group, term) leaders seen in all {} groups", self.leaders.len(), self.options.groups)?;
        }
        writeln!(f)?;
        for (id, v) in &self.node_stats {
            fmt_node_stats(f, *id, v)?;
        }
        writeln!(f, "              (counts since each node's last start)")?;
        for (g, t) in self.terms_with_two_leaders() {
            let nodes: Vec<String> = self
                .leaders
                .iter()
                .filter(|(lg, lt, _)| (*lg, *lt) == (g, t))
                .map(|(_, _, n)| format!("node {n}"))
                .collect();
            writeln!(
                f,
                "  check       election safety VIOLATED: {} led group {g} in the same term {t}",
                nodes.join(" and ")
            )?;
        }
        let (fl, fi) = self.final_leader;
        if self.options.groups == 1 {
            return writeln!(f, "  converged   leader node {fl}, every node applied index {fi}");
        }
        let mut led: BTreeMap<NodeId, u64> = BTreeMap::new();
        for (l, _) in &self.group_leaders {
            *led.entry(*l).or_default() += 1;
        }
        let led: Vec<String> = led.iter().map(|(n, c)| format!("node {n} leads {c}")).collect();
        writeln!(
            f,
            "  converged   all {} groups: every node applied its group leader's last index ({}); group 0: leader node {fl}, index {fi}",
            self.group_leaders.len(),
            led.join(", ")
        )
    }

    fn fmt_divergence(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.divergence;
        let state = match (d.states_agree, d.state_index) {
            (true, Some(i)) if self.options.groups > 1 => {
                format!("every group's state the same on every node (group 0 at index {i})")
            }
            (true, Some(i)) => format!("every node's state the same at index {i}"),
            (true, None) => "every node empty".to_string(),
            (false, _) => "the nodes' states DIFFER".to_string(),
        };
        writeln!(
            f,
            "  check       divergence: {} log indexes applied by several nodes compared, {} diverged; {state}",
            d.entries_compared, d.entries_diverged
        )?;
        for e in &d.examples {
            writeln!(f, "  diverged    {e}")?;
        }
        Ok(())
    }

    fn fmt_checks(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (id, c) in &self.local_checks {
            writeln!(
                f,
                "  check       node {id}: {} of {} acknowledged keys read back, {} missing, {} wrong, {} errors",
                c.reads - c.missing - c.wrong - c.errors,
                self.acked,
                c.missing,
                c.wrong,
                c.errors
            )?;
        }
        let c = &self.linearizable_check;
        writeln!(
            f,
            "  check       linearizable reads via {}: {} of {} right, {} missing, {} wrong, {} errors",
            if self.options.groups > 1 { "each key's group leader" } else { "leader" },
            c.reads - c.missing - c.wrong - c.errors,
            self.acked,
            c.missing,
            c.wrong,
            c.errors
        )?;
        for m in &self.mismatches {
            writeln!(f, "  mismatch    {m}")?;
        }
        self.fmt_divergence(f)?;
        if let Some(h) = &self.history {
            fmt_history(f, h)?;
        }
        let verdict = if self.ok() { "OK: every acknowledged write is on every node" } else { "FAILED" };
        writeln!(f, "  result      {verdict} (total {:.1} s)", self.total_time.as_secs_f64())
    }
}

/// The summary, as [`Report::summary`] returns it.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_load(f)?;
        // Every kind of round, in the order they struck.
        let mut rounds: Vec<(u64, Round)> = self.kills.iter().map(|k| (k.killed_at_acked, Round::Kill(k))).collect();
        rounds.extend(self.stalls.iter().map(|s| (s.at_acked, Round::Stall(s))));
        rounds.extend(self.restarts.iter().map(|r| (r.at_acked, Round::Restart(r))));
        rounds.sort_by_key(|(at, _)| *at);
        for (n, (_, r)) in rounds.into_iter().enumerate() {
            match r {
                Round::Kill(k) => fmt_kill(f, n + 1, k)?,
                Round::Stall(s) => fmt_stall(f, n + 1, s)?,
                Round::Restart(r) => fmt_restart(f, n + 1, r, self.options.leader_restore)?,
            }
        }
        self.fmt_cluster(f)?;
        self.fmt_checks(f)
    }
}

/// A round's report, whatever its kind.
enum Round<'a> {
    Kill(&'a KillReport),
    Stall(&'a StallReport),
    Restart(&'a RestartReport),
}

/// The register history's verdict: two lines, and a violating key's
/// operations.
fn fmt_history(f: &mut fmt::Formatter<'_>, h: &Verdict) -> fmt::Result {
    writeln!(
        f,
        "  history     {} operations: {} writes acknowledged, {} of unknown fate, {} reads answered, {} failed",
        h.recorded, h.written, h.unknown, h.read, h.failed
    )?;
    let (l, v, u) = (h.linearizable, h.violations, h.undecided);
    writeln!(
        f,
        "  check       linearizability (stateright, per key): {} ops on {} keys linearizable, {} ops on {} keys violating, {} ops on {} keys undecided (search timed out)",
        l.0, l.1, v.0, v.1, u.0, u.1
    )?;
    for line in &h.example {
        writeln!(f, "  violation   {line}")?;
    }
    Ok(())
}

/// A duration in whole milliseconds.
fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

/// Kill number `n`: three lines (the kill, the restart, the catch-up).
fn fmt_kill(f: &mut fmt::Formatter<'_>, n: usize, k: &KillReport) -> fmt::Result {
    let role = if k.was_leader { "leader" } else { "follower" };
    let how = match (k.kind, &k.stopped) {
        (FaultKind::FullDisk, Some((status, _))) => {
            format!("full disk (ENOSPC) on {role} node {}: it stopped ({status})", k.node)
        }
        (FaultKind::PowerLoss, _) => format!("power cut of {role} node {}", k.node),
        _ => format!("SIGKILL {role} node {}", k.node),
    };
    write!(f, "  fault {n:<5} {how} at {} acked writes, down {}", k.killed_at_acked, ms(k.down_for))?;
    if let Some((leader, after)) = k.new_leader {
        write!(f, "; node {leader} seen as leader after {}", ms(after))?;
    }
    if let Some(d) = k.first_ack_after {
        write!(f, ", first write acknowledged after {}", ms(d))?;
    }
    writeln!(f)?;
    if let Some(d) = k.dropped {
        writeln!(f, "              the cut dropped {} unsynced bytes and {} unsynced file names", d.bytes, d.names)?;
    }
    if let Some((_, last_words)) = &k.stopped {
        writeln!(f, "              its last words: {}", last_words.trim())?;
    }
    let how = if k.snapshots_installed > 0 {
        format!("by snapshot ({} installed from the leader)", k.snapshots_installed)
    } else {
        "by log replication".to_string()
    };
    let loaded = match k.snapshot_loaded_at_start {
        Some(i) => format!("loaded its own snapshot at {i}, "),
        None => String::new(),
    };
    let purged = match k.leader_purged {
        Some(p) => format!("leader had purged its log to {p} (node's last entry <= {})", k.victim_last),
        None => "the writes ran out before the leader purged past the node's log".to_string(),
    };
    writeln!(f, "              restarted at {} acked writes; {purged}", k.restarted_at_acked)?;
    writeln!(f, "              {loaded}caught up to index {} in {} {how}", k.caught_up_to, ms(k.caught_up_in))
}

/// Restart round number `n` (a correlated power cut, a quick leader
/// restart): the kill, what each node dropped or lost, the recovery.
/// `leader_restore`: the nodes ran with openraft's leader restore on.
fn fmt_restart(f: &mut fmt::Formatter<'_>, n: usize, r: &RestartReport, leader_restore: bool) -> fmt::Result {
    let who = |v: &crate::faults::Victim| format!("node {}{}", v.node, if v.was_leader { " (leader)" } else { "" });
    let nodes: Vec<String> = r.victims.iter().map(who).collect();
    let what = match r.kind {
        FaultKind::PowerLossAll => format!("power cut of every node at once ({})", nodes.join(", ")),
        FaultKind::PowerLossMajority => format!("power cut of a majority at once ({})", nodes.join(", ")),
        _ => format!("SIGKILL leader node {} (fsyncs slowed to 100-300 ms)", r.leader_before.0),
    };
    writeln!(f, "  fault {n:<5} {what} at {} acked writes, restarted after {}", r.at_acked, ms(r.down_for))?;
    if let Some((bytes, fsyncs)) = r.leader_queue {
        let followers = r.followers_last.map_or("nothing".to_string(), |l| format!("index {l}"));
        let last =
            r.victims.first().and_then(|v| v.last_at_start).map_or("empty".to_string(), |l| format!("index {l}"));
        writeln!(
            f,
            "              {bytes} bytes queued in its store after {fsyncs} slowed fsyncs; the followers' log reached {followers}, its own log restarted at {last} ({} entries behind)",
            r.leader_lost().unwrap_or(0)
        )?;
    }
    for v in &r.victims {
        if let Some(d) = v.dropped {
            writeln!(
                f,
                "              {}: the cut dropped {} unsynced bytes and {} unsynced file names",
                who(v),
                d.bytes,
                d.names
            )?;
        }
    }
    let (l, term, after) = r.leader_after;
    let (before, before_term) = r.leader_before;
    let how = if r.restored() {
        let why = if leader_restore { "openraft leader restore" } else { "no new term: its vote did not survive" };
        format!("leads again in term {term}, the term it led before ({why})")
    } else if term == before_term {
        format!("leads in term {term}, the term node {before} led before")
    } else {
        format!("was elected in term {term} (node {before} led term {before_term})")
    };
    write!(f, "              after {} node {l} {how}", ms(after))?;
    if let Some(d) = r.first_ack_after {
        write!(f, "; first write acknowledged after {}", ms(d))?;
    }
    writeln!(f)?;
    let s = if r.victims.len() == 1 { "" } else { "s" };
    writeln!(f, "              restarted node{s} caught up to index {} in {}", r.caught_up_to, ms(r.caught_up_in))
}

/// Stall number `n` (a pause or a slow disk): two lines.
fn fmt_stall(f: &mut fmt::Formatter<'_>, n: usize, s: &StallReport) -> fmt::Result {
    let role = if s.was_leader { "leader" } else { "follower" };
    match s.kind {
        FaultKind::Pause => write!(
            f,
            "  fault {n:<5} SIGSTOP {role} node {} at {} acked writes for {}",
            s.node,
            s.at_acked,
            ms(s.lasted)
        )?,
        _ => write!(
            f,
            "  fault {n:<5} slow disk on {role} node {} at {} acked writes for {}: {} fsyncs delayed by {} in all, {} stalls",
            s.node,
            s.at_acked,
            ms(s.lasted),
            s.disk.fsyncs_delayed,
            ms(Duration::from_millis(s.disk.delay_ms)),
            s.disk.stalls
        )?,
    }
    if let Some((leader, after)) = s.new_leader {
        write!(f, "; node {leader} seen as leader after {}", ms(after))?;
    }
    if let Some(d) = s.first_ack_after {
        write!(f, ", first write acknowledged after {}", ms(d))?;
    }
    writeln!(f)?;
    writeln!(
        f,
        "              healed at {} acked writes, leader then node {}; caught up to index {} in {}",
        s.healed_at_acked,
        s.leader_after,
        s.caught_up_to,
        ms(s.caught_up_in)
    )
}

/// One node's `/stats` line.
fn fmt_node_stats(f: &mut fmt::Formatter<'_>, id: NodeId, v: &Value) -> fmt::Result {
    let l = &v["log"];
    let plural = if l["chunks"].as_u64() == Some(1) { "" } else { "s" };
    writeln!(
        f,
        "  node {id}      snapshot at {} ({} built, {} installed), log {}..={} in {} chunk file{plural}, {} fsyncs",
        v["snapshot_index"],
        v["snapshots_built"],
        v["snapshots_installed"],
        l["first_index"],
        l["last_index"],
        l["chunks"],
        l["fsyncs"]
    )
}
