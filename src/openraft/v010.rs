//! The openraft 0.10 adapter: [`LogStore`] implements [`RaftLogStorage`]
//! and [`LogReader`] implements [`RaftLogReader`].
//!
//! Entries, log ids and votes are encoded with a [`Codec`] (bincode 2 by
//! default) and stored in the engine. [`LogStore`]'s example shows the
//! recommended set-up.
//!
//! # Turn off leader restore
//!
//! openraft's [`Config::enable_leader_restore`](openraft::Config::enable_leader_restore)
//! (on by default) lets a node that was leader before a restart resume as
//! leader of the same term, without an election. That is unsafe with
//! chunklog, as with any log store whose appends become durable after
//! `append` returns (openraft allows this: it counts an entry only once the
//! flush callback fired). A leader can send an entry to a follower before
//! its own flush, be killed with the entry still queued (so the entry is,
//! correctly, lost on the leader), restart within the election timeout,
//! resume as leader of that term and give the same log id to a different
//! entry. The follower keeps its old entry, because the log id matches, and
//! the state machines diverge. openraft's own simulation tests found this
//! on chunklog stores reopened after each crash (5 failures in 40 runs of
//! one seed with restore on, none in 40 with it off). Set
//! `enable_leader_restore: Some(false)`: a restarted leader then starts an
//! election, which costs one election timeout before the cluster accepts
//! writes again after a leader restarts.
//!
//! # What each call costs
//!
//! - `append` encodes the entries and copies them into the engine's queue
//!   on the calling task; it never waits for the disk. When
//!   `flush_queue_max_bytes` are already queued it awaits room (the task
//!   yields; no runtime worker is blocked). The callback fires from the
//!   engine's flush thread after the covering `fdatasync`.
//! - `save_vote` awaits that fsync without blocking the runtime, and
//!   refuses a vote lower than the stored one ([`Error::VoteReversal`]).
//! - `save_committed`, `truncate_after` and `purge` queue one record
//!   (memory only); the chunk files a purge frees are deleted by a
//!   background thread.
//! - `append` skips entries at or below the purge point (a snapshot
//!   covers them; openraft does not hand them over today).
//! - `get_log_state`, `read_vote`, `read_committed` read memory only: the
//!   adapter keeps the first log id of each leader run since open.
//! - `try_get_log_entries` copies cached entries from memory; others cost
//!   one positional read per run of consecutive entries (a page-cache hit
//!   or one disk read), done on the calling task.
//! - Dropping the [`LogStore`] never blocks: when it holds the last owning
//!   handle of the engine, the flush thread writes and syncs what is still
//!   queued, finishes pending purge deletions and releases the directory
//!   on its own. An open of the same directory in this process waits for
//!   that, so `Raft::shutdown()` followed by [`LogStore::open`] works.
//! - A [`LogReader`] does not keep the store open: openraft's workers may
//!   hold one for a moment after shutdown. Once the store has closed, its
//!   calls fail with [`Error::Closed`].
//!
//! # Errors
//!
//! openraft 0.10's storage API returns `std::io::Error`. The adapter's
//! errors wrap the [`Error`] (`get_ref()` and `downcast_ref::<Error>()`
//! give it back) and keep the kind of the I/O failure underneath: a full
//! disk (ENOSPC) is `io::ErrorKind::StorageFull` in the flush callback
//! that failed and, once the store is poisoned by it ([`Error::Poisoned`]),
//! in every later call; a failing disk (EIO) has another kind, and
//! [`Error::raw_os_error`] gives the operating system's code of either.
//! Where openraft's [`StorageError`] is needed (a state machine or tool
//! built on [`ChunkLog`]), `?` converts an [`Error`] into one.

use std::fmt::Debug;
use std::io;
use std::marker::PhantomData;
use std::ops::RangeBounds;

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use openraft::type_config::alias::{LogIdOf, VoteOf};
use openraft::vote::RaftVote;
use openraft::{ErrorSubject, ErrorVerb, LogState, OptionalSend, RaftLogReader, RaftTypeConfig, StorageError};

use super::codec::{Bincode2, Codec};
use super::core::{self, AdapterCore, Reader};
use super::line::Line;
use super::storage_error::{Subject, Verb, error_context};
use crate::{ChunkLog, Config, Error, Result};

/// The openraft line in the chunk tag.
const LINE: &str = "openraft-0.10";

/// openraft 0.10's types, as the adapter core sees them.
struct Types<C>(PhantomData<C>);

impl<C: RaftTypeConfig> Line for Types<C> {
    const NAME: &'static str = LINE;
    type Entry = C::Entry;
    type LogId = LogIdOf<C>;
    type Vote = VoteOf<C>;

    fn log_id(entry: &C::Entry) -> LogIdOf<C> {
        entry.log_id()
    }
    fn index(id: &LogIdOf<C>) -> u64 {
        id.index()
    }
    fn same_leader(a: &LogIdOf<C>, b: &LogIdOf<C>) -> bool {
        a.committed_leader_id() == b.committed_leader_id()
    }
    fn with_index(id: &LogIdOf<C>, index: u64) -> LogIdOf<C> {
        LogIdOf::<C>::new(id.committed_leader_id().clone(), index)
    }
    fn cmp_leaders(a: &VoteOf<C>, b: &VoteOf<C>) -> Option<std::cmp::Ordering> {
        a.leader_id().partial_cmp(b.leader_id())
    }
    fn is_committed(vote: &VoteOf<C>) -> bool {
        vote.is_committed()
    }
}

/// chunklog as openraft 0.10's log store.
///
/// The recommended set-up: leader restore off (see [the module
/// docs](self#turn-off-leader-restore) for why), then the store in a
/// directory of its own.
///
/// ```
/// # openraft::declare_raft_types!(TypeConfig);
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tmp = tempfile::tempdir()?;
/// # let data_dir = tmp.path();
/// use std::sync::Arc;
///
/// let raft_config = openraft::Config {
///     // Required with chunklog: a restarted leader must win an election
///     // before it assigns log ids again.
///     enable_leader_restore: Some(false),
///     ..Default::default()
/// };
/// let raft_config = Arc::new(raft_config.validate()?);
/// let log_store = chunklog::LogStore::<TypeConfig>::open(chunklog::Config::new(data_dir.join("raft-log")))?;
/// // let raft = openraft::Raft::new(node_id, raft_config, network, log_store, state_machine).await?;
/// # drop((raft_config, log_store));
/// # Ok(()) }
/// ```
///
/// Many Raft groups in one process share one log: open it once, then take
/// a store per group (the same type), and every group's writes share one
/// `fdatasync`.
///
/// ```
/// # openraft::declare_raft_types!(TypeConfig);
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tmp = tempfile::tempdir()?;
/// # let data_dir = tmp.path();
/// use chunklog::LogStore;
///
/// let shared = LogStore::<TypeConfig>::open_shared(chunklog::Config::new(data_dir.join("raft-log")))?;
/// let stores: Vec<LogStore<TypeConfig>> =
///     (0..16u64).map(|group| LogStore::for_group(&shared, group)).collect::<Result<_, _>>()?;
/// // One openraft::Raft per group, each given its store:
/// // let raft = openraft::Raft::new(node_id, raft_config.clone(), network.for_group(g), stores[g], sm).await?;
/// assert_eq!(stores.len(), 16);
/// # Ok(()) }
/// ```
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

/// Describes a chunklog error as openraft's [`StorageError`], for code
/// that reports storage failures in openraft's terms (a custom log store
/// or state machine built on [`ChunkLog`], a `StoreBuilder` of openraft's
/// test suite). The subject and verb are judged from the error alone: a
/// refused vote is a vote write, damage found on disk a log read, a
/// poisoned or closed store a store write. The adapter's own calls return
/// `io::Error` instead (see the module docs).
impl<C: RaftTypeConfig> From<Error> for StorageError<C> {
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
        StorageError::new(subject, verb, C::err_from_error(&e))
    }
}

impl<C: RaftTypeConfig, K: Codec> RaftLogReader<C> for LogReader<C, K> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<C::Entry>> {
        Ok(self.core.entries(range)?)
    }

    async fn read_vote(&mut self) -> io::Result<Option<VoteOf<C>>> {
        Ok(self.core.vote()?)
    }
}

impl<C: RaftTypeConfig, K: Codec> RaftLogStorage<C> for LogStore<C, K> {
    type LogReader = LogReader<C, K>;

    async fn get_log_state(&mut self) -> io::Result<LogState<C>> {
        let ids = self.core.log_state()?;
        Ok(LogState { last_purged_log_id: ids.purged, last_log_id: ids.last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader()
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> io::Result<()> {
        Ok(self.core.save_vote(vote).await?)
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> io::Result<()> {
        Ok(self.core.save_committed(committed.as_ref())?)
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogIdOf<C>>> {
        Ok(self.core.committed()?)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> io::Result<()>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let callback = Box::new(move |r: Result<()>| callback.io_completed(r.map_err(io::Error::from)));
        Ok(self.core.append(entries, callback).await?)
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> io::Result<()> {
        Ok(self.core.truncate_after(last_log_id)?)
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> io::Result<()> {
        Ok(self.core.purge(&log_id)?)
    }
}
