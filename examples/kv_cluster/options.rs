//! The driver's command-line flags, in their own file because every part of
//! the scenario reads them (the load, the fault schedule, the report) and
//! none of those parts should depend on the scenario that ties them together.

/// Options of the driver (the default command).
#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Number of keys to write (one write per key).
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    /// Size of every value in bytes.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Number of concurrent writing clients (each key goes to the leader of
    /// its group).
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// How many SIGKILL-and-restart rounds during the load: the first kills a
    /// follower, the second the leader, and so on alternately.
    #[arg(long, default_value_t = 2)]
    pub kills: usize,
    /// Build a snapshot every this many entries (the nodes purge their log
    /// below it, keeping a fifth of that). Spread over the groups: each of
    /// G groups snapshots every 1/G as many of its own entries (at least 5).
    #[arg(long, default_value_t = crate::node::SNAPSHOT_EVERY)]
    pub snapshot_every: u64,
    /// Give up (and fail) if the whole run takes longer than this.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Keep the data directories and node logs instead of deleting them.
    #[arg(long)]
    pub keep: bool,
    /// The faults to inject during the load, in this order (comma list):
    /// `kill` (`--kills` rounds of SIGKILL and restart), `power-loss` (every
    /// node's log on the power-loss layer; one SIGKILL = power cut of the
    /// leader), `slow-disk` (fsyncs delayed 5-50 ms, every 8th stalls 2 s),
    /// `full-disk` (ENOSPC: the node stops, is restarted with space given
    /// back), `pause` (SIGSTOP the leader past the election timeout),
    /// `power-loss-all` / `power-loss-majority` (a power cut of every node,
    /// or of the leader and enough followers to make a majority, at once;
    /// all restarted at once), `leader-restart` (SIGKILL the leader while
    /// its slowed fsyncs leave appended entries queued in its store, and
    /// restart it at once, within the election timeout).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "kill")]
    pub nemesis: Vec<FaultKind>,
    /// Run the nodes with openraft's `enable_leader_restore` on (off by
    /// default): a restarted leader resumes leading its old term. With
    /// `leader-restart` this makes nodes diverge, which the checks must
    /// report; for showing that, not for use.
    #[arg(long)]
    pub leader_restore: bool,
    /// Run the nemesis list this many times (a longer soak).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Seed of the fault schedule's choices (victims, fsync delays).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Beside the write-once load, overwrite this many registers (keys
    /// `reg-NNNN`, a new value every write) and read them with linearizable
    /// reads, record every operation and check the history for
    /// linearizability at the end (0: off).
    #[arg(long, default_value_t = 0)]
    pub registers: u64,
    /// Number of concurrent register clients (with `--registers`).
    #[arg(long, default_value_t = 4)]
    pub register_clients: usize,
    /// Raft groups per node; keys are sharded to groups by a CRC-32 of the
    /// key. All groups of a node share one chunklog log (one directory,
    /// one fsync stream) unless `--separate-stores`. With `--groups 1` the
    /// whole cluster is one group (the single-group cluster).
    #[arg(long, default_value_t = GROUPS)]
    pub groups: u64,
    /// One chunklog store (directory) per group per node instead of one
    /// shared log per node: what an application does without group stores.
    #[arg(long)]
    pub separate_stores: bool,
    /// Run the scenario twice, with the shared log and then with
    /// `--separate-stores` (the other options the same), and end with a
    /// table of the two modes.
    #[arg(long, conflicts_with = "separate_stores")]
    pub compare: bool,
}

/// Default of `--groups`.
pub const GROUPS: u64 = 16;

/// A kind of fault the driver injects.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// SIGKILL a node, restart it from its directory.
    Kill,
    /// SIGKILL a node whose log runs on the power-loss layer: a power cut.
    PowerLoss,
    /// Delay a node's fsyncs for a while.
    SlowDisk,
    /// Fill a node's disk: its store poisons and the node exits.
    FullDisk,
    /// SIGSTOP the leader for longer than the election timeout, then SIGCONT.
    Pause,
    /// Cut the power of every node at once, restart them all.
    PowerLossAll,
    /// Cut the power of the leader and of followers up to a majority at
    /// once, restart them.
    PowerLossMajority,
    /// SIGKILL the leader with entries queued in its store, restart it at
    /// once.
    LeaderRestart,
}

impl FaultKind {
    /// The name on the command line and in the summary.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::PowerLoss => "power-loss",
            FaultKind::SlowDisk => "slow-disk",
            FaultKind::FullDisk => "full-disk",
            FaultKind::Pause => "pause",
            FaultKind::PowerLossAll => "power-loss-all",
            FaultKind::PowerLossMajority => "power-loss-majority",
            FaultKind::LeaderRestart => "leader-restart",
        }
    }

    /// Whether the nodes' logs must run on the power-loss layer for it.
    pub fn power_loss(self) -> bool {
        matches!(self, FaultKind::PowerLoss | FaultKind::PowerLossAll | FaultKind::PowerLossMajority)
    }
}

impl Options {
    /// Each group builds a snapshot every this many of its own entries:
    /// `--snapshot-every` spread over the groups (at least 5), so the
    /// cluster snapshots about as often, in entries, whatever the number of
    /// groups.
    pub fn group_snapshot_every(&self) -> u64 {
        (self.snapshot_every / self.groups.max(1)).max(5.min(self.snapshot_every)).max(1)
    }

    /// Whether the nodes' logs run on the power-loss layer: when a fault of
    /// the nemesis list needs it.
    pub fn power_loss_layer(&self) -> bool {
        self.nemesis.iter().any(|k| k.power_loss())
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            nodes: 3,
            keys: 10_000,
            value_size: 100,
            clients: 32,
            kills: 2,
            snapshot_every: crate::node::SNAPSHOT_EVERY,
            timeout_secs: 120,
            keep: false,
            nemesis: vec![FaultKind::Kill],
            leader_restore: false,
            repeat: 1,
            seed: 1,
            registers: 0,
            register_clients: 4,
            groups: GROUPS,
            separate_stores: false,
            compare: false,
        }
    }
}
