//! Engine behaviour through the public API: append, read, vote, committed,
//! truncate, purge, rotation, reopen after each, the lock, and typed errors.

mod common;

use std::sync::{Arc, Mutex};

use chunklog::format::{Codec, GroupFooter, Stamp};
use chunklog::{ChunkLog, Config, Error};
use common::*;

#[test]
fn append_read_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new(dir.path());
    let log = open(&cfg);
    assert_eq!(log.state(), chunklog::LogState::default());
    log.append((1..=100).map(|i| (i, payload(i)))).unwrap();
    // Readable before durable.
    assert_eq!(log.get(50).unwrap().unwrap().as_ref(), payload(50).as_slice());
    log.sync().unwrap();
    assert_entries(&log, 1, 100);
    assert_eq!(log.get(0).unwrap(), None);
    assert_eq!(log.get(101).unwrap(), None);
    assert!(log.read_range(101..).unwrap().is_empty());
    assert_eq!(log.read_range(10..13).unwrap().len(), 3);
    drop(log);
    let log = open(&cfg);
    assert_entries(&log, 1, 100);
    log.append((101..=110).map(|i| (i, payload(i)))).unwrap();
    log.close().unwrap();
    assert_entries(&open(&cfg), 1, 110);
}

#[test]
fn vote_committed_and_user_meta_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(dir.path(), 4);
    let log = open(&cfg);
    log.save_vote(b"v1").unwrap();
    append_range(&log, 1..=9);
    log.save_committed(Some(b"c7")).unwrap();
    log.save_user_meta(Some(b"meta")).unwrap();
    log.save_vote(b"v2").unwrap();
    drop(log);
    let log = open(&cfg);
    let st = log.state();
    assert_eq!(st.vote.as_deref(), Some(&b"v2"[..]));
    assert_eq!(st.committed.as_deref(), Some(&b"c7"[..]));
    assert_eq!(st.user_meta.as_deref(), Some(&b"meta"[..]));
    log.save_committed(None).unwrap();
    log.close().unwrap();
    assert_eq!(open(&cfg).state().committed, None);
}

#[test]
fn rotation_seals_chunks_and_reopen_uses_footers() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(dir.path(), 5);
    let log = open(&cfg);
    for i in 1..=40 {
        append_range(&log, i..=i);
    }
    let chunks = chunk_files(dir.path());
    assert!(chunks.len() >= 8, "40 entries in chunks of 5 records: {chunks:?}");
    // Every chunk but the newest ends with the footer trailer.
    for c in &chunks[..chunks.len() - 1] {
        let b = std::fs::read(c).unwrap();
        assert_eq!(&b[b.len() - 8..], b"CLFOOTER", "{c:?} is sealed");
    }
    drop(log);
    let log = open(&cfg);
    assert_entries(&log, 1, 40);
    assert_eq!(log.stats().chunks, chunk_files(dir.path()).len());
}

#[test]
fn truncate_then_append_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(dir.path(), 4);
    let log = open(&cfg);
    append_range(&log, 1..=20);
    log.truncate_after(Some(7)).unwrap();
    assert_eq!(log.state().last_index, Some(7));
    assert_eq!(log.get(8).unwrap(), None);
    // New entries at the truncated indexes carry other bytes.
    log.append((8..=10).map(|i| (i, vec![0xAB; i as usize]))).unwrap();
    log.sync().unwrap();
    drop(log);
    let log = open(&cfg);
    assert_eq!(log.state().last_index, Some(10));
    assert_eq!(log.get(7).unwrap().unwrap().as_ref(), payload(7).as_slice());
    assert_eq!(log.get(9).unwrap().unwrap().as_ref(), &[0xAB; 9][..]);
    log.truncate_after(None).unwrap();
    assert_eq!(log.state().last_index, None);
    log.append([(42, b"x")]).unwrap();
    log.close().unwrap();
    let log = open(&cfg);
    assert_eq!(log.state().first_index, Some(42));
    assert_eq!(log.get(42).unwrap().unwrap().as_ref(), b"x");
}

#[test]
fn purge_deletes_whole_chunks_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(dir.path(), 5);
    let log = open(&cfg);
    append_range(&log, 1..=50);
    let before = chunk_files(dir.path()).len();
    log.purge(30, b"p30").unwrap();
    log.sync().unwrap();
    assert_eq!(log.get(30).unwrap(), None);
    assert_eq!(log.get(31).unwrap().unwrap().as_ref(), payload(31).as_slice());
    // Chunks are deleted in the background once the purge is durable.
    eventually("purge frees chunks", || chunk_files(dir.path()).len() < before);
    drop(log);
    let log = open(&cfg);
    assert_entries(&log, 31, 50);
    assert_eq!(log.state().purged.unwrap().meta.as_ref(), b"p30");
    // Purge past the end: the log continues after the purge point.
    log.purge(60, b"p60").unwrap();
    assert_eq!(log.state().last_index, Some(60));
    assert!(log.read_range(..).unwrap().is_empty());
    assert!(matches!(log.append([(60, b"x")]), Err(Error::NonConsecutive { expected: 61, got: 60 })));
    log.append([(61, b"y")]).unwrap();
    log.close().unwrap();
    let log = open(&cfg);
    assert_eq!(log.state().first_index, Some(61));
    assert_eq!(log.get(61).unwrap().unwrap().as_ref(), b"y");
}

#[test]
fn invariant_violations_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&Config::new(dir.path()));
    log.append([(5, b"a")]).unwrap();
    match log.append([(7, b"b")]) {
        Err(Error::NonConsecutive { expected, got }) => assert_eq!((expected, got), (6, 7)),
        other => panic!("expected NonConsecutive, got {other:?}"),
    }
    log.append([(6, b"b"), (7, b"c")]).unwrap();
    log.purge(6, b"").unwrap();
    assert!(matches!(log.truncate_after(Some(5)), Err(Error::TruncateBelowPurged { purged: 6, .. })));
    assert!(matches!(log.truncate_after(None), Err(Error::TruncateBelowPurged { .. })));
    log.truncate_after(Some(6)).unwrap();
    assert_eq!(log.state().last_index, Some(6));
    let bad = Config::new(dir.path().join("x")).chunk_max_records(0);
    assert!(matches!(ChunkLog::open(bad), Err(Error::InvalidConfig(_))));
}

#[test]
fn second_open_is_locked_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new(dir.path());
    let log = open(&cfg);
    let clone = log.clone();
    match ChunkLog::open(cfg.clone()) {
        Err(Error::Locked { dir: d }) => assert_eq!(d, dir.path()),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(log);
    assert!(matches!(ChunkLog::open(cfg.clone()), Err(Error::Locked { .. })), "a clone keeps it open");
    drop(clone);
    open(&cfg);
}

#[test]
fn flush_callbacks_fire_in_order_after_durability() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&small(dir.path(), 7));
    let order = Arc::new(Mutex::new(Vec::new()));
    for i in 1..=200u64 {
        log.append([(i, payload(i))]).unwrap();
        let o = order.clone();
        log.flush(Box::new(move |r| {
            r.unwrap();
            o.lock().unwrap().push(i);
        }));
    }
    log.sync().unwrap();
    let order = order.lock().unwrap().clone();
    assert_eq!(order, (1..=200).collect::<Vec<_>>());
    assert!(log.stats().fsyncs < 200 + 60, "group commit batches syncs: {:?}", log.stats());
}

#[test]
fn cache_serves_recent_entries_and_stats_count() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&Config::new(dir.path()).cache(1 << 20, 10));
    append_range(&log, 1..=100);
    for i in 91..=100 {
        log.get(i).unwrap().unwrap();
    }
    let s = log.stats();
    assert_eq!(s.cache_entries, 10);
    assert_eq!(s.cache_hits, 10);
    assert_eq!(log.get(5).unwrap().unwrap().as_ref(), payload(5).as_slice());
    let s = log.stats();
    assert_eq!(s.cache_misses, 1);
    assert_eq!(s.disk_reads, 1);
    assert_eq!(s.entries, 100);
    assert!(s.index_bytes <= 100 * 32);
    // Truncation drops cached entries so new bytes are served.
    log.truncate_after(Some(95)).unwrap();
    log.append([(96, b"new")]).unwrap();
    assert_eq!(log.get(96).unwrap().unwrap().as_ref(), b"new");
}

#[test]
fn back_pressure_bounds_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&Config::new(dir.path()).flush_queue_max_bytes(64 * 1024));
    let big = vec![7u8; 16 * 1024];
    for i in 1..=200 {
        log.append([(i, &big)]).unwrap();
        assert!(log.stats().queued_bytes <= 64 * 1024 + 2 * (big.len() + 64), "{:?}", log.stats());
    }
    log.sync().unwrap();
    assert_eq!(log.stats().queued_bytes, 0);
}

#[test]
fn config_deserializes_with_defaults() {
    #[derive(serde::Deserialize)]
    struct File {
        log: Config,
    }
    let f: File = serde_json_like(r#"{"log": {"dir": "/tmp/x", "chunk_max_records": 10}}"#);
    assert_eq!(f.log.chunk_max_records, 10);
    assert_eq!(f.log.chunk_max_size, Config::new("/tmp/x").chunk_max_size);

    fn serde_json_like<T: serde::de::DeserializeOwned>(s: &str) -> T {
        serde_json::from_str(s).unwrap()
    }
}

/// Regression (found by the model test): a truncation that removes every
/// entry, recorded in a chunk sealed later, must also drop entries of
/// earlier chunks from the index rebuilt from footers.
#[test]
fn truncate_everything_then_restart_at_a_lower_index_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(dir.path(), 3);
    let log = open(&cfg);
    log.append((2..=11).map(|i| (i, payload(i)))).unwrap();
    log.truncate_after(Some(0)).unwrap();
    assert_eq!(log.state().last_index, None);
    log.append((3..=10).map(|i| (i, payload(i)))).unwrap();
    log.close().unwrap();
    assert_entries(&open(&cfg), 3, 10);
}

/// Index and chunk-id arithmetic never overflows: the largest index, a
/// state spanning every index and a chunk named with the largest id give
/// typed errors, never a panic, and the store still reopens.
#[test]
fn extreme_indexes_and_chunk_ids_are_typed_errors() {
    use chunklog::format::{self, Footer};
    use chunklog::{Error, LogState};

    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new(dir.path()).chunk_max_records(4);
    let log = ChunkLog::open(cfg.clone()).unwrap();
    let r = log.append([(u64::MAX, b"x")]);
    assert!(matches!(r, Err(Error::OutOfRange { what: "entry index", .. })), "{r:?}");
    log.append([(u64::MAX - 2, b"a"), (u64::MAX - 1, b"b")]).unwrap();
    let r = log.append([(u64::MAX, b"c")]);
    assert!(matches!(r, Err(Error::OutOfRange { .. })), "{r:?}");
    log.purge(u64::MAX, b"all").unwrap();
    assert!(matches!(log.append([(u64::MAX, b"d")]), Err(Error::OutOfRange { .. })));
    assert_eq!(log.stats().entries, 0);
    log.close().unwrap();
    let log = ChunkLog::open(cfg.clone()).unwrap();
    assert_eq!(log.state().last_index, Some(u64::MAX));
    drop(log);

    // A chunk named with the largest id: open of a sealed one cannot start
    // the next chunk; an open one cannot rotate.
    let write_chunk = |dir: &std::path::Path, state: &LogState, sealed: bool| {
        for f in std::fs::read_dir(dir).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "chunk") {
                std::fs::remove_file(p).unwrap();
            }
        }
        let at = Stamp { codec: Codec::v2(17), seq: 0 };
        let mut b = format::encode_header(u64::MAX, "", at.codec).to_vec();
        format::encode_checkpoint(&mut b, at, [(0, state)].into_iter());
        if sealed {
            let offset = b.len() as u64;
            let g = GroupFooter { group: 0, state: state.clone(), runs: Vec::new() };
            let footer = Footer { records: 1, groups: vec![g] };
            format::encode_footer(&mut b, at, offset, &footer);
        }
        std::fs::write(dir.join(format::chunk_file_name(u64::MAX)), b).unwrap();
    };
    write_chunk(dir.path(), &LogState::default(), true);
    let r = ChunkLog::open(cfg.clone());
    assert!(matches!(r, Err(Error::OutOfRange { what: "chunk id", .. })), "{r:?}");
    write_chunk(dir.path(), &LogState::default(), false);
    let log = ChunkLog::open(cfg.clone()).unwrap();
    let mut rotated = Ok(());
    for i in 1..=10u64 {
        rotated = log.append([(i, b"e")]);
        if rotated.is_err() {
            break;
        }
    }
    assert!(matches!(rotated, Err(Error::OutOfRange { what: "chunk id", .. })), "{rotated:?}");
    log.close().unwrap();
    assert!(ChunkLog::open(cfg.clone()).is_ok(), "the store still reopens");

    // A checkpoint claiming every index from 0 to the largest.
    let all = LogState { first_index: Some(0), last_index: Some(u64::MAX), ..LogState::default() };
    write_chunk(dir.path(), &all, false);
    let r = ChunkLog::open(cfg);
    assert!(matches!(r, Err(Error::Corruption { .. })), "{r:?}");
}
