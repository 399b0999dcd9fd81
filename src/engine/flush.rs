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

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::pipe::{Callback, Pipe, Segment, clone_err, fire};
use super::purge::{PurgeCtx, Purger};
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

/// The flush thread's body. `tail` is the open chunk's file; `lock` is the
/// directory lock, released when the thread is done.
pub(crate) fn run(ctx: FlushCtx, mut tail: TailFile, lock: DirLock) {
    let guard = DeathGuard(&ctx);
    let purger = Purger::start(PurgeCtx {
        dir: ctx.dir.clone(),
        vfs: ctx.vfs.clone(),
        table: ctx.table.clone(),
        stats: ctx.stats.clone(),
    });
    loop {
        let Some(batch) = take(&ctx) else {
            trim(&ctx, &tail);
            break;
        };
        match write_and_sync(&ctx, &mut tail, &batch.segments) {
            Ok(created) => {
                let room = publish(&ctx, &batch, &created);
                // Handed over before the callbacks fire, so a caller that
                // was acknowledged sees the deletion in `purges_pending`.
                if let Some(below) = batch.purge_below {
                    purger.delete_below(below.min(tail.id));
                }
                if let Some(r) = &ctx.reclaim
                    && (!created.is_empty() || batch.purge_below.is_some())
                {
                    r.wake();
                }
                for cb in batch.callbacks.into_iter().chain(room) {
                    fire(cb, Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "chunklog flush failed; the store is poisoned and must be reopened");
                let mut first = Some(e);
                let poisoned = ctx.pipe.poison(first.as_ref().expect("just set"));
                // The batch's callbacks first, with the error itself; then
                // every later one, in registration order, from this thread.
                for cb in batch.callbacks {
                    fire(cb, Err(first.take().unwrap_or_else(|| poisoned.error())));
                }
                drain_poisoned(&ctx);
                break;
            }
        }
    }
    purger.finish();
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

/// Waits for work and takes all of it. `None` once shut down and drained.
fn take(ctx: &FlushCtx) -> Option<Batch> {
    let mut q = ctx.pipe.queue.lock();
    while !q.has_work() {
        if q.shutdown {
            return None;
        }
        ctx.pipe.work_cv.wait(&mut q);
    }
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
    let bytes = segments.iter().map(|s| s.len()).sum();
    Some(Batch { segments, callbacks: std::mem::take(&mut q.callbacks), purge_below: q.purge_below.take(), bytes })
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
            let p = path(seg.chunk);
            let f = ctx.vfs.create_new(&p).map_err(|e| Error::io("create", &p, e))?;
            let head = seg.head();
            f.write_all_at(head, 0).map_err(|e| Error::io("write", &p, e))?;
            f.sync_data().map_err(|e| Error::io("fdatasync", &p, e))?;
            ctx.vfs.sync_dir(dir).map_err(|e| Error::io("fsync directory", dir, e))?;
            ctx.stats.bytes_written.fetch_add(head.len() as u64, Ordering::Relaxed);
            ctx.stats.fsyncs.fetch_add(2, Ordering::Relaxed);
            body = seg.body(seg.head_len);
            at = seg.head_len as u64;
            let head_len = seg.head_len as u64;
            *tail = TailFile { id: seg.chunk, file: f, written: head_len, allocated: head_len };
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
            if let Err(e) = tail.file.allocate(from, want - from) {
                tracing::debug!(chunk = %path(seg.chunk).display(), error = %e, "preallocation failed");
            }
            tail.allocated = want;
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
