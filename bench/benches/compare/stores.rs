//! The systems under test at the engine level, behind one small interface:
//! chunklog's `ChunkLog`, raft-log's `RaftLog`, raft-engine's `Engine`, and
//! the raw-disk limit (plain `pwrite` + `fdatasync`).
//!
//! Every store numbers entries from 1 and assigns the next index itself,
//! under its own lock, so several threads can append to one log.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// Called once the entry it was registered with is durable.
pub type Done = Box<dyn FnOnce() + Send>;

/// The systems at the engine level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    Chunklog,
    RaftLog,
    RaftEngine,
    /// `pwrite` + `fdatasync` on files that grow.
    Raw,
    /// `pwrite` + `fdatasync` into preallocated, zero-filled files.
    RawPrezeroed,
}

impl System {
    pub const ALL: [System; 5] =
        [System::Chunklog, System::RaftLog, System::RaftEngine, System::Raw, System::RawPrezeroed];

    pub fn name(self) -> &'static str {
        match self {
            System::Chunklog => "chunklog",
            System::RaftLog => "raft-log",
            System::RaftEngine => "raft-engine",
            System::Raw => "raw",
            System::RawPrezeroed => "raw-prezeroed",
        }
    }

    pub fn parse(s: &str) -> Result<System> {
        System::ALL.into_iter().find(|x| x.name() == s).ok_or_else(|| anyhow!("unknown system {s:?}"))
    }
}

/// How a store is opened.
#[derive(Clone, Debug)]
pub struct Options {
    /// Chunk / segment / target file size, the same for every system.
    pub file_bytes: u64,
    /// The payload cache of the systems that have one.
    pub cache: bool,
    /// Raw stores: bytes of every entry's payload (frames are fixed-size).
    pub entry_len: usize,
    /// Raw pre-zeroed: bytes to preallocate before the clock starts.
    pub prezero_bytes: u64,
    /// raft-log's `flush_batch_wait`: how long its flush worker waits to
    /// gather more flush requests before it syncs (0: it syncs each one).
    pub raft_log_wait: Duration,
}

/// One log under test.
pub trait Store: Send + Sync {
    /// Appends `payloads` as the next entries and returns once they are
    /// durable. Any number of threads may call it at once; `writer` tells
    /// them apart (raft-engine gives each writer its own Raft group).
    fn append_durable(&self, writer: usize, payloads: &[&[u8]]) -> Result<()>;

    /// Appends one entry and returns at once; `done` runs once it is
    /// durable. Call [`finish`](Self::finish) after the last one.
    fn append_then(&self, payload: &[u8], done: Done) -> Result<()>;

    /// Makes everything appended durable and runs every pending `done`.
    fn finish(&self) -> Result<()> {
        Ok(())
    }

    /// Reads entry `index` and returns its payload length.
    fn read(&self, index: u64) -> Result<usize>;

    /// `(first, last)` index of the stored entries.
    fn bounds(&self) -> Option<(u64, u64)>;

    /// Deletes every entry up to `index` and returns once the files it
    /// frees are deleted (or handed to the system's recycling).
    fn purge(&self, index: u64) -> Result<()>;

    /// `(index heap bytes, entries)`, for systems that report it.
    fn index_bytes(&self) -> Option<(u64, u64)> {
        None
    }

    /// The `fdatasync`s the system counted itself, for systems that count.
    fn fsyncs(&self) -> Option<u64> {
        None
    }

    /// Appends one entry to the group of each writer of `writers` in one
    /// write and returns once all are durable (raft-engine: one `LogBatch`
    /// across regions, as a multi-Raft node writes its ready groups).
    fn append_regions_durable(&self, _writers: &[usize], _payloads: &[&[u8]]) -> Result<()> {
        bail!("no multi-group batch write")
    }
}

/// Opens (or creates) the log of `system` in `dir`.
pub fn open(system: System, dir: &Path, opt: &Options) -> Result<Box<dyn Store>> {
    Ok(match system {
        System::Chunklog => Box::new(Chunklog::open(dir, opt)?),
        System::RaftLog => Box::new(RaftLogStore::open(dir, opt)?),
        System::RaftEngine => Box::new(RaftEngineStore::open(dir, opt)?),
        System::Raw => Box::new(Raw::open(dir, opt, false)?),
        System::RawPrezeroed => Box::new(Raw::open(dir, opt, true)?),
    })
}

// ------------------------------------------------------------ chunklog

struct Chunklog {
    log: chunklog::ChunkLog,
    /// Held while assigning indexes and registering the flush callback.
    next: Mutex<u64>,
}

impl Chunklog {
    fn open(dir: &Path, opt: &Options) -> Result<Self> {
        let mut cfg = chunklog::Config::new(dir).chunk_max_size(opt.file_bytes);
        if !opt.cache {
            cfg = cfg.cache(0, 0);
        }
        let log = chunklog::ChunkLog::open(cfg)?;
        let next = log.state().last_index.map_or(1, |l| l + 1);
        Ok(Chunklog { log, next: Mutex::new(next) })
    }

    fn append_locked(&self, payloads: &[&[u8]], cb: chunklog::Callback) -> Result<()> {
        let mut next = self.next.lock().expect("lock");
        let first = *next;
        self.log.append(payloads.iter().enumerate().map(|(k, p)| (first + k as u64, *p)))?;
        *next += payloads.len() as u64;
        self.log.flush(cb);
        Ok(())
    }
}

impl Store for Chunklog {
    /// `append` then `sync`, the engine's blocking durable append: the
    /// writer flushes on its own thread when no callback is waiting (the
    /// write-group leader), otherwise waits for the flush thread.
    fn append_durable(&self, _writer: usize, payloads: &[&[u8]]) -> Result<()> {
        {
            let mut next = self.next.lock().expect("lock");
            let first = *next;
            self.log.append(payloads.iter().enumerate().map(|(k, p)| (first + k as u64, *p)))?;
            *next += payloads.len() as u64;
        }
        self.log.sync()?;
        Ok(())
    }

    fn append_then(&self, payload: &[u8], done: Done) -> Result<()> {
        self.append_locked(&[payload], Box::new(move |r| r.map_or_else(|e| panic!("flush failed: {e}"), |()| done())))
    }

    fn read(&self, index: u64) -> Result<usize> {
        self.log.get(index)?.map(|b| b.len()).ok_or_else(|| anyhow!("chunklog: no entry {index}"))
    }

    fn bounds(&self) -> Option<(u64, u64)> {
        let st = self.log.state();
        Some((st.first_index?, st.last_index?))
    }

    fn purge(&self, index: u64) -> Result<()> {
        self.log.purge(index, b"")?;
        // The flush thread hands the freed chunks to the purge thread right
        // after firing the callbacks of the sync that made the purge durable;
        // a second sync is served only after that hand-off. The purge is
        // timed until the purge thread has deleted them.
        self.log.sync()?;
        self.log.sync()?;
        while self.log.stats().purges_pending > 0 {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        Ok(())
    }

    fn index_bytes(&self) -> Option<(u64, u64)> {
        let s = self.log.stats();
        Some((s.index_bytes as u64, s.entries))
    }

    fn fsyncs(&self) -> Option<u64> {
        Some(self.log.stats().fsyncs)
    }
}

// ------------------------------------------------------------ raft-log

/// raft-log's type parameters: `(term, index)` log ids, byte payloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RaftLogTypes;

/// raft-log's flush callback: a boxed closure.
pub struct RaftLogCallback(Box<dyn FnOnce(io::Result<()>) + Send>);

impl raft_log::Callback for RaftLogCallback {
    fn send(self, res: io::Result<()>) {
        (self.0)(res)
    }
}

impl raft_log::Types for RaftLogTypes {
    type LogId = (u64, u64);
    type LogPayload = Vec<u8>;
    type Vote = (u64, u64);
    type Callback = RaftLogCallback;
    type UserData = Vec<u8>;

    fn log_index(log_id: &Self::LogId) -> u64 {
        log_id.1
    }

    fn payload_size(payload: &Self::LogPayload) -> u64 {
        payload.len() as u64
    }
}

type RaftLog = raft_log::RaftLog<RaftLogTypes>;

/// raft-log needs `&mut` to write: appends take the write lock only to
/// queue the entries and the flush request, and wait outside it.
struct RaftLogStore {
    log: RwLock<RaftLog>,
}

/// raft-log's configuration: chunks of `file_bytes`, the batching wait of
/// `opt`, and a cache of one item when the cache is off.
pub fn raft_log_config(dir: &Path, opt: &Options) -> raft_log::Config {
    let mut cfg = raft_log::Config::new(dir.display());
    cfg.wal.chunk_max_size = Some(opt.file_bytes as usize);
    cfg.wal.flush_batch_wait = Some(opt.raft_log_wait);
    if !opt.cache {
        cfg.log_cache_max_items = Some(1);
        cfg.log_cache_capacity = Some(1);
    }
    cfg
}

impl RaftLogStore {
    fn open(dir: &Path, opt: &Options) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let log = RaftLog::open(Arc::new(raft_log_config(dir, opt))).context("raft-log open")?;
        Ok(RaftLogStore { log: RwLock::new(log) })
    }

    fn append_locked(&self, payloads: &[&[u8]], cb: RaftLogCallback) -> Result<()> {
        use raft_log::api::raft_log_writer::RaftLogWriter;
        let mut log = self.log.write().expect("lock");
        let first = log.log_state().last().map_or(1, |(_, i)| i + 1);
        log.append(payloads.iter().enumerate().map(|(k, p)| ((1, first + k as u64), p.to_vec())))?;
        log.flush(true, Some(cb))?;
        Ok(())
    }
}

fn wait_channel() -> (SyncSender<io::Result<()>>, std::sync::mpsc::Receiver<io::Result<()>>) {
    sync_channel(1)
}

impl Store for RaftLogStore {
    fn append_durable(&self, _writer: usize, payloads: &[&[u8]]) -> Result<()> {
        let (tx, rx) = wait_channel();
        self.append_locked(
            payloads,
            RaftLogCallback(Box::new(move |r| {
                let _ = tx.send(r);
            })),
        )?;
        rx.recv()??;
        Ok(())
    }

    fn append_then(&self, payload: &[u8], done: Done) -> Result<()> {
        self.append_locked(
            &[payload],
            RaftLogCallback(Box::new(move |r| r.map_or_else(|e| panic!("flush failed: {e}"), |()| done()))),
        )
    }

    fn read(&self, index: u64) -> Result<usize> {
        let log = self.log.read().expect("lock");
        let (_, payload) = log.read(index, index + 1).next().ok_or_else(|| anyhow!("raft-log: no entry {index}"))??;
        Ok(payload.len())
    }

    fn bounds(&self) -> Option<(u64, u64)> {
        let log = self.log.read().expect("lock");
        let st = log.log_state();
        let last = st.last()?.1;
        let first = st.purged().map_or(1, |(_, i)| i + 1);
        Some((first, last))
    }

    fn purge(&self, index: u64) -> Result<()> {
        use raft_log::api::raft_log_writer::RaftLogWriter;
        let (tx, rx) = wait_channel();
        {
            let mut log = self.log.write().expect("lock");
            log.purge((1, index))?;
            log.flush(
                true,
                Some(RaftLogCallback(Box::new(move |r| {
                    let _ = tx.send(r);
                }))),
            )?;
        }
        rx.recv()??;
        // Chunk removal is a later request of its flush worker.
        self.log.read().expect("lock").wait_worker_idle()?;
        Ok(())
    }
}

// --------------------------------------------------------- raft-engine

/// raft-engine's entry type: raft's protobuf `Entry`.
#[derive(Clone)]
pub struct EntryExt;

impl raft_engine::MessageExt for EntryExt {
    type Entry = raft_proto::eraftpb::Entry;

    fn index(e: &Self::Entry) -> u64 {
        e.index
    }
}

/// raft-engine's configuration in every workload: files of `file_bytes`,
/// a purge threshold as low as it accepts (one file; its 10 GB default
/// would never purge), and no compression (the payloads are random, so
/// LZ4 would only cost it time).
pub fn raft_engine_config(dir: &Path, opt: &Options) -> raft_engine::Config {
    raft_engine::Config {
        dir: dir.display().to_string(),
        target_file_size: raft_engine::ReadableSize(opt.file_bytes),
        purge_threshold: raft_engine::ReadableSize(opt.file_bytes),
        batch_compression_threshold: raft_engine::ReadableSize(0),
        ..Default::default()
    }
}

struct RaftEngineStore {
    engine: raft_engine::Engine,
}

/// The Raft group (region) of writer `w`.
fn region(writer: usize) -> u64 {
    1 + writer as u64
}

impl RaftEngineStore {
    fn open(dir: &Path, opt: &Options) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let engine = raft_engine::Engine::open(raft_engine_config(dir, opt)).context("raft-engine open")?;
        Ok(RaftEngineStore { engine })
    }
}

impl Store for RaftEngineStore {
    fn append_durable(&self, writer: usize, payloads: &[&[u8]]) -> Result<()> {
        let r = region(writer);
        let first = self.engine.last_index(r).map_or(1, |l| l + 1);
        let entries: Vec<_> = payloads
            .iter()
            .enumerate()
            .map(|(k, p)| raft_proto::eraftpb::Entry {
                term: 1,
                index: first + k as u64,
                data: bytes::Bytes::copy_from_slice(p),
                ..Default::default()
            })
            .collect();
        let mut batch = raft_engine::LogBatch::with_capacity(entries.len());
        batch.add_entries::<EntryExt>(r, &entries)?;
        self.engine.write(&mut batch, true)?;
        Ok(())
    }

    fn append_then(&self, _payload: &[u8], _done: Done) -> Result<()> {
        bail!("raft-engine has no asynchronous flush: write(sync) blocks")
    }

    fn append_regions_durable(&self, writers: &[usize], payloads: &[&[u8]]) -> Result<()> {
        let mut batch = raft_engine::LogBatch::with_capacity(writers.len());
        for (&w, p) in writers.iter().zip(payloads) {
            let r = region(w);
            let e = raft_proto::eraftpb::Entry {
                term: 1,
                index: self.engine.last_index(r).map_or(1, |l| l + 1),
                data: bytes::Bytes::copy_from_slice(p),
                ..Default::default()
            };
            batch.add_entries::<EntryExt>(r, &[e])?;
        }
        self.engine.write(&mut batch, true)?;
        Ok(())
    }

    fn read(&self, index: u64) -> Result<usize> {
        let e = self.engine.get_entry::<EntryExt>(region(0), index)?;
        e.map(|e| e.data.len()).ok_or_else(|| anyhow!("raft-engine: no entry {index}"))
    }

    fn bounds(&self) -> Option<(u64, u64)> {
        Some((self.engine.first_index(region(0))?, self.engine.last_index(region(0))?))
    }

    fn purge(&self, index: u64) -> Result<()> {
        self.engine.compact_to(region(0), index + 1);
        self.engine.purge_expired_files()?;
        Ok(())
    }
}

// -------------------------------------------------------------- raw disk

/// Bytes a raw frame adds to its payload: the same as a chunklog entry
/// record (frame header, index, trailing CRC), so both write the same bytes.
pub const RAW_FRAME_OVERHEAD: usize = chunklog::format::FRAME_OVERHEAD + 8;

/// The raw-disk limit: fixed-size frames written with one `pwrite` and
/// one `fdatasync` per call, into segment files of `file_bytes` (a new
/// segment is created, and the directory synced, when a write would not
/// fit). No checksums, no index beyond arithmetic.
struct Raw {
    dir: PathBuf,
    frame_len: u64,
    seg_bytes: u64,
    prezeroed: bool,
    tail: Mutex<RawTail>,
    /// Segments in order: (first index, segment number, file).
    segs: RwLock<Vec<(u64, u64, Arc<File>)>>,
    /// `append_then`: frames waiting for the next batched sync.
    pending: Mutex<(Vec<u8>, Vec<Done>)>,
}

struct RawTail {
    next_index: u64,
    seg_no: u64,
    file: Arc<File>,
    off: u64,
}

/// Frames written per `fdatasync` by `append_then`: the batched limit.
const RAW_BATCH: usize = 1024;

fn seg_path(dir: &Path, no: u64) -> PathBuf {
    dir.join(format!("{no:08}.seg"))
}

fn open_segment(dir: &Path, no: u64) -> Result<Arc<File>> {
    Ok(Arc::new(OpenOptions::new().read(true).write(true).open(seg_path(dir, no))?))
}

fn create_segment(dir: &Path, no: u64) -> Result<Arc<File>> {
    let f = OpenOptions::new().read(true).write(true).create_new(true).open(seg_path(dir, no))?;
    File::open(dir)?.sync_all()?;
    Ok(Arc::new(f))
}

impl Raw {
    fn open(dir: &Path, opt: &Options, prezeroed: bool) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let frame_len = (opt.entry_len + RAW_FRAME_OVERHEAD) as u64;
        let seg_bytes = opt.file_bytes / frame_len * frame_len;
        let mut segs = Vec::new();
        let tail = if prezeroed {
            // Preallocate and zero-fill every segment the run will need,
            // durably, before the clock starts.
            let zeros = vec![0u8; 1 << 20];
            for no in 1..=opt.prezero_bytes.div_ceil(seg_bytes).max(1) {
                let f = File::create(seg_path(dir, no))?;
                let mut off = 0;
                while off < seg_bytes {
                    let n = zeros.len().min((seg_bytes - off) as usize);
                    f.write_all_at(&zeros[..n], off)?;
                    off += n as u64;
                }
                f.sync_all()?;
            }
            File::open(dir)?.sync_all()?;
            let file = open_segment(dir, 1)?;
            segs.push((1, 1, file.clone()));
            RawTail { next_index: 1, seg_no: 1, file, off: 0 }
        } else {
            // Reopen: every frame is `frame_len` bytes, segments in order.
            let mut nos: Vec<u64> = std::fs::read_dir(dir)?
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|n| n.strip_suffix(".seg")?.parse().ok())
                .collect();
            nos.sort_unstable();
            let mut next_index = 1;
            let mut off = 0;
            for &no in &nos {
                let file = open_segment(dir, no)?;
                off = file.metadata()?.len();
                segs.push((next_index, no, file));
                next_index += off / frame_len;
            }
            if segs.is_empty() {
                segs.push((1, 1, create_segment(dir, 1)?));
            }
            let (_, seg_no, file) = segs.last().expect("a segment").clone();
            RawTail { next_index, seg_no, file, off }
        };
        Ok(Raw {
            dir: dir.to_path_buf(),
            frame_len,
            seg_bytes,
            prezeroed,
            tail: Mutex::new(tail),
            segs: RwLock::new(segs),
            pending: Mutex::new((Vec::new(), Vec::new())),
        })
    }

    /// Reserves room for `n` frames: (file, offset, first index).
    fn reserve(&self, n: usize) -> Result<(Arc<File>, u64, u64)> {
        let bytes = n as u64 * self.frame_len;
        let mut t = self.tail.lock().expect("lock");
        if t.off + bytes > self.seg_bytes && t.off > 0 {
            t.seg_no += 1;
            let path = seg_path(&self.dir, t.seg_no);
            let file = if self.prezeroed && path.exists() {
                open_segment(&self.dir, t.seg_no)?
            } else {
                create_segment(&self.dir, t.seg_no)?
            };
            self.segs.write().expect("lock").push((t.next_index, t.seg_no, file.clone()));
            t.file = file;
            t.off = 0;
        }
        let at = (t.file.clone(), t.off, t.next_index);
        t.off += bytes;
        t.next_index += n as u64;
        Ok(at)
    }

    /// One frame: length, index, zeros for the CRCs, the payload, zero
    /// padding up to the fixed frame length.
    fn encode(&self, buf: &mut Vec<u8>, index: u64, payload: &[u8]) {
        assert!(
            payload.len() + RAW_FRAME_OVERHEAD <= self.frame_len as usize,
            "payload longer than this raw log's entries"
        );
        let start = buf.len();
        buf.extend_from_slice(&(self.frame_len as u32).to_le_bytes());
        buf.extend_from_slice(&index.to_le_bytes());
        buf.resize(buf.len() + RAW_FRAME_OVERHEAD - 12, 0);
        buf.extend_from_slice(payload);
        buf.resize(start + self.frame_len as usize, 0);
    }

    fn write_batch(&self) -> Result<()> {
        let (buf, dones) = {
            let mut p = self.pending.lock().expect("lock");
            (std::mem::take(&mut p.0), std::mem::take(&mut p.1))
        };
        if dones.is_empty() {
            return Ok(());
        }
        let (file, off, _) = self.reserve(dones.len())?;
        file.write_all_at(&buf, off)?;
        file.sync_data()?;
        for d in dones {
            d();
        }
        Ok(())
    }
}

impl Store for Raw {
    fn append_durable(&self, _writer: usize, payloads: &[&[u8]]) -> Result<()> {
        let (file, off, first) = self.reserve(payloads.len())?;
        let mut buf = Vec::with_capacity(payloads.len() * self.frame_len as usize);
        for (k, p) in payloads.iter().enumerate() {
            self.encode(&mut buf, first + k as u64, p);
        }
        file.write_all_at(&buf, off)?;
        file.sync_data()?;
        Ok(())
    }

    fn append_then(&self, payload: &[u8], done: Done) -> Result<()> {
        let full = {
            let mut p = self.pending.lock().expect("lock");
            let (buf, dones) = &mut *p;
            // The index field is not read back in this workload.
            self.encode(buf, dones.len() as u64, payload);
            dones.push(done);
            dones.len() >= RAW_BATCH
        };
        if full {
            self.write_batch()?;
        }
        Ok(())
    }

    fn finish(&self) -> Result<()> {
        self.write_batch()
    }

    fn read(&self, index: u64) -> Result<usize> {
        let file_and_off = {
            let segs = self.segs.read().expect("lock");
            let pos = segs.partition_point(|(first, _, _)| *first <= index);
            let (first, _, file) = segs.get(pos.wrapping_sub(1)).ok_or_else(|| anyhow!("raw: no entry {index}"))?;
            (file.clone(), (index - first) * self.frame_len)
        };
        let mut buf = vec![0u8; self.frame_len as usize];
        file_and_off.0.read_exact_at(&mut buf, file_and_off.1)?;
        Ok(buf.len() - RAW_FRAME_OVERHEAD)
    }

    fn bounds(&self) -> Option<(u64, u64)> {
        let first = self.segs.read().expect("lock").first()?.0;
        let last = self.tail.lock().expect("lock").next_index.checked_sub(1)?;
        (last >= first).then_some((first, last))
    }

    fn purge(&self, index: u64) -> Result<()> {
        let mut segs = self.segs.write().expect("lock");
        // Segment k holds [segs[k].0, segs[k + 1].0): delete those wholly at or below `index`.
        let mut doomed = 0;
        while doomed + 1 < segs.len() && segs[doomed + 1].0 <= index + 1 {
            doomed += 1;
        }
        for (_, no, _) in segs.drain(..doomed) {
            std::fs::remove_file(seg_path(&self.dir, no))?;
        }
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}
