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

/// Row 9 of the fault matrix: 8 readers doing random reads (cache off,
/// chunks of 5 records) while a writer appends, rotates, truncates and
/// purges. Every read returns exactly the bytes some append wrote at that
/// index, or nothing (purged, truncated, not yet appended): never another
/// record.
#[test]
fn readers_race_a_writer_that_rotates_truncates_and_purges() {
    use common::model::{Rng, entry_bytes};
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(&small(dir.path(), 5)));
    log.append((1..=20).map(|i| (i, entry_bytes(i, 0, 40)))).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..8u64)
        .map(|t| {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(t);
                let (mut hits, mut misses) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let st = log.state();
                    let (Some(first), Some(last)) = (st.first_index, st.last_index) else { continue };
                    // Mostly live indexes, some just purged or beyond the end.
                    let i = (first + rng.below(last - first + 4)).saturating_sub(2);
                    match log.get(i) {
                        Ok(Some(b)) => {
                            let index = u64::from_le_bytes(b[..8].try_into().unwrap());
                            let seq = u64::from_le_bytes(b[8..16].try_into().unwrap());
                            assert_eq!(index, i, "read of {i} returned entry {index}");
                            assert_eq!(b.as_ref(), entry_bytes(i, seq, b.len()).as_slice(), "entry {i} bytes");
                            hits += 1;
                        }
                        Ok(None) => misses += 1,
                        Err(e) => panic!("read of {i}: {e}"),
                    }
                }
                (hits, misses)
            })
        })
        .collect();
    let mut rng = Rng(99);
    for round in 1..=200u64 {
        let last = log.state().last_index.unwrap();
        log.append((last + 1..=last + 1 + rng.below(6)).map(|i| (i, entry_bytes(i, round, 40)))).unwrap();
        if round % 3 == 0 {
            let first = log.state().first_index.unwrap();
            let last = log.state().last_index.unwrap();
            if last > first + 2 {
                let keep = last - 1 - rng.below(2);
                log.truncate_after(Some(keep)).unwrap();
                log.append((keep + 1..=keep + 3).map(|i| (i, entry_bytes(i, 1000 + round, 40)))).unwrap();
            }
        }
        if round % 10 == 0 {
            let last = log.state().last_index.unwrap();
            log.purge(last - 10, b"").unwrap();
        }
        if round % 4 == 0 {
            log.sync().unwrap();
        }
    }
    log.sync().unwrap();
    stop.store(true, Ordering::Relaxed);
    let (hits, misses) =
        readers.into_iter().map(|t| t.join().expect("reader panicked")).fold((0, 0), |(h, m), (a, b)| (h + a, m + b));
    println!("8 readers: {hits} exact reads, {misses} reads of absent entries");
    assert!(hits > 1000, "{hits} reads checked");
    assert!(log.stats().chunks > 2);
}

/// A read over many chunks is done in passes; a truncation and re-append
/// landing between two passes must not make one read return entries of
/// both versions (it starts again, or stops before the change).
#[test]
fn long_reads_never_mix_entries_from_before_and_after_a_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&small(dir.path(), 4).cache(0, 0));
    let ver = |v: u64, i: u64| format!("{v}:{i}").into_bytes();
    log.append((1..=200).map(|i| (i, ver(0, i)))).unwrap();
    log.sync().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (log, stop, done) = (log.clone(), stop.clone(), done.clone());
        std::thread::spawn(move || {
            let mut v = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                done.store(v, std::sync::atomic::Ordering::Relaxed);
                v += 1;
                log.truncate_after(Some(100)).unwrap();
                log.append((101..=200).map(|i| (i, ver(v, i)))).unwrap();
                // On disk, so a read of them takes several passes.
                log.sync().unwrap();
            }
            v
        })
    };
    let (mut reads, mut mixed) = (0, 0);
    // At least 1.5 s and 20 rounds of the writer (a loaded machine slows
    // it down), at most 60 s.
    let start = std::time::Instant::now();
    let enough = |t: std::time::Duration| {
        (t.as_millis() >= 1500 && done.load(std::sync::atomic::Ordering::Relaxed) >= 20) || t.as_secs() >= 60
    };
    while !enough(start.elapsed()) {
        let got = log.read_range(1..=200).unwrap();
        reads += 1;
        for (k, (i, _)) in got.iter().enumerate() {
            assert_eq!(*i, k as u64 + 1, "read {reads}: not consecutive from 1");
        }
        let versions: std::collections::BTreeSet<&[u8]> = got
            .iter()
            .filter(|(i, _)| *i > 100)
            .map(|(_, b)| {
                let s = b.as_ref();
                &s[..s.iter().position(|&c| c == b':').unwrap()]
            })
            .collect();
        if versions.len() > 1 {
            mixed += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = writer.join().unwrap();
    println!("{reads} reads of 200 entries in 50 chunks against {rounds} truncate-and-append rounds: {mixed} mixed");
    assert!(rounds > 10, "{rounds} rounds");
    assert_eq!(mixed, 0, "reads that returned entries of two versions");
}
