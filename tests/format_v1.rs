//! Format version 1 stays readable: directories written by the version-1
//! code are frozen under `tests/fixtures/v1/`, and every build must open
//! them and serve every entry and the state exactly. A format change can
//! never silently strand users' data.
//!
//! The fixtures were written by `CHUNKLOG_WRITE_FIXTURES=1 cargo test
//! --all-features --test format_v1` with the version-1 code; never
//! regenerate them with a later format.

mod common;

use std::path::{Path, PathBuf};

use chunklog::{ChunkLog, Config};
use common::payload;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

/// A scratch copy of fixture `name` (open may trim or cut the newest chunk).
fn copy(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixtures().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}")) {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    tmp
}

fn writing() -> bool {
    std::env::var("CHUNKLOG_WRITE_FIXTURES").is_ok_and(|v| v == "1")
}

/// Writes fixture `name` with `build` (only with CHUNKLOG_WRITE_FIXTURES=1).
fn write_fixture(name: &str, build: impl FnOnce(&Path)) {
    if !writing() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    build(tmp.path());
    let out = fixtures().join(name);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    for e in std::fs::read_dir(tmp.path()).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), out.join(e.file_name())).unwrap();
        }
    }
}

fn assert_payloads(log: &ChunkLog, first: u64, last: u64, what: impl Fn(u64) -> Vec<u8>) {
    let st = log.state();
    assert_eq!((st.first_index, st.last_index), (Some(first), Some(last)));
    let got = log.read_range(..).unwrap();
    assert_eq!(got.len() as u64, last - first + 1);
    for (i, b) in got {
        assert_eq!(b.as_ref(), what(i).as_slice(), "entry {i}");
    }
}

#[test]
fn one_chunk() {
    write_fixture("one_chunk", |d| {
        let log = ChunkLog::open(Config::new(d)).unwrap();
        log.append((1..=20).map(|i| (i, payload(i)))).unwrap();
        log.save_vote(b"vote: term 3, node 2").unwrap();
        log.save_committed(Some(b"committed 15")).unwrap();
        log.save_user_meta(Some(b"user meta")).unwrap();
        log.close().unwrap();
    });
    let d = copy("one_chunk");
    assert_eq!(common::chunk_files(d.path()).len(), 1);
    let log = ChunkLog::open(Config::new(d.path())).unwrap();
    assert_payloads(&log, 1, 20, payload);
    let st = log.state();
    assert_eq!(st.vote.as_deref(), Some(b"vote: term 3, node 2".as_slice()));
    assert_eq!(st.committed.as_deref(), Some(b"committed 15".as_slice()));
    assert_eq!(st.user_meta.as_deref(), Some(b"user meta".as_slice()));
    assert_eq!(st.purged, None);
}

#[test]
fn sealed_chunks() {
    write_fixture("sealed_chunks", |d| {
        let log = ChunkLog::open(Config::new(d).chunk_max_records(8)).unwrap();
        for i in 1..=50 {
            log.append([(i, payload(i))]).unwrap();
        }
        log.save_vote(b"v").unwrap();
        log.close().unwrap();
    });
    let d = copy("sealed_chunks");
    assert!(common::chunk_files(d.path()).len() >= 6);
    let log = ChunkLog::open(Config::new(d.path()).chunk_max_records(8)).unwrap();
    assert_payloads(&log, 1, 50, payload);
    // The version-1 log takes new writes.
    log.append([(51, payload(51))]).unwrap();
    log.sync().unwrap();
}

fn rewritten(i: u64) -> Vec<u8> {
    format!("rewritten {i}").into_bytes()
}

#[test]
fn after_truncate_and_purge() {
    write_fixture("truncate_purge", |d| {
        let log = ChunkLog::open(Config::new(d).chunk_max_records(8)).unwrap();
        log.append((1..=60).map(|i| (i, payload(i)))).unwrap();
        log.truncate_after(Some(40)).unwrap();
        log.append((41..=45).map(|i| (i, rewritten(i)))).unwrap();
        log.purge(20, b"purged at 20").unwrap();
        log.close().unwrap();
    });
    let d = copy("truncate_purge");
    let log = ChunkLog::open(Config::new(d.path()).chunk_max_records(8)).unwrap();
    assert_payloads(&log, 21, 45, |i| if i <= 40 { payload(i) } else { rewritten(i) });
    let p = log.state().purged.unwrap();
    assert_eq!((p.index, p.meta.as_ref()), (20, b"purged at 20".as_slice()));
}

#[test]
fn torn_tail() {
    write_fixture("torn_tail", |d| {
        let log = ChunkLog::open(Config::new(d)).unwrap();
        log.append((1..=12).map(|i| (i, payload(i)))).unwrap();
        log.close().unwrap();
        // A crash tore the last record and left preallocated zeros.
        let chunk = common::chunk_files(d).pop().unwrap();
        let last = common::frames(&chunk).pop().unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&chunk).unwrap();
        f.set_len(last.offset + last.len / 2).unwrap();
        f.set_len(last.offset + 4096).unwrap();
    });
    let d = copy("torn_tail");
    let log = ChunkLog::open(Config::new(d.path())).unwrap();
    assert_payloads(&log, 1, 11, payload);
    assert!(log.stats().torn_bytes_cut > 0);
}

#[test]
fn openraft_010_log() {
    use openraft::entry::RaftEntry;
    use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
    use openraft::testing::log_id;
    use openraft::type_config::alias::EntryOf;
    use openraft::{RaftLogReader, Vote};
    openraft::declare_raft_types!(TC);

    let rt = tokio::runtime::Runtime::new().unwrap();
    write_fixture("openraft_010", |d| {
        rt.block_on(async {
            let mut s = chunklog::LogStore::<TC>::open(Config::new(d)).unwrap();
            let entries = (1..=10).map(|i| EntryOf::<TC>::new_normal(log_id::<TC>(1 + i / 5, 1, i), format!("e{i}")));
            s.blocking_append(entries.collect::<Vec<_>>()).await.unwrap();
            s.save_vote(&Vote::new_committed(3, 1)).await.unwrap();
            s.save_committed(Some(log_id::<TC>(2, 1, 8))).await.unwrap();
            s.purge(log_id::<TC>(1, 1, 3)).await.unwrap();
            s.close().await.unwrap();
        })
    });
    let d = copy("openraft_010");
    rt.block_on(async {
        let mut s = chunklog::LogStore::<TC>::open(Config::new(d.path())).unwrap();
        let st = s.get_log_state().await.unwrap();
        assert_eq!(st.last_purged_log_id, Some(log_id::<TC>(1, 1, 3)));
        assert_eq!(st.last_log_id, Some(log_id::<TC>(3, 1, 10)));
        assert_eq!(s.read_committed().await.unwrap(), Some(log_id::<TC>(2, 1, 8)));
        let mut r = s.get_log_reader().await;
        assert_eq!(r.read_vote().await.unwrap(), Some(Vote::new_committed(3, 1)));
        let got = r.try_get_log_entries(4..=10).await.unwrap();
        assert_eq!(got.len(), 7);
        for e in got {
            let i = e.index();
            assert_eq!(e.log_id(), log_id::<TC>(1 + i / 5, 1, i));
            assert!(matches!(&e.payload, openraft::EntryPayload::Normal(p) if *p == format!("e{i}")));
        }
    });
}

#[cfg(feature = "openraft-09")]
#[test]
fn openraft_09_log() {
    use openraft09::storage::{RaftLogStorage, RaftLogStorageExt};
    use openraft09::testing::log_id;
    use openraft09::{Entry, EntryPayload, RaftLogReader, Vote};
    openraft09::declare_raft_types!(TC9: D = String, R = String, SnapshotData = std::io::Cursor<Vec<u8>>);

    let rt = tokio::runtime::Runtime::new().unwrap();
    write_fixture("openraft_09", |d| {
        rt.block_on(async {
            let mut s = chunklog::v09::LogStore::<TC9>::open(Config::new(d)).unwrap();
            let entries: Vec<Entry<TC9>> = (1..=10)
                .map(|i| Entry { log_id: log_id(1 + i / 5, 1, i), payload: EntryPayload::Normal(format!("e{i}")) })
                .collect();
            s.blocking_append(entries).await.unwrap();
            s.save_vote(&Vote::new(3, 1)).await.unwrap();
            s.save_committed(Some(log_id(2, 1, 8))).await.unwrap();
            s.purge(log_id(1, 1, 3)).await.unwrap();
            s.close().await.unwrap();
        })
    });
    let d = copy("openraft_09");
    rt.block_on(async {
        let mut s = chunklog::v09::LogStore::<TC9>::open(Config::new(d.path())).unwrap();
        let st = s.get_log_state().await.unwrap();
        assert_eq!(st.last_purged_log_id, Some(log_id(1, 1, 3)));
        assert_eq!(st.last_log_id, Some(log_id(3, 1, 10)));
        assert_eq!(s.read_vote().await.unwrap(), Some(Vote::new(3, 1)));
        assert_eq!(s.read_committed().await.unwrap(), Some(log_id(2, 1, 8)));
        let got = s.try_get_log_entries(4..=10).await.unwrap();
        assert_eq!(got.len(), 7);
        for e in got {
            let i = e.log_id.index;
            assert_eq!(e.log_id, log_id(1 + i / 5, 1, i));
            assert!(matches!(&e.payload, EntryPayload::Normal(p) if *p == format!("e{i}")));
        }
    });
}
