//! What a real openraft 0.10 `Raft` needs besides chunklog, at its
//! smallest: a type config ([`TC`]: `String` payloads and answers), an
//! in-memory state machine ([`Sm`]) and a network that reaches no one
//! ([`NoNetwork`], enough for a single-node cluster). Also the state
//! machine openraft's storage suite runs with.

use std::io;
use std::sync::{Arc, Mutex};

use futures_util::{Stream, StreamExt};
use openraft::entry::RaftEntry;
use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::type_config::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf, VoteOf};
use openraft::{AnyError, OptionalSend, RaftNetworkV2, StoredMembership};

openraft::declare_raft_types!(pub TC);

/// A minimal state machine: last applied, membership, snapshot meta, and
/// the normal payloads applied, in order.
#[derive(Default)]
pub struct SmState {
    pub last: Option<LogIdOf<TC>>,
    pub membership: StoredMembershipOf<TC>,
    pub snapshot: Option<SnapshotMetaOf<TC>>,
    pub applied: Vec<String>,
}

/// The in-memory state machine; clones share one state.
#[derive(Clone, Default)]
pub struct Sm(pub Arc<Mutex<SmState>>);

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
                if let openraft::EntryPayload::Normal(p) = &entry.payload {
                    s.applied.push(p.clone());
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

/// A network that reaches no node: every RPC fails with `Unreachable`.
/// A single-node cluster never sends one.
#[derive(Clone, Copy, Default)]
pub struct NoNetwork;

fn unreachable() -> Unreachable<TC> {
    Unreachable::new(&AnyError::error("no network in this test"))
}

impl RaftNetworkFactory<TC> for NoNetwork {
    type Network = NoNetwork;

    async fn new_client(&mut self, _target: u64, _node: &openraft::BasicNode) -> NoNetwork {
        NoNetwork
    }
}

impl RaftNetworkV2<TC> for NoNetwork {
    type SnapshotData = ();

    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TC>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TC>, RPCError<TC>> {
        Err(RPCError::Unreachable(unreachable()))
    }

    async fn vote(&mut self, _rpc: VoteRequest<TC>, _option: RPCOption) -> Result<VoteResponse<TC>, RPCError<TC>> {
        Err(RPCError::Unreachable(unreachable()))
    }

    async fn full_snapshot(
        &mut self,
        _vote: VoteOf<TC>,
        _snapshot: SnapshotOf<TC, ()>,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TC>, StreamingError<TC>> {
        Err(StreamingError::Unreachable(unreachable()))
    }
}
