//! The background flush thread.
//!
//! Appenders encode records into [`Segment`]s on their own thread; the one
//! flush thread takes everything queued at once, writes each segment with
//! one positional (vectored) write, makes it durable with one `fdatasync` (plus the
//! directory when a chunk was created), and only then fires the callbacks
//! of everything that sync covered, in submission order. There is no
//! timer: an idle queue is synced at once, and whatever arrives during an
//! fsync goes into the next one (group commit).
//!
//! A failed write or sync is never retried: the store turns poisoned and
//! every pending and later callback gets [`Error::Poisoned`], in
//! registration order, from this thread.
//!
//! Callbacks are user code running on this thread: each runs under
//! `catch_unwind`, so a panicking callback is logged and the thread goes
//! on; if the thread itself dies, a guard poisons the store and fails
//! every waiter, so nothing waits for ever. A callback may append, write
//! and read, and may drop the last handle (the thread then shuts down on
//! its own); calls that would wait for this thread (`sync`, `save_vote`,
//! an `append` into a full queue) fail with [`Error::FromCallback`].
//!
//! At shutdown the thread flushes what is queued, gives back the open
//! chunk's preallocated space, waits for the purge thread, and only then
//! releases the directory lock it owns.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::pipe::{Callback, Pipe, Queue, Segment, clone_err, fire};
use super::purge::{PurgeCtx, Purger};
use super::recycle::Pool;
use super::stats::Counters;
use super::table::ChunkTable;
use crate::chunk;
use crate::error::{Error, Result};
use crate::vfs::{DirLock, Vfs, VfsFile};

/// What the flush thread works with: the pipe it drains, the chunk table
/// it publishes to, the files it writes. Nothing else of the engine.
pub(crate) struct FlushCtx {
    pub dir: PathBuf,
    pub vfs: Arc<dyn Vfs>,
    pub pipe: Arc<Pipe>,
    pub table: Arc<ChunkTable>,
    pub stats: Arc<Counters>,
    /// The open chunk is preallocated at most this far (`chunk_max_size`).
    pub chunk_max_size: u64,
    /// The queue's byte limit (`flush_queue_max_bytes`): room waiters fire
    /// once it is below.
    pub queue_max_bytes: usize,
    /// Woken once a flush made a new chunk durable or requested deletions,
    /// so space reclamation judges the sizes on disk, not those before the
    /// flush (`None`: reclamation is off).
    pub reclaim: Option<Arc<super::reclaim::Signal>>,
    /// Purged chunk files to reuse as new chunks.
    pub pool: Arc<Pool>,
}

struct Batch {
    segments: Vec<Arc<Segment>>,
    callbacks: Vec<Callback>,
    purge_below: Option<u64>,
    bytes: usize,
}

/// The open chunk as the flush thread writes it.
pub(crate) struct TailFile {
    pub id: u64,
    pub file: Arc<dyn VfsFile>,
    /// Bytes written so far (the end of the data).
    pub written: u64,
    /// The file's length: data plus zero-filled preallocated space.
    pub allocated: u64,
}

/// Zero-filled space kept ahead of the open chunk's data, so a small
/// write + `fdatasync` need not grow the file (and journal its new size):
/// measured here, 8,700 syncs/s on a growing file and 12,100/s with
/// preallocation. Trimmed when the chunk is sealed or the store closes.
const PREALLOCATE_BYTES: u64 = 2 << 20;

/// Poisons the store and fails every waiter if the flush thread unwinds
/// (a bug, or a panic outside a callback): waiters never hang on a dead
/// thread.
struct DeathGuard<'a>(&'a FlushCtx);

impl Drop for DeathGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let e = Error::Io {
                op: "flush",
                path: self.0.dir.clone(),
                source: std::io::Error::other("the flush thread panicked"),
            };
            self.0.pipe.poison(&e);
            self.0.pipe.stop();
        }
    }
}

/// The flush thread's writable state: the open chunk's file and the purge
/// thread. Whoever holds it writes the next batch: the flush thread, or a
/// writer flushing inline ([`Flusher::flush_inline`]). Batches are taken
/// from the queue only under it, so they reach the disk in order.
struct FlushState {
    tail: TailFile,
    purger: Option<Purger>,
}

/// The flushing side of a store, shared by the flush thread and the
/// writers that flush inline.
pub(crate) struct Flusher {
    pub ctx: FlushCtx,
    state: Mutex<FlushState>,
}

impl Flusher {
    /// The flusher of the open chunk `tail`; starts the purge thread.
    pub fn new(ctx: FlushCtx, tail: TailFile) -> Self {
        let purger = Purger::start(PurgeCtx {
            dir: ctx.dir.clone(),
            vfs: ctx.vfs.clone(),
            table: ctx.table.clone(),
            stats: ctx.stats.clone(),
            pool: ctx.pool.clone(),
        });
        Flusher { ctx, state: Mutex::new(FlushState { tail, purger: Some(purger) }) }
    }

    /// Makes everything queued durable on the calling thread, when no
    /// flush is running (raft-engine's and RocksDB's write-group leader):
    /// a lone writer's sync then costs one write and one `fdatasync`,
    /// without the hand-off to the flush thread and back. `None` when a
    /// flush is running (writers syncing at once then group-commit through
    /// the flush thread, as callbacks do: measured here, 4 writers queueing
    /// on the flush state instead reached half the throughput), when
    /// callbacks are waiting, or the store is closing or poisoned: wait
    /// for the flush thread instead.
    ///
    /// Never fires a callback: callbacks run on the flush thread, in
    /// registration order. Those queued now stay queued (what they cover
    /// is made durable here; the flush thread fires them with its next
    /// flush), and room waiters a flush here released are handed back to
    /// it.
    pub fn flush_inline(&self) -> Option<Result<()>> {
        let ctx = &self.ctx;
        let mut st = self.state.try_lock()?;
        let batch = {
            let mut q = ctx.pipe.queue.lock();
            // Callbacks registered before this sync fire before it returns,
            // as when it waits for the flush thread.
            let callbacks = !q.callbacks.is_empty() || q.unfired > 0;
            if callbacks || q.poisoned.is_some() || q.shutdown || q.stopped {
                return None;
            }
            // The flush thread, woken by the appends, waits for this flush
            // on the queue's condition variable, not on the flush state's
            // mutex, whose release would then cost this writer a wake-up.
            q.leader = true;
            take_now(&mut q, false)
        };
        let r = complete(ctx, &mut st, &batch);
        drop(st);
        let mut q = ctx.pipe.queue.lock();
        q.leader = false;
        let r = match r {
            Ok(room) => {
                if !room.is_empty() {
                    // Released by this flush: the flush thread fires them.
                    q.room_waiters.splice(0..0, room);
                    q.room_check = true;
                }
                if !batch.segments.is_empty() {
                    ctx.stats.inline_flushes.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }
            // Poisoned already (under the flush state): the flush thread
            // fails every callback.
            Err(e) => Err(e),
        };
        if q.has_work() || q.shutdown {
            drop(q);
            ctx.pipe.work_cv.notify_one();
        }
        Some(r)
    }
}

/// The flush thread's body. `lock` is the directory lock, released when
/// the thread is done.
pub(crate) fn run(flusher: Arc<Flusher>, lock: DirLock) {
    let ctx = &flusher.ctx;
    let guard = DeathGuard(ctx);
    loop {
        if !wait_for_work(ctx) {
            trim(ctx, &flusher.state.lock().tail);
            break;
        }
        let mut st = flusher.state.lock();
        if ctx.pipe.poisoned.load(Ordering::Acquire) {
            // An inline flush failed.
            drop(st);
            drain_poisoned(ctx);
            break;
        }
        let batch = take_now(&mut ctx.pipe.queue.lock(), true);
        let n = batch.callbacks.len();
        match complete(ctx, &mut st, &batch) {
            Ok(room) => {
                drop(st);
                for cb in batch.callbacks.into_iter().chain(room) {
                    fire(cb, Ok(()));
                }
                ctx.pipe.queue.lock().unfired -= n;
            }
            Err(e) => {
                drop(st);
                let mut first = Some(e);
                let poisoned = ctx.pipe.poison(first.as_ref().expect("just set"));
                // The batch's callbacks first, with the error itself; then
                // every later one, in registration order, from this thread.
                for cb in batch.callbacks {
                    fire(cb, Err(first.take().unwrap_or_else(|| poisoned.error())));
                }
                drain_poisoned(ctx);
                break;
            }
        }
    }
    if let Some(p) = flusher.state.lock().purger.take() {
        p.finish();
    }
    ctx.pipe.stop();
    drop(guard);
    drop(lock);
    super::dirlock::released(&ctx.dir);
    let (result, waiters) = {
        let mut q = ctx.pipe.queue.lock();
        (q.close_result(), std::mem::take(&mut q.closed_waiters))
    };
    for cb in waiters {
        fire(cb, result.as_ref().map(|_| ()).map_err(clone_err));
    }
}

/// Writes and syncs a batch, publishes it to readers and hands the
/// deletions it made durable to the purge thread. Returns the room
/// waiters to fire. A failure (or a panic, a bug) poisons the store before
/// the flush state is released: whoever takes it next must not find the
/// queue empty and take that for "durable".
fn complete(ctx: &FlushCtx, st: &mut FlushState, batch: &Batch) -> Result<Vec<Callback>> {
    let r = catch_unwind(AssertUnwindSafe(|| complete_unguarded(ctx, st, batch))).unwrap_or_else(|_| {
        Err(Error::Io { op: "flush", path: ctx.dir.clone(), source: std::io::Error::other("the flush panicked") })
    });
    if let Err(e) = &r {
        tracing::error!(error = %e, "chunklog flush failed; the store is poisoned and must be reopened");
        ctx.pipe.poison(e);
    }
    r
}

fn complete_unguarded(ctx: &FlushCtx, st: &mut FlushState, batch: &Batch) -> Result<Vec<Callback>> {
    let created = write_and_sync(ctx, &mut st.tail, &batch.segments)?;
    let room = publish(ctx, batch, &created);
    // Handed over before the callbacks fire, so a caller that was
    // acknowledged sees the deletion in `purges_pending`.
    if let (Some(below), Some(p)) = (batch.purge_below, &st.purger) {
        p.delete_below(below.min(st.tail.id));
    }
    if let Some(r) = &ctx.reclaim
        && (!created.is_empty() || batch.purge_below.is_some())
    {
        r.wake();
    }
    Ok(room)
}

/// At a clean shutdown, gives back the open chunk's preallocated space, so
/// a closed store's newest chunk ends with its last record.
fn trim(ctx: &FlushCtx, tail: &TailFile) {
    if tail.allocated > tail.written {
        let path = chunk::chunk_path(&ctx.dir, tail.id);
        let r = tail.file.set_len(tail.written).and_then(|()| tail.file.sync_data());
        if let Err(e) = r {
            tracing::warn!(chunk = %path.display(), error = %e, "could not trim preallocated space");
        }
    }
}

/// Waits until there is work (or the store is poisoned). `false` once
/// shut down with nothing left to do.
fn wait_for_work(ctx: &FlushCtx) -> bool {
    let mut q = ctx.pipe.queue.lock();
    // While a writer flushes inline, wait for it to say it is done.
    while q.leader || !q.has_work() {
        if !q.leader && q.shutdown {
            return false;
        }
        ctx.pipe.work_cv.wait(&mut q);
    }
    true
}

/// Takes everything queued (possibly nothing: an inline flush took it),
/// the callbacks too if `callbacks`. Called under the flush state's lock.
fn take_now(q: &mut Queue, callbacks: bool) -> Batch {
    let segments: Vec<Arc<Segment>> = q
        .segments
        .drain(..)
        .map(|mut s| {
            s.freeze();
            Arc::new(s)
        })
        .collect();
    if !segments.is_empty() {
        q.flush_seq = q.flush_seq.wrapping_add(1);
    }
    q.inflight.extend(segments.iter().cloned());
    q.room_check = false;
    let bytes = segments.iter().map(|s| s.len()).sum();
    let callbacks = if callbacks { std::mem::take(&mut q.callbacks) } else { Vec::new() };
    q.unfired += callbacks.len();
    Batch { segments, callbacks, purge_below: q.purge_below.take(), bytes }
}

/// After poisoning: fail every callback that still arrives, in order,
/// until shutdown.
fn drain_poisoned(ctx: &FlushCtx) {
    loop {
        let mut q = ctx.pipe.queue.lock();
        let cbs = std::mem::take(&mut q.callbacks);
        q.segments.clear();
        if cbs.is_empty() {
            if q.shutdown {
                return;
            }
            ctx.pipe.work_cv.wait(&mut q);
            continue;
        }
        let err = q.failure();
        drop(q);
        for cb in cbs {
            fire(cb, Err(clone_err(&err)));
        }
    }
}

/// Writes the segments in order with one positional write each and syncs
/// every file written: a sealed chunk before the next one is created, a new
/// chunk's header and checkpoint (and the directory) before its records.
/// Returns the ids of the created chunks.
fn write_and_sync(ctx: &FlushCtx, tail: &mut TailFile, segments: &[Arc<Segment>]) -> Result<Vec<u64>> {
    let dir = &ctx.dir;
    let path = |id: u64| -> PathBuf { chunk::chunk_path(dir, id) };
    let mut created = Vec::new();
    let mut dirty = false;
    for seg in segments {
        let mut body = seg.body(0);
        let mut at = seg.start;
        if seg.create {
            let head = seg.head();
            let (f, allocated) = create_chunk(ctx, seg.chunk, seg.codec, head)?;
            ctx.stats.bytes_written.fetch_add(head.len() as u64, Ordering::Relaxed);
            ctx.stats.fsyncs.fetch_add(2, Ordering::Relaxed);
            body = seg.body(seg.head_len);
            at = seg.head_len as u64;
            let head_len = seg.head_len as u64;
            *tail = TailFile { id: seg.chunk, file: f, written: head_len, allocated: allocated.max(head_len) };
            created.push(seg.chunk);
            if body.is_empty() {
                continue;
            }
        } else if seg.chunk != tail.id {
            return Err(Error::io(
                "write",
                path(seg.chunk),
                std::io::Error::other(format!(
                    "internal: segment for chunk {} while chunk {} is open",
                    seg.chunk, tail.id
                )),
            ));
        }
        let end = at + body.len() as u64;
        if !seg.seal && end > tail.allocated.saturating_sub(PREALLOCATE_BYTES / 4) {
            let step = PREALLOCATE_BYTES.min(ctx.chunk_max_size);
            let want = end + step;
            let from = tail.allocated.max(at);
            // Preallocation is an optimisation: if it fails (a full disk, a
            // file size limit), the write below reports the real problem.
            // (A recycled file may be longer already.)
            if want > from
                && let Err(e) = tail.file.allocate(from, want - from)
            {
                tracing::debug!(chunk = %path(seg.chunk).display(), error = %e, "preallocation failed");
            }
            tail.allocated = tail.allocated.max(want);
        }
        tail.file.write_all_vectored_at(&body.slices, at).map_err(|e| Error::io("write", path(seg.chunk), e))?;
        tail.written = end;
        tail.allocated = tail.allocated.max(end);
        ctx.stats.bytes_written.fetch_add(body.len() as u64, Ordering::Relaxed);
        dirty = true;
        if seg.seal {
            // A sealed chunk ends with its trailer: give back the rest.
            if tail.allocated > end {
                tail.file.set_len(end).map_err(|e| Error::io("truncate", path(seg.chunk), e))?;
                tail.allocated = end;
            }
            tail.file.sync_data().map_err(|e| Error::io("fdatasync", path(seg.chunk), e))?;
            ctx.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
            dirty = false;
        }
    }
    if dirty {
        tail.file.sync_data().map_err(|e| Error::io("fdatasync", path(tail.id), e))?;
        ctx.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
    }
    Ok(created)
}

/// Creates chunk `id` durable with its `head` (header and checkpoint):
/// in a recycled file when the pool has one, else in a new file. Returns
/// the file and its length (a recycled file's old bytes stay after the
/// head until written over). The head is synced before the file gets its
/// chunk name, and the name before anything after the head is written.
fn create_chunk(ctx: &FlushCtx, id: u64, codec: crate::format::Codec, head: &[u8]) -> Result<(Arc<dyn VfsFile>, u64)> {
    let p = chunk::chunk_path(&ctx.dir, id);
    if let Some(free) = ctx.pool.take(codec.salt) {
        let from = ctx.pool.path(free.id);
        match ctx.vfs.open(&from) {
            Ok(f) => {
                // The header says the file is recycled: recovery then
                // reads bytes after the last record as the earlier life's.
                let mut head = head.to_vec();
                crate::format::set_recycled(&mut head);
                f.write_all_at(&head, 0).map_err(|e| Error::io("write", &from, e))?;
                f.sync_data().map_err(|e| Error::io("fdatasync", &from, e))?;
                ctx.vfs.rename(&from, &p).map_err(|e| Error::io("rename", &from, e))?;
                sync_dir(ctx)?;
                ctx.stats.recycled.fetch_add(1, Ordering::Relaxed);
                let len = f.size().unwrap_or(free.len);
                return Ok((f, len));
            }
            Err(e) => tracing::warn!(file = %from.display(), error = %e, "could not reuse a recycled chunk file"),
        }
    }
    let f = ctx.vfs.create_new(&p).map_err(|e| Error::io("create", &p, e))?;
    f.write_all_at(head, 0).map_err(|e| Error::io("write", &p, e))?;
    f.sync_data().map_err(|e| Error::io("fdatasync", &p, e))?;
    sync_dir(ctx)?;
    Ok((f, head.len() as u64))
}

/// Syncs the directory; the purged chunks renamed for reuse before it
/// started are then ready to be reused.
fn sync_dir(ctx: &FlushCtx) -> Result<()> {
    let renamed = ctx.pool.pending();
    ctx.vfs.sync_dir(&ctx.dir).map_err(|e| Error::io("fsync directory", &ctx.dir, e))?;
    ctx.pool.dir_synced(renamed);
    Ok(())
}

/// Makes the flushed bytes visible to positional reads (chunk table
/// first), then drops them from memory. Returns the room waiters to fire,
/// once the queue is below its limit. Never holds two locks at once.
fn publish(ctx: &FlushCtx, batch: &Batch, created: &[u64]) -> Vec<Callback> {
    ctx.table.publish(&batch.segments, created);
    let mut q = ctx.pipe.queue.lock();
    q.inflight.clear();
    q.bytes -= batch.bytes;
    ctx.pipe.space_cv.notify_all();
    if q.bytes < ctx.queue_max_bytes { std::mem::take(&mut q.room_waiters) } else { Vec::new() }
}
