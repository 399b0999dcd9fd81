//! One group of a store: its log state, the index of where its entries
//! sit, and its counters. The engine keeps one per group in memory;
//! recovery rebuilds them.

use std::sync::atomic::AtomicU64;

use crate::index::Index;
use crate::state::LogState;

/// One group's log state and where its entries sit.
#[derive(Debug, Default)]
pub(crate) struct Group {
    pub state: LogState,
    pub index: Index,
    /// Entries appended since open.
    pub appends: u64,
    /// Flush callbacks registered through the group's handles since open
    /// (`flush`, `sync`, `save_vote`): how often it waited for an fsync.
    /// Counted with the `metrics` feature only.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub flushes: AtomicU64,
}
