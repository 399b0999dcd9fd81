//! The openraft 0.9 adapter (feature `openraft-09`, off by default):
//! [`LogStore`] implements openraft 0.9's `storage-v2` [`RaftLogStorage`]
//! and [`RaftLogReader`], and [`LogReader`] implements [`RaftLogReader`].
//!
//! Enabling the feature turns on openraft 0.9's `storage-v2` feature for the
//! whole build (Cargo features are unified), which seals its v1 `RaftStorage`
//! adapter away from every crate in the build that uses openraft 0.9.
//!
//! # A restarted leader resumes without an election
//!
//! openraft 0.9.25 has no `enable_leader_restore` switch (0.10 added it):
//! a node that was leader before a restart always resumes as leader of the
//! same term. With a log store whose appends become durable after
//! `append` returns, chunklog included, a leader killed with entries still
//! queued can then give a log id it had already sent to a follower to a
//! different entry, and the follower keeps the old one (see the 0.10
//! adapter's module docs, where openraft's simulation found it). There is
//! no complete workaround on 0.9: prefer openraft 0.10 with leader restore
//! off. If you stay on 0.9, keep a node that crashed down for longer than
//! `election_timeout_max` before restarting it, so that the voters have
//! moved to a higher term and refuse its old one (a learner can still
//! accept the reused id until the new leader reaches it).
//!
//! # What each call costs
//!
//! As the 0.10 adapter's (see `openraft_v010` with feature `openraft-010`):
//! `append` awaits room in a full flush queue instead of blocking,
//! entries at or below the purge point are skipped, metadata reads touch
//! memory only, entry reads cost one positional read per run of uncached
//! entries, and dropping the store never blocks. `truncate` must learn the
//! log id of the new last entry: the adapter keeps the first log id of
//! every term appended since open (one per leader change, not one per
//! entry), so truncating entries appended since open costs no read;
//! truncating further back reads one entry on a short-lived thread (the
//! task awaits it; no runtime worker is blocked).
//!
//! # Errors
//!
//! openraft 0.9's storage API returns its [`StorageError`]; the adapter
//! names the operation that failed (`Logs`/`Vote`, read or write) and keeps
//! the [`Error`]'s message. The `io::Error` a flush callback reports keeps
//! the kind of the failure underneath (a full disk is
//! `io::ErrorKind::StorageFull`). `?` converts an [`Error`] into a
//! [`StorageError`] in your own code.

use std::fmt::Debug;
use std::io;
use std::marker::PhantomData;
use std::ops::RangeBounds;

use openraft09::storage::{LogFlushed, RaftLogStorage};
use openraft09::{
    AnyError, ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogId, RaftLogReader, RaftTypeConfig,
    StorageError, StorageIOError, Vote,
};

use super::codec::{Bincode2, Codec};
use super::core::{self, AdapterCore, Reader};
use super::line::Line;
use super::storage_error::{Subject, Verb, error_context};
use crate::{ChunkLog, Config, Error, Result};

/// The openraft line in the chunk tag.
const LINE: &str = "openraft-0.9";

/// openraft 0.9's types, as the adapter core sees them.
struct Types<C>(PhantomData<C>);

impl<C: RaftTypeConfig> Line for Types<C> {
    const NAME: &'static str = LINE;
    type Entry = C::Entry;
    type LogId = LogId<C::NodeId>;
    type Vote = Vote<C::NodeId>;

    fn log_id(entry: &C::Entry) -> LogId<C::NodeId> {
        entry.get_log_id().clone()
    }
    fn index(id: &LogId<C::NodeId>) -> u64 {
        id.index
    }
    fn same_leader(a: &LogId<C::NodeId>, b: &LogId<C::NodeId>) -> bool {
        a.leader_id == b.leader_id
    }
    fn with_index(id: &LogId<C::NodeId>, index: u64) -> LogId<C::NodeId> {
        LogId::new(id.leader_id.clone(), index)
    }
    fn cmp_leaders(a: &Vote<C::NodeId>, b: &Vote<C::NodeId>) -> Option<std::cmp::Ordering> {
        a.leader_id.partial_cmp(&b.leader_id)
    }
    fn is_committed(vote: &Vote<C::NodeId>) -> bool {
        vote.committed
    }
}

/// chunklog as openraft 0.9's (`storage-v2`) log store.
pub struct LogStore<C: RaftTypeConfig, K: Codec = Bincode2> {
    core: AdapterCore<Types<C>, K>,
}

/// A cheap, cloneable reader of a [`LogStore`]; sees every entry appended
/// to the store, including after the reader was taken. It does not keep
/// the store open: after the store has closed, every call fails with
/// [`Error::Closed`].
pub struct LogReader<C: RaftTypeConfig, K: Codec = Bincode2> {
    core: Reader<Types<C>, K>,
}

impl<C: RaftTypeConfig, K: Codec> Clone for LogReader<C, K> {
    fn clone(&self) -> Self {
        LogReader { core: self.core.clone() }
    }
}

impl<C: RaftTypeConfig, K: Codec> Debug for LogStore<C, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.fmt_as("LogStore", f)
    }
}

impl<C: RaftTypeConfig, K: Codec> Debug for LogReader<C, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.fmt_as("LogReader", f)
    }
}

/// The chunk tag of this adapter with codec `K`.
pub fn tag<K: Codec>() -> String {
    core::tag::<K>(LINE)
}

impl<C: RaftTypeConfig, K: Codec> LogStore<C, K> {
    /// Opens (or creates) the store in `config.dir`. The config's `tag` is
    /// replaced by this adapter's (openraft line and codec).
    pub fn open(config: Config) -> Result<Self> {
        Ok(LogStore { core: AdapterCore::open(config)? })
    }

    /// Opens (or creates) one log for many Raft groups: one directory,
    /// one chunk stream and one flush thread, so one `fdatasync` makes
    /// the writes of every group durable. Take a store per group with
    /// [`for_group`](Self::for_group); keep the returned handle (or a
    /// store) alive while groups come and go: the log stays open while
    /// any owning handle or group store does. The config's `tag` is
    /// replaced by this adapter's.
    pub fn open_shared(config: Config) -> Result<ChunkLog> {
        AdapterCore::<Types<C>, K>::open_shared(config)
    }

    /// The store of Raft group `group` (any `u64`) in a log opened with
    /// [`open_shared`](Self::open_shared): the same type as a store of
    /// its own directory, so an application moves between the two by
    /// changing only how it opens the store. Group stores of one log may
    /// live on different tasks and threads. [`close`](Self::close) on a
    /// group store returns once its writes are durable (the log closes
    /// with its last owner); [`ChunkLog::remove_group`] on
    /// [`engine`](Self::engine) deletes a group for good.
    pub fn for_group(log: &ChunkLog, group: u64) -> Result<Self> {
        Ok(LogStore { core: AdapterCore::for_group(log, group)? })
    }

    /// Wraps an engine opened with [`tag`]`::<K>()` as its tag; another
    /// tag is refused ([`Error::InvalidConfig`]).
    pub fn from_engine(log: ChunkLog) -> Result<Self> {
        Ok(LogStore { core: AdapterCore::from_engine(log)? })
    }

    /// The engine underneath (statistics, configuration). To keep a
    /// handle, take [`ChunkLog::non_owning`]: a clone would keep the store
    /// open, its directory locked, after this store is dropped.
    pub fn engine(&self) -> &ChunkLog {
        self.core.engine()
    }

    /// A reader of this store. It does not keep the store open: once the
    /// store is dropped and closed, its calls fail with [`Error::Closed`].
    pub fn reader(&self) -> LogReader<C, K> {
        LogReader { core: self.core.reader() }
    }

    /// Closes the store and returns once it has closed: what is queued is
    /// flushed, purge deletions are done and the directory lock is
    /// released, so another process (the `chunklog` tool, a restarted
    /// node) may open it. It awaits without blocking the runtime. Dropping
    /// the store closes it the same way without waiting; an open of the
    /// directory in this process waits for that by itself.
    pub async fn close(self) -> Result<()> {
        self.core.close().await
    }
}

/// Describes a chunklog error as openraft 0.9's [`StorageError`]: what an
/// application needs to report a chunklog failure from its own storage
/// code with `?`. The subject and verb are judged from the error alone: a
/// refused vote is a vote write, damage found on disk a log read, a
/// poisoned or closed store a store write. (The adapter's own calls name
/// the operation they were doing instead.)
impl<NID: openraft09::NodeId> From<Error> for StorageError<NID> {
    fn from(e: Error) -> Self {
        let (subject, verb) = error_context(&e);
        let subject = match subject {
            Subject::Store => ErrorSubject::Store,
            Subject::Vote => ErrorSubject::Vote,
            Subject::Logs => ErrorSubject::Logs,
            Subject::LogIndex(i) => ErrorSubject::LogIndex(i),
        };
        let verb = match verb {
            Verb::Read => ErrorVerb::Read,
            Verb::Write => ErrorVerb::Write,
            Verb::Delete => ErrorVerb::Delete,
        };
        StorageIOError::new(subject, verb, AnyError::new(&e)).into()
    }
}

fn read_err<NID: openraft09::NodeId>(e: Error) -> StorageError<NID> {
    StorageIOError::read_logs(AnyError::new(&e)).into()
}

fn write_err<NID: openraft09::NodeId>(e: Error) -> StorageError<NID> {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

impl<C: RaftTypeConfig, K: Codec> RaftLogReader<C> for LogReader<C, K> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        self.core.entries(range).map_err(read_err)
    }
}

impl<C: RaftTypeConfig, K: Codec> RaftLogReader<C> for LogStore<C, K> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        self.core.entries(range).map_err(read_err)
    }
}

impl<C: RaftTypeConfig, K: Codec> RaftLogStorage<C> for LogStore<C, K> {
    type LogReader = LogReader<C, K>;

    async fn get_log_state(&mut self) -> std::result::Result<LogState<C>, StorageError<C::NodeId>> {
        let ids = self.core.log_state().map_err(read_err)?;
        Ok(LogState { last_purged_log_id: ids.purged, last_log_id: ids.last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader()
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> std::result::Result<(), StorageError<C::NodeId>> {
        self.core.save_vote(vote).await.map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> std::result::Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        self.core.vote().map_err(|e| StorageIOError::read_vote(AnyError::new(&e)).into())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> std::result::Result<(), StorageError<C::NodeId>> {
        self.core.save_committed(committed.as_ref()).map_err(write_err)
    }

    async fn read_committed(&mut self) -> std::result::Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        self.core.committed().map_err(read_err)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> std::result::Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let callback = Box::new(move |r: Result<()>| callback.log_io_completed(r.map_err(io::Error::from)));
        self.core.append(entries, callback).await.map_err(write_err)
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> std::result::Result<(), StorageError<C::NodeId>> {
        self.core.truncate_from(log_id.index).await.map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> std::result::Result<(), StorageError<C::NodeId>> {
        self.core.purge(&log_id).map_err(write_err)
    }
}
