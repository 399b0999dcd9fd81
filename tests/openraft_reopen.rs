//! Durability through the openraft API: after each kind of operation the
//! store is dropped and reopened from its directory, and everything openraft
//! reads back must equal a model. openraft's own suites never reopen.

#[cfg(feature = "openraft-010")]
mod v010 {
    use std::sync::Arc;

    use openraft::entry::RaftEntry;
    use openraft::storage::{IOFlushed, RaftLogStorage};
    use openraft::testing::log_id;
    use openraft::type_config::TypeConfigExt;
    use openraft::type_config::alias::{EntryOf, LogIdOf, VoteOf};
    use openraft::{RaftLogReader, Vote};

    openraft::declare_raft_types!(pub TC);

    type Store = chunklog::LogStore<TC>;

    #[derive(Default)]
    struct Model {
        entries: Vec<EntryOf<TC>>,
        purged: Option<LogIdOf<TC>>,
        vote: Option<VoteOf<TC>>,
        committed: Option<LogIdOf<TC>>,
    }

    fn entry(term: u64, index: u64) -> EntryOf<TC> {
        EntryOf::<TC>::new_normal(log_id::<TC>(term, 1, index), format!("payload {term}/{index}"))
    }

    async fn append(store: &mut Store, m: &mut Model, entries: Vec<EntryOf<TC>>) {
        let (tx, rx) = TC::oneshot();
        m.entries.extend(entries.iter().cloned());
        store.append(entries, IOFlushed::signal(tx)).await.unwrap();
        rx.await.unwrap().unwrap();
    }

    async fn check(store: &mut Store, m: &Model, step: &str) {
        let st = store.get_log_state().await.unwrap();
        assert_eq!(st.last_purged_log_id, m.purged, "{step}: purged");
        let last = m.entries.last().map(|e| e.log_id()).or(m.purged);
        assert_eq!(st.last_log_id, last, "{step}: last log id");
        let mut reader = store.get_log_reader().await;
        assert_eq!(reader.read_vote().await.unwrap(), m.vote, "{step}: vote");
        assert_eq!(store.read_committed().await.unwrap(), m.committed, "{step}: committed");
        let got = reader.try_get_log_entries(..).await.unwrap();
        assert_eq!(format!("{got:?}"), format!("{:?}", m.entries), "{step}: entries");
    }

    async fn reopen(store: Store, dir: &std::path::Path) -> Store {
        drop(store);
        Store::open(chunklog::Config::new(dir).chunk_max_records(4).cache(0, 0)).unwrap()
    }

    /// Opens the store under test: a store of its own directory, or group
    /// `group` of a shared log whose other groups write between the steps.
    struct Opener {
        dir: std::path::PathBuf,
        group: Option<u64>,
        shared: Option<chunklog::ChunkLog>,
    }

    impl Opener {
        fn open(&mut self) -> Store {
            let cfg = chunklog::Config::new(&self.dir).chunk_max_records(4).cache(0, 0);
            let Some(g) = self.group else { return Store::open(cfg).unwrap() };
            let shared = Store::open_shared(cfg).unwrap();
            for other in [0, 3, u64::MAX] {
                let h = shared.group(other);
                let next = h.state().last_index.map_or(1, |l| l + 1);
                h.append((next..next + 5).map(|i| (i, vec![other as u8; 100]))).unwrap();
                if next > 20 {
                    h.purge(next - 10, b"").unwrap();
                }
            }
            let store = Store::for_group(&shared, g).unwrap();
            self.shared = Some(shared);
            store
        }

        async fn reopen(&mut self, store: Store) -> Store {
            drop(store);
            drop(self.shared.take());
            self.open()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_operation_survives_reopen() {
        every_operation(None).await;
    }

    /// The same on group 7 of a shared log, while groups 0, 3 and
    /// `u64::MAX` write (and purge) between the steps.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_operation_survives_reopen_on_a_group_store() {
        every_operation(Some(7)).await;
    }

    async fn every_operation(group: Option<u64>) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut ro = Opener { dir: d.to_path_buf(), group, shared: None };
        let mut m = Model::default();
        let first = ro.open();
        let mut s = ro.reopen(first).await;
        check(&mut s, &m, "empty").await;

        append(&mut s, &mut m, (1..=10).map(|i| entry(1, i)).collect()).await;
        s = ro.reopen(s).await;
        check(&mut s, &m, "append across rotations").await;

        let v = Vote::new(2, 1);
        s.save_vote(&v).await.unwrap();
        m.vote = Some(v);
        s = ro.reopen(s).await;
        check(&mut s, &m, "save_vote").await;

        s.save_committed(Some(log_id::<TC>(1, 1, 8))).await.unwrap();
        m.committed = Some(log_id::<TC>(1, 1, 8));
        s = ro.reopen(s).await;
        check(&mut s, &m, "save_committed").await;

        s.truncate_after(Some(log_id::<TC>(1, 1, 6))).await.unwrap();
        m.entries.truncate(6);
        s = ro.reopen(s).await;
        check(&mut s, &m, "truncate_after").await;

        append(&mut s, &mut m, (7..=12).map(|i| entry(2, i)).collect()).await;
        s = ro.reopen(s).await;
        check(&mut s, &m, "append after truncate").await;

        let chunk_files = || {
            std::fs::read_dir(d)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".chunk"))
                .count()
        };
        let files_before = chunk_files();
        s.purge(log_id::<TC>(1, 1, 5)).await.unwrap();
        m.entries.retain(|e| e.index() > 5);
        m.purged = Some(log_id::<TC>(1, 1, 5));
        s = ro.reopen(s).await;
        check(&mut s, &m, "purge").await;
        let files_after = chunk_files();
        if group.is_none() {
            // (In a shared log the other groups' entries keep chunks.)
            assert!(
                files_after < files_before,
                "purged chunks deleted or recycled: {files_before} -> {files_after} chunk files"
            );
        }

        s.truncate_after(Some(log_id::<TC>(1, 1, 5))).await.unwrap();
        m.entries.clear();
        s = ro.reopen(s).await;
        check(&mut s, &m, "truncate to the purge point").await;

        s.purge(log_id::<TC>(3, 1, 20)).await.unwrap();
        m.purged = Some(log_id::<TC>(3, 1, 20));
        s = ro.reopen(s).await;
        check(&mut s, &m, "purge past the last entry").await;

        append(&mut s, &mut m, vec![entry(3, 21)]).await;
        s.save_committed(None).await.unwrap();
        m.committed = None;
        s = ro.reopen(s).await;
        check(&mut s, &m, "append after purge past the end").await;
    }

    /// `close` of a group store returns once its writes are durable, while
    /// another group keeps the log open; the last one's `close` frees the
    /// directory, and a reopen finds both groups whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closing_a_group_store_leaves_the_others_running() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = chunklog::Config::new(dir.path()).chunk_max_records(4);
        let shared = Store::open_shared(cfg.clone()).unwrap();
        let (mut a, mut b) = (Store::for_group(&shared, 1).unwrap(), Store::for_group(&shared, 2).unwrap());
        drop(shared);
        let (mut ma, mut mb) = (Model::default(), Model::default());
        append(&mut a, &mut ma, (1..=3).map(|i| entry(1, i)).collect()).await;
        let closed = tokio::time::timeout(std::time::Duration::from_secs(30), a.close()).await;
        closed.expect("close of one group store must not wait for the others").unwrap();
        append(&mut b, &mut mb, (1..=9).map(|i| entry(2, i)).collect()).await;
        b.close().await.unwrap();
        let shared = Store::open_shared(cfg).unwrap();
        check(&mut Store::for_group(&shared, 1).unwrap(), &ma, "group 1 after reopen").await;
        check(&mut Store::for_group(&shared, 2).unwrap(), &mb, "group 2 after reopen").await;
        assert!(Store::for_group(&shared.non_owning(), 3).is_err(), "a group store needs an owning handle");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_vote_going_backwards_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(chunklog::Config::new(dir.path())).unwrap();
        s.save_vote(&Vote::new(3, 1)).await.unwrap();
        let e = s.save_vote(&Vote::new(2, 1)).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("vote reversal"), "{e}");
        // The same leader id, now committed, moves forward.
        s.save_vote(&Vote::new_committed(3, 1)).await.unwrap();
        assert!(s.save_vote(&Vote::new(3, 1)).await.is_err(), "uncommitting is a reversal too");
        let s = reopen(s, dir.path()).await;
        let mut r = s.reader();
        assert_eq!(r.read_vote().await.unwrap(), Some(Vote::new_committed(3, 1)));
    }

    /// Port of the concurrent-read regression through the openraft reader:
    /// reader clones on threads, overlapping ranges, cache off, tiny chunks.
    #[test]
    fn reader_clones_on_threads_read_exact_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = chunklog::Config::new(dir.path()).chunk_max_records(5).cache(0, 0);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut store = Store::open(cfg).unwrap();
        rt.block_on(async {
            let (tx, rx) = TC::oneshot();
            store.append((1..=60).map(|i| entry(1 + i / 20, i)), IOFlushed::signal(tx)).await.unwrap();
            rx.await.unwrap().unwrap();
        });
        let reader = Arc::new(store.reader());
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let mut r = (*reader).clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                    for k in 0..100u64 {
                        let start = 1 + (t * 11 + k * 7) % 55;
                        let got = rt.block_on(r.try_get_log_entries(start..start + 6)).unwrap();
                        assert_eq!(got.len(), 6);
                        for (j, e) in got.iter().enumerate() {
                            let i = start + j as u64;
                            assert_eq!(e.log_id(), log_id::<TC>(1 + i / 20, 1, i));
                            assert_eq!(format!("{e:?}"), format!("{:?}", entry(1 + i / 20, i)));
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("reader thread panicked");
        }
    }
}

#[cfg(feature = "openraft-09")]
mod v09 {
    use openraft09::storage::RaftLogStorage;
    use openraft09::testing::log_id;
    use openraft09::{Entry, EntryPayload, LogId, RaftLogReader, Vote};

    openraft09::declare_raft_types!(pub TC9: D = String, R = String, SnapshotData = std::io::Cursor<Vec<u8>>);

    type Store = chunklog::v09::LogStore<TC9>;

    fn entry(term: u64, index: u64) -> Entry<TC9> {
        Entry { log_id: log_id(term, 1, index), payload: EntryPayload::Normal(format!("p{term}/{index}")) }
    }

    async fn append(store: &mut Store, entries: Vec<Entry<TC9>>) {
        use openraft09::storage::RaftLogStorageExt;
        store.blocking_append(entries).await.unwrap();
    }

    async fn check(
        s: &mut Store,
        want: &[Entry<TC9>],
        purged: Option<LogId<u64>>,
        vote: Option<Vote<u64>>,
        step: &str,
    ) {
        let st = s.get_log_state().await.unwrap();
        assert_eq!(st.last_purged_log_id, purged, "{step}");
        assert_eq!(st.last_log_id, want.last().map(|e| e.log_id).or(purged), "{step}");
        assert_eq!(s.read_vote().await.unwrap(), vote, "{step}");
        let got = s.try_get_log_entries(..).await.unwrap();
        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{step}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_operation_survives_reopen_09() {
        let dir = tempfile::tempdir().unwrap();
        let open = || Store::open(chunklog::Config::new(dir.path()).chunk_max_records(4)).unwrap();
        let mut s = open();
        let mut want: Vec<Entry<TC9>> = (1..=10).map(|i| entry(1, i)).collect();
        append(&mut s, want.clone()).await;
        s.save_vote(&Vote::new(3, 1)).await.unwrap();
        let vote = Some(Vote::new(3, 1));
        drop(s);
        let mut s = open();
        check(&mut s, &want, None, vote, "append + vote").await;

        // 0.9 truncate is inclusive.
        s.truncate(log_id(1, 1, 7)).await.unwrap();
        want.truncate(6);
        drop(s);
        let mut s = open();
        check(&mut s, &want, None, vote, "truncate").await;

        s.purge(log_id(1, 1, 4)).await.unwrap();
        want.drain(..4);
        s.save_committed(Some(log_id(1, 1, 6))).await.unwrap();
        drop(s);
        let mut s = open();
        check(&mut s, &want, Some(log_id(1, 1, 4)), vote, "purge").await;
        assert_eq!(s.read_committed().await.unwrap(), Some(log_id(1, 1, 6)));

        // A vote going backwards is refused and changes nothing.
        assert!(s.save_vote(&Vote::new(2, 1)).await.is_err());
        assert_eq!(s.read_vote().await.unwrap(), vote);
    }

    /// `truncate` learns the new last log id from memory for entries
    /// appended since open (no disk read on the runtime), and from one read
    /// off the runtime for older ones; either way the right id, across terms.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn truncate_finds_the_new_last_log_id_09() {
        let dir = tempfile::tempdir().unwrap();
        // Cache off: any entry read would be a disk read.
        let open = || Store::open(chunklog::Config::new(dir.path()).chunk_max_records(4).cache(0, 0)).unwrap();
        let term = |i: u64| 1 + i / 10; // terms 1, 2, 3 over entries 1..=30
        let mut want: Vec<Entry<TC9>> = (1..=30).map(|i| entry(term(i), i)).collect();
        let mut s = open();
        append(&mut s, want.clone()).await;
        let reads = s.engine().stats().disk_reads;
        for cut in [28, 21, 20, 19, 12] {
            s.truncate(log_id(term(cut), 1, cut)).await.unwrap();
            want.truncate(cut as usize - 1);
            let last = s.get_log_state().await.unwrap().last_log_id;
            assert_eq!(last, Some(log_id(term(cut - 1), 1, cut - 1)), "after truncating from {cut}");
        }
        assert_eq!(s.engine().stats().disk_reads, reads, "truncate read nothing from disk");
        check(&mut s, &want, None, None, "truncated in memory").await;

        // After reopen only the last entry is known: truncating below it
        // reads the new last entry.
        drop(s);
        let mut s = open();
        s.truncate(log_id(1, 1, 5)).await.unwrap();
        want.truncate(4);
        check(&mut s, &want, None, None, "truncated after reopen").await;
        // Appends in a new term after that are tracked again.
        let more: Vec<_> = (5..=8).map(|i| entry(7, i)).collect();
        append(&mut s, more.clone()).await;
        want.extend(more);
        s.truncate(log_id(7, 1, 6)).await.unwrap();
        want.truncate(5);
        check(&mut s, &want, None, None, "truncated in a new term").await;
        s.truncate(log_id(1, 1, 1)).await.unwrap();
        check(&mut s, &[], None, None, "truncated to empty").await;
    }
}
