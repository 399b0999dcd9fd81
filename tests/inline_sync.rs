//! `sync` writes and syncs on the calling thread (the write-group leader)
//! while other threads wait on flush callbacks: whatever a `sync` or a
//! callback acknowledged is in every power-cut image taken after it, and
//! callbacks still fire on the flush thread in registration order.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use chunklog::{ChunkLog, Config};
use common::memfs::MemFs;
use common::model::Rng;

fn bytes(group: u64, index: u64) -> Vec<u8> {
    let mut b = group.to_le_bytes().to_vec();
    b.extend_from_slice(&index.to_le_bytes());
    b.resize(40 + (index % 50) as usize, group as u8);
    b
}

fn cfg() -> Config {
    // Small chunks: syncs and callbacks meet rotations.
    Config::new("/db").chunk_max_size(8192).chunk_max_records(50).reclaim_percent(0)
}

#[test]
fn concurrent_syncs_and_callbacks_lose_nothing_acknowledged() {
    let fs = MemFs::new();
    let log = ChunkLog::open_with_vfs(cfg(), Arc::new(fs.clone())).unwrap();
    let acked: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let per_thread = 300 * common::scale();
    let writers: Vec<_> = (1..=4u64)
        .map(|g| {
            let (log, acked) = (log.group(g), acked.clone());
            std::thread::spawn(move || {
                for i in 1..=per_thread {
                    log.append([(i, bytes(g, i))]).unwrap();
                    // Groups 1 and 2 sync; 3 and 4 wait on a callback; every
                    // tenth round the other way round.
                    if (g <= 2) != (i % 10 == 0) {
                        log.sync().unwrap();
                    } else {
                        let (tx, rx) = sync_channel(1);
                        log.flush(Box::new(move |r| tx.send(r).unwrap()));
                        rx.recv().unwrap().unwrap();
                    }
                    acked.lock().unwrap().push((g, i));
                }
            })
        })
        .collect();
    // Power cuts while they run: each image must hold every write
    // acknowledged before it was taken.
    let mut rng = Rng(7);
    let mut checked = 0;
    let cutter = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut images = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(3));
                let before = acked.lock().unwrap().clone();
                images.push((before, fs.crash_image(&mut rng)));
            }
            images
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let images = cutter.join().unwrap();
    let s = log.stats();
    assert!(s.inline_flushes > 0, "some syncs flushed on their own thread: {s:?}");
    drop(log);
    for (n, (before, image)) in images.iter().enumerate() {
        let log = ChunkLog::open_with_vfs(cfg(), Arc::new(image.clone()))
            .unwrap_or_else(|e| panic!("image {n}: reopen failed: {e}"));
        for &(g, i) in before {
            let got = log.group(g).get(i).unwrap();
            assert_eq!(got.as_deref(), Some(bytes(g, i).as_slice()), "image {n}: acknowledged entry {i} of group {g}");
            checked += 1;
        }
    }
    assert!(images.len() > 3 && checked > 100, "{} images, {checked} entries checked", images.len());
    println!("{} power-cut images, {checked} acknowledged entries found in them", images.len());
}

/// A lone writer that syncs after each append flushes on its own thread:
/// one `fdatasync` per sync, and the flush thread writes nothing.
#[test]
fn a_lone_writers_sync_costs_one_fdatasync() {
    let fs = MemFs::new();
    let log = ChunkLog::open_with_vfs(Config::new("/db").reclaim_percent(0), Arc::new(fs.clone())).unwrap();
    let before = log.stats();
    for i in 1..=200 {
        log.append([(i, bytes(0, i))]).unwrap();
        log.sync().unwrap();
    }
    let s = log.stats();
    assert_eq!(s.fsyncs - before.fsyncs, 200, "{s:?}");
    // The flush thread, woken by each append, may take a batch before the
    // writer does (the writer's sync then finds it durable, and syncs
    // nothing more); the others are the writer's.
    assert!(s.inline_flushes > before.inline_flushes, "{s:?}");
}
