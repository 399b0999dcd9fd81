//! The cost of many small appends between two flushes: their frames are
//! encoded into a few shared buffers, so the flush writes a few buffers,
//! not one per append (counted on a file system that records the buffers
//! of every vectored write).

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chunklog::vfs::{DirLock, Vfs, VfsFile};
use chunklog::{ChunkLog, Config};
use common::hold_flushes;
use common::memfs::MemFs;

/// MemFs, recording the most buffers one vectored write was given.
#[derive(Debug, Clone, Default)]
struct CountingBufs {
    inner: MemFs,
    most: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct File {
    inner: Arc<dyn VfsFile>,
    most: Arc<AtomicUsize>,
}

impl VfsFile for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.inner.write_all_at(buf, offset)
    }
    fn write_all_vectored_at(&self, bufs: &[&[u8]], offset: u64) -> std::io::Result<()> {
        self.most.fetch_max(bufs.len(), Ordering::Relaxed);
        self.inner.write_all_vectored_at(bufs, offset)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.inner.sync_data()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.inner.set_len(len)
    }
    fn size(&self) -> std::io::Result<u64> {
        self.inner.size()
    }
}

impl CountingBufs {
    fn wrap(&self, inner: Arc<dyn VfsFile>) -> Arc<dyn VfsFile> {
        Arc::new(File { inner, most: self.most.clone() })
    }
}

impl Vfs for CountingBufs {
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn lock_dir(&self, dir: &Path) -> std::io::Result<DirLock> {
        self.inner.lock_dir(dir)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn open(&self, path: &Path) -> std::io::Result<Arc<dyn VfsFile>> {
        Ok(self.wrap(self.inner.open(path)?))
    }
    fn create_new(&self, path: &Path) -> std::io::Result<Arc<dyn VfsFile>> {
        Ok(self.wrap(self.inner.create_new(path)?))
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        self.inner.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.sync_dir(dir)
    }
}

#[test]
fn many_small_appends_are_written_as_a_few_buffers() {
    let vfs = CountingBufs::default();
    let log = ChunkLog::open_with_vfs(Config::new("/db"), Arc::new(vfs.clone())).unwrap();
    // 5,000 one-entry appends of 100 B (500 KiB of frames) queue up while
    // the flush thread is held, each with its own flush callback, as the
    // openraft adapter appends.
    let acked = Arc::new(Mutex::new(0u64));
    let gate = hold_flushes(&log);
    for i in 1..=5_000u64 {
        log.append([(i, vec![i as u8; 100])]).unwrap();
        let acked = acked.clone();
        log.flush(Box::new(move |r| {
            r.unwrap();
            *acked.lock().unwrap() += 1;
        }));
    }
    drop(gate);
    log.sync().unwrap();
    assert_eq!(*acked.lock().unwrap(), 5_000);
    let most = vfs.most.load(Ordering::Relaxed);
    assert!(most <= 64, "one flush wrote {most} buffers for 5,000 small appends");
    assert_eq!(log.read_range(1..=5_000).unwrap().len(), 5_000);
}
