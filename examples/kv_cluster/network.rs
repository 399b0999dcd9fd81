//! openraft 0.10's network traits over HTTP: [`NetworkFactory`]
//! (`RaftNetworkFactory`) makes one [`Connection`] (`RaftNetworkV2`) per
//! target node; every RPC is one POST to the target's loopback address.
//!
//! Append entries, vote and pre-vote carry JSON both ways; the server answers
//! `Result<Response, RaftError>` as JSON. A full snapshot is one POST of
//! `[header length][JSON {vote, meta}][snapshot bytes]` (see
//! [`store::frame`](crate::store::frame)).

use std::future::Future;
use std::time::Duration;

use openraft::error::{NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Timeout, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse};
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf, VoteOf};
use openraft::{BasicNode, RPCTypes, RaftNetworkV2};
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

/// Makes a [`Connection`] per target; all share one HTTP client (and its
/// connection pool).
#[derive(Clone)]
pub struct NetworkFactory {
    id: NodeId,
    client: reqwest::Client,
}

impl NetworkFactory {
    /// The network of node `id`.
    pub fn new(id: NodeId) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(1))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(NetworkFactory { id, client })
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        Connection { id: self.id, target, addr: node.addr.clone(), client: self.client.clone() }
    }
}

/// RPCs from one node to one target.
pub struct Connection {
    id: NodeId,
    target: NodeId,
    addr: String,
    client: reqwest::Client,
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

impl Connection {
    fn failure(&self, action: RPCTypes, timeout: Duration, e: reqwest::Error) -> Failure {
        if e.is_connect() {
            Failure::Unreachable(Unreachable::new(&e))
        } else if e.is_timeout() {
            Failure::Timeout(Timeout { action, id: self.id, target: self.target, timeout })
        } else {
            Failure::Network(NetworkError::new(&e))
        }
    }

    /// POSTs `body` to `path` on the target and decodes its
    /// `Result<Resp, RaftError>` answer.
    async fn post<Resp: DeserializeOwned>(
        &self,
        action: RPCTypes,
        path: &str,
        body: reqwest::Body,
        content_type: &str,
        timeout: Duration,
    ) -> Result<Resp, Failure> {
        let url = format!("http://{}{}", self.addr, path);
        let resp = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.failure(action, timeout, e))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(Failure::Network(NetworkError::from_string(format!("{path}: HTTP {status}: {text}"))));
        }
        let answer: Result<Resp, RaftError<TypeConfig>> =
            resp.json().await.map_err(|e| self.failure(action, timeout, e))?;
        // The target's Raft failed (stopped, storage error): to this node it
        // is a target that does not answer properly.
        answer.map_err(|e| Failure::Network(NetworkError::from_string(format!("remote node {}: {e}", self.target))))
    }

    async fn post_json<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        action: RPCTypes,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<TypeConfig>> {
        let body = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        Ok(self.post(action, path, body.into(), "application/json", option.soft_ttl()).await?)
    }
}

impl RaftNetworkV2<TypeConfig> for Connection {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post_json(RPCTypes::AppendEntries, "/raft/append", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post_json(RPCTypes::Vote, "/raft/vote", &rpc, &option).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post_json(RPCTypes::Vote, "/raft/pre-vote", &rpc, &option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, Vec<u8>>,
        cancel: impl Future<Output = ReplicationClosed> + openraft::OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let header = SnapshotHeader { vote, meta: snapshot.meta };
        let body = crate::store::frame(&header, &snapshot.snapshot)
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let send = self.post(
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
