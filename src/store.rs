//! The engine: [`ChunkLog`] ties the index, the cache, the flush thread and
//! the chunk files together. It knows indexes and bytes only.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::cache::Cache;
use crate::chunk::{self, ChunkInfo};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::flush::{self, Callback, Queue, Segment};
use crate::format::{self, RecordKind};
use crate::index::{Index, Slot};
use crate::io::{DirLock, StdVfs, Vfs, VfsFile};
use crate::recovery::{self, Tail};
use crate::state::LogState;

/// Disk reads of consecutive entries are merged up to this many bytes.
const MAX_MERGED_READ: u64 = 1 << 20;

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
    _lock: DirLock,
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
}

/// Stops and joins the flush thread when the last handle goes away.
struct Worker {
    core: Arc<Core>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.core.queue.lock().shutdown = true;
        self.core.work_cv.notify_all();
        self.core.space_cv.notify_all();
        if let Some(t) = self.thread.lock().take()
            && t.join().is_err()
        {
            tracing::error!("chunklog flush thread panicked");
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
///   running) until every clone is dropped or [`close`](Self::close)d.
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
    /// Joins the flush thread when the last clone drops.
    _worker: Arc<Worker>,
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
        vfs.create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        let lock = vfs.lock_dir(&dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock => Error::Locked { dir: dir.clone() },
            _ => Error::io("lock", dir.join(crate::io::LOCK_FILE), e),
        })?;

        let mut rec = recovery::recover(&*vfs, &config)?;
        recovery::apply_repairs(&*vfs, &dir, &rec.repairs, false)?;

        let (tail, tail_file) = match rec.tail {
            Some(t) => {
                let file = rec.chunks[&t.id].file.clone();
                (t, file)
            }
            None => {
                // No open chunk: start one now, durable before open returns.
                let id = rec.chunks.keys().next_back().map_or(1, |&id| id + 1);
                let mut bytes = format::encode_header(id, &config.tag).to_vec();
                format::encode_checkpoint(&mut bytes, &rec.state);
                let path = chunk::chunk_path(&dir, id);
                let file = vfs.create_new(&path).map_err(|e| Error::io("create", &path, e))?;
                file.write_all_at(&bytes, 0).map_err(|e| Error::io("write", &path, e))?;
                file.sync_data().map_err(|e| Error::io("fdatasync", &path, e))?;
                vfs.sync_dir(&dir).map_err(|e| Error::io("fsync directory", &dir, e))?;
                let size = bytes.len() as u64;
                rec.chunks.insert(id, ChunkInfo { file: file.clone(), size, sealed: false });
                (Tail { id, size, records: 1 }, file)
            }
        };

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
            cfg: config,
            vfs,
            shared: RwLock::new(shared),
            queue: Mutex::new(queue),
            work_cv: Condvar::new(),
            space_cv: Condvar::new(),
            stats: Counters::default(),
            _lock: lock,
        });
        let thread_core = core.clone();
        let thread = std::thread::Builder::new()
            .name("chunklog-flush".into())
            .spawn(move || {
                let size = tail.size;
                flush::run(
                    thread_core,
                    flush::TailFile { id: tail.id, file: tail_file, written: size, allocated: size },
                )
            })
            .map_err(|e| Error::io("spawn flush thread", &dir, e))?;
        let worker = Arc::new(Worker { core: core.clone(), thread: Mutex::new(Some(thread)) });
        Ok(ChunkLog { core, _worker: worker })
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
                if let Some(next) = sh.state.next_index()
                    && index != next
                {
                    return Err(Error::NonConsecutive { expected: next, got: index });
                }
                let (offset, len) = self.enqueue(&mut sh, &mut q, |buf| format::encode_entry(buf, index, payload));
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

    /// Saves a vote and returns once it (and everything before it) is durable.
    pub fn save_vote(&self, vote: &[u8]) -> Result<()> {
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
        self.enqueue(&mut sh, &mut q, |buf| format::encode_truncate(buf, index));
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
        self.enqueue(&mut sh, &mut q, |buf| format::encode_purge(buf, index, meta));
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
    /// that impossible). Callbacks fire in registration order.
    pub fn flush(&self, callback: Callback) {
        let mut q = self.core.queue.lock();
        if let Err(e) = q.check() {
            drop(q);
            callback(Err(e));
            return;
        }
        q.callbacks.push(callback);
        drop(q);
        self.core.work_cv.notify_one();
    }

    /// Blocks until everything submitted before this call is durable.
    pub fn sync(&self) -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.flush(Box::new(move |r| {
            let _ = tx.send(r);
        }));
        rx.recv().unwrap_or(Err(Error::Closed))
    }

    /// Flushes everything, stops the flush thread and releases the
    /// directory lock once no other clone of this handle is alive.
    pub fn close(self) -> Result<()> {
        self.sync()
    }

    /// Queues one non-entry record and applies it to the in-memory state.
    fn write(&self, apply: impl FnOnce(&mut Shared), encode: impl FnOnce(&mut Vec<u8>) -> usize) -> Result<()> {
        let mut sh = self.core.shared.write();
        let mut q = self.core.queue.lock();
        q.check()?;
        self.enqueue(&mut sh, &mut q, encode);
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
            self.core.space_cv.wait(&mut q);
        }
        q.check()
    }

    /// Encodes one record into the open chunk's segment, rotating first if
    /// the chunk is full. Returns the record's `(offset, length)`.
    fn enqueue(&self, sh: &mut Shared, q: &mut Queue, encode: impl FnOnce(&mut Vec<u8>) -> usize) -> (u32, u32) {
        let cfg = &self.core.cfg;
        if sh.tail.size >= cfg.chunk_max_size || sh.tail.records >= cfg.chunk_max_records {
            self.rotate(sh, q);
        }
        let seg = open_segment(sh, q);
        let offset = seg.end();
        let len = encode(&mut seg.bytes);
        sh.tail.size += len as u64;
        sh.tail.records += 1;
        q.bytes += len;
        (offset as u32, len as u32)
    }

    /// Seals the open chunk (footer) and starts the next one (header and
    /// checkpoint). The flush thread syncs the sealed chunk before it
    /// creates the next, and syncs the new file and the directory before
    /// acknowledging anything in it.
    fn rotate(&self, sh: &mut Shared, q: &mut Queue) {
        let (first_index, slots) = sh.index.tail_in_chunk(sh.tail.id);
        let footer = format::Footer { state: sh.state.clone(), records: sh.tail.records, first_index, slots };
        let seg = open_segment(sh, q);
        let at = seg.end();
        let n = format::encode_footer(&mut seg.bytes, at, &footer);
        seg.seal = true;
        q.bytes += n;

        let id = sh.tail.id + 1;
        let mut bytes = format::encode_header(id, &self.core.cfg.tag).to_vec();
        format::encode_checkpoint(&mut bytes, &sh.state);
        sh.tail = Tail { id, size: bytes.len() as u64, records: 1 };
        q.bytes += bytes.len();
        let head_len = bytes.len();
        q.segments.push(Segment { chunk: id, start: 0, bytes, create: true, head_len, seal: false });
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
        let mut out = Vec::new();
        let mut disk: Vec<(u64, Slot)> = Vec::new();
        let mut files: BTreeMap<u64, Arc<dyn VfsFile>> = BTreeMap::new();
        {
            let sh = self.core.shared.read();
            let (Some(first), Some(last)) = (sh.index.first(), sh.index.last()) else {
                return Ok(out);
            };
            let lo = match range.start_bound() {
                Bound::Included(&s) => s.max(first),
                Bound::Excluded(&s) => s.saturating_add(1).max(first),
                Bound::Unbounded => first,
            };
            let hi = match range.end_bound() {
                Bound::Included(&e) => e.min(last),
                Bound::Excluded(&e) => match e.checked_sub(1) {
                    Some(e) => e.min(last),
                    None => return Ok(out),
                },
                Bound::Unbounded => last,
            };
            if lo > hi {
                return Ok(out);
            }
            out.reserve((hi - lo + 1).min(1 << 16) as usize);
            let mut q = None;
            let (mut hits, mut misses) = (0, 0);
            for i in lo..=hi {
                if let Some(b) = sh.cache.get(i) {
                    hits += 1;
                    out.push((i, b));
                    continue;
                }
                misses += 1;
                let Some(slot) = sh.index.get(i) else { break };
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
                if let std::collections::btree_map::Entry::Vacant(v) = files.entry(slot.chunk) {
                    let Some(c) = sh.chunks.get(&slot.chunk) else {
                        return Err(Error::corruption(
                            chunk::chunk_path(&self.core.cfg.dir, slot.chunk),
                            slot.offset.into(),
                            format!("entry {i} points into a chunk that is not open"),
                        ));
                    };
                    v.insert(c.file.clone());
                }
                out.push((i, Bytes::new()));
                disk.push((i, slot));
            }
            self.core.stats.cache_hits.fetch_add(hits, Ordering::Relaxed);
            self.core.stats.cache_misses.fetch_add(misses, Ordering::Relaxed);
        }
        if disk.is_empty() {
            return Ok(out);
        }
        // Positional reads outside every lock, merged over contiguous runs.
        let base = out.first().map_or(0, |(i, _)| *i);
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
                    || u64::from(s.offset) != u64::from(sp.offset) + u64::from(sp.len)
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
                out[(i - base) as usize].1 = verify_entry(frame, i, path, s.offset.into())?;
                pos += s.len as usize;
            }
            k = end;
        }
        Ok(out)
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
        }
    }

    /// Whether an earlier I/O failure poisoned the store.
    pub fn is_poisoned(&self) -> bool {
        self.core.queue.lock().poisoned.is_some()
    }
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
