//! Port of raft-log's concurrent-read regression test: 8 threads, 100
//! iterations each of 5-entry range reads over 50 entries in chunks of 5
//! records, cache off, one store shared through `Arc`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;

#[test]
fn eight_threads_read_ranges_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(dir.path(), 5);
    let log = open(&cfg);
    append_range(&log, 1..=50);
    drop(log);
    // Reopen so every read goes to disk through footers and pread.
    let log = Arc::new(open(&cfg));
    assert!(log.stats().chunks >= 10);
    let errors = Arc::new(AtomicU64::new(0));
    let mismatches = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let (log, errors, mismatches, reads) = (log.clone(), errors.clone(), mismatches.clone(), reads.clone());
            std::thread::spawn(move || {
                for iter in 0..100u64 {
                    let start = 1 + (t * 7 + iter * 3) % 46;
                    match log.read_range(start..start + 5) {
                        Ok(v) => {
                            let ok = v.len() == 5
                                && v.iter()
                                    .enumerate()
                                    .all(|(k, (i, b))| *i == start + k as u64 && b.as_ref() == payload(*i));
                            if !ok {
                                mismatches.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let panics = threads.into_iter().map(|t| t.join()).filter(Result::is_err).count();
    assert_eq!(panics, 0, "reader threads panicked");
    assert_eq!(errors.load(Ordering::Relaxed), 0, "read errors");
    assert_eq!(mismatches.load(Ordering::Relaxed), 0, "payload mismatches");
    assert_eq!(reads.load(Ordering::Relaxed), 800);
    assert_eq!(log.stats().cache_hits, 0, "cache is off");
}

#[test]
fn readers_race_a_writer_that_rotates_truncates_and_purges() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(&small(dir.path(), 5)));
    append_range(&log, 1..=20);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Entry i's payload is always payload(i) or, after a truncation that
    // rewrote it, payload(i) with the generation in the first byte.
    let readers: Vec<_> = (0..4u64)
        .map(|t| {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let st = log.state();
                    let Some(last) = st.last_index else { continue };
                    let i = 1 + (n * 13 + t) % last;
                    match log.get(i) {
                        Ok(Some(b)) => {
                            let want = payload(i);
                            assert_eq!(b.len(), want.len(), "entry {i}");
                            assert_eq!(&b[1..], &want[1..], "entry {i} carries its own bytes");
                        }
                        Ok(None) => {}
                        Err(e) => panic!("read of {i}: {e}"),
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut generation = 0u8;
    for round in 0..60u64 {
        let last = log.state().last_index.unwrap();
        log.append((last + 1..=last + 7).map(|i| (i, payload(i)))).unwrap();
        if round % 3 == 0 {
            generation = generation.wrapping_add(1);
            let keep = last + 3;
            log.truncate_after(Some(keep)).unwrap();
            log.append((keep + 1..=keep + 2).map(|i| {
                let mut p = payload(i);
                p[0] = generation;
                (i, p)
            }))
            .unwrap();
        }
        if round % 10 == 9 {
            log.purge(last / 2, b"").unwrap();
        }
        log.sync().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let total: u64 = readers.into_iter().map(|t| t.join().expect("reader panicked")).sum();
    assert!(total > 0);
}
