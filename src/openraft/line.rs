//! What the adapter core needs to know of an openraft line: its entry, log
//! id and vote types and the few facts about them it relies on. Each
//! line's file implements [`Line`] on a marker type; nothing else in the
//! core names openraft.

use std::cmp::Ordering;
use std::fmt::{Debug, Display};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// What the core needs of one openraft line's types. Each line implements
/// it on a marker type.
pub(crate) trait Line: 'static {
    /// The line's part of the chunk tag (`openraft-0.10`).
    const NAME: &'static str;
    /// A log entry.
    type Entry: Serialize + DeserializeOwned + Send;
    /// A log id: a leader id and an index.
    type LogId: Clone + Debug + Serialize + DeserializeOwned + Send + Sync;
    /// A vote: a leader id and whether a quorum granted it.
    type Vote: Serialize + DeserializeOwned + Display + Send + Sync;

    /// The log id of `entry`.
    fn log_id(entry: &Self::Entry) -> Self::LogId;
    /// The index of `id`.
    fn index(id: &Self::LogId) -> u64;
    /// Whether `a` and `b` were assigned by the same leader.
    fn same_leader(a: &Self::LogId, b: &Self::LogId) -> bool;
    /// The log id the leader of `id` gave to `index`.
    fn with_index(id: &Self::LogId, index: u64) -> Self::LogId;
    /// The order of two votes' leader ids (`None`: incomparable).
    fn cmp_leaders(a: &Self::Vote, b: &Self::Vote) -> Option<Ordering>;
    /// Whether a quorum granted `vote`.
    fn is_committed(vote: &Self::Vote) -> bool;
}
