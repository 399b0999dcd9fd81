//! File-system fault layers a node can put under its Raft log, as
//! [`chunklog::vfs::Vfs`] implementations:
//!
//! - [`PowerLossFs`], over real files: every write not yet covered by an
//!   `fdatasync` of its file, and every create or remove not yet made durable
//!   by a `fsync` of its directory, stays in this process's memory; the disk
//!   gets only what a sync made durable. A SIGKILL of the node is then a
//!   power cut (the pessimistic one: everything unsynced is lost, nothing is
//!   torn). The node keeps `power-loss.stats` up to date with what a cut now
//!   would drop, so the driver can read it after the kill.
//! - [`FaultFs`], over any `Vfs`: the faults the driver switches on and off
//!   at run time through the node's `POST /fault` ([`DiskFaults`]): a slow
//!   disk (every fsync delayed, now and then a stall of seconds) and a full
//!   disk (ENOSPC once a byte budget is spent).
//!
//! Why in the example and not the library: they are tools for proving a
//! store at the Raft level, and `Vfs` is public, so any application can
//! build them; the library's own crash simulator (`tests/common/memfs.rs`)
//! keeps whole files in memory and tears writes, which a cluster on real
//! directories does not need.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chunklog::vfs::{DirLock, StdVfs, Vfs, VfsFile};
use serde::{Deserialize, Serialize};

/// Name of the file (in the node's data directory) where [`PowerLossFs`]
/// keeps what a power cut now would drop.
pub const POWER_LOSS_STATS_FILE: &str = "power-loss.stats";

/// Prefix of the on-disk name of a file created but not yet made durable by
/// a directory sync; such files are hidden, and deleted at the next open of
/// their directory (the cut lost their names).
const NEW_FILE_PREFIX: &str = ".powerloss-new-";

/// The linux error code of a full disk.
const ENOSPC: i32 = 28;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a power cut now would drop, as read back from
/// [`POWER_LOSS_STATS_FILE`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsynced {
    /// Bytes written and not yet covered by an `fdatasync`.
    pub bytes: u64,
    /// Files created or removed and not yet made durable by a directory sync.
    pub names: u64,
}

impl Unsynced {
    /// Reads the stats file of the node whose data directory is `dir`.
    pub fn read(dir: &Path) -> Option<Unsynced> {
        let text = std::fs::read_to_string(dir.join(POWER_LOSS_STATS_FILE)).ok()?;
        let mut it = text.split_whitespace().map(|w| w.parse::<u64>());
        Some(Unsynced { bytes: it.next()?.ok()?, names: it.next()?.ok()? })
    }
}

/// A change to a file not yet made durable.
#[derive(Debug, Clone)]
enum Pending {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

/// A file as this process sees it: the durable bytes on disk, overlaid with
/// the pending changes.
#[derive(Debug)]
struct FileState {
    len: u64,
    pending: Vec<Pending>,
}

#[derive(Debug)]
struct PowerLossFile {
    fs: Arc<Shared>,
    disk: File,
    state: Mutex<FileState>,
}

impl VfsFile for PowerLossFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let st = lock(&self.state);
        let end = offset + buf.len() as u64;
        if end > st.len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past end"));
        }
        // The disk part (it may be shorter than the file: an unsynced
        // extension reads as zeros until written), then every pending
        // change in order: the process sees its own writes.
        buf.fill(0);
        let disk_len = self.disk.metadata()?.len();
        if offset < disk_len {
            let n = (end.min(disk_len) - offset) as usize;
            FileExt::read_exact_at(&self.disk, &mut buf[..n], offset)?;
        }
        for p in &st.pending {
            match p {
                Pending::Write(at, data) => {
                    let (from, to) = ((*at).max(offset), (*at + data.len() as u64).min(end));
                    if from < to {
                        let src = &data[(from - at) as usize..(to - at) as usize];
                        buf[(from - offset) as usize..(to - offset) as usize].copy_from_slice(src);
                    }
                }
                Pending::SetLen(n) if *n < end => buf[(*n).saturating_sub(offset) as usize..].fill(0),
                Pending::SetLen(_) => {}
            }
        }
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        {
            let mut st = lock(&self.state);
            st.len = st.len.max(offset + buf.len() as u64);
            st.pending.push(Pending::Write(offset, buf.to_vec()));
        }
        self.fs.unsynced_bytes.fetch_add(buf.len() as u64, Ordering::SeqCst);
        self.fs.write_stats()
    }

    fn sync_data(&self) -> io::Result<()> {
        // Apply the pending changes under the lock, so a reader never sees
        // them both on disk and pending half-way; fdatasync after. Data
        // applied but not yet synced may survive a cut or not: both are
        // what a real disk may do while fdatasync has not returned.
        let mut applied = 0;
        {
            let mut st = lock(&self.state);
            for p in st.pending.drain(..) {
                match p {
                    Pending::Write(at, data) => {
                        FileExt::write_all_at(&self.disk, &data, at)?;
                        applied += data.len() as u64;
                    }
                    Pending::SetLen(n) => self.disk.set_len(n)?,
                }
            }
        }
        self.fs.unsynced_bytes.fetch_sub(applied, Ordering::SeqCst);
        self.disk.sync_data()?;
        self.fs.write_stats()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.len = len;
        st.pending.push(Pending::SetLen(len));
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(lock(&self.state).len)
    }

    /// Growing the file is a size change a cut may lose, like `set_len`.
    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        let mut st = lock(&self.state);
        if offset + len > st.len {
            st.len = offset + len;
            st.pending.push(Pending::SetLen(offset + len));
        }
        Ok(())
    }
}

/// The names as this process sees them, beside the durable ones on disk.
#[derive(Debug, Default)]
struct Tree {
    /// Every file opened or created, by its current name; opening a name
    /// again shares the state, so all handles see the same pending writes.
    files: HashMap<PathBuf, Arc<PowerLossFile>>,
    /// Created names not yet durable, and where their bytes live on disk.
    created: HashMap<PathBuf, PathBuf>,
    /// Durable names removed, not yet durably.
    removed: HashSet<PathBuf>,
}

#[derive(Debug)]
struct Shared {
    tree: Mutex<Tree>,
    unsynced_bytes: AtomicU64,
    next_new: AtomicU64,
    /// The stats file, rewritten in place after every change.
    stats: Mutex<File>,
}

impl Shared {
    /// Records what a cut now would drop. A SIGKILL keeps this file's page
    /// cache, so the driver reads the value of the last operation.
    fn write_stats(&self) -> io::Result<()> {
        let stats = lock(&self.stats);
        let names = {
            let t = lock(&self.tree);
            (t.created.len() + t.removed.len()) as u64
        };
        let line = format!("{:>20} {:>20}\n", self.unsynced_bytes.load(Ordering::SeqCst), names);
        FileExt::write_all_at(&*stats, line.as_bytes(), 0)
    }
}

/// Real files with power-loss semantics: see the module documentation.
/// Clones share everything.
#[derive(Debug, Clone)]
pub struct PowerLossFs {
    shared: Arc<Shared>,
}

impl PowerLossFs {
    /// A layer whose stats go to `stats_dir/power-loss.stats`.
    pub fn new(stats_dir: &Path) -> io::Result<PowerLossFs> {
        std::fs::create_dir_all(stats_dir)?;
        let stats = File::create(stats_dir.join(POWER_LOSS_STATS_FILE))?;
        let shared = Shared {
            tree: Mutex::default(),
            unsynced_bytes: AtomicU64::new(0),
            next_new: AtomicU64::new(0),
            stats: Mutex::new(stats),
        };
        let fs = PowerLossFs { shared: Arc::new(shared) };
        fs.shared.write_stats()?;
        Ok(fs)
    }

    fn file(&self, disk: File) -> io::Result<Arc<PowerLossFile>> {
        let len = disk.metadata()?.len();
        let state = Mutex::new(FileState { len, pending: Vec::new() });
        Ok(Arc::new(PowerLossFile { fs: self.shared.clone(), disk, state }))
    }

    /// Whether `path` exists as this process sees it.
    fn exists(t: &Tree, path: &Path) -> bool {
        t.files.contains_key(path) || (!t.removed.contains(path) && path.exists())
    }
}

fn is_new_file(name: &str) -> bool {
    name.starts_with(NEW_FILE_PREFIX)
}

impl Vfs for PowerLossFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdVfs.create_dir_all(dir)
    }

    /// Also deletes the files a cut left without a durable name.
    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
        let guard = StdVfs.lock_dir(dir)?;
        for name in StdVfs.list(dir)? {
            if is_new_file(&name) {
                std::fs::remove_file(dir.join(name))?;
            }
        }
        Ok(guard)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let t = lock(&self.shared.tree);
        let mut names: Vec<String> =
            StdVfs.list(dir)?.into_iter().filter(|n| !is_new_file(n) && !t.removed.contains(&dir.join(n))).collect();
        for p in t.created.keys().filter(|p| p.parent() == Some(dir)) {
            names.extend(p.file_name().and_then(|n| n.to_str()).map(String::from));
        }
        Ok(names)
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        let mut t = lock(&self.shared.tree);
        if let Some(f) = t.files.get(path) {
            return Ok(f.clone());
        }
        if t.removed.contains(path) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        let f = self.file(OpenOptions::new().read(true).write(true).open(path)?)?;
        t.files.insert(path.to_path_buf(), f.clone());
        Ok(f)
    }

    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        let (dir, name) = match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
            (Some(d), Some(n)) => (d, n),
            _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a file path")),
        };
        let mut t = lock(&self.shared.tree);
        if Self::exists(&t, path) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        let n = self.shared.next_new.fetch_add(1, Ordering::SeqCst);
        let on_disk = dir.join(format!("{NEW_FILE_PREFIX}{n}-{name}"));
        let f = self.file(OpenOptions::new().read(true).write(true).create_new(true).open(&on_disk)?)?;
        t.files.insert(path.to_path_buf(), f.clone());
        t.created.insert(path.to_path_buf(), on_disk);
        drop(t);
        self.shared.write_stats()?;
        Ok(f)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut t = lock(&self.shared.tree);
        if let Some(on_disk) = t.created.remove(path) {
            // Never durable: nothing a cut could bring back.
            t.files.remove(path);
            std::fs::remove_file(on_disk)?;
        } else if Self::exists(&t, path) {
            t.files.remove(path);
            t.removed.insert(path.to_path_buf());
        } else {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        drop(t);
        self.shared.write_stats()
    }

    /// Applies the directory's removes and creates to disk, then fsyncs it.
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut t = lock(&self.shared.tree);
        let removed: Vec<PathBuf> = t.removed.iter().filter(|p| p.parent() == Some(dir)).cloned().collect();
        for p in removed {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            t.removed.remove(&p);
        }
        let created: Vec<(PathBuf, PathBuf)> =
            t.created.iter().filter(|(p, _)| p.parent() == Some(dir)).map(|(p, d)| (p.clone(), d.clone())).collect();
        for (p, on_disk) in created {
            std::fs::rename(&on_disk, &p)?;
            t.created.remove(&p);
        }
        File::open(dir)?.sync_all()?;
        drop(t);
        self.shared.write_stats()
    }
}

/// The slow-disk settings: every fsync (of a file or a directory) waits
/// `min_ms..=max_ms`, and every `stall_every`-th one `stall_ms` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlowDisk {
    /// Shortest added fsync latency.
    pub min_ms: u64,
    /// Longest added fsync latency.
    pub max_ms: u64,
    /// A stall's length.
    pub stall_ms: u64,
    /// One fsync in this many stalls (0: never).
    pub stall_every: u64,
}

/// The faults switched on at run time, the body of the node's `POST /fault`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSettings {
    /// Delay fsyncs.
    pub slow: Option<SlowDisk>,
    /// Fail writes with ENOSPC once this many more bytes are written.
    pub budget_bytes: Option<u64>,
}

/// What the fault layer did since the node started (`/stats`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct FaultCounters {
    /// Fsyncs delayed.
    pub fsyncs_delayed: u64,
    /// Of those, stalls.
    pub stalls: u64,
    /// Milliseconds of added latency in all.
    pub delay_ms: u64,
    /// Writes refused with ENOSPC.
    pub enospc: u64,
}

#[derive(Debug)]
struct FaultState {
    settings: FaultSettings,
    /// Bytes written since the budget was set.
    spent: u64,
    fsyncs: u64,
    rng: u64,
    counters: FaultCounters,
}

/// The run-time switches of a [`FaultFs`]; clones share them.
#[derive(Debug, Clone)]
pub struct DiskFaults {
    state: Arc<Mutex<FaultState>>,
}

impl DiskFaults {
    /// No fault on, the delays drawn from `seed`.
    pub fn new(seed: u64) -> DiskFaults {
        let state = FaultState {
            settings: FaultSettings::default(),
            spent: 0,
            fsyncs: 0,
            rng: seed | 1,
            counters: FaultCounters::default(),
        };
        DiskFaults { state: Arc::new(Mutex::new(state)) }
    }

    /// Replaces the settings; a budget counts from now.
    pub fn set(&self, settings: FaultSettings) {
        let mut s = lock(&self.state);
        s.settings = settings;
        s.spent = 0;
    }

    /// What the layer did so far.
    pub fn counters(&self) -> FaultCounters {
        lock(&self.state).counters
    }

    /// Takes `bytes` from the budget, or fails with ENOSPC.
    fn spend(&self, bytes: u64) -> io::Result<()> {
        let mut s = lock(&self.state);
        if let Some(budget) = s.settings.budget_bytes {
            if s.spent + bytes > budget {
                s.counters.enospc += 1;
                return Err(io::Error::from_raw_os_error(ENOSPC));
            }
            s.spent += bytes;
        }
        Ok(())
    }

    /// Sleeps as long as the slow-disk setting says for one fsync.
    fn delay(&self) {
        let ms = {
            let mut s = lock(&self.state);
            let Some(slow) = s.settings.slow else { return };
            s.fsyncs += 1;
            // xorshift64: reproducible from the node's seed.
            s.rng ^= s.rng << 13;
            s.rng ^= s.rng >> 7;
            s.rng ^= s.rng << 17;
            let stall = slow.stall_every > 0 && s.fsyncs.is_multiple_of(slow.stall_every);
            let ms =
                if stall { slow.stall_ms } else { slow.min_ms + s.rng % (slow.max_ms.saturating_sub(slow.min_ms) + 1) };
            s.counters.fsyncs_delayed += 1;
            s.counters.stalls += u64::from(stall);
            s.counters.delay_ms += ms;
            ms
        };
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Any `Vfs` with the run-time faults of [`DiskFaults`].
#[derive(Debug)]
pub struct FaultFs {
    inner: Arc<dyn Vfs>,
    faults: DiskFaults,
}

impl FaultFs {
    /// `inner` with the switches `faults`.
    pub fn new(inner: Arc<dyn Vfs>, faults: DiskFaults) -> FaultFs {
        FaultFs { inner, faults }
    }

    fn wrap(&self, file: Arc<dyn VfsFile>) -> Arc<dyn VfsFile> {
        Arc::new(FaultFile { inner: file, faults: self.faults.clone() })
    }
}

#[derive(Debug)]
struct FaultFile {
    inner: Arc<dyn VfsFile>,
    faults: DiskFaults,
}

impl VfsFile for FaultFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.faults.spend(buf.len() as u64)?;
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.faults.delay();
        self.inner.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
    /// Reserving space spends the budget as writing it would.
    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        let grow = (offset + len).saturating_sub(self.inner.size()?);
        self.faults.spend(grow)?;
        self.inner.allocate(offset, len)
    }
}

impl Vfs for FaultFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
        self.inner.lock_dir(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        Ok(self.wrap(self.inner.open(path)?))
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        Ok(self.wrap(self.inner.open_read(path)?))
    }
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        Ok(self.wrap(self.inner.create_new(path)?))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.faults.delay();
        self.inner.sync_dir(dir)
    }
}
