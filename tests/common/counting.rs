//! A file-system layer over the real one that counts the bytes read and
//! the read and write opens, so tests bound the cost of an operation in
//! bytes instead of seconds.
#![allow(dead_code)]

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chunklog::vfs::{DirLock, StdVfs, Vfs, VfsFile};

#[derive(Debug, Default)]
pub struct Counts {
    pub bytes_read: AtomicU64,
    pub reads: AtomicU64,
    pub write_opens: AtomicU64,
    /// Directories synced, in order.
    pub synced_dirs: std::sync::Mutex<Vec<std::path::PathBuf>>,
}

/// [`StdVfs`] with counters. Clones share them.
#[derive(Debug, Default, Clone)]
pub struct CountingVfs {
    pub counts: Arc<Counts>,
}

impl CountingVfs {
    pub fn bytes_read(&self) -> u64 {
        self.counts.bytes_read.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.counts.bytes_read.store(0, Ordering::Relaxed);
        self.counts.reads.store(0, Ordering::Relaxed);
        self.counts.write_opens.store(0, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct CountingFile {
    inner: Arc<dyn VfsFile>,
    counts: Arc<Counts>,
}

impl VfsFile for CountingFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.counts.bytes_read.fetch_add(buf.len() as u64, Ordering::Relaxed);
        self.counts.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.allocate(offset, len)
    }
}

impl CountingVfs {
    fn wrap(&self, inner: Arc<dyn VfsFile>) -> Arc<dyn VfsFile> {
        Arc::new(CountingFile { inner, counts: self.counts.clone() })
    }
}

impl Vfs for CountingVfs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdVfs.create_dir_all(dir)
    }
    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
        StdVfs.lock_dir(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        StdVfs.list(dir)
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        self.counts.write_opens.fetch_add(1, Ordering::Relaxed);
        Ok(self.wrap(StdVfs.open(path)?))
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        Ok(self.wrap(StdVfs.open_read(path)?))
    }
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        Ok(self.wrap(StdVfs.create_new(path)?))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdVfs.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdVfs.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.counts.synced_dirs.lock().unwrap().push(dir.to_path_buf());
        StdVfs.sync_dir(dir)
    }
}
