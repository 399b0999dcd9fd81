//! openraft's own storage test suites against chunklog: the 0.10 suite
//! (`openraft-010`) and the 0.9 suite (`openraft-09`).

#[cfg(feature = "openraft-010")]
mod v010 {
    use std::io;
    use std::sync::{Arc, Mutex};

    use futures_util::{Stream, StreamExt};
    use openraft::entry::RaftEntry;
    use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta};
    use openraft::testing::log::{StoreBuilder, Suite};
    use openraft::type_config::TypeConfigExt;
    use openraft::type_config::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
    use openraft::{OptionalSend, StorageError, StoredMembership};
    use tempfile::TempDir;

    openraft::declare_raft_types!(pub TC);

    /// A minimal state machine: last applied, membership, snapshot meta.
    #[derive(Default)]
    struct SmState {
        last: Option<LogIdOf<TC>>,
        membership: StoredMembershipOf<TC>,
        snapshot: Option<SnapshotMetaOf<TC>>,
    }

    #[derive(Clone, Default)]
    pub struct Sm(Arc<Mutex<SmState>>);

    impl RaftSnapshotBuilder<TC> for Sm {
        type SnapshotData = ();
        async fn build_snapshot(&mut self) -> Result<SnapshotOf<TC, ()>, io::Error> {
            let mut s = self.0.lock().unwrap();
            let meta = SnapshotMeta { last_log_id: s.last, last_membership: s.membership.clone() };
            s.snapshot = Some(meta.clone());
            Ok(Snapshot { meta, snapshot: () })
        }
    }

    impl RaftStateMachine<TC> for Sm {
        type SnapshotData = ();
        type SnapshotBuilder = Self;

        async fn applied_state(&mut self) -> Result<(Option<LogIdOf<TC>>, StoredMembershipOf<TC>), io::Error> {
            let s = self.0.lock().unwrap();
            Ok((s.last, s.membership.clone()))
        }

        async fn apply<S>(&mut self, mut entries: S) -> Result<(), io::Error>
        where
            S: Stream<Item = Result<EntryResponder<TC>, io::Error>> + Unpin + OptionalSend,
        {
            while let Some(item) = entries.next().await {
                let (entry, responder) = item?;
                {
                    let mut s = self.0.lock().unwrap();
                    if let Some(m) = entry.get_membership() {
                        s.membership = StoredMembership::new(Some(entry.log_id()), m);
                    }
                    s.last = Some(entry.log_id());
                }
                if let Some(r) = responder {
                    r.send(String::new());
                }
            }
            Ok(())
        }

        async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
            self.clone()
        }

        async fn install_snapshot(&mut self, meta: &SnapshotMetaOf<TC>, _data: ()) -> Result<(), io::Error> {
            let mut s = self.0.lock().unwrap();
            s.last = meta.last_log_id;
            s.membership = meta.last_membership.clone();
            s.snapshot = Some(meta.clone());
            Ok(())
        }

        async fn get_current_snapshot(&mut self) -> Result<Option<SnapshotOf<TC, ()>>, io::Error> {
            Ok(self.0.lock().unwrap().snapshot.clone().map(|meta| Snapshot { meta, snapshot: () }))
        }
    }

    struct Builder;

    impl StoreBuilder<TC, chunklog::LogStore<TC>, Sm, TempDir> for Builder {
        async fn build(&self) -> Result<(TempDir, chunklog::LogStore<TC>, Sm), StorageError<TC>> {
            let dir = TempDir::new().map_err(|e| StorageError::write(TC::err_from_error(&e)))?;
            // Tiny chunks so the suite exercises rotation and whole-chunk purges.
            let cfg = chunklog::Config::new(dir.path()).chunk_max_records(4);
            let store = chunklog::LogStore::open(cfg).map_err(|e| StorageError::read_logs(TC::err_from_error(&e)))?;
            Ok((dir, store, Sm::default()))
        }
    }

    #[test]
    fn openraft_010_log_suite() {
        TC::run(async { Suite::test_all(Builder).await }).unwrap();
    }
}
