//! What an openraft application sees when chunklog fails: a full disk
//! must stay recognisable as one (`io::ErrorKind::StorageFull`) through
//! the 0.10 adapter's flush callback and every later call, and a
//! `chunklog::Error` converts into both openraft lines' `StorageError`
//! with a fitting subject and verb.

mod common;

#[cfg(feature = "openraft-010")]
mod v010 {
    use std::io;
    use std::sync::Arc;

    use chunklog::{ChunkLog, Config, Error, LogStore};
    use openraft::entry::RaftEntry;
    use openraft::storage::{IOFlushed, RaftLogStorage};
    use openraft::testing::log_id;
    use openraft::type_config::TypeConfigExt as _;
    use openraft::type_config::alias::EntryOf;
    use openraft::{StorageError, Vote};

    use crate::common::memfs::{Failure, FaultPlan, IoOp, MemFs};
    use crate::common::single_node::TC;

    fn entry(index: u64) -> EntryOf<TC> {
        EntryOf::<TC>::new_normal(log_id::<TC>(1, 1, index), format!("entry {index}"))
    }

    /// Appends through the adapter and returns what `append` and then the
    /// flush callback report.
    async fn append(store: &mut LogStore<TC>, index: u64) -> Result<(), io::Error> {
        let (tx, rx) = TC::oneshot();
        store.append([entry(index)], IOFlushed::signal(tx)).await?;
        rx.await.expect("the callback fires")
    }

    /// The chunklog error inside an `io::Error` the adapter returned.
    fn inner(e: &io::Error) -> &Error {
        e.get_ref().and_then(|r| r.downcast_ref::<Error>()).expect("the io::Error wraps a chunklog::Error")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_disk_reads_as_storage_full_in_the_callback_and_after() {
        let fs = MemFs::new();
        let cfg =
            Config::new("/db").chunk_max_size(4096).tag(chunklog::openraft_v010::tag::<chunklog::codec::Bincode2>());
        let log = ChunkLog::open_with_vfs(cfg, Arc::new(fs.clone())).unwrap();
        let mut store = LogStore::<TC>::from_engine(log).unwrap();
        append(&mut store, 1).await.unwrap();

        // The next write stores half its bytes and fails with ENOSPC.
        fs.set_plan(Some(FaultPlan {
            only: Some(IoOp::Write),
            nth: 0,
            failure: Failure::ShortWriteEnospc,
            sticky: false,
        }));
        let e = append(&mut store, 2).await.expect_err("the flush of entry 2 fails");
        assert_eq!(e.kind(), io::ErrorKind::StorageFull, "flush callback: {e}");

        // The store is poisoned now; every later call says why.
        let e = append(&mut store, 3).await.expect_err("a poisoned store refuses appends");
        assert!(matches!(inner(&e), Error::Poisoned { .. }), "append after the failure: {e:?}");
        assert_eq!(e.kind(), io::ErrorKind::StorageFull, "append after the failure: {e}");
        assert_eq!(inner(&e).raw_os_error(), Some(28), "ENOSPC: {e}");
        let e = store.save_vote(&Vote::new(1, 1)).await.expect_err("a poisoned store refuses a vote");
        assert_eq!(e.kind(), io::ErrorKind::StorageFull, "save_vote after the failure: {e}");
    }

    #[test]
    fn converts_into_storage_error_with_subject_and_verb() {
        let cases = [
            (Error::VoteReversal { current: "T2".into(), attempted: "T1".into() }, "when Write Vote"),
            (
                Error::Corruption { chunk: "00000001.chunk".into(), offset: 4096, reason: "bad crc".into() },
                "when Read Logs",
            ),
            (Error::NonConsecutive { expected: 5, got: 7 }, "when Write LogIndex(7)"),
            (Error::TruncateBelowPurged { index: Some(3), purged: 9 }, "when Delete Logs"),
            (Error::Closed, "when Write Store"),
        ];
        for (e, want) in cases {
            let what = e.to_string();
            let s: StorageError<TC> = e.into();
            assert!(s.to_string().starts_with(want), "{what}: {s}");
            assert!(s.to_string().contains(&what), "{what}: the message is kept: {s}");
        }
        // `?` works in code that returns openraft's StorageError.
        fn open(dir: &std::path::Path) -> Result<LogStore<TC>, StorageError<TC>> {
            Ok(LogStore::open(Config::new(dir))?)
        }
        let dir = tempfile::tempdir().unwrap();
        let _held = open(dir.path()).unwrap();
        let e = open(dir.path()).unwrap_err();
        assert!(e.to_string().contains("locked"), "{e}");
    }
}

#[cfg(feature = "openraft-09")]
mod v09 {
    use chunklog::{Config, Error};
    use openraft09::StorageError;

    openraft09::declare_raft_types!(pub TC9: D = String, R = String, SnapshotData = std::io::Cursor<Vec<u8>>);

    #[test]
    fn converts_into_storage_error_with_subject_and_verb() {
        let cases = [
            (Error::VoteReversal { current: "T2".into(), attempted: "T1".into() }, "when Write Vote"),
            (
                Error::Corruption { chunk: "00000001.chunk".into(), offset: 4096, reason: "bad crc".into() },
                "when Read Logs",
            ),
            (Error::TruncateBelowPurged { index: Some(3), purged: 9 }, "when Delete Logs"),
            (Error::Closed, "when Write Store"),
        ];
        for (e, want) in cases {
            let what = e.to_string();
            let s: StorageError<u64> = e.into();
            assert!(s.to_string().contains(want), "{what}: {s}");
            assert!(s.to_string().contains(&what), "{what}: the message is kept: {s}");
        }
        // openraft 0.9's error is large; that is its API, not this test's.
        #[allow(clippy::result_large_err)]
        fn open(dir: &std::path::Path) -> Result<chunklog::v09::LogStore<TC9>, StorageError<u64>> {
            Ok(chunklog::v09::LogStore::open(Config::new(dir))?)
        }
        let dir = tempfile::tempdir().unwrap();
        let _held = open(dir.path()).unwrap();
        assert!(open(dir.path()).unwrap_err().to_string().contains("locked"));
    }
}
