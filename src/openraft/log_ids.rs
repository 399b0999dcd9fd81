//! The log ids of the stored entries, kept in memory so that the adapters
//! answer `get_log_state` and find the new last log id of a truncation
//! without reading the disk.
//!
//! A log id is a leader id and an index, and the leader changes rarely, so
//! one log id per run of entries with the same leader describes them all:
//! this costs one element per term seen since open, not one per entry.

use super::core::Line;

/// The log ids of the stored entries from the first run's index on; older
/// entries are known only on disk.
///
/// Kept true by the core: it always knows the last stored entry (when the
/// log holds one), because it changes only after the engine did.
pub(crate) struct LogIds<L: Line> {
    /// The first log id of each run of entries with one leader, in index
    /// order.
    runs: Vec<L::LogId>,
}

impl<L: Line> LogIds<L> {
    /// Starts knowing only `last` (the last stored entry), if any.
    pub(crate) fn new(last: Option<L::LogId>) -> Self {
        LogIds { runs: last.into_iter().collect() }
    }

    /// Records an appended entry (entries arrive in index order).
    pub(crate) fn push(&mut self, id: L::LogId) {
        if self.runs.last().is_none_or(|r| !L::same_leader(r, &id)) {
            self.runs.push(id);
        }
    }

    /// The log id of the stored entry `index`, if it is known without a
    /// read. `index` must be a stored entry's.
    pub(crate) fn get(&self, index: u64) -> Option<L::LogId> {
        let k = self.runs.partition_point(|r| L::index(r) <= index);
        let run = self.runs.get(k.checked_sub(1)?)?;
        Some(L::with_index(run, index))
    }

    /// Forgets the entries after `last`, which becomes the last stored
    /// entry (`None`: no entry is left).
    pub(crate) fn truncate_to(&mut self, last: Option<&L::LogId>) {
        let Some(last) = last else {
            self.runs.clear();
            return;
        };
        self.runs.retain(|r| L::index(r) <= L::index(last));
        // `last` was older than every run (read from disk), or the runs
        // disagree with it: start again from what is certain.
        if self.get(L::index(last)).is_none_or(|known| !L::same_leader(&known, last)) {
            self.runs = vec![last.clone()];
        }
    }

    /// Forgets the runs that end at or below `index` (purged). The run
    /// holding the next index stays, so an entry appended after a purge
    /// past the end is still known.
    pub(crate) fn purge_upto(&mut self, index: u64) {
        let k = self.runs.partition_point(|r| L::index(r) <= index.saturating_add(1));
        if k > 1 {
            self.runs.drain(..k - 1);
        }
    }
}
