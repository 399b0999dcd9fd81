//! The write half of [`ChunkLog`]: appends and the other records, flush
//! callbacks and waiting for room. Every write encodes its record into the
//! open chunk's queued segment under the state lock and the queue lock,
//! applies it to the in-memory state, and wakes the flush thread.

use bytes::Bytes;

use super::ChunkLog;
use super::memory::{Group, Shared};
use super::pipe::{Callback, Queue, Segment, fire};
use crate::apply::{self, Change};
use crate::chunk::Tail;
use crate::error::{Error, Result};
use crate::format::{self, Codec, RecordKind, Stamp};
use crate::index::Slot;

impl ChunkLog {
    /// Appends entries `(index, payload)`. Each index must follow the last
    /// one (any index is accepted first in an empty, never purged log).
    /// The entries are readable when this returns and durable once a
    /// later [`flush`](Self::flush) callback fires. Blocks while the flush
    /// queue is over `flush_queue_max_bytes`.
    ///
    /// On [`Error::NonConsecutive`] the entries before the offending one
    /// are appended and the rest are not.
    pub fn append<I, B>(&self, entries: I) -> Result<()>
    where
        I: IntoIterator<Item = (u64, B)>,
        B: AsRef<[u8]>,
    {
        let g = self.group;
        self.append_groups(entries.into_iter().map(|(i, b)| (g, i, b)))
    }

    /// Appends entries `(group, index, payload)` to any groups of the
    /// store at once, under one hold of the engine's locks: what a
    /// multi-raft node writes for many groups in one round. Each group's
    /// indexes must follow on as in [`append`](Self::append); groups may
    /// come in any order and interleave. Readable on return, durable with
    /// the next flush, like `append`.
    ///
    /// On [`Error::NonConsecutive`] the entries before the offending one
    /// are appended and the rest are not.
    pub fn append_groups<I, B>(&self, entries: I) -> Result<()>
    where
        I: IntoIterator<Item = (u64, u64, B)>,
        B: AsRef<[u8]>,
    {
        self.wait_for_room()?;
        // Gathered before the locks: their lengths size each part's buffer.
        let entries: Vec<(u64, u64, B)> = entries.into_iter().collect();
        let mut sh = self.core.shared.write();
        let mut q = self.core.pipe.queue.lock();
        q.check()?;
        let mut part = Part::default();
        let result = (|| {
            for (k, (g, index, payload)) in entries.iter().enumerate() {
                let (g, index, payload) = (*g, *index, payload.as_ref());
                check_len(payload.len())?;
                if index == u64::MAX {
                    return Err(Error::OutOfRange { what: "entry index", value: index, max: u64::MAX - 1 });
                }
                let placeholder = Slot { chunk: 0, offset: 0, len: 0 };
                if let Some(grp) = sh.groups.get(&g) {
                    apply::check(&grp.state, &Change::Entry { index, slot: placeholder })?;
                }
                let rotate = self.must_rotate(&sh);
                if rotate || part.group != Some(g) || part.bytes >= PART_MAX_BYTES {
                    let small = run_bytes(sh.tail.codec, &entries[k..], true) < SMALL_RUN_BYTES;
                    if rotate || !(small && part.mixed && part.bytes < PART_MAX_BYTES) {
                        part.finish(&mut sh, &mut q);
                        if rotate {
                            self.rotate(&mut sh, &mut q)?;
                        }
                        let need = run_bytes(sh.tail.codec, &entries[k..], !small);
                        let seg = open_segment(&sh, &mut q);
                        if small {
                            // Small runs keep filling the open buffer, across
                            // calls too: a part per call of one small entry
                            // made a flush of many appends thousands of tiny
                            // buffers (pipelined flushes ran at half speed).
                            seg.open.reserve(need);
                        } else {
                            // A one-group part starts a buffer of its own, so
                            // its cached slices keep no other group's frames.
                            seg.freeze();
                            seg.open.reserve_exact(need);
                        }
                        part.mixed = small;
                    }
                    part.group = Some(g);
                }
                // The chunk has room: checked above for this record.
                let (offset, len) =
                    encode_at_tail(&mut sh, &mut q, |buf, at| format::encode_entry(buf, at, g, index, payload));
                let slot = Slot { chunk: sh.tail.id, offset, len };
                let grp = sh.groups.entry(g).or_default();
                apply::apply_checked(&mut grp.state, &mut grp.index, Change::Entry { index, slot });
                grp.appends += 1;
                part.bytes += len as usize;
                match (sh.cache.accepts(payload.len()), part.mixed) {
                    (false, _) => {}
                    (true, true) => sh.cache.insert(g, index, Bytes::copy_from_slice(payload)),
                    (true, false) => part.slices.push(Cached { index, offset, len, payload_len: payload.len() as u32 }),
                }
            }
            Ok(())
        })();
        part.finish(&mut sh, &mut q);
        let queued = part.queued;
        drop(q);
        drop(sh);
        if queued {
            self.core.pipe.work_cv.notify_one();
        }
        result
    }

    /// Queues a new vote. Durable once a later flush fires; see
    /// [`save_vote`](Self::save_vote) for the blocking form.
    pub fn write_vote(&self, vote: &[u8]) -> Result<()> {
        check_len(vote.len())?;
        let g = self.group;
        self.write(Change::Vote(Bytes::copy_from_slice(vote)), |buf, at| format::encode_vote(buf, at, g, vote))
    }

    /// Saves a vote and returns once it (and everything before it) is
    /// durable. From a flush callback it fails with
    /// [`Error::FromCallback`] before writing anything.
    pub fn save_vote(&self, vote: &[u8]) -> Result<()> {
        self.refuse_on_flush_thread("save_vote")?;
        self.write_vote(vote)?;
        self.sync()
    }

    /// Queues a new committed marker (`None` clears it): a record in the
    /// same ordered stream, durable with the next flush. (Raft does not need
    /// it durable at once; a restarted node re-applies up to it.)
    pub fn save_committed(&self, committed: Option<&[u8]>) -> Result<()> {
        check_len(committed.map_or(0, <[u8]>::len))?;
        let g = self.group;
        self.write(Change::Committed(committed.map(Bytes::copy_from_slice)), |buf, at| {
            format::encode_opt_blob(buf, at, g, RecordKind::Committed, committed)
        })
    }

    /// Queues a new user metadata blob (`None` clears it). It is kept in
    /// every checkpoint and returned in [`LogState::user_meta`](crate::LogState::user_meta).
    pub fn save_user_meta(&self, meta: Option<&[u8]>) -> Result<()> {
        check_len(meta.map_or(0, <[u8]>::len))?;
        let g = self.group;
        self.write(Change::UserMeta(meta.map(Bytes::copy_from_slice)), |buf, at| {
            format::encode_opt_blob(buf, at, g, RecordKind::UserMeta, meta)
        })
    }

    /// Deletes every entry after `index` (`None`: every entry). Entries
    /// at or below the purge point cannot be truncated. A no-op when
    /// nothing lies after `index`.
    pub fn truncate_after(&self, index: Option<u64>) -> Result<()> {
        let g = self.group;
        let mut sh = self.core.shared.write();
        let Some(grp) = sh.groups.get(&g) else { return Ok(()) };
        apply::check(&grp.state, &Change::Truncate(index))?;
        let Some(last) = grp.state.last_index else { return Ok(()) };
        if index.is_some_and(|i| i >= last) {
            return Ok(());
        }
        let mut q = self.core.pipe.queue.lock();
        q.check()?;
        self.enqueue(&mut sh, &mut q, |buf, at| format::encode_truncate(buf, at, g, index))?;
        sh.forget(g, index.map_or(0, |i| i.saturating_add(1)), u64::MAX);
        sh.rewrites += 1;
        let Shared { groups, cache, .. } = &mut *sh;
        let Group { state, index: ix, .. } = groups.entry(g).or_default();
        apply::apply_checked(state, ix, Change::Truncate(index));
        cache.truncate_after(g, index);
        drop(q);
        drop(sh);
        self.core.pipe.work_cv.notify_one();
        Ok(())
    }

    /// Deletes every entry up to and including `index`, remembering `meta`
    /// (an opaque id of the purge point). Purging past the last entry is
    /// allowed: the log then continues at `index + 1`. A no-op unless
    /// `index` is above the current purge point. Chunk files whose entries
    /// are all purged are deleted by a background thread once the purge
    /// record is durable (appends never wait for the unlinks); dropping the
    /// last handle waits for those deletions.
    pub fn purge(&self, index: u64, meta: &[u8]) -> Result<()> {
        check_len(meta.len())?;
        let g = self.group;
        let mut sh = self.core.shared.write();
        if sh.groups.get(&g).and_then(|grp| grp.state.purged_index()).is_some_and(|p| p >= index) {
            return Ok(());
        }
        let mut q = self.core.pipe.queue.lock();
        q.check()?;
        self.enqueue(&mut sh, &mut q, |buf, at| format::encode_purge(buf, at, g, index, meta))?;
        sh.forget(g, 0, index);
        self.core.reclaim.wake();
        let Shared { groups, cache, .. } = &mut *sh;
        let Group { state, index: ix, .. } = groups.entry(g).or_default();
        apply::apply_checked(state, ix, Change::Purge { index, meta: Bytes::copy_from_slice(meta) });
        cache.purge_upto(g, index);
        let below = sh.oldest_live_chunk();
        q.delete_below_after_flush(below);
        drop(q);
        drop(sh);
        self.core.pipe.work_cv.notify_one();
        Ok(())
    }

    /// Removes this handle's group: a durable record (with the next
    /// flush) after which its entries are unreadable and its state is
    /// empty, and the chunks only its entries kept are deleted. The group
    /// no longer appears in [`groups`](Self::groups); writing to it again
    /// starts it afresh. A no-op if the group does not exist.
    pub fn remove_group(&self) -> Result<()> {
        let g = self.group;
        let mut sh = self.core.shared.write();
        if !sh.groups.contains_key(&g) {
            return Ok(());
        }
        let mut q = self.core.pipe.queue.lock();
        q.check()?;
        self.enqueue(&mut sh, &mut q, |buf, at| format::encode_group_removed(buf, at, g))?;
        sh.forget(g, 0, u64::MAX);
        sh.rewrites += 1;
        self.core.reclaim.wake();
        sh.groups.remove(&g);
        sh.cache.remove_group(g);
        let below = sh.oldest_live_chunk();
        q.delete_below_after_flush(below);
        drop(q);
        drop(sh);
        self.core.pipe.work_cv.notify_one();
        Ok(())
    }

    /// Registers `callback`, fired from the flush thread once everything
    /// submitted before this call is durable (or with the error that made
    /// that impossible). Callbacks fire in registration order, failures
    /// included; once the store has closed, a callback fires at once on the
    /// caller's thread with [`Error::Closed`] (or the poisoning error).
    ///
    /// A callback runs on the flush thread and holds up every later flush
    /// while it runs: keep it short (send on a channel, wake a task). It
    /// may append, write and read, and drop the last handle; a panic in it
    /// is caught and logged. Calls that would wait for the flush thread
    /// (`sync`, `save_vote`, an `append` into a full queue) fail in it
    /// with [`Error::FromCallback`].
    pub fn flush(&self, callback: Callback) {
        self.count_flush();
        let mut q = self.core.pipe.queue.lock();
        if q.stopped {
            let err = q.check().err().unwrap_or(Error::Closed);
            drop(q);
            fire(callback, Err(err));
            return;
        }
        q.callbacks.push(callback);
        drop(q);
        self.core.pipe.work_cv.notify_one();
    }

    /// Blocks until everything submitted before this call is durable.
    /// From a flush callback it fails with [`Error::FromCallback`].
    ///
    /// When no flush is running and no callback is waiting, the calling
    /// thread writes and syncs what is queued itself (one write and one
    /// `fdatasync`, no hand-off to the flush thread and back); otherwise
    /// it waits for the flush thread, which group-commits. Flush
    /// callbacks always fire on the flush thread, in order.
    pub fn sync(&self) -> Result<()> {
        self.refuse_on_flush_thread("sync")?;
        if let Some(r) = self.core.flusher.flush_inline() {
            self.count_flush();
            return r;
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.flush(Box::new(move |r| {
            let _ = tx.send(r);
        }));
        rx.recv().unwrap_or(Err(Error::Closed))
    }

    /// Whether the flush queue is below `flush_queue_max_bytes`, so that
    /// an [`append`](Self::append) would not wait for room.
    pub fn has_room(&self) -> bool {
        self.core.pipe.queue.lock().bytes < self.core.cfg.flush_queue_max_bytes
    }

    /// Fires `callback` once the flush queue is below its limit: at once
    /// on this thread if it is, otherwise from the flush thread when a
    /// flush makes room (with an error if the store is poisoned or closes
    /// first). An async caller awaits this instead of blocking in `append`.
    pub fn when_room(&self, callback: Callback) {
        let mut q = self.core.pipe.queue.lock();
        let now = match q.check() {
            Err(e) => Some(Err(e)),
            Ok(()) if q.bytes < self.core.cfg.flush_queue_max_bytes => Some(Ok(())),
            Ok(()) => None,
        };
        match now {
            Some(r) => {
                drop(q);
                fire(callback, r);
            }
            None => q.room_waiters.push(callback),
        }
    }

    /// Counts a wait for durability, for the per-group metrics only: a
    /// read of the state lock on every flush is a cost only users of
    /// those metrics pay.
    fn count_flush(&self) {
        #[cfg(feature = "metrics")]
        if let Some(g) = self.core.shared.read().groups.get(&self.group) {
            g.flushes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn refuse_on_flush_thread(&self, op: &'static str) -> Result<()> {
        if self.core.pipe.on_flush_thread() {
            return Err(Error::FromCallback { op });
        }
        Ok(())
    }

    /// Queues one non-entry record and applies it to the in-memory state.
    fn write(&self, change: Change, encode: impl FnOnce(&mut Vec<u8>, Stamp) -> usize) -> Result<()> {
        let mut sh = self.core.shared.write();
        if let Some(grp) = sh.groups.get(&self.group) {
            apply::check(&grp.state, &change)?;
        }
        let mut q = self.core.pipe.queue.lock();
        q.check()?;
        self.enqueue(&mut sh, &mut q, encode)?;
        let Group { state, index, .. } = sh.groups.entry(self.group).or_default();
        apply::apply_checked(state, index, change);
        drop(q);
        drop(sh);
        self.core.pipe.work_cv.notify_one();
        Ok(())
    }

    fn wait_for_room(&self) -> Result<()> {
        let mut q = self.core.pipe.queue.lock();
        while q.bytes >= self.core.cfg.flush_queue_max_bytes {
            q.check()?;
            if self.core.pipe.on_flush_thread() {
                return Err(Error::FromCallback { op: "append into a full queue" });
            }
            self.core.pipe.space_cv.wait(&mut q);
        }
        q.check()
    }

    /// Encodes one record into the open chunk's segment, rotating first if
    /// the chunk is full. Returns the record's `(offset, length)`.
    pub(super) fn enqueue(
        &self,
        sh: &mut Shared,
        q: &mut Queue,
        encode: impl FnOnce(&mut Vec<u8>, Stamp) -> usize,
    ) -> Result<(u32, u32)> {
        if self.must_rotate(sh) {
            self.rotate(sh, q)?;
        }
        Ok(encode_at_tail(sh, q, encode))
    }

    /// Whether the open chunk is full: the next record starts a new one. A
    /// format-1 chunk (a directory written by an older build) is sealed
    /// before anything new is written: new records go to a format-2 chunk.
    fn must_rotate(&self, sh: &Shared) -> bool {
        let cfg = &self.core.cfg;
        sh.tail.size >= cfg.chunk_max_size
            || sh.tail.records >= cfg.chunk_max_records
            || sh.tail.codec.version < format::FORMAT_VERSION
    }

    /// Seals the open chunk (footer) and starts the next one (header and
    /// checkpoint). The flush thread syncs the sealed chunk before it
    /// creates the next, and syncs the new file and the directory before
    /// acknowledging anything in it.
    fn rotate(&self, sh: &mut Shared, q: &mut Queue) -> Result<()> {
        let last = sh.tail.id;
        let id = last.checked_add(1).ok_or(Error::OutOfRange { what: "chunk id", value: last, max: u64::MAX - 1 })?;
        // The copies into this chunk by group, once: not a scan of every
        // copy for each of (possibly) thousands of groups.
        let mut copied: std::collections::HashMap<u64, Vec<(u64, u64)>> = std::collections::HashMap::new();
        for &(g, lo, hi) in &sh.copied {
            copied.entry(g).or_default().push((lo, hi));
        }
        let groups = sh
            .groups
            .iter()
            .map(|(&group, g)| {
                let copied = copied.get(&group).map_or(&[][..], Vec::as_slice);
                let runs = g.index.runs_in_chunk(last, copied);
                let runs = runs.into_iter().map(|(first, slots)| format::Run::new(first, slots)).collect();
                format::GroupFooter { group, state: g.state.clone(), runs }
            })
            .collect();
        let footer = format::Footer { records: sh.tail.records, groups };
        let stamp = Stamp { codec: sh.tail.codec, seq: q.flush_seq };
        let seg = open_segment(sh, q);
        let at = seg.end();
        let n = format::encode_footer(&mut seg.open, stamp, at, &footer);
        seg.seal = true;
        q.bytes += n;

        sh.copied.clear();
        let codec = Codec::v2(format::new_salt(0));
        let stamp = Stamp { codec, seq: q.flush_seq };
        let mut bytes = format::encode_header(id, &self.core.cfg.tag, codec).to_vec();
        format::encode_checkpoint(&mut bytes, stamp, sh.groups.iter().map(|(&g, grp)| (g, &grp.state)));
        sh.tail = Tail { id, size: bytes.len() as u64, records: 1, codec };
        self.core.reclaim.wake();
        q.bytes += bytes.len();
        q.segments.push(Segment::create(id, codec, bytes));
        Ok(())
    }
}

/// Encodes one record at the end of the open chunk (which must have room).
/// Returns the record's `(offset, length)`.
fn encode_at_tail(sh: &mut Shared, q: &mut Queue, encode: impl FnOnce(&mut Vec<u8>, Stamp) -> usize) -> (u32, u32) {
    let at = Stamp { codec: sh.tail.codec, seq: q.flush_seq };
    let seg = open_segment(sh, q);
    let offset = seg.end();
    let len = encode(&mut seg.open, at);
    sh.tail.size += len as u64;
    sh.tail.records += 1;
    q.bytes += len;
    (offset as u32, len as u32)
}

/// The open chunk's growing segment, created if the queue has none.
fn open_segment<'q>(sh: &Shared, q: &'q mut Queue) -> &'q mut Segment {
    let reuse = q.segments.last().is_some_and(|s| s.chunk == sh.tail.id && !s.seal);
    if !reuse {
        q.segments.push(Segment::new(sh.tail.id, sh.tail.codec, sh.tail.size));
    }
    q.segments.last_mut().expect("a segment was just ensured")
}

/// Largest part an append encodes its frames into before it starts
/// another. A part of one group's entries lives until every cached entry
/// in it is dropped: each group in the cache keeps at most two such parts
/// partly alive (where eviction or a purge reached, where a truncation
/// cut), each at most this plus one frame.
const PART_MAX_BYTES: usize = 64 << 10;

/// A run of one group's entries (in one append call) with fewer frame
/// bytes than this shares a part with other groups' small runs, and the
/// cache copies its payloads: a slice would keep the others' frames
/// alive. A longer run gets parts of its own, and the cache keeps slices
/// of them, so its payloads are copied once, into the frames.
const SMALL_RUN_BYTES: usize = 1 << 10;

/// The part an append call encodes its frames into.
#[derive(Default)]
struct Part {
    /// The group of the last entry encoded; `None` before the first.
    group: Option<u64>,
    /// Small runs of any groups (the cache copies their payloads), or
    /// one group's run (the cache keeps slices of the part).
    mixed: bool,
    bytes: usize,
    /// A one-group part's entries, cached once the part is frozen.
    slices: Vec<Cached>,
    /// Something was queued (the flush thread must be woken).
    queued: bool,
}

struct Cached {
    index: u64,
    offset: u32,
    len: u32,
    payload_len: u32,
}

impl Part {
    /// Freezes the part and caches its one group's payloads as slices of
    /// it.
    fn finish(&mut self, sh: &mut Shared, q: &mut Queue) {
        let group = self.group.take();
        let bytes = std::mem::take(&mut self.bytes);
        if bytes == 0 {
            return;
        }
        self.queued = true;
        // The part's entries are live frames of the open chunk.
        sh.add_live_bytes(sh.tail.id, bytes as u64);
        if self.mixed {
            // The cache copied these payloads: the buffer stays open for
            // the next small runs (the flush freezes it).
            return;
        }
        // The part is the open bytes of the open chunk's segment (a
        // rotation finishes the part first).
        let Some((at, part)) = q.segments.last_mut().and_then(|s| s.freeze()).cloned() else { return };
        let Some(g) = group else { return };
        for e in self.slices.drain(..) {
            let end = (u64::from(e.offset) - at) as usize + e.len as usize - format::FRAME_CRC_LEN;
            sh.cache.insert(g, e.index, part.slice(end - e.payload_len as usize..end));
        }
    }
}

/// Frame bytes of the first entries of `next`, up to [`PART_MAX_BYTES`]
/// (one frame past it at most): of the first entry's group's run only,
/// or (`one_group` false) of any groups.
fn run_bytes<B: AsRef<[u8]>>(codec: Codec, next: &[(u64, u64, B)], one_group: bool) -> usize {
    let Some(&(g, _, _)) = next.first() else { return 0 };
    let mut n = 0;
    for (eg, _, p) in next {
        if (one_group && *eg != g) || n >= PART_MAX_BYTES {
            break;
        }
        n += format::entry_frame_len(codec, *eg, p.as_ref().len());
    }
    n
}

fn check_len(len: usize) -> Result<()> {
    if len > format::MAX_PAYLOAD_LEN {
        return Err(Error::TooLarge { len: len as u64, max: format::MAX_PAYLOAD_LEN as u64 });
    }
    Ok(())
}
