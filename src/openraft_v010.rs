//! The openraft 0.10 adapter: [`LogStore`] implements
//! [`RaftLogStorage`] and [`LogReader`]
//! implements [`RaftLogReader`].
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
//! - `get_log_state`, `read_vote`, `read_committed` read memory only.
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

use crate::codec::{self, Bincode2, Codec, Subject, Verb};
use crate::{ChunkLog, Config, Error, Result};

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
pub struct LogStore<C: RaftTypeConfig, K: Codec = Bincode2> {
    log: ChunkLog,
    /// Log id of the last entry, if any entry is stored.
    last_entry: Option<LogIdOf<C>>,
    _codec: PhantomData<K>,
}

/// A cheap, cloneable reader of a [`LogStore`]; sees every entry appended
/// to the store, including after the reader was taken. It does not keep
/// the store open: after the store has closed, every call fails with
/// [`Error::Closed`].
pub struct LogReader<C: RaftTypeConfig, K: Codec = Bincode2> {
    log: ChunkLog,
    _types: PhantomData<(C, K)>,
}

impl<C: RaftTypeConfig, K: Codec> Clone for LogReader<C, K> {
    fn clone(&self) -> Self {
        LogReader { log: self.log.clone(), _types: PhantomData }
    }
}

impl<C: RaftTypeConfig, K: Codec> Debug for LogStore<C, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").field("log", &self.log).field("last_entry", &self.last_entry).finish()
    }
}

impl<C: RaftTypeConfig, K: Codec> Debug for LogReader<C, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader").field("log", &self.log).finish()
    }
}

/// Never blocks: when this store holds the last owning handle of the
/// engine, the flush thread writes and syncs what is still queued,
/// finishes pending purge deletions and releases the directory on its own
/// (an open of the same directory in this process waits for that).
/// Dropping it where it may block would stall an async runtime's worker
/// for an fsync and the deletions.
impl<C: RaftTypeConfig, K: Codec> Drop for LogStore<C, K> {
    fn drop(&mut self) {
        let handle = self.log.non_owning();
        let owning = std::mem::replace(&mut self.log, handle);
        owning.close_in_background();
    }
}

/// The chunk tag of this adapter with codec `K`.
pub fn tag<K: Codec>() -> String {
    format!("openraft-0.10/{}", K::NAME)
}

impl<C: RaftTypeConfig, K: Codec> LogStore<C, K> {
    /// Opens (or creates) the store in `config.dir`. The config's `tag` is
    /// replaced by this adapter's (openraft line and codec).
    pub fn open(config: Config) -> Result<Self> {
        Self::from_engine(ChunkLog::open(config.tag(tag::<K>()))?)
    }

    /// Wraps an engine opened with [`tag`]`::<K>()` as its tag.
    pub fn from_engine(log: ChunkLog) -> Result<Self> {
        if log.config().tag != tag::<K>() {
            return Err(Error::InvalidConfig(format!(
                "engine opened with tag {:?}, this adapter needs {:?}",
                log.config().tag,
                tag::<K>()
            )));
        }
        let last_entry = match log.state().last_index {
            Some(i) if log.state().first_index.is_some() => {
                let raw = log.read_range(i..=i)?;
                codec::decode_entries::<K, C::Entry>(raw)?.pop().map(|e| e.log_id())
            }
            _ => None,
        };
        Ok(LogStore { log, last_entry, _codec: PhantomData })
    }

    /// The engine underneath (statistics, configuration). To keep a
    /// handle, take [`ChunkLog::non_owning`]: a clone would keep the store
    /// open, its directory locked, after this store is dropped.
    pub fn engine(&self) -> &ChunkLog {
        &self.log
    }

    /// A reader of this store. It does not keep the store open: once the
    /// store is dropped and closed, its calls fail with [`Error::Closed`].
    pub fn reader(&self) -> LogReader<C, K> {
        LogReader { log: self.log.non_owning(), _types: PhantomData }
    }

    fn purged(&self) -> Result<Option<LogIdOf<C>>> {
        let st = self.log.state();
        codec::decode_opt::<K, _>(st.purged.as_ref().map(|p| p.meta.as_ref()))
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
        let (subject, verb) = codec::error_context(&e);
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

fn read_vote<C: RaftTypeConfig, K: Codec>(log: &ChunkLog) -> Result<Option<VoteOf<C>>> {
    codec::decode_opt::<K, _>(log.state().vote.as_deref())
}

impl<C: RaftTypeConfig, K: Codec> RaftLogReader<C> for LogReader<C, K> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<C::Entry>> {
        Ok(codec::decode_entries::<K, C::Entry>(self.log.read_range(range)?)?)
    }

    async fn read_vote(&mut self) -> io::Result<Option<VoteOf<C>>> {
        Ok(read_vote::<C, K>(&self.log)?)
    }
}

impl<C: RaftTypeConfig, K: Codec> RaftLogStorage<C> for LogStore<C, K> {
    type LogReader = LogReader<C, K>;

    async fn get_log_state(&mut self) -> io::Result<LogState<C>> {
        let purged = self.purged()?;
        let last = if self.log.state().first_index.is_some() { self.last_entry.clone() } else { purged.clone() };
        Ok(LogState { last_purged_log_id: purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader()
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> io::Result<()> {
        if let Some(current) = read_vote::<C, K>(&self.log)? {
            // Votes order by leader id, then committed (as openraft's own
            // comparison); incomparable leader ids are openraft's to judge.
            let order = vote
                .leader_id()
                .partial_cmp(current.leader_id())
                .map(|o| o.then(vote.is_committed().cmp(&current.is_committed())));
            if order == Some(std::cmp::Ordering::Less) {
                let e = Error::VoteReversal { current: current.to_string(), attempted: vote.to_string() };
                return Err(e.into());
            }
        }
        self.log.write_vote(&K::encode(vote)?)?;
        Ok(codec::flushed(&self.log).await?)
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> io::Result<()> {
        let blob = committed.as_ref().map(K::encode).transpose()?;
        Ok(self.log.save_committed(blob.as_deref())?)
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogIdOf<C>>> {
        Ok(codec::decode_opt::<K, _>(self.log.state().committed.as_deref())?)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> io::Result<()>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut last = None;
        let mut buf = Vec::new();
        let spans = codec::encode_batch::<K, _>(
            entries.into_iter().inspect(|e| last = Some(e.log_id())),
            |e: &C::Entry| e.index(),
            &mut buf,
        )?;
        codec::room(&self.log).await?;
        self.log.append(spans.iter().map(|(i, r)| (*i, &buf[r.clone()])))?;
        if last.is_some() {
            self.last_entry = last;
        }
        self.log.flush(Box::new(move |r| callback.io_completed(r.map_err(io::Error::from))));
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> io::Result<()> {
        let index = last_log_id.as_ref().map(|id| id.index());
        let before = self.log.state().last_index;
        self.log.truncate_after(index)?;
        if self.log.state().last_index != before {
            self.last_entry = last_log_id;
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> io::Result<()> {
        Ok(self.log.purge(log_id.index(), &K::encode(&log_id)?)?)
    }
}
