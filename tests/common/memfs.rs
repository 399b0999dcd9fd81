//! An in-memory file system for the engine's I/O layer that can fail any
//! operation and simulate power loss (SQLite's crash-VFS model):
//!
//! - a write not yet covered by an `fdatasync` of its file is, at a crash,
//!   kept, dropped, or torn: a prefix of its 512-byte sectors lands and the
//!   rest are garbage (bytes outside the write are never damaged: powersafe
//!   overwrite, SQLite's default assumption);
//! - a created or removed file is lost (or comes back) unless its
//!   directory was synced afterwards.
//!
//! [`MemFs::crash_image_out_of_order`] is the harsher model of a power cut
//! during writeback: each 4 KiB page (aligned to file offsets) an unsynced
//! write touched lands or not on its own, so a later page of a write can
//! reach the disk while an earlier one does not.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chunklog::vfs::{DirLock, Vfs, VfsFile};

use super::model::Rng;

/// The mutating operations the fault plan counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoOp {
    Create,
    Write,
    Sync,
    SetLen,
    Remove,
    SyncDir,
    Rename,
}

/// How an injected failure shows itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The operation fails with EIO (and does nothing).
    Eio,
    /// A write stores half its bytes, then fails with ENOSPC.
    ShortWriteEnospc,
    /// The machine stops: this and every later operation fails and does
    /// nothing. Take [`MemFs::crash_image`] afterwards.
    Crash,
}

#[derive(Clone, Copy, Debug)]
pub struct FaultPlan {
    /// Count only this kind of operation (`None`: every mutating one).
    pub only: Option<IoOp>,
    /// Fail the operation with this 0-based count.
    pub nth: u64,
    pub failure: Failure,
    /// Keep failing every later counted operation too.
    pub sticky: bool,
}

#[derive(Debug, Default, Clone)]
struct FileData {
    current: Vec<u8>,
    durable: Vec<u8>,
    /// Writes and size changes since the last sync of this file.
    pending: Vec<Pending>,
}

#[derive(Debug, Clone)]
enum Pending {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Debug, Default)]
struct Control {
    per_kind: HashMap<IoOp, u64>,
    plan: Option<FaultPlan>,
    counted: u64,
    total: u64,
    crashed: bool,
    fired: bool,
}

#[derive(Debug, Default)]
struct Tree {
    /// Names as the running system sees them.
    current: HashMap<PathBuf, Arc<Mutex<FileData>>>,
    /// Names as they are after the last directory sync.
    durable: HashMap<PathBuf, Arc<Mutex<FileData>>>,
    dirs: HashSet<PathBuf>,
    locks: HashSet<PathBuf>,
}

/// The file system. Clones share it.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    tree: Arc<Mutex<Tree>>,
    ctl: Arc<Mutex<Control>>,
    /// `allocate` does nothing, as on a file system without `fallocate`.
    no_allocate: bool,
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(5)
}

impl MemFs {
    pub fn new() -> Self {
        Self::default()
    }

    /// A file system without `fallocate` (the engine carries on without
    /// preallocation, so unsynced records are not hidden behind zeros).
    pub fn without_fallocate() -> Self {
        MemFs { no_allocate: true, ..Self::default() }
    }

    /// The file system as a process crash (SIGKILL, OOM kill, abort)
    /// leaves it: every write is still readable (it is in the page cache),
    /// but what was not synced is still not durable. A later
    /// [`crash_image`](Self::crash_image) of the copy is a power cut after
    /// the restart.
    pub fn process_crash_image(&self) -> MemFs {
        let tree = self.tree.lock().unwrap();
        let mut copies: HashMap<*const Mutex<FileData>, Arc<Mutex<FileData>>> = HashMap::new();
        let mut copy = |f: &Arc<Mutex<FileData>>| {
            copies.entry(Arc::as_ptr(f)).or_insert_with(|| Arc::new(Mutex::new(f.lock().unwrap().clone()))).clone()
        };
        let current = tree.current.iter().map(|(p, f)| (p.clone(), copy(f))).collect();
        let durable = tree.durable.iter().map(|(p, f)| (p.clone(), copy(f))).collect();
        let out = Tree { current, durable, dirs: tree.dirs.clone(), locks: HashSet::new() };
        MemFs { tree: Arc::new(Mutex::new(out)), ctl: Arc::default(), no_allocate: self.no_allocate }
    }

    /// Arms a fault plan (counting restarts).
    pub fn set_plan(&self, plan: Option<FaultPlan>) {
        let mut c = self.ctl.lock().unwrap();
        c.plan = plan;
        c.counted = 0;
        c.fired = false;
    }

    /// Mutating operations seen so far.
    pub fn ops(&self) -> u64 {
        self.ctl.lock().unwrap().total
    }

    /// Operations of one kind seen so far.
    pub fn ops_of(&self, op: IoOp) -> u64 {
        self.ctl.lock().unwrap().per_kind.get(&op).copied().unwrap_or(0)
    }

    pub fn fired(&self) -> bool {
        self.ctl.lock().unwrap().fired
    }

    /// Decides whether this operation fails.
    fn check(&self, op: IoOp) -> Option<Failure> {
        let mut c = self.ctl.lock().unwrap();
        c.total += 1;
        *c.per_kind.entry(op).or_default() += 1;
        if c.crashed {
            return Some(Failure::Crash);
        }
        let plan = c.plan?;
        if plan.only.is_some_and(|o| o != op) {
            return None;
        }
        let n = c.counted;
        c.counted += 1;
        let hit = n == plan.nth || (plan.sticky && n > plan.nth);
        if !hit {
            return None;
        }
        c.fired = true;
        if plan.failure == Failure::Crash {
            c.crashed = true;
        }
        Some(plan.failure)
    }

    /// The file system as it would be found after power loss now: durable
    /// names and bytes, plus each unsynced write kept, dropped or garbled.
    pub fn crash_image(&self, rng: &mut Rng) -> MemFs {
        self.crash_image_with(rng, CutMode::Prefix)
    }

    /// The file system as power loss during writeback would leave it:
    /// durable names and bytes, and of each unsynced write, each 4 KiB page
    /// it touched (aligned to file offsets: [`PAGE`]) landed or not on its
    /// own, in any order, with the file grown to the end of the last page
    /// that landed (or, at random, to the end of the write, as if only the
    /// new size had reached the disk: the pages that did not land read as
    /// zeros). An unsynced size change is kept or dropped. Bytes outside
    /// every write are never damaged.
    pub fn crash_image_out_of_order(&self, rng: &mut Rng) -> MemFs {
        self.crash_image_with(rng, CutMode::Pages)
    }

    fn crash_image_with(&self, rng: &mut Rng, mode: CutMode) -> MemFs {
        let tree = self.tree.lock().unwrap();
        let mut out = Tree { dirs: tree.dirs.clone(), ..Tree::default() };
        for (path, file) in &tree.durable {
            let f = file.lock().unwrap();
            let mut bytes = f.durable.clone();
            for p in &f.pending {
                if mode == CutMode::Pages {
                    land_pages(&mut bytes, p, rng);
                    continue;
                }
                match (p, rng.below(3)) {
                    (_, 0) => {}
                    (Pending::SetLen(n), _) => bytes.resize(*n as usize, 0),
                    (Pending::Write(off, data), choice) => {
                        let end = *off as usize + data.len();
                        if bytes.len() < end {
                            bytes.resize(end, 0);
                        }
                        bytes[*off as usize..end].copy_from_slice(data);
                        if choice == 2 {
                            // Torn: a prefix of the write's 512-byte sectors
                            // lands, the sectors after are garbage. Bytes
                            // outside the write are untouched (powersafe
                            // overwrite, SQLite's default assumption).
                            let sectors = (end - *off as usize).div_ceil(512) as u64;
                            let from = *off as usize + rng.below(sectors) as usize * 512;
                            for b in &mut bytes[from..end] {
                                *b = rng.next() as u8;
                            }
                        }
                    }
                }
            }
            let data = FileData { current: bytes.clone(), durable: bytes, pending: Vec::new() };
            let data = Arc::new(Mutex::new(data));
            out.current.insert(path.clone(), data.clone());
            out.durable.insert(path.clone(), data);
        }
        MemFs { tree: Arc::new(Mutex::new(out)), ctl: Arc::default(), no_allocate: self.no_allocate }
    }

    /// The file system as the running system sees it (no crash): what a
    /// reopen after a clean process exit, or after an I/O error, finds.
    pub fn current_image(&self) -> MemFs {
        let tree = self.tree.lock().unwrap();
        let mut out = Tree { dirs: tree.dirs.clone(), ..Tree::default() };
        for (path, file) in &tree.current {
            let bytes = file.lock().unwrap().current.clone();
            let data = Arc::new(Mutex::new(FileData { current: bytes.clone(), durable: bytes, pending: Vec::new() }));
            out.current.insert(path.clone(), data.clone());
            out.durable.insert(path.clone(), data);
        }
        MemFs { tree: Arc::new(Mutex::new(out)), ctl: Arc::default(), no_allocate: self.no_allocate }
    }

    /// Names of the files in `dir` and their current bytes.
    pub fn files(&self, dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let tree = self.tree.lock().unwrap();
        let mut v: Vec<_> = tree
            .current
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, f)| (p.clone(), f.lock().unwrap().current.clone()))
            .collect();
        v.sort();
        v
    }
}

/// How [`MemFs::crash_image_with`] treats each unsynced write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CutMode {
    /// Kept, dropped, or torn after a prefix of its 512-byte sectors.
    Prefix,
    /// Each 4 KiB page it touched landed or not, independently.
    Pages,
}

/// The page size of [`MemFs::crash_image_out_of_order`].
pub const PAGE: u64 = 4096;

/// Applies one unsynced change to `bytes` the way an out-of-order cut
/// leaves it: a size change kept or dropped; a write's pages each landed
/// or not (with a per-write density, so that both "almost all landed"
/// and "almost none landed" occur).
fn land_pages(bytes: &mut Vec<u8>, p: &Pending, rng: &mut Rng) {
    match p {
        Pending::SetLen(n) => {
            if rng.below(2) == 0 {
                bytes.resize(*n as usize, 0);
            }
        }
        Pending::Write(off, data) => {
            let (off, end) = (*off, *off + data.len() as u64);
            let density = 1 + rng.below(3); // a page lands with odds density/4
            let mut grown_to = bytes.len() as u64;
            let mut page = off / PAGE * PAGE;
            while page < end {
                let (lo, hi) = (off.max(page), end.min(page + PAGE));
                if rng.below(4) < density {
                    if (bytes.len() as u64) < hi {
                        bytes.resize(hi as usize, 0);
                    }
                    bytes[lo as usize..hi as usize].copy_from_slice(&data[(lo - off) as usize..(hi - off) as usize]);
                    grown_to = grown_to.max(hi);
                }
                page += PAGE;
            }
            if rng.below(3) == 0 {
                grown_to = grown_to.max(end);
            }
            if (bytes.len() as u64) < grown_to {
                bytes.resize(grown_to as usize, 0);
            }
        }
    }
}

#[derive(Debug)]
struct MemFile {
    fs: MemFs,
    data: Arc<Mutex<FileData>>,
}

impl VfsFile for MemFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let d = self.data.lock().unwrap();
        let end = offset as usize + buf.len();
        if end > d.current.len() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past end"));
        }
        buf.copy_from_slice(&d.current[offset as usize..end]);
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let (buf, err) = match self.fs.check(IoOp::Write) {
            None => (buf, None),
            Some(Failure::ShortWriteEnospc) => (&buf[..buf.len() / 2], Some(io::Error::from_raw_os_error(28))),
            Some(_) => return Err(eio()),
        };
        let mut d = self.data.lock().unwrap();
        let end = offset as usize + buf.len();
        if d.current.len() < end {
            d.current.resize(end, 0);
        }
        d.current[offset as usize..end].copy_from_slice(buf);
        d.pending.push(Pending::Write(offset, buf.to_vec()));
        err.map_or(Ok(()), Err)
    }

    fn sync_data(&self) -> io::Result<()> {
        if self.fs.check(IoOp::Sync).is_some() {
            return Err(eio());
        }
        let mut d = self.data.lock().unwrap();
        d.durable = d.current.clone();
        d.pending.clear();
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        if self.fs.check(IoOp::SetLen).is_some() {
            return Err(eio());
        }
        let mut d = self.data.lock().unwrap();
        d.current.resize(len as usize, 0);
        d.pending.push(Pending::SetLen(len));
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.data.lock().unwrap().current.len() as u64)
    }

    /// Preallocation grows the file with zeros: a size change that, like
    /// `set_len`, a crash may or may not keep.
    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        if self.fs.no_allocate {
            return Ok(());
        }
        if self.fs.check(IoOp::SetLen).is_some() {
            return Err(eio());
        }
        let mut d = self.data.lock().unwrap();
        let end = (offset + len) as usize;
        if d.current.len() < end {
            d.current.resize(end, 0);
            d.pending.push(Pending::SetLen(end as u64));
        }
        Ok(())
    }
}

impl Vfs for MemFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.tree.lock().unwrap().dirs.insert(dir.to_path_buf());
        Ok(())
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
        let mut t = self.tree.lock().unwrap();
        if !t.locks.insert(dir.to_path_buf()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "locked"));
        }
        Ok(Box::new(Unlock { tree: self.tree.clone(), dir: dir.to_path_buf() }))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let t = self.tree.lock().unwrap();
        Ok(t.current
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(String::from))
            .collect())
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        let t = self.tree.lock().unwrap();
        let data = t.current.get(path).cloned().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(Arc::new(MemFile { fs: self.clone(), data }))
    }

    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        if self.check(IoOp::Create).is_some() {
            return Err(eio());
        }
        let mut t = self.tree.lock().unwrap();
        if t.current.contains_key(path) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        let data = Arc::new(Mutex::new(FileData::default()));
        t.current.insert(path.to_path_buf(), data.clone());
        Ok(Arc::new(MemFile { fs: self.clone(), data }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        if self.check(IoOp::Remove).is_some() {
            return Err(eio());
        }
        let mut t = self.tree.lock().unwrap();
        t.current.remove(path).map(|_| ()).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        if self.check(IoOp::Rename).is_some() {
            return Err(eio());
        }
        let mut t = self.tree.lock().unwrap();
        if t.current.contains_key(to) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        let data = t.current.remove(from).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        t.current.insert(to.to_path_buf(), data);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.check(IoOp::SyncDir).is_some() {
            return Err(eio());
        }
        let mut t = self.tree.lock().unwrap();
        let Tree { current, durable, .. } = &mut *t;
        durable.retain(|p, _| p.parent() != Some(dir));
        for (p, f) in current.iter().filter(|(p, _)| p.parent() == Some(dir)) {
            durable.insert(p.clone(), f.clone());
        }
        Ok(())
    }
}

struct Unlock {
    tree: Arc<Mutex<Tree>>,
    dir: PathBuf,
}

impl Drop for Unlock {
    fn drop(&mut self) {
        self.tree.lock().unwrap().locks.remove(&self.dir);
    }
}
