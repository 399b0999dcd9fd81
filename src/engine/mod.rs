//! The engine: [`ChunkLog`] ties the in-memory state, the pipe to the
//! flush thread and the chunk table together. It knows indexes and bytes
//! only.
//!
//! Layers, one way: this handle (open, close, state, stats) and its write
//! and read halves (`write.rs`, `read.rs`) use the in-memory state
//! (`memory.rs`), the pipe (`pipe.rs`) and the chunk table (`table.rs`).
//! The flush thread (`flush.rs`) and the purge thread (`purge.rs`) see the
//! pipe, the chunk table, the counters and the files only, never this
//! handle or its core.
//!
//! Lock order: the state lock (`Core::shared`), then the chunk table, then
//! the queue. The flush and purge threads never hold two of them at once
//! and hold none during I/O.

mod dirlock;
mod flush;
mod handles;
mod memory;
mod pipe;
mod purge;
mod read;
mod reclaim;
mod recycle;
mod stats;
mod table;
mod write;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use parking_lot::{Mutex, RwLock};

use self::flush::{FlushCtx, Flusher};
use self::memory::Shared;
use self::pipe::{Pipe, Queue};
use self::stats::Counters;
use self::table::ChunkTable;
use crate::cache::Cache;
use crate::chunk::{self, ChunkInfo, Tail};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::format::{self, Codec, Stamp};
use crate::group::Group;
use crate::recovery;
use crate::state::LogState;
use crate::vfs::{StdVfs, Vfs};

pub use self::pipe::Callback;
pub use self::reclaim::{Copied, Pin};
pub use self::stats::Stats;

/// Everything the handles share. The flush thread gets a narrow
/// [`FlushCtx`] instead.
pub(crate) struct Core {
    pub cfg: Config,
    pub shared: RwLock<Shared>,
    pub pipe: Arc<Pipe>,
    pub table: Arc<ChunkTable>,
    pub stats: Arc<Counters>,
    /// Wakes and stops the space reclamation thread.
    pub reclaim: Arc<reclaim::Signal>,
    /// Purged chunk files kept for reuse.
    pub pool: Arc<recycle::Pool>,
    /// The flushing side, which a writer's `sync` may drive inline.
    pub flusher: Arc<Flusher>,
}

/// Stops the flush thread when the last owning handle goes away, and
/// waits for it unless that would block where it must not.
struct Worker {
    core: Arc<Core>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The space reclamation thread, if reclamation is on.
    reclaimer: Mutex<Option<JoinHandle<()>>>,
    /// Shut down without waiting ([`ChunkLog::close_in_background`]).
    detach: AtomicBool,
}

impl Drop for Worker {
    fn drop(&mut self) {
        dirlock::closing(&self.core.cfg.dir);
        // The reclaimer first: it may be queueing copies. It never waits
        // for the flush thread; still, a callback that drops the last
        // handle, or a close in the background, does not wait for it (it
        // stops on its own: its writes fail once the store closes).
        self.core.reclaim.stop();
        let wait = !self.core.pipe.on_flush_thread() && !self.detach.load(Ordering::Relaxed);
        if let Some(t) = self.reclaimer.lock().take()
            && wait
            && t.join().is_err()
        {
            tracing::error!("chunklog reclaim thread panicked");
        }
        self.core.pipe.shut_down();
        let Some(t) = self.thread.lock().take() else { return };
        // A flush callback dropped the last handle: the thread cannot wait
        // for itself; it finishes and releases the lock on its own.
        if self.core.pipe.on_flush_thread() || self.detach.load(Ordering::Relaxed) {
            return;
        }
        if t.join().is_err() {
            // It unwound past the point where it says it let go of the
            // directory (its lock went with it): say so for it.
            tracing::error!("chunklog flush thread panicked");
            dirlock::released(&self.core.cfg.dir);
        }
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
///
/// # Groups
///
/// One store holds any number of independent logs, *groups*, named by a
/// `u64` ([`group`](Self::group)): many Raft groups share one directory,
/// one chunk stream and one flush thread, so one `fdatasync` makes the
/// writes of every group durable at once. Each group has its own
/// entries, vote, committed marker, purge point and user metadata; the
/// handle [`open`](Self::open) returns is group 0, so a store used for one
/// log never needs to know about groups.
///
/// ```
/// use chunklog::{ChunkLog, Config};
/// # fn main() -> Result<(), chunklog::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let log = ChunkLog::open(Config::new(dir.path()))?;
/// let (a, b) = (log.group(1), log.group(2));
/// a.append([(1, b"a1".as_slice())])?;
/// b.append([(7, b"b7".as_slice())])?;
/// log.sync()?; // one fdatasync for both groups
/// assert_eq!(log.groups(), vec![1, 2]);
/// b.remove_group()?;
/// assert_eq!(log.groups(), vec![1]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ChunkLog {
    pub(crate) core: Arc<Core>,
    /// Stops the flush thread when the last owning clone drops; `None` for
    /// a non-owning handle.
    worker: Option<Arc<Worker>>,
    /// The group this handle reads and writes.
    group: u64,
}

impl std::fmt::Debug for ChunkLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkLog").field("dir", &self.core.cfg.dir).field("group", &self.group).finish_non_exhaustive()
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
        let lock = dirlock::lock(&*vfs, &dir)?;

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
                let codec = Codec::v2(format::new_salt(0));
                let mut bytes = format::encode_header(id, &config.tag, codec).to_vec();
                let stamp = Stamp { codec, seq: rec.next_seq };
                format::encode_checkpoint(&mut bytes, stamp, rec.groups.iter().map(|(&g, grp)| (g, &grp.state)));
                let path = chunk::chunk_path(&dir, id);
                let file = vfs.create_new(&path).map_err(|e| Error::io("create", &path, e))?;
                file.write_all_at(&bytes, 0).map_err(|e| Error::io("write", &path, e))?;
                file.sync_data().map_err(|e| Error::io("fdatasync", &path, e))?;
                vfs.sync_dir(&dir).map_err(|e| Error::io("fsync directory", &dir, e))?;
                let size = bytes.len() as u64;
                rec.chunks.insert(id, ChunkInfo { size, sealed: false, codec });
                (Tail { id, size, records: 1, codec }, file)
            }
        };

        let stats = Arc::new(Counters::default());
        for r in &rec.repairs {
            match r {
                recovery::Repair::TrimPreallocated { bytes, .. } => {
                    stats.preallocated_bytes_trimmed.fetch_add(*bytes, Ordering::Relaxed)
                }
                recovery::Repair::Cut { dropped, .. } => stats.torn_bytes_cut.fetch_add(*dropped, Ordering::Relaxed),
                recovery::Repair::Remove { bytes, .. } => stats.torn_bytes_cut.fetch_add(*bytes, Ordering::Relaxed),
                recovery::Repair::TrimRecycled { bytes, .. } => {
                    stats.recycled_bytes_trimmed.fetch_add(*bytes, Ordering::Relaxed)
                }
            };
        }
        let (live, live_bytes) = Shared::count_live(&rec.groups);
        let copied = Shared::ranges_in_chunk(&rec.groups, tail.id);
        let shared = Shared {
            groups: rec.groups,
            cache: Cache::new(config.cache_max_bytes, config.cache_max_entries),
            copied,
            tail,
            live,
            live_bytes,
            rewrites: 0,
        };
        // Chunks left over from an interrupted purge are deleted by the
        // first flush round.
        let leftover_below = shared.oldest_live_chunk();
        let purge_below = rec.chunks.keys().next().filter(|&&id| id < leftover_below).map(|_| leftover_below);
        let queue = Queue { purge_below, flush_seq: rec.next_seq, ..Queue::default() };
        let pipe = Arc::new(Pipe { queue: Mutex::new(queue), ..Pipe::default() });
        let table = Arc::new(ChunkTable::new(&dir, vfs.clone(), rec.chunks, config.open_chunks_max));
        let reclaim_signal = Arc::new(reclaim::Signal::default());
        let pool = Arc::new(
            recycle::Pool::load(&*vfs, &dir, config.recycle_chunks_max)
                .map_err(|e| Error::io("load recycled chunk files", &dir, e))?,
        );
        let ctx = FlushCtx {
            dir: dir.clone(),
            vfs,
            pipe: pipe.clone(),
            table: table.clone(),
            stats: stats.clone(),
            chunk_max_size: config.chunk_max_size,
            queue_max_bytes: config.flush_queue_max_bytes,
            reclaim: (config.reclaim_percent > 0).then(|| reclaim_signal.clone()),
            pool: pool.clone(),
        };
        let size = tail.size;
        let tail_file = flush::TailFile { id: tail.id, file: tail_file, written: size, allocated: size };
        let flusher = Arc::new(Flusher::new(ctx, tail_file));
        let core = Arc::new(Core {
            cfg: config,
            shared: RwLock::new(shared),
            pipe,
            table,
            stats,
            reclaim: reclaim_signal,
            pool,
            flusher: flusher.clone(),
        });
        let thread = std::thread::Builder::new()
            .name("chunklog-flush".into())
            .spawn(move || {
                let _ = flusher.ctx.pipe.flush_thread.set(std::thread::current().id());
                flush::run(flusher, lock)
            })
            .map_err(|e| Error::io("spawn flush thread", &dir, e))?;
        let reclaimer = reclaim::start(&core);
        // An open that finds the disk over the policy reclaims at once.
        core.reclaim.wake();
        let worker = Worker {
            core: core.clone(),
            thread: Mutex::new(Some(thread)),
            reclaimer: Mutex::new(reclaimer),
            detach: AtomicBool::new(false),
        };
        Ok(ChunkLog { core, worker: Some(Arc::new(worker)), group: 0 })
    }

    /// A handle to group `id` of the same store, owning if this one is
    /// (see [`non_owning`](Self::non_owning)). Every call on it reads or
    /// writes that group only; the store is shared (one flush, one
    /// [`sync`](Self::sync) covers every group). A group exists once
    /// something was written to it.
    pub fn group(&self, id: u64) -> ChunkLog {
        ChunkLog { core: self.core.clone(), worker: self.worker.clone(), group: id }
    }

    /// The group this handle reads and writes (0 for the handle
    /// [`open`](Self::open) returns).
    pub fn group_id(&self) -> u64 {
        self.group
    }

    /// The groups the store holds, in id order: every group that has
    /// written something and was not removed since.
    pub fn groups(&self) -> Vec<u64> {
        self.core.shared.read().groups.keys().copied().collect()
    }

    /// A handle to the same store that does not keep it open: once every
    /// owning handle is gone and the store has closed, every call on it
    /// fails with [`Error::Closed`]. Give these to readers that may
    /// outlive the writer (openraft's log readers), so that dropping the
    /// writer frees the directory.
    pub fn non_owning(&self) -> ChunkLog {
        ChunkLog { core: self.core.clone(), worker: None, group: self.group }
    }

    /// `Closed` (or the poisoning error) once the store has closed.
    fn check_open(&self) -> Result<()> {
        self.core.pipe.check_open()
    }

    /// Whether this handle keeps the store open (see [`non_owning`](Self::non_owning)).
    pub fn is_owning(&self) -> bool {
        self.worker.is_some()
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

    /// Drops this handle without waiting, like
    /// [`close_in_background`](Self::close_in_background), and fires
    /// `callback` once the store has closed: every owning handle gone,
    /// queued writes flushed (or the store poisoned: the callback then gets
    /// the error), purge deletions done and the directory lock released.
    /// An async caller awaits this to know that another process may now
    /// open the directory.
    pub fn close_with(self, callback: Callback) {
        {
            let mut q = self.core.pipe.queue.lock();
            if !q.stopped {
                q.closed_waiters.push(callback);
                drop(q);
                self.close_in_background();
                return;
            }
        }
        let r = self.core.pipe.queue.lock().close_result();
        pipe::fire(callback, r);
    }

    /// Drops this handle without waiting, and fires `callback` once
    /// everything submitted before this call is durable and, if this was
    /// the last owning handle, once the store has closed (as
    /// [`close_with`](Self::close_with)). What a store of one group among
    /// many calls when it is done: the other groups keep the store open.
    pub fn release_with(self, callback: Callback) {
        let last = self.worker.as_ref().is_some_and(|w| Arc::strong_count(w) == 1);
        if last {
            self.close_with(callback);
        } else {
            self.flush(callback);
            self.close_in_background();
        }
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.core.cfg.dir
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &Config {
        &self.core.cfg
    }

    /// This handle's group's log state, including writes not yet durable
    /// (the empty state for a group that does not exist). Touches no disk.
    pub fn state(&self) -> LogState {
        self.core.shared.read().state(self.group)
    }

    /// Counters and sizes: the store's, and this handle's group's entries.
    pub fn stats(&self) -> Stats {
        let sh = self.core.shared.read();
        let empty = Group::default();
        let grp = sh.groups.get(&self.group).unwrap_or(&empty);
        let (chunks, disk_bytes, open_chunk_files) = self.core.table.sizes();
        let queued_bytes = self.core.pipe.queue.lock().bytes;
        let (recycled_files, recycled_bytes) = self.core.pool.sizes();
        let s = &self.core.stats;
        Stats {
            chunks,
            disk_bytes,
            entries: grp.state.entry_count(),
            first_index: grp.state.first_index,
            last_index: grp.state.last_index,
            groups: sh.groups.len(),
            cache_entries: sh.cache.len(),
            cache_bytes: sh.cache.bytes(),
            cache_hits: s.cache_hits.load(Ordering::Relaxed),
            cache_misses: s.cache_misses.load(Ordering::Relaxed),
            disk_reads: s.disk_reads.load(Ordering::Relaxed),
            fsyncs: s.fsyncs.load(Ordering::Relaxed),
            inline_flushes: s.inline_flushes.load(Ordering::Relaxed),
            bytes_written: s.bytes_written.load(Ordering::Relaxed),
            index_bytes: sh.groups.values().map(|g| g.index.heap_bytes()).sum(),
            live_bytes: sh.live_bytes,
            copied_entries: s.copied_entries.load(Ordering::Relaxed),
            copied_bytes: s.copied_bytes.load(Ordering::Relaxed),
            queued_bytes,
            purges_pending: s.purges_pending.load(Ordering::Relaxed),
            open_chunk_files,
            preallocated_bytes_trimmed: s.preallocated_bytes_trimmed.load(Ordering::Relaxed),
            torn_bytes_cut: s.torn_bytes_cut.load(Ordering::Relaxed),
            recycled_files,
            recycled_bytes,
            chunks_recycled: s.recycled.load(Ordering::Relaxed),
            recycled_bytes_trimmed: s.recycled_bytes_trimmed.load(Ordering::Relaxed),
        }
    }

    /// Whether an earlier I/O failure poisoned the store.
    pub fn is_poisoned(&self) -> bool {
        self.core.pipe.queue.lock().poisoned.is_some()
    }
}

/// Creates the log directory if missing; a new directory's own entry is
/// made durable in its parent, so a power cut cannot lose the directory
/// with everything synced inside it.
fn create_dir(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    let existed = vfs.list(dir).is_ok();
    vfs.create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    if !existed {
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        vfs.sync_dir(parent).map_err(|e| Error::io("fsync directory", parent, e))?;
    }
    Ok(())
}

/// Makes what recovery read durable: the newest chunk (its records may be
/// in the page cache only after a process crash), the one before it (its
/// seal may be too, if the process died between writing it and syncing
/// it), and the directory.
fn make_durable(vfs: &dyn Vfs, dir: &Path, chunks: &BTreeMap<u64, ChunkInfo>) -> Result<()> {
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
