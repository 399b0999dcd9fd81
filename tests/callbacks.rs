//! Flush callbacks are user code on the flush thread: none of them can
//! hang or abort the store. A panicking callback is contained, a callback
//! may drop the last handle, calls that would wait for the flush thread
//! fail at once, callbacks fire in registration order around poisoning,
//! and a flush thread that dies poisons the store instead of leaving
//! waiters hanging.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chunklog::{ChunkLog, Config, Error};
use common::memfs::{Failure, FaultPlan, IoOp, MemFs};

/// How long a test waits before it calls a call hung.
const HANG: Duration = Duration::from_secs(20);

fn cfg(dir: &std::path::Path) -> Config {
    Config::new(dir).cache(0, 0)
}

/// Runs `f` on a thread and fails the test if it does not return in time.
fn no_hang<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG).unwrap_or_else(|_| panic!("{what} hung"))
}

#[test]
fn a_panicking_callback_does_not_take_the_store_down() {
    let dir = tempfile::tempdir().unwrap();
    let log = ChunkLog::open(cfg(dir.path())).unwrap();
    log.append([(1, b"a")]).unwrap();
    log.flush(Box::new(|_| panic!("a callback that panics")));
    let l = log.clone();
    no_hang("append and sync after a panicking callback", move || {
        l.append([(2, b"b")]).unwrap();
        l.sync().unwrap();
    });
    assert!(!log.is_poisoned());
    log.close().unwrap();
    let log = ChunkLog::open(cfg(dir.path())).unwrap();
    assert_eq!(log.state().last_index, Some(2));
}

#[test]
fn a_callback_may_drop_the_last_handle() {
    let dir = tempfile::tempdir().unwrap();
    let log = ChunkLog::open(cfg(dir.path())).unwrap();
    log.append([(1, b"a")]).unwrap();
    let (go, wait) = mpsc::channel::<()>();
    let (dropped, was_dropped) = mpsc::channel::<()>();
    let last = log.clone();
    log.flush(Box::new(move |r| {
        r.unwrap();
        wait.recv().unwrap();
        // Writes from a callback are fine; then the last handle goes.
        last.append([(2, b"written by the callback")]).unwrap();
        drop(last);
        dropped.send(()).unwrap();
    }));
    drop(log);
    go.send(()).unwrap();
    was_dropped.recv_timeout(HANG).expect("the callback dropped the last handle");
    // The flush thread shuts down on its own: it flushes entry 2 and
    // releases the lock, and an open waits for that.
    let d = dir.path().to_path_buf();
    let log = no_hang("reopen", move || ChunkLog::open(cfg(&d)).unwrap());
    assert_eq!(log.state().last_index, Some(2));
    assert_eq!(log.get(2).unwrap().unwrap().as_ref(), b"written by the callback");
}

#[test]
fn calls_that_would_wait_for_the_flush_thread_fail_in_a_callback() {
    let dir = tempfile::tempdir().unwrap();
    let log = ChunkLog::open(cfg(dir.path()).flush_queue_max_bytes(64)).unwrap();
    log.append([(1, b"a")]).unwrap();
    let (tx, rx) = mpsc::channel();
    let l = log.clone();
    log.flush(Box::new(move |_| {
        let sync = l.sync();
        let vote = l.save_vote(b"v");
        // The first append fits (the queue is empty); the second finds it
        // full and would wait for the flush thread.
        let first = l.append([(2, [7u8; 100])]);
        let second = l.append([(3, [7u8; 100])]);
        tx.send((sync, vote, first, second)).unwrap();
    }));
    let (sync, vote, first, second) = rx.recv_timeout(HANG).expect("the callback hung");
    assert!(matches!(sync, Err(Error::FromCallback { op: "sync" })), "{sync:?}");
    assert!(matches!(vote, Err(Error::FromCallback { .. })), "{vote:?}");
    assert!(first.is_ok(), "{first:?}");
    assert!(matches!(second, Err(Error::FromCallback { .. })), "{second:?}");
    assert_eq!(log.state().vote, None, "a refused save_vote writes nothing");
    log.sync().unwrap();
    assert_eq!(log.state().last_index, Some(2));
}

#[test]
fn callbacks_fire_in_registration_order_around_poisoning() {
    let fs = MemFs::new();
    let log = ChunkLog::open_with_vfs(Config::new("/db"), Arc::new(fs.clone())).unwrap();
    fs.set_plan(Some(FaultPlan { only: Some(IoOp::Sync), nth: 0, failure: Failure::Eio, sticky: true }));
    let order = Arc::new(Mutex::new(Vec::new()));
    let (release, held) = mpsc::channel::<()>();
    log.append([(1, b"a")]).unwrap();
    let o = order.clone();
    log.flush(Box::new(move |r| {
        // The flush thread is still failing this one when the next is
        // registered.
        held.recv().unwrap();
        o.lock().unwrap().push(("first", r.is_err()));
    }));
    common::eventually("poisoned", || log.is_poisoned());
    let o = order.clone();
    log.flush(Box::new(move |r| o.lock().unwrap().push(("second", r.is_err()))));
    release.send(()).unwrap();
    common::eventually("both fired", || order.lock().unwrap().len() == 2);
    assert_eq!(*order.lock().unwrap(), [("first", true), ("second", true)]);
}

/// A file layer whose `fdatasync` panics once armed: a bug in the I/O path
/// kills the flush thread outside any callback.
#[derive(Debug, Clone, Default)]
struct PanickingSync {
    inner: MemFs,
    armed: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug)]
struct PanickingFile {
    inner: Arc<dyn chunklog::vfs::VfsFile>,
    armed: Arc<std::sync::atomic::AtomicBool>,
}

impl chunklog::vfs::VfsFile for PanickingFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        assert!(!self.armed.load(std::sync::atomic::Ordering::SeqCst), "injected panic in fdatasync");
        self.inner.sync_data()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.inner.set_len(len)
    }
    fn size(&self) -> std::io::Result<u64> {
        self.inner.size()
    }
}

impl chunklog::vfs::Vfs for PanickingSync {
    fn create_dir_all(&self, dir: &std::path::Path) -> std::io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn lock_dir(&self, dir: &std::path::Path) -> std::io::Result<chunklog::vfs::DirLock> {
        self.inner.lock_dir(dir)
    }
    fn list(&self, dir: &std::path::Path) -> std::io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn open(&self, path: &std::path::Path) -> std::io::Result<Arc<dyn chunklog::vfs::VfsFile>> {
        let inner = self.inner.open(path)?;
        Ok(Arc::new(PanickingFile { inner, armed: self.armed.clone() }))
    }
    fn create_new(&self, path: &std::path::Path) -> std::io::Result<Arc<dyn chunklog::vfs::VfsFile>> {
        let inner = self.inner.create_new(path)?;
        Ok(Arc::new(PanickingFile { inner, armed: self.armed.clone() }))
    }
    fn remove_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, dir: &std::path::Path) -> std::io::Result<()> {
        self.inner.sync_dir(dir)
    }
}

#[test]
fn a_dying_flush_thread_poisons_instead_of_hanging_waiters() {
    let vfs = PanickingSync::default();
    let log = ChunkLog::open_with_vfs(Config::new("/db"), Arc::new(vfs.clone())).unwrap();
    log.append([(1, b"a")]).unwrap();
    log.sync().unwrap();
    vfs.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    log.append([(2, b"b")]).unwrap();
    let l = log.clone();
    let r = no_hang("sync on a dead flush thread", move || l.sync());
    assert!(r.is_err(), "{r:?}");
    assert!(log.is_poisoned());
    let l = log.clone();
    let r = no_hang("append after the flush thread died", move || l.append([(3, b"c")]));
    assert!(matches!(r, Err(Error::Poisoned { .. })), "{r:?}");
    no_hang("dropping the store", move || drop(log));
    // The directory is free again, and not left marked as closing: a
    // second open while a new store holds it is refused at once.
    vfs.armed.store(false, std::sync::atomic::Ordering::SeqCst);
    let reopened = ChunkLog::open_with_vfs(Config::new("/db"), Arc::new(vfs.clone())).unwrap();
    let again = no_hang("an open of a held directory", move || {
        ChunkLog::open_with_vfs(Config::new("/db"), Arc::new(vfs)).map(drop)
    });
    assert!(matches!(again, Err(Error::Locked { .. })), "{again:?}");
    drop(reopened);
}
