//! openraft's own storage test suites against chunklog: the 0.10 suite
//! (`openraft-010`) and the 0.9 suite (`openraft-09`).

mod common;

#[cfg(feature = "openraft-010")]
mod v010 {
    use openraft::StorageError;
    use openraft::testing::log::{StoreBuilder, Suite};
    use openraft::type_config::TypeConfigExt;
    use tempfile::TempDir;

    use crate::common::single_node::{Sm, TC};

    /// Every suite case builds one fresh store: counting builds counts cases.
    static BUILDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    struct Builder;

    impl StoreBuilder<TC, chunklog::LogStore<TC>, Sm, TempDir> for Builder {
        async fn build(&self) -> Result<(TempDir, chunklog::LogStore<TC>, Sm), StorageError<TC>> {
            BUILDS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let dir = TempDir::new().map_err(|e| StorageError::write(TC::err_from_error(&e)))?;
            // Tiny chunks so the suite exercises rotation and whole-chunk purges.
            let cfg = chunklog::Config::new(dir.path()).chunk_max_records(4);
            let store = chunklog::LogStore::open(cfg)?;
            Ok((dir, store, Sm::default()))
        }
    }

    #[test]
    fn openraft_010_log_suite() {
        TC::run(async { Suite::test_all(Builder).await }).unwrap();
        let cases = BUILDS.load(std::sync::atomic::Ordering::SeqCst);
        println!("openraft 0.10 log suite: {cases} stores built, all cases passed");
        assert!(cases >= 45, "the 0.10 suite runs 45 cases, saw {cases} stores built");
    }

    /// One log shared by every case of the group suite, and the next group.
    static SHARED: std::sync::OnceLock<(TempDir, chunklog::ChunkLog)> = std::sync::OnceLock::new();
    static NEXT_GROUP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

    fn shared() -> &'static chunklog::ChunkLog {
        &SHARED
            .get_or_init(|| {
                let dir = TempDir::new().unwrap();
                let cfg = chunklog::Config::new(dir.path()).chunk_max_records(4);
                let log = chunklog::LogStore::<TC>::open_shared(cfg).unwrap();
                (dir, log)
            })
            .1
    }

    /// Every case gets a fresh group of one shared log; the groups of
    /// earlier cases stay in it, with what they wrote.
    struct GroupBuilder;

    impl StoreBuilder<TC, chunklog::LogStore<TC>, Sm, TempDir> for GroupBuilder {
        async fn build(&self) -> Result<(TempDir, chunklog::LogStore<TC>, Sm), StorageError<TC>> {
            let dir = TempDir::new().map_err(|e| StorageError::write(TC::err_from_error(&e)))?;
            // Ids spread out: small, and huge (a 10-byte varint).
            let n = NEXT_GROUP.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let group = if n.is_multiple_of(2) { n } else { u64::MAX - n };
            let store = chunklog::LogStore::for_group(shared(), group)?;
            Ok((dir, store, Sm::default()))
        }
    }

    #[test]
    fn openraft_010_log_suite_on_groups_of_one_log() {
        TC::run(async { Suite::test_all(GroupBuilder).await }).unwrap();
        let log = shared();
        let (built, groups) = (NEXT_GROUP.load(std::sync::atomic::Ordering::SeqCst) - 1, log.groups().len());
        println!("openraft 0.10 log suite on groups: {built} group stores, {groups} groups written, in one log");
        assert!(built >= 45, "the 0.10 suite runs 45 cases, saw {built} group stores built");
        assert!(groups >= 20, "most cases write: {groups} groups in the log");
        assert!(log.stats().chunks > 1, "the shared log rotated");
    }
}

#[cfg(feature = "openraft-09")]
mod v09 {
    use std::io::Cursor;
    use std::sync::{Arc, Mutex};

    use openraft09::storage::RaftStateMachine;
    use openraft09::testing::{StoreBuilder, Suite};
    use openraft09::{
        AnyError, Entry, LogId, OptionalSend, RaftLogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError,
        StorageIOError, StoredMembership, entry::RaftPayload,
    };
    use tempfile::TempDir;

    openraft09::declare_raft_types!(pub TC9: D = String, R = String, SnapshotData = Cursor<Vec<u8>>);

    #[derive(Default)]
    struct SmState {
        last: Option<LogId<u64>>,
        membership: StoredMembership<u64, openraft09::BasicNode>,
        snapshot: Option<SnapshotMeta<u64, openraft09::BasicNode>>,
    }

    #[derive(Clone, Default)]
    pub struct Sm9(Arc<Mutex<SmState>>);

    impl RaftSnapshotBuilder<TC9> for Sm9 {
        async fn build_snapshot(&mut self) -> Result<Snapshot<TC9>, StorageError<u64>> {
            let mut s = self.0.lock().unwrap();
            let meta = SnapshotMeta {
                last_log_id: s.last,
                last_membership: s.membership.clone(),
                snapshot_id: format!("{:?}", s.last),
            };
            s.snapshot = Some(meta.clone());
            Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(Vec::new())) })
        }
    }

    impl RaftStateMachine<TC9> for Sm9 {
        type SnapshotBuilder = Self;

        async fn applied_state(
            &mut self,
        ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, openraft09::BasicNode>), StorageError<u64>> {
            let s = self.0.lock().unwrap();
            Ok((s.last, s.membership.clone()))
        }

        async fn apply<I>(&mut self, entries: I) -> Result<Vec<String>, StorageError<u64>>
        where
            I: IntoIterator<Item = Entry<TC9>> + OptionalSend,
            I::IntoIter: OptionalSend,
        {
            let mut s = self.0.lock().unwrap();
            let mut replies = Vec::new();
            for e in entries {
                if let Some(m) = e.get_membership() {
                    s.membership = StoredMembership::new(Some(*e.get_log_id()), m.clone());
                }
                s.last = Some(*e.get_log_id());
                replies.push(String::new());
            }
            Ok(replies)
        }

        async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
            self.clone()
        }

        async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
            Ok(Box::new(Cursor::new(Vec::new())))
        }

        async fn install_snapshot(
            &mut self,
            meta: &SnapshotMeta<u64, openraft09::BasicNode>,
            _snapshot: Box<Cursor<Vec<u8>>>,
        ) -> Result<(), StorageError<u64>> {
            let mut s = self.0.lock().unwrap();
            s.last = meta.last_log_id;
            s.membership = meta.last_membership.clone();
            s.snapshot = Some(meta.clone());
            Ok(())
        }

        async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TC9>>, StorageError<u64>> {
            let s = self.0.lock().unwrap();
            Ok(s.snapshot.clone().map(|meta| Snapshot { meta, snapshot: Box::new(Cursor::new(Vec::new())) }))
        }
    }

    static BUILDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    struct Builder9;

    impl StoreBuilder<TC9, chunklog::v09::LogStore<TC9>, Sm9, TempDir> for Builder9 {
        async fn build(&self) -> Result<(TempDir, chunklog::v09::LogStore<TC9>, Sm9), StorageError<u64>> {
            BUILDS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let dir = TempDir::new().map_err(|e| StorageIOError::write(AnyError::new(&e)))?;
            let cfg = chunklog::Config::new(dir.path()).chunk_max_records(4);
            let store = chunklog::v09::LogStore::open(cfg)?;
            Ok((dir, store, Sm9::default()))
        }
    }

    static SHARED9: std::sync::OnceLock<(TempDir, chunklog::ChunkLog)> = std::sync::OnceLock::new();
    static NEXT_GROUP9: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

    fn shared9() -> &'static chunklog::ChunkLog {
        &SHARED9
            .get_or_init(|| {
                let dir = TempDir::new().unwrap();
                let cfg = chunklog::Config::new(dir.path()).chunk_max_records(4);
                (dir, chunklog::v09::LogStore::<TC9>::open_shared(cfg).unwrap())
            })
            .1
    }

    struct GroupBuilder9;

    impl StoreBuilder<TC9, chunklog::v09::LogStore<TC9>, Sm9, TempDir> for GroupBuilder9 {
        async fn build(&self) -> Result<(TempDir, chunklog::v09::LogStore<TC9>, Sm9), StorageError<u64>> {
            let dir = TempDir::new().map_err(|e| StorageIOError::write(AnyError::new(&e)))?;
            let n = NEXT_GROUP9.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let store = chunklog::v09::LogStore::for_group(shared9(), n * 1_000_003)?;
            Ok((dir, store, Sm9::default()))
        }
    }

    #[test]
    fn openraft_09_log_suite_on_groups_of_one_log() {
        Suite::test_all(GroupBuilder9).unwrap();
        let (built, groups) = (NEXT_GROUP9.load(std::sync::atomic::Ordering::SeqCst) - 1, shared9().groups().len());
        println!("openraft 0.9 log suite on groups: {built} group stores, {groups} groups written, in one log");
        assert!(built >= 35, "the 0.9 suite runs 35 cases, saw {built} group stores built");
        assert!(groups >= 15, "most cases write: {groups} groups in the log");
    }

    #[test]
    fn openraft_09_log_suite() {
        Suite::test_all(Builder9).unwrap();
        let cases = BUILDS.load(std::sync::atomic::Ordering::SeqCst);
        println!("openraft 0.9 log suite: {cases} stores built, all cases passed");
        assert!(cases >= 35, "the 0.9 suite runs 35 cases, saw {cases} stores built");
    }
}
