//! The engine's in-memory state, guarded by its reader-writer lock: every
//! group's log state and index, the payload cache shared by all groups,
//! and the open chunk's tail (counting bytes still queued for the disk).

use std::collections::BTreeMap;

use crate::cache::Cache;
use crate::chunk::Tail;
pub(crate) use crate::group::Group;
use crate::index::Slot;
use crate::state::LogState;

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
    /// Bytes of live entry frames per chunk (chunks with none are absent).
    pub live: BTreeMap<u64, u64>,
    /// Sum of `live`.
    pub live_bytes: u64,
    /// Bumped whenever entries a reader may have returned are replaced
    /// (a truncation, a group removal): a read in several passes restarts
    /// if it moved between its passes, so it never mixes old and new.
    pub rewrites: u64,
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
        self.live.keys().next().copied().unwrap_or(self.tail.id).min(self.tail.id)
    }

    /// Counts a new live entry frame.
    pub fn add_live(&mut self, slot: Slot) {
        self.add_live_bytes(slot.chunk, slot.len.into());
    }

    /// Counts new live entry frames of `bytes` in all in `chunk`.
    pub fn add_live_bytes(&mut self, chunk: u64, bytes: u64) {
        *self.live.entry(chunk).or_default() += bytes;
        self.live_bytes += bytes;
    }

    /// Uncounts the entries `lo..=hi` of `group` (about to be deleted):
    /// one map update per run of entries in one chunk, not per entry (a
    /// purge of half a million entries holds the state lock for it).
    pub fn forget(&mut self, group: u64, lo: u64, hi: u64) {
        let Some(g) = self.groups.get(&group) else { return };
        let (live, total) = (&mut self.live, &mut self.live_bytes);
        let mut run: Option<(u64, u64)> = None;
        for s in g.index.slots(lo, hi) {
            match &mut run {
                Some((chunk, bytes)) if *chunk == s.chunk => *bytes += u64::from(s.len),
                _ => {
                    if let Some((chunk, bytes)) = run.take() {
                        drop_live_bytes(live, total, chunk, bytes);
                    }
                    run = Some((s.chunk, u64::from(s.len)));
                }
            }
        }
        if let Some((chunk, bytes)) = run {
            drop_live_bytes(live, total, chunk, bytes);
        }
    }

    /// Uncounts one entry frame (moved or deleted).
    pub fn drop_live(&mut self, slot: Slot) {
        drop_live(&mut self.live, &mut self.live_bytes, slot);
    }

    /// Every run of entries whose slots lie in `chunk`, as `(group, first,
    /// last)`: at open, the entries an earlier life of the store put in
    /// the open chunk, copies included, so its footer lists them all.
    pub fn ranges_in_chunk(groups: &BTreeMap<u64, Group>, chunk: u64) -> Vec<(u64, u64, u64)> {
        let mut ranges: Vec<(u64, u64, u64)> = Vec::new();
        for (&g, grp) in groups {
            grp.index.for_each(0, u64::MAX, |i, s| {
                if s.chunk != chunk {
                    return;
                }
                match ranges.last_mut() {
                    Some((rg, _, hi)) if *rg == g && *hi + 1 == i => *hi = i,
                    _ => ranges.push((g, i, i)),
                }
            });
        }
        ranges
    }

    /// The live bytes of every chunk, counted from every group's index.
    pub fn count_live(groups: &BTreeMap<u64, Group>) -> (BTreeMap<u64, u64>, u64) {
        let mut live = BTreeMap::new();
        let mut total = 0;
        for g in groups.values() {
            g.index.for_each(0, u64::MAX, |_, s| {
                *live.entry(s.chunk).or_default() += u64::from(s.len);
                total += u64::from(s.len);
            });
        }
        (live, total)
    }
}

fn drop_live(live: &mut BTreeMap<u64, u64>, total: &mut u64, s: Slot) {
    drop_live_bytes(live, total, s.chunk, u64::from(s.len));
}

fn drop_live_bytes(live: &mut BTreeMap<u64, u64>, total: &mut u64, chunk: u64, bytes: u64) {
    if let Some(b) = live.get_mut(&chunk) {
        *b = b.saturating_sub(bytes);
        if *b == 0 {
            live.remove(&chunk);
        }
    }
    *total = total.saturating_sub(bytes);
}
