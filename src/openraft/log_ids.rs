//! The log ids of the stored entries, kept in memory so that the adapters
//! answer `get_log_state` and find the new last log id of a truncation
//! without reading the disk.
//!
//! A log id is a leader id and an index, and the leader changes rarely, so
//! one log id per run of entries with the same leader describes them all:
//! this costs one element per term seen since open, not one per entry.

use super::line::Line;

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
    /// holding `index + 1` stays: after a purge past the last entry, the
    /// next appended entry may continue it.
    pub(crate) fn purge_upto(&mut self, index: u64) {
        let k = self.runs.partition_point(|r| L::index(r) <= index.saturating_add(1));
        if k > 1 {
            self.runs.drain(..k - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::LogIds;
    use crate::openraft::line::Line;

    /// Log ids as `(leader, index)`.
    struct Pairs;

    impl Line for Pairs {
        const NAME: &'static str = "test";
        type Entry = (u64, u64);
        type LogId = (u64, u64);
        type Vote = String;
        fn log_id(entry: &(u64, u64)) -> (u64, u64) {
            *entry
        }
        fn index(id: &(u64, u64)) -> u64 {
            id.1
        }
        fn same_leader(a: &(u64, u64), b: &(u64, u64)) -> bool {
            a.0 == b.0
        }
        fn with_index(id: &(u64, u64), index: u64) -> (u64, u64) {
            (id.0, index)
        }
        fn cmp_leaders(a: &String, b: &String) -> Option<Ordering> {
            a.partial_cmp(b)
        }
        fn is_committed(_: &String) -> bool {
            false
        }
    }

    fn ids(pairs: &[(u64, u64)]) -> LogIds<Pairs> {
        let mut ids = LogIds::new(None);
        pairs.iter().for_each(|p| ids.push(*p));
        ids
    }

    #[test]
    fn one_run_per_leader_answers_every_index_from_the_first_run() {
        let ids = ids(&[(1, 5), (1, 6), (2, 7), (2, 8), (3, 9)]);
        assert_eq!(ids.runs, vec![(1, 5), (2, 7), (3, 9)]);
        assert_eq!(ids.get(4), None);
        assert_eq!(ids.get(6), Some((1, 6)));
        assert_eq!(ids.get(8), Some((2, 8)));
    }

    #[test]
    fn truncating_to_an_older_id_starts_again_from_it() {
        let mut ids = ids(&[(2, 7), (3, 9)]);
        ids.truncate_to(Some(&(2, 8)));
        assert_eq!(ids.runs, vec![(2, 7)]);
        ids.truncate_to(Some(&(1, 3))); // read from disk: older than every run
        assert_eq!(ids.runs, vec![(1, 3)]);
        ids.truncate_to(None);
        assert_eq!(ids.get(3), None);
    }

    #[test]
    fn a_purge_keeps_the_run_holding_the_next_index() {
        let mut ids = ids(&[(1, 5), (2, 7), (3, 9)]);
        ids.purge_upto(7);
        assert_eq!(ids.runs, vec![(2, 7), (3, 9)]);
        ids.purge_upto(20); // past the end: the next entry may continue run 3
        ids.push((3, 21));
        assert_eq!(ids.get(21), Some((3, 21)));
    }
}
