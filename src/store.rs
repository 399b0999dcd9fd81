//! The engine: [`ChunkLog`] ties the index, the cache, the flush thread and
//! the chunk files together. It knows indexes and bytes only.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, ThreadId};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::cache::Cache;
use crate::chunk::{self, ChunkInfo};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::flush::{self, Callback, Queue, Segment};
use crate::format::{self, RecordKind};
use crate::handles::Handles;
use crate::index::{Index, Slot};
use crate::io::{StdVfs, Vfs, VfsFile};
use crate::recovery::{self, Tail};
use crate::state::LogState;

/// Disk reads of consecutive entries are merged up to this many bytes.
const MAX_MERGED_READ: u64 = 1 << 20;

/// A read holds the files of at most this many chunks at once (a long
/// range is read in passes), so readers cannot exhaust file descriptors.
const CHUNKS_PER_READ_PASS: usize = 4;

/// Everything the handles and the flush thread share.
pub(crate) struct Core {
    pub cfg: Config,
    pub vfs: Arc<dyn Vfs>,
    pub shared: RwLock<Shared>,
    pub queue: Mutex<Queue>,
    /// The flush thread waits here for work.
    pub work_cv: Condvar,
    /// Appenders wait here for room in the queue.
    pub space_cv: Condvar,
    pub stats: Counters,
    /// Read handles of the chunk files, bounded by `open_chunks_max`.
    pub handles: Handles,
    /// Set once a flush failed: reads of what never reached the disk fail.
    pub poisoned: AtomicBool,
    /// Set once the flush thread has stopped: every call fails with `Closed`.
    pub closed: AtomicBool,
    /// The flush thread, whose callbacks must not wait for it.
    pub flush_thread: OnceLock<ThreadId>,
}

/// State guarded by the reader-writer lock. Lock order: `shared`, then `queue`.
pub(crate) struct Shared {
    pub state: LogState,
    pub index: Index,
    pub cache: Cache,
    /// Chunk files on disk (created and flushed at least once).
    pub chunks: BTreeMap<u64, ChunkInfo>,
    /// The chunk appends go to, counting queued bytes.
    pub tail: Tail,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub fsyncs: AtomicU64,
    pub bytes_written: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub disk_reads: AtomicU64,
    /// Purges whose chunk deletions are handed to the purge thread and not done.
    pub purges_pending: AtomicU64,
    pub preallocated_bytes_trimmed: AtomicU64,
    pub torn_bytes_cut: AtomicU64,
}

/// Counters and sizes a user would want to watch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Chunk files on disk.
    pub chunks: usize,
    /// Bytes of chunk files on disk (flushed bytes).
    pub disk_bytes: u64,
    /// Entries stored (between the purge point and the last index).
    pub entries: u64,
    /// First readable index.
    pub first_index: Option<u64>,
    /// Last index.
    pub last_index: Option<u64>,
    /// Entries in the payload cache.
    pub cache_entries: usize,
    /// Payload bytes in the cache.
    pub cache_bytes: usize,
    /// Reads served from the cache since open.
    pub cache_hits: u64,
    /// Reads that missed the cache since open.
    pub cache_misses: u64,
    /// Positional reads issued since open (merged reads count once).
    pub disk_reads: u64,
    /// `fdatasync` calls (files and directory) since open.
    pub fsyncs: u64,
    /// Bytes written to chunk files since open.
    pub bytes_written: u64,
    /// Heap bytes held by the in-memory index.
    pub index_bytes: usize,
    /// Encoded bytes queued for or being written by the flush thread.
    pub queued_bytes: usize,
    /// Durable purges whose chunk files the background thread has not
    /// finished deleting.
    pub purges_pending: u64,
    /// Chunk files open for reads (at most `open_chunks_max`).
    pub open_chunk_files: usize,
    /// Zero bytes of preallocated space after the last record that open
    /// gave back (left by an unclean stop; not damage).
    pub preallocated_bytes_trimmed: u64,
    /// Bytes of a torn last record that open cut (an unclean stop in the
    /// middle of a write that was never acknowledged).
    pub torn_bytes_cut: u64,
}

/// Stops the flush thread when the last owning handle goes away, and
/// waits for it unless that would block where it must not.
struct Worker {
    core: Arc<Core>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Shut down without waiting ([`ChunkLog::close_in_background`]).
    detach: AtomicBool,
}

impl Drop for Worker {
    fn drop(&mut self) {
        crate::dirlock::closing(&self.core.cfg.dir);
        self.core.queue.lock().shutdown = true;
        self.core.work_cv.notify_all();
        self.core.space_cv.notify_all();
        let Some(t) = self.thread.lock().take() else { return };
        // A flush callback dropped the last handle: the thread cannot wait
        // for itself; it finishes and releases the lock on its own.
        if self.on_flush_thread() || self.detach.load(Ordering::Relaxed) {
            return;
        }
        if t.join().is_err() {
            tracing::error!("chunklog flush thread panicked");
        }
    }
}

impl Worker {
    fn on_flush_thread(&self) -> bool {
        self.core.flush_thread.get() == Some(&std::thread::current().id())
    }
}

/// A chunked, CRC-checked, crash-safe log of opaque entries.
///
/// - Writes (`append`, `write_vote`, `truncate_after`, `purge`, ...) are
///   queued in order and visible to reads as soon as the call returns.
///   They become durable in that same order; [`flush`](Self::flush)
///   registers a callback fired once everything submitted before it is
///   durable, and [`sync`](Self::sync) blocks for the same.
/// - Reads take `&self`; a `ChunkLog` is `Send + Sync` and cheap to clone
///   (clones share one store). Any number of threads read at once.
/// - The store stays open (its directory locked, its flush thread
///   running) until every owning clone is dropped or
///   [`close`](Self::close)d. Dropping the last one waits for the final
///   fsync and for pending purge deletions (see
///   [`close_in_background`](Self::close_in_background) for a drop that
///   does not wait). A [`non_owning`](Self::non_owning) handle does not
///   keep the store open.
///
/// ```
/// use chunklog::{ChunkLog, Config};
/// # fn main() -> Result<(), chunklog::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let log = ChunkLog::open(Config::new(dir.path()))?;
/// log.append([(1, b"one".as_slice()), (2, b"two".as_slice())])?;
/// log.save_vote(b"term 1, voted for node 2")?; // durable, with the entries before it
/// assert_eq!(log.get(2)?.unwrap().as_ref(), b"two");
/// log.close()?;
///
/// let log = ChunkLog::open(Config::new(dir.path()))?;
/// assert_eq!(log.state().last_index, Some(2));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ChunkLog {
    core: Arc<Core>,
    /// Stops the flush thread when the last owning clone drops; `None` for
    /// a non-owning handle.
    worker: Option<Arc<Worker>>,
}

impl std::fmt::Debug for ChunkLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkLog").field("dir", &self.core.cfg.dir).finish_non_exhaustive()
    }
}

impl ChunkLog {
    /// Opens (or creates) the log in `config.dir`: takes the directory
    /// lock, replays the chunks, repairs a torn tail of the newest chunk,
    /// and refuses with [`Error::Corruption`] anything else that is damaged.
    pub fn open(config: Config) -> Result<Self> {
        Self::open_with_vfs(config, Arc::new(StdVfs))
    }

    /// [`open`](Self::open) with another file-system layer (fault
    /// injection, crash simulation).
    pub fn open_with_vfs(config: Config, vfs: Arc<dyn Vfs>) -> Result<Self> {
        config.validate()?;
        let dir = config.dir.clone();
        create_dir(&*vfs, &dir)?;
        let lock = crate::dirlock::lock(&*vfs, &dir)?;

        let mut rec = recovery::recover(&*vfs, &config)?;
        recovery::apply_repairs(&*vfs, &dir, &rec.repairs, false)?;
        // What was recovered may be in the page cache only (a process
        // crash keeps unsynced writes readable): make it durable before it
        // is reported, built on, or a file is created or deleted.
        make_durable(&*vfs, &dir, &rec.chunks)?;

        let (tail, tail_file) = match rec.tail {
            Some(t) => {
                let path = chunk::chunk_path(&dir, t.id);
                (t, vfs.open(&path).map_err(|e| Error::io("open", &path, e))?)
            }
            None => {
                // No open chunk: start one now, durable before open returns.
                let last = rec.chunks.keys().next_back().copied().unwrap_or(0);
                let id = last.checked_add(1).ok_or(Error::OutOfRange {
                    what: "chunk id",
                    value: last,
                    max: u64::MAX - 1,
                })?;
                let mut bytes = format::encode_header(id, &config.tag).to_vec();
                format::encode_checkpoint(&mut bytes, &rec.state);
                let path = chunk::chunk_path(&dir, id);
                let file = vfs.create_new(&path).map_err(|e| Error::io("create", &path, e))?;
                file.write_all_at(&bytes, 0).map_err(|e| Error::io("write", &path, e))?;
                file.sync_data().map_err(|e| Error::io("fdatasync", &path, e))?;
                vfs.sync_dir(&dir).map_err(|e| Error::io("fsync directory", &dir, e))?;
                let size = bytes.len() as u64;
                rec.chunks.insert(id, ChunkInfo { size, sealed: false });
                (Tail { id, size, records: 1 }, file)
            }
        };

        let stats = Counters::default();
        for r in &rec.repairs {
            match r {
                recovery::Repair::Trim { len, .. } => {
                    stats.preallocated_bytes_trimmed.fetch_add(*len, Ordering::Relaxed)
                }
                recovery::Repair::Cut { dropped, .. } => stats.torn_bytes_cut.fetch_add(*dropped, Ordering::Relaxed),
                recovery::Repair::Remove { len, .. } => stats.torn_bytes_cut.fetch_add(*len, Ordering::Relaxed),
            };
        }
        let shared = Shared {
            state: rec.state,
            index: rec.index,
            cache: Cache::new(config.cache_max_bytes, config.cache_max_entries),
            chunks: rec.chunks,
            tail,
        };
        // Chunks left over from an interrupted purge are deleted by the
        // first flush round.
        let leftover_below = shared.index.first_chunk().unwrap_or(tail.id);
        let queue = Queue {
            purge_below: shared.chunks.keys().next().filter(|&&id| id < leftover_below).map(|_| leftover_below),
            ..Queue::default()
        };
        let core = Arc::new(Core {
            handles: Handles::new(config.open_chunks_max),
            cfg: config,
            vfs,
            shared: RwLock::new(shared),
            queue: Mutex::new(queue),
            work_cv: Condvar::new(),
            space_cv: Condvar::new(),
            stats,
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            flush_thread: OnceLock::new(),
        });
        let thread_core = core.clone();
        let thread = std::thread::Builder::new()
            .name("chunklog-flush".into())
            .spawn(move || {
                let _ = thread_core.flush_thread.set(std::thread::current().id());
                let size = tail.size;
                let tail = flush::TailFile { id: tail.id, file: tail_file, written: size, allocated: size };
                flush::run(thread_core, tail, lock)
            })
            .map_err(|e| Error::io("spawn flush thread", &dir, e))?;
        let worker = Worker { core: core.clone(), thread: Mutex::new(Some(thread)), detach: AtomicBool::new(false) };
        Ok(ChunkLog { core, worker: Some(Arc::new(worker)) })
    }

    /// A handle to the same store that does not keep it open: once every
    /// owning handle is gone and the store has closed, every call on it
    /// fails with [`Error::Closed`]. Give these to readers that may
    /// outlive the writer (openraft's log readers), so that dropping the
    /// writer frees the directory.
    pub fn non_owning(&self) -> ChunkLog {
        ChunkLog { core: self.core.clone(), worker: None }
    }

    /// Whether this handle keeps the store open (see [`non_owning`](Self::non_owning)).
    pub fn is_owning(&self) -> bool {
        self.worker.is_some()
    }

    /// The log directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.core.cfg.dir
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &Config {
        &self.core.cfg
    }

    /// The current log state, including writes not yet durable. Touches no disk.
    pub fn state(&self) -> LogState {
        self.core.shared.read().state.clone()
    }

    // ------------------------------------------------------------ writes

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
        self.wait_for_room()?;
        let mut sh = self.core.shared.write();
        let mut q = self.core.queue.lock();
        q.check()?;
        let mut queued = false;
        let result = (|| {
            for (index, payload) in entries {
                let payload = payload.as_ref();
                check_len(payload.len())?;
                if index == u64::MAX {
                    return Err(Error::OutOfRange { what: "entry index", value: index, max: u64::MAX - 1 });
                }
                if let Some(next) = sh.state.next_index()
                    && index != next
                {
                    return Err(Error::NonConsecutive { expected: next, got: index });
                }
                let (offset, len) = self.enqueue(&mut sh, &mut q, |buf| format::encode_entry(buf, index, payload))?;
                let chunk = sh.tail.id;
                sh.index.push(index, Slot { chunk, offset, len });
                let _ = sh.state.apply_entry(index); // consecutiveness checked above
                sh.cache.insert(index, payload);
                queued = true;
            }
            Ok(())
        })();
        drop(q);
        drop(sh);
        if queued {
            self.core.work_cv.notify_one();
        }
        result
    }

    /// Queues a new vote. Durable once a later flush fires; see
    /// [`save_vote`](Self::save_vote) for the blocking form.
    pub fn write_vote(&self, vote: &[u8]) -> Result<()> {
        check_len(vote.len())?;
        self.write(
            |sh| sh.state.vote = Some(Bytes::copy_from_slice(vote)),
            |buf| format::encode_frame(buf, RecordKind::Vote, &[vote]),
        )
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
        self.write(
            |sh| sh.state.committed = committed.map(Bytes::copy_from_slice),
            |buf| format::encode_opt_blob(buf, RecordKind::Committed, committed),
        )
    }

    /// Queues a new user metadata blob (`None` clears it). It is kept in
    /// every checkpoint and returned in [`LogState::user_meta`].
    pub fn save_user_meta(&self, meta: Option<&[u8]>) -> Result<()> {
        check_len(meta.map_or(0, <[u8]>::len))?;
        self.write(
            |sh| sh.state.user_meta = meta.map(Bytes::copy_from_slice),
            |buf| format::encode_opt_blob(buf, RecordKind::UserMeta, meta),
        )
    }

    /// Deletes every entry after `index` (`None`: every entry). Entries
    /// at or below the purge point cannot be truncated. A no-op when
    /// nothing lies after `index`.
    pub fn truncate_after(&self, index: Option<u64>) -> Result<()> {
        let mut sh = self.core.shared.write();
        if let Some(p) = sh.state.purged_index()
            && index.is_none_or(|i| i < p)
        {
            return Err(Error::TruncateBelowPurged { index, purged: p });
        }
        let Some(last) = sh.state.last_index else { return Ok(()) };
        if index.is_some_and(|i| i >= last) {
            return Ok(());
        }
        let mut q = self.core.queue.lock();
        q.check()?;
        self.enqueue(&mut sh, &mut q, |buf| format::encode_truncate(buf, index))?;
        sh.state.apply_truncate(index);
        sh.index.truncate_after(index);
        sh.cache.truncate_after(index);
        drop(q);
        drop(sh);
        self.core.work_cv.notify_one();
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
        let mut sh = self.core.shared.write();
        if sh.state.purged_index().is_some_and(|p| p >= index) {
            return Ok(());
        }
        let mut q = self.core.queue.lock();
        q.check()?;
        self.enqueue(&mut sh, &mut q, |buf| format::encode_purge(buf, index, meta))?;
        sh.state.apply_purge(index, Bytes::copy_from_slice(meta));
        sh.index.purge_upto(index);
        sh.cache.purge_upto(index);
        let below = sh.index.first_chunk().unwrap_or(sh.tail.id);
        q.purge_below = Some(q.purge_below.map_or(below, |b| b.max(below)));
        drop(q);
        drop(sh);
        self.core.work_cv.notify_one();
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
        let mut q = self.core.queue.lock();
        if q.stopped {
            let err = q.check().err().unwrap_or(Error::Closed);
            drop(q);
            flush::fire(callback, Err(err));
            return;
        }
        q.callbacks.push(callback);
        drop(q);
        self.core.work_cv.notify_one();
    }

    /// Blocks until everything submitted before this call is durable.
    /// From a flush callback it fails with [`Error::FromCallback`].
    pub fn sync(&self) -> Result<()> {
        self.refuse_on_flush_thread("sync")?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.flush(Box::new(move |r| {
            let _ = tx.send(r);
        }));
        rx.recv().unwrap_or(Err(Error::Closed))
    }

    /// Flushes everything, then drops this handle: if it was the last
    /// owning one, stops the flush thread and releases the directory lock
    /// before returning.
    pub fn close(self) -> Result<()> {
        self.sync()
    }

    /// Drops this handle without waiting: if it is the last owning one,
    /// the flush thread flushes what is queued, finishes pending purge
    /// deletions and releases the directory lock on its own. Use it where
    /// blocking is not allowed (an async runtime's worker). An `open` of
    /// the same directory in this process waits for that to finish. Other
    /// owning handles are not affected: if one of them is the last to go,
    /// it waits as usual.
    pub fn close_in_background(self) {
        let ChunkLog { worker, .. } = self;
        if let Some(w) = worker.and_then(Arc::into_inner) {
            w.detach.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the flush queue is below `flush_queue_max_bytes`, so that
    /// an [`append`](Self::append) would not wait for room.
    pub fn has_room(&self) -> bool {
        self.core.queue.lock().bytes < self.core.cfg.flush_queue_max_bytes
    }

    /// Fires `callback` once the flush queue is below its limit: at once
    /// on this thread if it is, otherwise from the flush thread when a
    /// flush makes room (with an error if the store is poisoned or closes
    /// first). An async caller awaits this instead of blocking in `append`.
    pub fn when_room(&self, callback: Callback) {
        let mut q = self.core.queue.lock();
        let now = match q.check() {
            Err(e) => Some(Err(e)),
            Ok(()) if q.bytes < self.core.cfg.flush_queue_max_bytes => Some(Ok(())),
            Ok(()) => None,
        };
        match now {
            Some(r) => {
                drop(q);
                flush::fire(callback, r);
            }
            None => q.room_waiters.push(callback),
        }
    }

    fn refuse_on_flush_thread(&self, op: &'static str) -> Result<()> {
        if self.core.flush_thread.get() == Some(&std::thread::current().id()) {
            return Err(Error::FromCallback { op });
        }
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        if self.core.closed.load(Ordering::Acquire) {
            let q = self.core.queue.lock();
            return Err(q.poisoned.as_ref().map_or(Error::Closed, |p| p.error()));
        }
        Ok(())
    }

    /// Queues one non-entry record and applies it to the in-memory state.
    fn write(&self, apply: impl FnOnce(&mut Shared), encode: impl FnOnce(&mut Vec<u8>) -> usize) -> Result<()> {
        let mut sh = self.core.shared.write();
        let mut q = self.core.queue.lock();
        q.check()?;
        self.enqueue(&mut sh, &mut q, encode)?;
        apply(&mut sh);
        drop(q);
        drop(sh);
        self.core.work_cv.notify_one();
        Ok(())
    }

    fn wait_for_room(&self) -> Result<()> {
        let mut q = self.core.queue.lock();
        while q.bytes >= self.core.cfg.flush_queue_max_bytes {
            q.check()?;
            if self.core.flush_thread.get() == Some(&std::thread::current().id()) {
                return Err(Error::FromCallback { op: "append into a full queue" });
            }
            self.core.space_cv.wait(&mut q);
        }
        q.check()
    }

    /// Encodes one record into the open chunk's segment, rotating first if
    /// the chunk is full. Returns the record's `(offset, length)`.
    fn enqueue(
        &self,
        sh: &mut Shared,
        q: &mut Queue,
        encode: impl FnOnce(&mut Vec<u8>) -> usize,
    ) -> Result<(u32, u32)> {
        let cfg = &self.core.cfg;
        if sh.tail.size >= cfg.chunk_max_size || sh.tail.records >= cfg.chunk_max_records {
            self.rotate(sh, q)?;
        }
        let seg = open_segment(sh, q);
        let offset = seg.end();
        let len = encode(&mut seg.bytes);
        sh.tail.size += len as u64;
        sh.tail.records += 1;
        q.bytes += len;
        Ok((offset as u32, len as u32))
    }

    /// Seals the open chunk (footer) and starts the next one (header and
    /// checkpoint). The flush thread syncs the sealed chunk before it
    /// creates the next, and syncs the new file and the directory before
    /// acknowledging anything in it.
    fn rotate(&self, sh: &mut Shared, q: &mut Queue) -> Result<()> {
        let last = sh.tail.id;
        let id = last.checked_add(1).ok_or(Error::OutOfRange { what: "chunk id", value: last, max: u64::MAX - 1 })?;
        let (first_index, slots) = sh.index.tail_in_chunk(sh.tail.id);
        let footer = format::Footer { state: sh.state.clone(), records: sh.tail.records, first_index, slots };
        let seg = open_segment(sh, q);
        let at = seg.end();
        let n = format::encode_footer(&mut seg.bytes, at, &footer);
        seg.seal = true;
        q.bytes += n;

        let mut bytes = format::encode_header(id, &self.core.cfg.tag).to_vec();
        format::encode_checkpoint(&mut bytes, &sh.state);
        sh.tail = Tail { id, size: bytes.len() as u64, records: 1 };
        q.bytes += bytes.len();
        let head_len = bytes.len();
        q.segments.push(Segment { chunk: id, start: 0, bytes, create: true, head_len, seal: false });
        Ok(())
    }

    // ------------------------------------------------------------- reads

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
        let mut next = Some(lo);
        while let Some(from) = next {
            next = self.read_pass(from, hi, !out.is_empty(), &mut out)?;
        }
        Ok(out)
    }

    /// Reads entries `from..=hi` that exist into `out`, touching the files
    /// of at most [`CHUNKS_PER_READ_PASS`] chunks. Returns where the next
    /// pass starts, if entries are left. `continued`: an earlier pass read
    /// entries below `from`; if a purge removed `from` since, stop there,
    /// so the result stays consecutive.
    fn read_pass(&self, from: u64, hi: u64, continued: bool, out: &mut Vec<(u64, Bytes)>) -> Result<Option<u64>> {
        let poisoned = self.core.poisoned.load(Ordering::Acquire);
        let mut disk: Vec<(u64, Slot)> = Vec::new();
        let mut files: BTreeMap<u64, Arc<dyn VfsFile>> = BTreeMap::new();
        let base = out.len() as u64;
        let mut next = None;
        {
            let sh = self.core.shared.read();
            let (Some(first), Some(last)) = (sh.index.first(), sh.index.last()) else {
                return Ok(None);
            };
            if continued && from < first {
                return Ok(None);
            }
            let (lo, hi) = (from.max(first), hi.min(last));
            if lo > hi {
                return Ok(None);
            }
            out.reserve((hi - lo).saturating_add(1).min(1 << 16) as usize);
            let mut q = None;
            let (mut hits, mut misses) = (0, 0);
            for i in lo..=hi {
                if !poisoned && let Some(b) = sh.cache.get(i) {
                    hits += 1;
                    out.push((i, b));
                    continue;
                }
                misses += 1;
                let Some(slot) = sh.index.get(i) else { break };
                let durable = sh.chunks.get(&slot.chunk).is_some_and(|c| c.size >= slot_end(slot));
                if poisoned && !durable {
                    // Queued, never written: the failure that poisoned the
                    // store, not the zeros where it would have been.
                    let q = q.get_or_insert_with(|| self.core.queue.lock());
                    return Err(q.poisoned.as_ref().map_or(Error::Closed, |p| p.error()));
                }
                // Not yet flushed: serve from the queue's memory.
                let q = q.get_or_insert_with(|| self.core.queue.lock());
                let mem = q
                    .segments
                    .iter()
                    .rev()
                    .find_map(|s| s.get(slot.chunk, slot.offset.into(), slot.len as usize))
                    .or_else(|| {
                        q.inflight.iter().rev().find_map(|s| s.get(slot.chunk, slot.offset.into(), slot.len as usize))
                    });
                if let Some(frame) = mem {
                    let path = || chunk::chunk_path(&self.core.cfg.dir, slot.chunk);
                    out.push((i, verify_entry(Bytes::copy_from_slice(frame), i, path, slot.offset.into())?));
                    continue;
                }
                if !files.contains_key(&slot.chunk) {
                    if files.len() == CHUNKS_PER_READ_PASS {
                        next = Some(i);
                        break;
                    }
                    if !sh.chunks.contains_key(&slot.chunk) {
                        return Err(Error::corruption(
                            chunk::chunk_path(&self.core.cfg.dir, slot.chunk),
                            slot.offset.into(),
                            format!("entry {i} points into a chunk that is not open"),
                        ));
                    }
                    // Opened under the read lock: a purge forgets a chunk
                    // (under the write lock) before it unlinks the file.
                    let file = self.core.handles.get(&*self.core.vfs, &self.core.cfg.dir, slot.chunk)?;
                    files.insert(slot.chunk, file);
                }
                out.push((i, Bytes::new()));
                disk.push((i, slot));
            }
            self.core.stats.cache_hits.fetch_add(hits, Ordering::Relaxed);
            self.core.stats.cache_misses.fetch_add(misses, Ordering::Relaxed);
        }
        self.read_from_disk(&disk, &files, out, base)?;
        Ok(next)
    }

    /// Positional reads outside every lock, merged over contiguous runs;
    /// fills the placeholders of `out` (whose entry `base` is the first of
    /// this pass).
    fn read_from_disk(
        &self,
        disk: &[(u64, Slot)],
        files: &BTreeMap<u64, Arc<dyn VfsFile>>,
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
            files[&s0.chunk].read_exact_at(&mut buf, s0.offset.into()).map_err(|e| Error::io("read", path(), e))?;
            self.core.stats.disk_reads.fetch_add(1, Ordering::Relaxed);
            let buf = Bytes::from(buf);
            let mut pos = 0usize;
            for &(i, s) in &disk[k..end] {
                let frame = buf.slice(pos..pos + s.len as usize);
                out[(base + i - first) as usize].1 = verify_entry(frame, i, path, s.offset.into())?;
                pos += s.len as usize;
            }
            k = end;
        }
        Ok(())
    }

    /// Counters and sizes.
    pub fn stats(&self) -> Stats {
        let sh = self.core.shared.read();
        let q = self.core.queue.lock();
        let s = &self.core.stats;
        Stats {
            chunks: sh.chunks.len(),
            disk_bytes: sh.chunks.values().map(|c| c.size).sum(),
            entries: sh.state.entry_count(),
            first_index: sh.state.first_index,
            last_index: sh.state.last_index,
            cache_entries: sh.cache.len(),
            cache_bytes: sh.cache.bytes(),
            cache_hits: s.cache_hits.load(Ordering::Relaxed),
            cache_misses: s.cache_misses.load(Ordering::Relaxed),
            disk_reads: s.disk_reads.load(Ordering::Relaxed),
            fsyncs: s.fsyncs.load(Ordering::Relaxed),
            bytes_written: s.bytes_written.load(Ordering::Relaxed),
            index_bytes: sh.index.heap_bytes(),
            queued_bytes: q.bytes,
            purges_pending: s.purges_pending.load(Ordering::Relaxed),
            open_chunk_files: self.core.handles.len(),
            preallocated_bytes_trimmed: s.preallocated_bytes_trimmed.load(Ordering::Relaxed),
            torn_bytes_cut: s.torn_bytes_cut.load(Ordering::Relaxed),
        }
    }

    /// Whether an earlier I/O failure poisoned the store.
    pub fn is_poisoned(&self) -> bool {
        self.core.queue.lock().poisoned.is_some()
    }
}

/// Creates the log directory if missing; a new directory's own entry is
/// made durable in its parent, so a power cut cannot lose the directory
/// with everything synced inside it.
fn create_dir(vfs: &dyn Vfs, dir: &std::path::Path) -> Result<()> {
    let existed = vfs.list(dir).is_ok();
    vfs.create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    if !existed {
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => std::path::Path::new("."),
        };
        vfs.sync_dir(parent).map_err(|e| Error::io("fsync directory", parent, e))?;
    }
    Ok(())
}

/// Makes what recovery read durable: the newest chunk (its records may be
/// in the page cache only after a process crash), the one before it (its
/// seal may be too, if the process died between writing it and syncing
/// it), and the directory.
fn make_durable(vfs: &dyn Vfs, dir: &std::path::Path, chunks: &BTreeMap<u64, ChunkInfo>) -> Result<()> {
    for &id in chunks.keys().rev().take(2) {
        let path = chunk::chunk_path(dir, id);
        let file = vfs.open_read(&path).map_err(|e| Error::io("open", &path, e))?;
        file.sync_data().map_err(|e| Error::io("fdatasync", &path, e))?;
    }
    if !chunks.is_empty() {
        vfs.sync_dir(dir).map_err(|e| Error::io("fsync directory", dir, e))?;
    }
    Ok(())
}

/// The open chunk's growing segment, created if the queue has none.
fn open_segment<'q>(sh: &Shared, q: &'q mut Queue) -> &'q mut Segment {
    let reuse = q.segments.last().is_some_and(|s| s.chunk == sh.tail.id && !s.seal);
    if !reuse {
        q.segments.push(Segment {
            chunk: sh.tail.id,
            start: sh.tail.size,
            bytes: Vec::new(),
            create: false,
            head_len: 0,
            seal: false,
        });
    }
    q.segments.last_mut().expect("a segment was just ensured")
}

/// The chunk offset just past a slot's frame.
fn slot_end(s: Slot) -> u64 {
    u64::from(s.offset) + u64::from(s.len)
}

fn check_len(len: usize) -> Result<()> {
    if len > format::MAX_PAYLOAD_LEN {
        return Err(Error::TooLarge { len: len as u64, max: format::MAX_PAYLOAD_LEN as u64 });
    }
    Ok(())
}

/// Checks an entry frame read back (CRC, kind, index) and returns its payload.
fn verify_entry(frame: Bytes, index: u64, path: impl Fn() -> PathBuf, offset: u64) -> Result<Bytes> {
    let f =
        format::decode_frame(&frame).map_err(|e| Error::corruption(path(), offset, format!("entry {index}: {e}")))?;
    if f.kind != RecordKind::Entry || f.len != frame.len() || f.body.len() < 8 {
        return Err(Error::corruption(path(), offset, format!("entry {index}: found a {} record", f.kind.name())));
    }
    let mut ix = [0u8; 8];
    ix.copy_from_slice(&f.body[..8]);
    let found = u64::from_le_bytes(ix);
    if found != index {
        return Err(Error::corruption(path(), offset, format!("expected entry {index}, found entry {found}")));
    }
    Ok(frame.slice(format::FRAME_HEADER_LEN + 8..frame.len() - 4))
}
