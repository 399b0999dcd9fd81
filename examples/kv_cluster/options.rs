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
    /// Number of concurrent writing clients.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// How many SIGKILL-and-restart rounds during the load: the first kills a
    /// follower, the second the leader, and so on alternately.
    #[arg(long, default_value_t = 2)]
    pub kills: usize,
    /// Build a snapshot every this many entries (the nodes purge their log
    /// below it, keeping a fifth of that).
    #[arg(long, default_value_t = crate::node::SNAPSHOT_EVERY)]
    pub snapshot_every: u64,
    /// Give up (and fail) if the whole run takes longer than this.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Keep the data directories and node logs instead of deleting them.
    #[arg(long)]
    pub keep: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            nodes: 3,
            keys: 10_000,
            value_size: 100,
            clients: 8,
            kills: 2,
            snapshot_every: crate::node::SNAPSHOT_EVERY,
            timeout_secs: 120,
            keep: false,
        }
    }
}
