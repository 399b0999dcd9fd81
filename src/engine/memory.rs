//! The engine's in-memory state, guarded by its reader-writer lock: every
//! group's log state and index, the payload cache shared by all groups,
//! and the open chunk's tail (counting bytes still queued for the disk).

use std::collections::BTreeMap;

use crate::cache::Cache;
use crate::chunk::Tail;
use crate::index::Index;
use crate::state::LogState;

/// One group's log state and where its entries sit.
#[derive(Debug, Default, Clone)]
pub(crate) struct Group {
    pub state: LogState,
    pub index: Index,
}

/// State guarded by the engine's reader-writer lock (first in the lock
/// order).
pub(crate) struct Shared {
    /// Every group that exists (has written something and was not
    /// removed since), by id.
    pub groups: BTreeMap<u64, Group>,
    pub cache: Cache,
    /// The chunk appends go to, counting queued bytes.
    pub tail: Tail,
    /// Entries copied into the open chunk by space reclamation, as
    /// `(group, first index, last index)`: its footer lists them.
    pub copied: Vec<(u64, u64, u64)>,
}

impl Shared {
    /// The state of `group` (the empty state if it does not exist).
    pub fn state(&self, group: u64) -> LogState {
        self.groups.get(&group).map(|g| g.state.clone()).unwrap_or_default()
    }

    /// The oldest chunk holding a live entry of any group: every chunk
    /// below it can go, since the checkpoint of every later chunk carries
    /// every group's state. The open chunk if no entry is live.
    pub fn oldest_live_chunk(&self) -> u64 {
        self.groups.values().filter_map(|g| g.index.first_chunk()).min().unwrap_or(self.tail.id).min(self.tail.id)
    }
}
