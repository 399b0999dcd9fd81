//! Shutdown, then reopen at once, as an openraft application does on a
//! restart inside one process: a real single-node openraft 0.10 `Raft` on
//! chunklog writes a few entries, `Raft::shutdown()` returns, and the same
//! directory is opened again right away, 100 times in a row. Every open
//! must succeed (openraft's state machine worker may still hold a
//! `LogReader` for a moment after shutdown returns; a reader must not keep
//! the directory locked) and must see every entry written before.
#![cfg(feature = "openraft-010")]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::single_node::{NoNetwork, Sm, TC};
use openraft::storage::RaftLogStorage;
use openraft::{BasicNode, EntryPayload, RaftLogReader, ServerState};

type Raft = openraft::Raft<TC, Sm>;

const CYCLES: usize = 100;
const WRITES_PER_CYCLE: usize = 3;

fn raft_config() -> Arc<openraft::Config> {
    let config = openraft::Config {
        heartbeat_interval: 50,
        election_timeout_min: 150,
        election_timeout_max: 300,
        // As the README recommends for chunklog. A single node is elected
        // at once anyway: the test triggers the election.
        enable_leader_restore: Some(false),
        ..Default::default()
    };
    Arc::new(config.validate().unwrap())
}

/// The normal payloads of every entry in the store, in order.
async fn payloads(store: &mut chunklog::LogStore<TC>) -> Vec<String> {
    let mut reader = store.get_log_reader().await;
    let entries = reader.try_get_log_entries(..).await.unwrap();
    entries
        .into_iter()
        .filter_map(|e| match e.payload {
            EntryPayload::Normal(p) => Some(p),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_right_after_raft_shutdown_100_times() {
    let dir = tempfile::tempdir().unwrap();
    let config = raft_config();
    let mut written: Vec<String> = Vec::new();
    for cycle in 0..CYCLES {
        let mut store = chunklog::LogStore::<TC>::open(chunklog::Config::new(dir.path()).chunk_max_records(64))
            .unwrap_or_else(|e| panic!("cycle {cycle}: reopening right after shutdown failed: {e}"));
        assert_eq!(payloads(&mut store).await, written, "cycle {cycle}: entries after reopen");

        let raft = Raft::new(1, config.clone(), NoNetwork, store, Sm::default()).await.unwrap();
        if cycle == 0 {
            raft.initialize(BTreeMap::from([(1, BasicNode::default())])).await.unwrap();
        } else {
            // Leader restore is off: elect at once rather than after the timeout.
            raft.trigger().elect(false).await.unwrap();
        }
        raft.wait(Some(Duration::from_secs(10))).state(ServerState::Leader, "leader").await.unwrap();
        for k in 0..WRITES_PER_CYCLE {
            let p = format!("cycle {cycle} write {k}");
            raft.client_write(p.clone()).await.unwrap_or_else(|e| panic!("cycle {cycle}: write {k}: {e}"));
            written.push(p);
        }
        raft.shutdown().await.unwrap();
        drop(raft);
    }
    let mut store = chunklog::LogStore::<TC>::open(chunklog::Config::new(dir.path())).unwrap();
    assert_eq!(payloads(&mut store).await.len(), CYCLES * WRITES_PER_CYCLE);

    // A reader left behind does not keep the store open, and says so.
    let mut reader = store.get_log_reader().await;
    drop(store);
    let reopened = chunklog::LogStore::<TC>::open(chunklog::Config::new(dir.path())).unwrap();
    let e = reader.try_get_log_entries(..).await.expect_err("the reader's store is closed");
    let inner = e.get_ref().and_then(|r| r.downcast_ref::<chunklog::Error>());
    assert!(matches!(inner, Some(chunklog::Error::Closed)), "{e:?}");
    drop(reopened);
}
