//! When a store closes: only owning handles keep it open; handles left
//! behind get `Closed`; a store closed in the background lets a reopen in
//! the same process through as soon as it is done; and a poisoned store
//! reports its failure (with the I/O error's kind) for what never reached
//! the disk.

mod common;

use std::sync::Arc;

use chunklog::{ChunkLog, Config, Error};
use common::memfs::{Failure, FaultPlan, IoOp, MemFs};

#[test]
fn non_owning_handles_do_not_keep_the_store_open() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new(dir.path());
    let log = ChunkLog::open(cfg.clone()).unwrap();
    log.append([(1, b"one")]).unwrap();
    let reader = log.non_owning();
    assert!(!reader.is_owning());
    assert_eq!(reader.get(1).unwrap().unwrap().as_ref(), b"one");
    drop(log);
    // The directory is free although a reader is still alive.
    let reopened = ChunkLog::open(cfg).expect("reopen while a non-owning handle lives");
    assert!(matches!(reader.get(1), Err(Error::Closed)), "{:?}", reader.get(1));
    assert!(matches!(reader.append([(2, b"two")]), Err(Error::Closed)));
    assert!(matches!(reader.sync(), Err(Error::Closed)));
    assert_eq!(reopened.get(1).unwrap().unwrap().as_ref(), b"one");
}

#[test]
fn a_store_closed_in_the_background_can_be_reopened_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new(dir.path()).chunk_max_records(4);
    for round in 0..100u64 {
        let log = ChunkLog::open(cfg.clone()).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let first = round * 10 + 1;
        log.append((first..first + 10).map(|i| (i, i.to_le_bytes()))).unwrap();
        if round > 0 {
            log.purge(first - 5, b"p").unwrap();
        }
        // Not synced: the background close flushes it.
        log.close_in_background();
    }
    let log = ChunkLog::open(cfg).unwrap();
    assert_eq!(log.state().last_index, Some(1000));
    assert_eq!(log.get(1000).unwrap().unwrap().as_ref(), 1000u64.to_le_bytes());
}

#[test]
fn reads_of_what_never_reached_the_disk_fail_with_the_poisoning_error() {
    let fs = MemFs::new();
    let log = ChunkLog::open_with_vfs(Config::new("/db").cache(0, 0), Arc::new(fs.clone())).unwrap();
    log.append([(1, b"durable")]).unwrap();
    log.sync().unwrap();
    fs.set_plan(Some(FaultPlan { only: Some(IoOp::Write), nth: 0, failure: Failure::ShortWriteEnospc, sticky: true }));
    log.append((2..=4u64).map(|i| (i, [i as u8; 100]))).unwrap();
    let err = log.sync().unwrap_err();
    assert_eq!(err.io_kind(), Some(std::io::ErrorKind::StorageFull), "{err}");
    assert_eq!(err.raw_os_error(), Some(28));
    let read = log.read_range(2..=4).unwrap_err();
    assert!(matches!(read, Error::Poisoned { kind: std::io::ErrorKind::StorageFull, .. }), "{read:?}");
    assert_eq!(std::io::Error::from(read).kind(), std::io::ErrorKind::StorageFull);
    assert_eq!(log.get(1).unwrap().unwrap().as_ref(), b"durable", "what was durable still reads");
    let later = log.append([(5, b"x")]).unwrap_err();
    assert_eq!(later.io_kind(), Some(std::io::ErrorKind::StorageFull));
}

/// `close_with` returns at once and fires once the directory is free: a
/// lock taken from elsewhere (another process would use the same flock)
/// then succeeds at once.
#[test]
fn close_with_fires_once_the_directory_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let log = ChunkLog::open(Config::new(dir.path())).unwrap();
    log.append((1..=100u64).map(|i| (i, [i as u8; 64]))).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    log.close_with(Box::new(move |r| tx.send(r).unwrap()));
    rx.recv_timeout(std::time::Duration::from_secs(20)).expect("closed").unwrap();
    let lock = chunklog::inspect::lock(dir.path()).expect("the directory is free once closed");
    assert!(lock.is_some());
    drop(lock);
    let log = ChunkLog::open(Config::new(dir.path())).unwrap();
    assert_eq!(log.state().last_index, Some(100), "the queued entries were flushed");
}

/// A new log directory's own entry is made durable in its parent before
/// anything is acknowledged in it: otherwise a power cut could lose the
/// directory with every synced chunk inside.
#[test]
fn a_new_log_directory_is_synced_in_its_parent() {
    let root = tempfile::tempdir().unwrap();
    let parent = root.path().join("node1");
    let dir = parent.join("raft-log");
    let vfs = common::counting::CountingVfs::default();
    let log = ChunkLog::open_with_vfs(Config::new(&dir), Arc::new(vfs.clone())).unwrap();
    log.close().unwrap();
    let synced = vfs.counts.synced_dirs.lock().unwrap().clone();
    let parent_at = synced.iter().position(|d| *d == parent).expect("the parent directory was synced");
    let dir_at = synced.iter().position(|d| *d == dir).expect("the log directory was synced");
    assert!(parent_at < dir_at, "the parent first: {synced:?}");
}
