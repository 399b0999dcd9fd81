//! openraft 0.10's network over HTTP, for many Raft groups per node, the
//! way openraft's multi-raft tooling (`openraft-multi`) does it: one
//! [`Router`] per node (one HTTP client, one connection pool) implements
//! `openraft_multi::GroupRouter`, which sends an RPC to a (target node,
//! group); each group's Raft gets an `openraft_multi::GroupNetworkFactory`
//! of the shared router and its group id, whose connections are
//! `openraft_multi::GroupNetworkAdapter`s (`RaftNetworkV2`). Every RPC is
//! one POST to `/g/{group}/raft/...` on the target's loopback address, so
//! the groups' RPCs share the node's one HTTP server and client. With one
//! group, group 0 is the whole cluster.
//!
//! Append entries, vote and pre-vote carry JSON both ways; the server answers
//! `Result<Response, RaftError>` as JSON. A full snapshot is one POST of
//! `[header length][JSON {vote, meta}][snapshot bytes]` (see
//! [`store::frame`](crate::store::frame)).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use openraft::error::{NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Timeout, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse};
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf, VoteOf};
use openraft::{BasicNode, RPCTypes};
use openraft_multi::{GroupNetworkAdapter, GroupNetworkFactory, GroupRouter};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::types::{NodeId, TypeConfig};

/// The header of a snapshot transfer.
#[derive(Serialize, Deserialize)]
pub struct SnapshotHeader {
    /// The sending leader's vote.
    pub vote: VoteOf<TypeConfig>,
    /// What the snapshot covers.
    pub meta: SnapshotMetaOf<TypeConfig>,
}

/// The group of a Raft instance: its index among the node's groups.
pub type GroupId = u64;

/// The network of a node, shared by all its groups: one HTTP client (and its
/// connection pool) and the addresses of the nodes seen in any group's
/// membership.
#[derive(Clone)]
pub struct Router {
    id: NodeId,
    client: reqwest::Client,
    addrs: Arc<RwLock<BTreeMap<NodeId, String>>>,
}

impl Router {
    /// The network of node `id`.
    pub fn new(id: NodeId) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(1))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Router { id, client, addrs: Arc::default() })
    }

    /// The network factory of group `group`.
    pub fn for_group(&self, group: GroupId) -> NetworkFactory {
        GroupNetworkFactory::new(self.clone(), group)
    }

    fn addr(&self, target: NodeId) -> String {
        self.addrs.read().unwrap_or_else(|p| p.into_inner()).get(&target).cloned().unwrap_or_default()
    }
}

/// What each group's Raft gets: the shared router and its group id.
pub type NetworkFactory = GroupNetworkFactory<Router, GroupId>;

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = GroupNetworkAdapter<TypeConfig, GroupId, Router>;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        // The router routes by node id; learn the address from the
        // membership (the same for every group).
        self.factory.addrs.write().unwrap_or_else(|p| p.into_inner()).insert(target, node.addr.clone());
        GroupNetworkAdapter::new(self.factory.clone(), target, self.group_id)
    }
}

/// A transport failure, classified for openraft: connection refused means
/// the target is down (openraft backs off), a timeout is a timeout, the rest
/// is a network error.
enum Failure {
    Unreachable(Unreachable<TypeConfig>),
    Timeout(Timeout<TypeConfig>),
    Network(NetworkError<TypeConfig>),
}

impl From<Failure> for RPCError<TypeConfig> {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Unreachable(e) => RPCError::Unreachable(e),
            Failure::Timeout(e) => RPCError::Timeout(e),
            Failure::Network(e) => RPCError::Network(e),
        }
    }
}

impl From<Failure> for StreamingError<TypeConfig> {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Unreachable(e) => StreamingError::Unreachable(e),
            Failure::Timeout(e) => StreamingError::Timeout(e),
            Failure::Network(e) => StreamingError::Network(e),
        }
    }
}

impl Router {
    fn failure(&self, target: NodeId, action: RPCTypes, timeout: Duration, e: reqwest::Error) -> Failure {
        if e.is_connect() {
            Failure::Unreachable(Unreachable::new(&e))
        } else if e.is_timeout() {
            Failure::Timeout(Timeout { action, id: self.id, target, timeout })
        } else {
            Failure::Network(NetworkError::new(&e))
        }
    }

    /// POSTs `body` to `/g/{group}{path}` on `target` and decodes its
    /// `Result<Resp, RaftError>` answer.
    #[allow(clippy::too_many_arguments)]
    async fn post<Resp: DeserializeOwned>(
        &self,
        target: NodeId,
        group: GroupId,
        action: RPCTypes,
        path: &str,
        body: reqwest::Body,
        content_type: &str,
        timeout: Duration,
    ) -> Result<Resp, Failure> {
        let url = format!("http://{}/g/{group}{path}", self.addr(target));
        let resp = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.failure(target, action, timeout, e))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(Failure::Network(NetworkError::from_string(format!("{path}: HTTP {status}: {text}"))));
        }
        let answer: Result<Resp, RaftError<TypeConfig>> =
            resp.json().await.map_err(|e| self.failure(target, action, timeout, e))?;
        // The target's Raft failed (stopped, storage error): to this node it
        // is a target that does not answer properly.
        answer.map_err(|e| Failure::Network(NetworkError::from_string(format!("remote node {target}: {e}"))))
    }

    async fn post_json<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        target: NodeId,
        group: GroupId,
        action: RPCTypes,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<TypeConfig>> {
        let body = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        Ok(self.post(target, group, action, path, body.into(), "application/json", option.soft_ttl()).await?)
    }
}

impl GroupRouter<TypeConfig, GroupId> for Router {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &self,
        target: NodeId,
        group: GroupId,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post_json(target, group, RPCTypes::AppendEntries, "/raft/append", &rpc, &option).await
    }

    async fn vote(
        &self,
        target: NodeId,
        group: GroupId,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post_json(target, group, RPCTypes::Vote, "/raft/vote", &rpc, &option).await
    }

    async fn pre_vote(
        &self,
        target: NodeId,
        group: GroupId,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post_json(target, group, RPCTypes::Vote, "/raft/pre-vote", &rpc, &option).await
    }

    async fn full_snapshot(
        &self,
        target: NodeId,
        group: GroupId,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, Vec<u8>>,
        cancel: impl Future<Output = ReplicationClosed> + openraft::OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let header = SnapshotHeader { vote, meta: snapshot.meta };
        let body = crate::store::frame(&header, &snapshot.snapshot)
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let send = self.post(
            target,
            group,
            RPCTypes::InstallSnapshot,
            "/raft/snapshot",
            body.into(),
            "application/octet-stream",
            option.soft_ttl(),
        );
        tokio::select! {
            res = send => Ok(res?),
            closed = cancel => Err(StreamingError::Closed(closed)),
        }
    }
}
