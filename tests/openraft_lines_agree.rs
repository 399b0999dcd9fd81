//! Both openraft adapters share one core, so they must behave alike where
//! they once drifted: `from_engine` refuses another line's tag, `append`
//! skips entries at or below the purge point, and the last log id stays
//! right after an append that stopped part way.

#[cfg(feature = "openraft-010")]
mod v010 {
    use chunklog::{ChunkLog, Config, Error, LogStore};
    use openraft::RaftLogReader;
    use openraft::entry::RaftEntry;
    use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
    use openraft::testing::log_id;
    use openraft::type_config::alias::EntryOf;

    openraft::declare_raft_types!(pub TC);

    fn entries(term: u64, indexes: impl IntoIterator<Item = u64>) -> Vec<EntryOf<TC>> {
        indexes.into_iter().map(|i| EntryOf::<TC>::new_normal(log_id::<TC>(term, 1, i), format!("e{i}"))).collect()
    }

    #[test]
    fn from_engine_refuses_another_lines_tag() {
        let dir = tempfile::tempdir().unwrap();
        let log = ChunkLog::open(Config::new(dir.path()).tag("openraft-0.9/bincode2")).unwrap();
        assert!(matches!(LogStore::<TC>::from_engine(log), Err(Error::InvalidConfig(_))));
    }

    #[tokio::test]
    async fn append_skips_entries_at_or_below_the_purge_point() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LogStore::<TC>::open(Config::new(dir.path())).unwrap();
        store.blocking_append(entries(1, 1..=5)).await.unwrap();
        store.purge(log_id::<TC>(1, 1, 5)).await.unwrap();
        store.blocking_append(entries(1, 4..=7)).await.unwrap();
        let st = store.get_log_state().await.unwrap();
        assert_eq!(st.last_log_id, Some(log_id::<TC>(1, 1, 7)));
        let got = store.get_log_reader().await.try_get_log_entries(0..).await.unwrap();
        assert_eq!(got.iter().map(|e| e.index()).collect::<Vec<_>>(), vec![6, 7]);
    }

    #[tokio::test]
    async fn the_last_log_id_follows_an_append_that_stopped_part_way() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LogStore::<TC>::open(Config::new(dir.path())).unwrap();
        store.blocking_append(entries(1, 1..=2)).await.unwrap();
        let mut batch = entries(2, 3..=4);
        batch.extend(entries(2, [9]));
        store.blocking_append(batch).await.expect_err("index 9 does not follow 4");
        assert_eq!(store.get_log_state().await.unwrap().last_log_id, Some(log_id::<TC>(2, 1, 4)));
    }
}

#[cfg(feature = "openraft-09")]
mod v09 {
    use chunklog::v09::LogStore;
    use chunklog::{ChunkLog, Config, Error};
    use openraft09::storage::{RaftLogStorage, RaftLogStorageExt};
    use openraft09::testing::log_id;
    use openraft09::{Entry, EntryPayload, RaftLogReader};

    openraft09::declare_raft_types!(pub TC9: D = String, R = String, SnapshotData = std::io::Cursor<Vec<u8>>);

    fn entries(term: u64, indexes: impl IntoIterator<Item = u64>) -> Vec<Entry<TC9>> {
        indexes
            .into_iter()
            .map(|i| Entry { log_id: log_id(term, 1, i), payload: EntryPayload::Normal(format!("e{i}")) })
            .collect()
    }

    #[test]
    fn from_engine_refuses_another_lines_tag() {
        let dir = tempfile::tempdir().unwrap();
        let log = ChunkLog::open(Config::new(dir.path()).tag("openraft-0.10/bincode2")).unwrap();
        assert!(matches!(LogStore::<TC9>::from_engine(log), Err(Error::InvalidConfig(_))));
    }

    #[tokio::test]
    async fn append_skips_entries_at_or_below_the_purge_point() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LogStore::<TC9>::open(Config::new(dir.path())).unwrap();
        store.blocking_append(entries(1, 1..=5)).await.unwrap();
        store.purge(log_id(1, 1, 5)).await.unwrap();
        store.blocking_append(entries(1, 4..=7)).await.unwrap();
        let st = store.get_log_state().await.unwrap();
        assert_eq!(st.last_log_id, Some(log_id(1, 1, 7)));
        let got = store.try_get_log_entries(0..).await.unwrap();
        assert_eq!(got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(), vec![6, 7]);
    }

    #[tokio::test]
    async fn the_last_log_id_follows_an_append_that_stopped_part_way() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LogStore::<TC9>::open(Config::new(dir.path())).unwrap();
        store.blocking_append(entries(1, 1..=2)).await.unwrap();
        let mut batch = entries(2, 3..=4);
        batch.extend(entries(2, [9]));
        store.blocking_append(batch).await.expect_err("index 9 does not follow 4");
        assert_eq!(store.get_log_state().await.unwrap().last_log_id, Some(log_id(2, 1, 4)));
        // 0.9's truncate learns the new last log id from memory.
        store.truncate(log_id(2, 1, 4)).await.unwrap();
        assert_eq!(store.get_log_state().await.unwrap().last_log_id, Some(log_id(2, 1, 3)));
    }
}
