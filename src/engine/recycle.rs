//! Recycled chunk files: the pool of purged chunk files kept for reuse
//! as new chunks (`Config::recycle_chunks_max`).
//!
//! Deleting a 64 MiB file on ext4 mounted with `discard` trims its blocks
//! inside the journal commit, and every `fdatasync` of the file system
//! waits for that commit: appends stalled for tens of milliseconds after
//! each purge. A recycled file is renamed instead (a small journal
//! update), and its blocks, already allocated and written, take the next
//! chunk's records without any metadata to sync.
//!
//! The life of a file:
//! 1. the purge thread renames a purged chunk `N.chunk` to `N.free`; the
//!    file joins the pool once a later directory sync (the flush thread's,
//!    when it creates a chunk) made the rename durable: a new chunk must
//!    never be written into a file whose old name could come back after a
//!    crash. (The purge thread does not sync the directory for renames:
//!    nothing needs them durable sooner, and a rename a crash loses only
//!    brings back a purged chunk, which open deletes.)
//! 2. the flush thread, creating chunk `M`, takes a file from the pool,
//!    writes `M`'s header and checkpoint at its start, syncs it, renames it
//!    to `M.chunk` (never over an existing file) and syncs the directory;
//! 3. the old bytes after what `M` has written are the previous life's
//!    frames, sealed with another CRC salt: recovery reads them as the end
//!    of `M`'s records, like a torn tail, and cuts them. Sealing or closing
//!    `M` gives them back (the file is cut at its last record).
//!
//! A crash between the steps leaves either a `.free` file (ignored by
//! recovery, taken back into the pool at open, whatever its header says)
//! or a complete new chunk.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::format;
use crate::vfs::Vfs;

/// A file in the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Free {
    /// The chunk id it had: it names the file (`{id}.free`).
    pub id: u64,
    /// The CRC salt of its last life, which the next life must not reuse.
    pub salt: u32,
    /// Its length.
    pub len: u64,
}

/// The free files, shared by the purge thread (which adds) and the flush
/// thread (which takes).
pub(crate) struct Pool {
    dir: PathBuf,
    max: usize,
    free: Mutex<Files>,
}

#[derive(Default)]
struct Files {
    /// Renamed durably: ready for reuse.
    ready: Vec<Free>,
    /// Renamed, not yet covered by a directory sync.
    pending: Vec<Free>,
}

impl Pool {
    /// An empty pool of at most `max` files (0: recycling off).
    pub fn new(dir: &Path, max: usize) -> Self {
        Pool { dir: dir.to_path_buf(), max, free: Mutex::new(Files::default()) }
    }

    /// Finds the `.free` files in `dir` left by an earlier run, keeps at
    /// most `max` of them (the newest) and deletes the others, and those
    /// whose header no longer says which salt they were written with.
    pub fn load(vfs: &dyn Vfs, dir: &Path, max: usize) -> std::io::Result<Self> {
        let pool = Pool::new(dir, max);
        let mut ids: Vec<u64> = vfs.list(dir)?.iter().filter_map(|n| format::parse_free_file_name(n)).collect();
        ids.sort_unstable();
        let keep = ids.len().saturating_sub(max);
        let mut removed = false;
        for (n, &id) in ids.iter().enumerate() {
            let path = pool.path(id);
            let free = if n >= keep { read_free(vfs, &path, id) } else { None };
            match free {
                Some(f) => pool.free.lock().ready.push(f),
                None => {
                    vfs.remove_file(&path)?;
                    removed = true;
                }
            }
        }
        if removed {
            vfs.sync_dir(dir)?;
        }
        Ok(pool)
    }

    /// The path of the free file that was chunk `id`.
    pub fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format::free_file_name(id))
    }

    /// Whether the pool takes one more file.
    pub fn has_room(&self) -> bool {
        let f = self.free.lock();
        f.ready.len() + f.pending.len() < self.max
    }

    /// Adds a file just renamed to `.free`: reusable after the next
    /// directory sync.
    pub fn add_pending(&self, file: Free) {
        self.free.lock().pending.push(file);
    }

    /// How many files wait for a directory sync; call before the sync and
    /// pass the count to [`dir_synced`](Self::dir_synced) after it.
    pub fn pending(&self) -> usize {
        self.free.lock().pending.len()
    }

    /// A directory sync that started after the first `n` pending renames
    /// succeeded: those files are ready for reuse.
    pub fn dir_synced(&self, n: usize) {
        let mut f = self.free.lock();
        let n = n.min(f.pending.len());
        let done: Vec<Free> = f.pending.drain(..n).collect();
        f.ready.extend(done);
    }

    /// Takes a ready file whose last salt is not `salt` (the new chunk's),
    /// the most recently added first.
    pub fn take(&self, salt: u32) -> Option<Free> {
        let mut f = self.free.lock();
        let at = f.ready.iter().rposition(|x| x.salt != salt)?;
        Some(f.ready.remove(at))
    }

    /// `(files, bytes)` in the pool, ready or waiting for a directory sync.
    pub fn sizes(&self) -> (usize, u64) {
        let f = self.free.lock();
        let all = f.ready.iter().chain(&f.pending);
        (f.ready.len() + f.pending.len(), all.map(|x| x.len).sum())
    }
}

/// The salt and length of a free file, from its header; `None` if the
/// header does not read (a crash tore its rewrite: the salt of the bytes
/// after it is unknown, so the file is not reused).
fn read_free(vfs: &dyn Vfs, path: &Path, id: u64) -> Option<Free> {
    let f = vfs.open_read(path).ok()?;
    let len = f.size().ok()?;
    let mut h = [0u8; format::HEADER_LEN];
    f.read_exact_at(&mut h, 0).ok()?;
    let header = format::decode_header(&h).ok()?;
    Some(Free { id, salt: header.codec.salt, len })
}
