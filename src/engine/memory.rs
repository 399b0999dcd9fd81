//! The engine's in-memory state, guarded by its reader-writer lock: the
//! log state, the index of where each entry sits, the payload cache, and
//! the open chunk's tail (counting bytes still queued for the disk).

use crate::cache::Cache;
use crate::chunk::Tail;
use crate::index::Index;
use crate::state::LogState;

/// State guarded by the engine's reader-writer lock (first in the lock
/// order).
pub(crate) struct Shared {
    pub state: LogState,
    pub index: Index,
    pub cache: Cache,
    /// The chunk appends go to, counting queued bytes.
    pub tail: Tail,
}
