//! The read half of [`ChunkLog`]: entries from the cache, from the queue's
//! memory, or from the chunk files with positional reads outside every
//! lock, each checked against its CRC, kind and index.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::ChunkLog;
use super::pipe::Segment;
use crate::chunk;
use crate::error::{Error, Result};
use crate::format::{self, Codec, RecordKind};
use crate::index::Slot;
use crate::vfs::VfsFile;

/// Disk reads of consecutive entries are merged up to this many bytes.
const MAX_MERGED_READ: u64 = 1 << 20;

/// A read holds the files of at most this many chunks at once (a long
/// range is read in passes), so readers cannot exhaust file descriptors.
const CHUNKS_PER_READ_PASS: usize = 4;

/// A read in several passes starts again at most this many times when a
/// truncation comes between its passes.
const MAX_READ_ATTEMPTS: u32 = 16;

impl ChunkLog {
    /// The payload of entry `index`, or `None` if it is purged or beyond
    /// the last index. Verifies the record's CRC and index.
    pub fn get(&self, index: u64) -> Result<Option<Bytes>> {
        Ok(self.read_range(index..=index)?.pop().map(|(_, b)| b))
    }

    /// The entries in `range` that exist, in index order, as
    /// `(index, payload)`. Indexes outside `[first, last]` are skipped.
    ///
    /// Cached entries are memory copies; others cost one positional read
    /// per run of consecutive entries (merged up to 1 MiB), each verified
    /// against its CRC and index.
    pub fn read_range(&self, range: impl RangeBounds<u64>) -> Result<Vec<(u64, Bytes)>> {
        self.check_open()?;
        let mut out = Vec::new();
        let lo = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => match s.checked_add(1) {
                Some(s) => s,
                None => return Ok(out),
            },
            Bound::Unbounded => 0,
        };
        let hi = match range.end_bound() {
            Bound::Included(&e) => e,
            Bound::Excluded(&e) => match e.checked_sub(1) {
                Some(e) => e,
                None => return Ok(out),
            },
            Bound::Unbounded => u64::MAX,
        };
        // A long range is read in passes, each under the state lock. If a
        // truncation (or a group removal) came between two passes, the
        // later pass could return entries that replaced ones an earlier
        // pass returned: read again from the start, a few times, then
        // return the entries read before the change.
        let mut attempts = 0;
        'read: loop {
            out.clear();
            let mut seen = None;
            let mut next = Some(lo);
            while let Some(from) = next {
                let before = out.len();
                let (n, rewrites) = match self.read_pass(from, hi, !out.is_empty(), &mut out)? {
                    Pass::Read { next, rewrites } => (next, rewrites),
                    // Purged while it was read, and its file reused: read
                    // again, without the purged entries.
                    Pass::ChunkGone(e) => {
                        attempts += 1;
                        if attempts < MAX_READ_ATTEMPTS {
                            continue 'read;
                        }
                        return Err(e);
                    }
                };
                if seen.is_some_and(|s| s != rewrites) {
                    out.truncate(before);
                    attempts += 1;
                    if attempts < MAX_READ_ATTEMPTS {
                        continue 'read;
                    }
                    break;
                }
                seen = Some(rewrites);
                next = n;
            }
            return Ok(out);
        }
    }

    /// Reads entries `from..=hi` that exist into `out`, touching the files
    /// of at most [`CHUNKS_PER_READ_PASS`] chunks. Returns where the next
    /// pass starts, if entries are left, and the store's rewrite count
    /// when the pass took its state lock (or that it must be read again).
    /// `continued`: an earlier pass read entries below `from`; if a purge
    /// removed `from` since, stop there, so the result stays consecutive.
    fn read_pass(&self, from: u64, hi: u64, continued: bool, out: &mut Vec<(u64, Bytes)>) -> Result<Pass> {
        let poisoned = self.core.pipe.poisoned.load(Ordering::Acquire);
        let mut disk: Vec<(u64, Slot)> = Vec::new();
        let mut files: BTreeMap<u64, (Codec, Arc<dyn VfsFile>)> = BTreeMap::new();
        let base = out.len() as u64;
        let mut next = None;
        let rewrites;
        {
            let g = self.group;
            let sh = self.core.shared.read();
            rewrites = sh.rewrites;
            let none = Pass::Read { next: None, rewrites };
            let Some(grp) = sh.groups.get(&g) else { return Ok(none) };
            let (Some(first), Some(last)) = (grp.index.first(), grp.index.last()) else {
                return Ok(none);
            };
            if continued && from < first {
                return Ok(none);
            }
            let (lo, hi) = (from.max(first), hi.min(last));
            if lo > hi {
                return Ok(none);
            }
            out.reserve((hi - lo).saturating_add(1).min(1 << 16) as usize);
            // Lock order: state, then the chunk table, then the queue.
            let table = self.core.table.view();
            let mut q = None;
            let (mut hits, mut misses) = (0, 0);
            for i in lo..=hi {
                if !poisoned && let Some(b) = sh.cache.get(g, i) {
                    hits += 1;
                    out.push((i, b));
                    continue;
                }
                misses += 1;
                let Some(slot) = grp.index.get(i) else { break };
                if poisoned && !table.holds(slot.chunk, slot_end(slot)) {
                    // Queued, never written: the failure that poisoned the
                    // store, not the zeros where it would have been.
                    let q = q.get_or_insert_with(|| self.core.pipe.queue.lock());
                    return Err(q.failure());
                }
                // Not yet flushed: serve from the queue's memory.
                let q = q.get_or_insert_with(|| self.core.pipe.queue.lock());
                fn get(s: &Segment, slot: Slot) -> Option<(Codec, &[u8])> {
                    s.get(slot.chunk, slot.offset.into(), slot.len as usize).map(|b| (s.codec, b))
                }
                let mem = q
                    .segments
                    .iter()
                    .rev()
                    .find_map(|s| get(s, slot))
                    .or_else(|| q.inflight.iter().rev().find_map(|s| get(s, slot)));
                if let Some((codec, frame)) = mem {
                    let path = || chunk::chunk_path(&self.core.cfg.dir, slot.chunk);
                    let want = Want { codec, group: g, index: i, offset: slot.offset.into() };
                    out.push((i, verify_entry(Bytes::copy_from_slice(frame), want, path)?));
                    continue;
                }
                if !files.contains_key(&slot.chunk) {
                    if files.len() == CHUNKS_PER_READ_PASS {
                        next = Some(i);
                        break;
                    }
                    let Some(codec) = table.codec(slot.chunk) else {
                        return Err(Error::corruption(
                            chunk::chunk_path(&self.core.cfg.dir, slot.chunk),
                            slot.offset.into(),
                            format!("entry {i} points into a chunk that is not open"),
                        ));
                    };
                    // Opened under the table's read lock: a purge forgets
                    // a chunk (under its write lock) before it unlinks the
                    // file, and never a chunk the index still points into.
                    files.insert(slot.chunk, (codec, table.file(slot.chunk)?));
                }
                out.push((i, Bytes::new()));
                disk.push((i, slot));
            }
            self.core.stats.cache_hits.fetch_add(hits, Ordering::Relaxed);
            self.core.stats.cache_misses.fetch_add(misses, Ordering::Relaxed);
        }
        if let Err(e) = self.read_from_disk(&disk, &files, out, base) {
            // A chunk that left the table since it was looked up was
            // purged, and its file may be a new chunk now (recycled):
            // what the read found there is not damage.
            let table = self.core.table.view();
            if files.keys().any(|&c| table.codec(c).is_none()) {
                return Ok(Pass::ChunkGone(e));
            }
            return Err(e);
        }
        Ok(Pass::Read { next, rewrites })
    }

    /// Positional reads outside every lock, merged over contiguous runs;
    /// fills the placeholders of `out` (whose entry `base` is the first of
    /// this pass).
    fn read_from_disk(
        &self,
        disk: &[(u64, Slot)],
        files: &BTreeMap<u64, (Codec, Arc<dyn VfsFile>)>,
        out: &mut [(u64, Bytes)],
        base: u64,
    ) -> Result<()> {
        let Some(first) = out.get(base as usize).map(|(i, _)| *i) else { return Ok(()) };
        let mut k = 0;
        while k < disk.len() {
            let (_, s0) = disk[k];
            let mut end = k + 1;
            let mut span = u64::from(s0.len);
            while end < disk.len() {
                let (i, s) = disk[end];
                let (ip, sp) = disk[end - 1];
                if i != ip + 1
                    || s.chunk != s0.chunk
                    || u64::from(s.offset) != slot_end(sp)
                    || span + u64::from(s.len) > MAX_MERGED_READ
                {
                    break;
                }
                span += u64::from(s.len);
                end += 1;
            }
            let path = || chunk::chunk_path(&self.core.cfg.dir, s0.chunk);
            let mut buf = vec![0u8; span as usize];
            let (codec, file) = &files[&s0.chunk];
            file.read_exact_at(&mut buf, s0.offset.into()).map_err(|e| Error::io("read", path(), e))?;
            self.core.stats.disk_reads.fetch_add(1, Ordering::Relaxed);
            let buf = Bytes::from(buf);
            let mut pos = 0usize;
            for &(i, s) in &disk[k..end] {
                let frame = buf.slice(pos..pos + s.len as usize);
                let want = Want { codec: *codec, group: self.group, index: i, offset: s.offset.into() };
                out[(base + i - first) as usize].1 = verify_entry(frame, want, path)?;
                pos += s.len as usize;
            }
            k = end;
        }
        Ok(())
    }
}

/// How one pass of a read ended.
enum Pass {
    /// Read: where the next pass starts, if entries are left, and the
    /// store's rewrite count when the pass took its state lock.
    Read { next: Option<u64>, rewrites: u64 },
    /// A read from disk failed in a chunk that was purged meanwhile (the
    /// error it got): the pass must be read again.
    ChunkGone(Error),
}

/// The chunk offset just past a slot's frame.
fn slot_end(s: Slot) -> u64 {
    u64::from(s.offset) + u64::from(s.len)
}

/// The entry a frame read back must be.
struct Want {
    codec: Codec,
    group: u64,
    index: u64,
    offset: u64,
}

/// Checks an entry frame read back (CRC, kind, group, index) and returns
/// its payload.
fn verify_entry(frame: Bytes, want: Want, path: impl Fn() -> PathBuf) -> Result<Bytes> {
    let Want { codec, group, index, offset } = want;
    let f = format::decode_frame(codec, &frame)
        .map_err(|e| Error::corruption(path(), offset, format!("entry {index}: {e}")))?;
    let entry = matches!(f.kind, RecordKind::Entry | RecordKind::EntryCopy);
    if !entry || f.len != frame.len() || f.body.len() < 8 {
        return Err(Error::corruption(path(), offset, format!("entry {index}: found a {} record", f.kind.name())));
    }
    let mut ix = [0u8; 8];
    ix.copy_from_slice(&f.body[..8]);
    let found = u64::from_le_bytes(ix);
    if found != index || f.group != group {
        return Err(Error::corruption(
            path(),
            offset,
            format!("expected entry {index} of group {group}, found entry {found} of group {}", f.group),
        ));
    }
    Ok(frame.slice(f.body_at + 8..frame.len() - 4))
}
