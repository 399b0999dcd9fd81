//! The openraft type configuration of the cluster and its log payload.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A write to the key-value state machine: the only kind of application
/// log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The key.
    pub key: String,
    /// Its new value.
    pub value: String,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "set {} ({} bytes)", self.key, self.value.len())
    }
}

openraft::declare_raft_types!(
    /// The openraft types of the cluster: `u64` node ids,
    /// [`openraft::BasicNode`] (the node's address), [`Request`] as log
    /// payload, `()` as what applying an entry answers.
    pub TypeConfig: D = Request, R = ()
);

/// Node id.
pub type NodeId = u64;

/// The Raft handle of a node.
pub type Raft = openraft::Raft<TypeConfig, crate::store::StateMachineStore>;

/// The Raft group that holds `key` among `groups` groups: a CRC-32 of the
/// key, modulo the number of groups (the same on every node and client).
pub fn group_of(key: &str, groups: u64) -> u64 {
    u64::from(crc32fast::hash(key.as_bytes())) % groups.max(1)
}
