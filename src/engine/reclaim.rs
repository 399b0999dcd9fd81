//! Space reclamation: copying the live entries of the oldest chunk forward
//! so that chunk can be deleted.
//!
//! A chunk is deleted once no group has a live entry in it (the checkpoint
//! of every later chunk carries every group's state). A group that never
//! purges (idle, lagging, or whose application snapshots rarely) would
//! keep its oldest chunk, and so every later one, on disk for ever. So,
//! once the chunk files take more than `reclaim_percent` of the live entry
//! bytes plus one chunk, a background thread takes the oldest chunk that
//! holds a live entry and copies every live entry in it to the open chunk
//! as entry-copy records, then asks for the chunks below the new oldest
//! live chunk to be deleted.
//!
//! Crash safety comes from the order of the pipe: the copies are queued
//! before the deletion is requested, so the flush thread makes them
//! durable (with the `fdatasync` of that flush) before the purge thread
//! unlinks the old chunk. Until then the old copy is where the index and
//! every footer on disk point; after a crash at any step, a replay finds
//! either the old copy alone or both, and takes the newest.
//!
//! The copy reads the entries with the ordinary read path (verified
//! against their CRCs) outside every lock, then, under the state lock, in
//! batches of at most [`BATCH_BYTES`], queues a copy of each entry that
//! is still where it was read from (an entry truncated, purged or copied
//! meanwhile is skipped). Appenders wait for one batch at most.
//!
//! Groups that keep old chunks are reported by [`ChunkLog::pinning`], so
//! the application can snapshot and purge them instead (as raft-engine
//! asks its users to compact heavy regions).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use super::{ChunkLog, Core};
use crate::apply::{self, Change};
use crate::error::Result;
use crate::format;
use crate::index::Slot;

/// Payload bytes copied under one hold of the state lock.
const BATCH_BYTES: usize = 1 << 20;

/// What one [`ChunkLog::copy_oldest_chunk`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    /// The chunk whose live entries were copied (`None`: the open chunk is
    /// the oldest holding a live entry; nothing to do).
    pub chunk: Option<u64>,
    /// Entries copied.
    pub entries: u64,
    /// Payload bytes copied.
    pub bytes: u64,
}

/// A group that keeps the oldest chunk on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// The group.
    pub group: u64,
    /// The oldest chunk holding a live entry.
    pub chunk: u64,
    /// The group's live entries in that chunk.
    pub entries: u64,
    /// Their frame bytes.
    pub bytes: u64,
}

/// Wakes the reclaim thread and tells it to stop.
#[derive(Default)]
pub(crate) struct Signal {
    state: Mutex<(bool, bool)>, // (wake, stop)
    cv: Condvar,
}

impl Signal {
    /// Asks the reclaim thread to check the policy again.
    pub fn wake(&self) {
        self.state.lock().0 = true;
        self.cv.notify_one();
    }

    pub fn stop(&self) {
        self.state.lock().1 = true;
        self.cv.notify_one();
    }

    /// Waits for a wake-up; false once asked to stop.
    fn wait(&self) -> bool {
        let mut s = self.state.lock();
        while !s.0 && !s.1 {
            self.cv.wait(&mut s);
        }
        s.0 = false;
        !s.1
    }

    fn stopped(&self) -> bool {
        self.state.lock().1
    }
}

/// Starts the reclaim thread (none if reclamation is off).
pub(crate) fn start(core: &Arc<Core>) -> Option<JoinHandle<()>> {
    if core.cfg.reclaim_percent == 0 {
        return None;
    }
    let log = ChunkLog { core: core.clone(), worker: None, group: 0 };
    let spawned = std::thread::Builder::new().name("chunklog-reclaim".into()).spawn(move || {
        while log.core.reclaim.wait() {
            while !log.core.reclaim.stopped() && log.over_budget() {
                match log.copy_oldest_chunk() {
                    Ok(c) if c.chunk.is_some() => {}
                    Ok(_) => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "space reclamation stopped");
                        return;
                    }
                }
            }
        }
    });
    match spawned {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(error = %e, "could not start the space reclamation thread; reclamation is off");
            None
        }
    }
}

impl ChunkLog {
    /// Whether the chunk files take more than the reclamation policy
    /// allows (chunks about to be deleted not counted).
    fn over_budget(&self) -> bool {
        let pct = u64::from(self.core.cfg.reclaim_percent);
        if pct == 0 {
            return false;
        }
        let (oldest_live, live) = {
            let sh = self.core.shared.read();
            (sh.oldest_live_chunk(), sh.live_bytes)
        };
        let disk = self.core.table.bytes_from(oldest_live);
        let allowed = live.saturating_mul(pct) / 100 + self.core.cfg.chunk_max_size;
        disk > allowed
    }

    /// Copies every live entry of the oldest chunk that holds one (of any
    /// group) to the open chunk, and asks for the chunks below the new
    /// oldest live chunk to be deleted once the copies are durable. The
    /// background reclaim thread calls this when the policy
    /// ([`Config::reclaim_percent`](crate::Config::reclaim_percent)) says
    /// so; call it yourself to reclaim now, whatever the policy. Works on
    /// the whole store, whichever group this handle names.
    pub fn copy_oldest_chunk(&self) -> Result<Copied> {
        self.check_open()?;
        let (victim, runs) = {
            let sh = self.core.shared.read();
            let victim = sh.oldest_live_chunk();
            if victim == sh.tail.id {
                return Ok(Copied::default());
            }
            let mut runs: Vec<(u64, u64, u64)> = Vec::new();
            for (&g, grp) in &sh.groups {
                grp.index.for_each(0, u64::MAX, |i, s| {
                    if s.chunk != victim {
                        return;
                    }
                    match runs.last_mut() {
                        Some((rg, _, hi)) if *rg == g && *hi + 1 == i => *hi = i,
                        _ => runs.push((g, i, i)),
                    }
                });
            }
            (victim, runs)
        };
        let mut done = Copied { chunk: Some(victim), ..Copied::default() };
        let mut batch: Vec<(u64, u64, Bytes)> = Vec::new();
        let mut batch_bytes = 0;
        for (g, lo, hi) in runs {
            for (i, payload) in self.group(g).read_range(lo..=hi)? {
                batch_bytes += payload.len();
                batch.push((g, i, payload));
                if batch_bytes >= BATCH_BYTES {
                    self.copy_batch(victim, &mut batch, &mut done)?;
                    batch_bytes = 0;
                }
            }
        }
        self.copy_batch(victim, &mut batch, &mut done)?;
        {
            let sh = self.core.shared.read();
            let below = sh.oldest_live_chunk();
            let mut q = self.core.pipe.queue.lock();
            q.delete_below_after_flush(below);
        }
        self.core.pipe.work_cv.notify_one();
        self.core.stats.copied_entries.fetch_add(done.entries, Ordering::Relaxed);
        self.core.stats.copied_bytes.fetch_add(done.bytes, Ordering::Relaxed);
        Ok(done)
    }

    /// Queues a copy of each entry of `batch` that still lives in `victim`.
    fn copy_batch(&self, victim: u64, batch: &mut Vec<(u64, u64, Bytes)>, done: &mut Copied) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut sh = self.core.shared.write();
        let mut q = self.core.pipe.queue.lock();
        q.check()?;
        for (g, i, payload) in batch.drain(..) {
            let Some(old) = sh.groups.get(&g).and_then(|grp| grp.index.get(i)) else { continue };
            if old.chunk != victim {
                continue; // truncated and appended again, or copied already
            }
            let (offset, len) =
                self.enqueue(&mut sh, &mut q, |buf, at| format::encode_entry_copy(buf, at, g, i, &payload))?;
            let slot = Slot { chunk: sh.tail.id, offset, len };
            if let Some(grp) = sh.groups.get_mut(&g) {
                apply::apply_checked(&mut grp.state, &mut grp.index, Change::Copy { index: i, slot });
            }
            sh.drop_live(old);
            sh.add_live(slot);
            // Rotation clears the list, so its last range is in this chunk.
            match sh.copied.last_mut() {
                Some((cg, _, hi)) if *cg == g && *hi + 1 == i => *hi = i,
                _ => sh.copied.push((g, i, i)),
            }
            done.entries += 1;
            done.bytes += payload.len() as u64;
        }
        drop(q);
        drop(sh);
        self.core.pipe.work_cv.notify_one();
        Ok(())
    }

    /// The groups with live entries in the oldest chunk that holds any,
    /// most bytes first: the groups keeping old chunks on disk. An
    /// application that sees the same groups here again and again can
    /// snapshot and purge them, instead of letting reclamation copy their
    /// entries forward. Empty when only the open chunk holds live entries.
    pub fn pinning(&self) -> Vec<Pin> {
        let sh = self.core.shared.read();
        let chunk = sh.oldest_live_chunk();
        if chunk == sh.tail.id {
            return Vec::new();
        }
        let mut pins: Vec<Pin> = Vec::new();
        for (&group, grp) in &sh.groups {
            let (mut entries, mut bytes) = (0, 0);
            grp.index.for_each(0, u64::MAX, |_, s| {
                if s.chunk == chunk {
                    entries += 1;
                    bytes += u64::from(s.len);
                }
            });
            if entries > 0 {
                pins.push(Pin { group, chunk, entries, bytes });
            }
        }
        pins.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.group.cmp(&b.group)));
        pins
    }
}
