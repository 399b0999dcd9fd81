//! The adapters never block a runtime worker: an `append` into a full
//! flush queue awaits room, and dropping the store (the last owning
//! handle) does not wait for the flush thread.
//!
//! Each case runs on a single-threaded runtime while the flush thread is
//! held inside a flush callback until another task on that runtime lets
//! it go. A call that blocked the runtime's only thread would keep that
//! task from running: a deadlock, caught by a watchdog.
#![cfg(feature = "openraft-010")]

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::single_node::TC;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::testing::log_id;
use openraft::type_config::alias::EntryOf;

type Store = chunklog::LogStore<TC>;

/// Far above the queue limit of the stores below: one entry fills it.
const BIG: usize = 64 * 1024;

fn entry(index: u64) -> EntryOf<TC> {
    EntryOf::<TC>::new_normal(log_id::<TC>(1, 1, index), "x".repeat(BIG))
}

/// Runs `body` on a single-threaded runtime; fails if it is not done
/// within 20 s (a blocked runtime never is).
fn on_one_thread<F: Future<Output = ()> + Send + 'static>(body: impl FnOnce() -> F + Send + 'static) {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(body());
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(Duration::from_secs(20)) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the runtime's only thread was blocked (deadlock)"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the test body panicked"),
    }
}

/// Holds the flush thread inside a flush callback; returns once it is
/// there, with the sender that lets it go.
fn hold_flush_thread(log: &chunklog::ChunkLog) -> mpsc::Sender<()> {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    log.flush(Box::new(move |_| {
        let _ = entered_tx.send(());
        let _ = release_rx.recv();
    }));
    entered_rx.recv_timeout(Duration::from_secs(10)).expect("the flush thread runs the callback");
    release_tx
}

#[test]
fn append_into_a_full_queue_awaits_room() {
    on_one_thread(|| async {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(chunklog::Config::new(dir.path()).flush_queue_max_bytes(BIG / 2)).unwrap();
        store.append([entry(1)], IOFlushed::noop()).await.unwrap();
        let release = hold_flush_thread(store.engine());
        // The queue is over its limit now, and the flush thread is held.
        store.append([entry(2)], IOFlushed::noop()).await.unwrap();
        assert!(!store.engine().has_room());

        let appender = tokio::spawn(async move {
            let (tx, rx) = <TC as openraft::type_config::TypeConfigExt>::oneshot();
            store.append([entry(3)], IOFlushed::signal(tx)).await.unwrap();
            rx.await.unwrap().unwrap();
            store
        });
        // Runs only if the appender yielded instead of blocking the thread.
        let releaser = tokio::spawn(async move { release.send(()).unwrap() });
        releaser.await.unwrap();
        let store = appender.await.unwrap();
        assert_eq!(store.engine().state().last_index, Some(3));
        drop(dir);
    });
}

#[test]
fn dropping_the_store_does_not_wait_for_the_flush_thread() {
    on_one_thread(|| async {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(chunklog::Config::new(dir.path())).unwrap();
        store.append([entry(1)], IOFlushed::noop()).await.unwrap();
        let release = hold_flush_thread(store.engine());
        store.append([entry(2)], IOFlushed::noop()).await.unwrap();

        // Dropping the last owning handle while the flush thread is held.
        let dropper = tokio::spawn(async move { drop(store) });
        let releaser = tokio::spawn(async move { release.send(()).unwrap() });
        dropper.await.unwrap();
        releaser.await.unwrap();

        // Reopening waits for the old store to finish closing; nothing is lost.
        let store = Store::open(chunklog::Config::new(dir.path())).unwrap();
        assert_eq!(store.engine().state().last_index, Some(2));
    });
}
