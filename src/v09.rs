//! The openraft 0.9 adapter (feature `openraft-09`, off by default):
//! [`LogStore`] implements openraft 0.9's `storage-v2`
//! [`RaftLogStorage`] and
//! [`RaftLogReader`], and [`LogReader`] implements [`RaftLogReader`].
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
//! metadata reads touch memory only, entry reads cost one positional read
//! per run of uncached entries, and dropping the store never blocks.
//! `truncate` must learn the log id of the new last entry: the adapter
//! keeps the first log id of every term appended since open (one per
//! leader change, not one per entry), so truncating entries appended since
//! open costs no read; truncating further back reads one entry on a
//! short-lived thread (the task awaits it; no runtime worker is blocked).
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

use crate::codec::{self, Bincode2, Codec, Subject, Verb};
use crate::{ChunkLog, Config, Error, Result};

/// chunklog as openraft 0.9's (`storage-v2`) log store.
pub struct LogStore<C: RaftTypeConfig, K: Codec = Bincode2> {
    log: ChunkLog,
    last_entry: Option<LogId<C::NodeId>>,
    /// Log ids of recent entries, so `truncate` rarely reads the disk.
    runs: LeaderRuns<C::NodeId>,
    _codec: PhantomData<K>,
}

/// The log ids of the stored entries from `runs[0].index` on, kept as the
/// first log id of each run of entries with one leader id: a new run
/// starts only when the leader changes, so this is one element per term
/// seen since open, not one per entry. Entries below `runs[0].index` are
/// known only on disk.
struct LeaderRuns<NID: openraft09::NodeId> {
    runs: Vec<LogId<NID>>,
}

impl<NID: openraft09::NodeId> LeaderRuns<NID> {
    /// Starts knowing only `last` (the last stored entry), if any.
    fn new(last: Option<&LogId<NID>>) -> Self {
        LeaderRuns { runs: last.cloned().into_iter().collect() }
    }

    /// Records an appended entry (entries arrive in index order).
    fn push(&mut self, id: &LogId<NID>) {
        if self.runs.last().is_none_or(|r| r.leader_id != id.leader_id) {
            self.runs.push(id.clone());
        }
    }

    /// The log id of the stored entry `index`, if it is known without a
    /// read. `index` must be a stored entry's.
    fn get(&self, index: u64) -> Option<LogId<NID>> {
        let k = self.runs.partition_point(|r| r.index <= index);
        let run = self.runs.get(k.checked_sub(1)?)?;
        Some(LogId::new(run.leader_id.clone(), index))
    }

    /// Forgets entries after `index` (`None`: all).
    fn truncate_after(&mut self, index: Option<u64>) {
        self.runs.retain(|r| index.is_some_and(|i| r.index <= i));
    }

    /// Forgets runs that end at or below `index` (purged).
    fn purge_upto(&mut self, index: u64) {
        let k = self.runs.partition_point(|r| r.index <= index.saturating_add(1));
        if k > 1 {
            self.runs.drain(..k - 1);
        }
    }
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
    format!("openraft-0.9/{}", K::NAME)
}

/// Describes a chunklog error as openraft 0.9's [`StorageError`]: what an
/// application needs to report a chunklog failure from its own storage
/// code with `?`. The subject and verb are judged from the error alone: a
/// refused vote is a vote write, damage found on disk a log read, a
/// poisoned or closed store a store write. (The adapter's own calls name
/// the operation they were doing instead.)
impl<NID: openraft09::NodeId> From<Error> for StorageError<NID> {
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
        StorageIOError::new(subject, verb, AnyError::new(&e)).into()
    }
}

fn read_err<NID: openraft09::NodeId>(e: Error) -> StorageError<NID> {
    StorageIOError::read_logs(AnyError::new(&e)).into()
}

fn write_err<NID: openraft09::NodeId>(e: Error) -> StorageError<NID> {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

fn entries<C: RaftTypeConfig, K: Codec>(log: &ChunkLog, range: impl RangeBounds<u64>) -> Result<Vec<C::Entry>> {
    codec::decode_entries::<K, C::Entry>(log.read_range(range)?)
}

impl<C: RaftTypeConfig, K: Codec> LogStore<C, K> {
    /// Opens (or creates) the store in `config.dir`. The config's `tag` is
    /// replaced by this adapter's (openraft line and codec).
    pub fn open(config: Config) -> Result<Self> {
        let log = ChunkLog::open(config.tag(tag::<K>()))?;
        let last_entry = match log.state().last_index {
            Some(i) => entries::<C, K>(&log, i..=i)?.pop().map(|e| e.get_log_id().clone()),
            None => None,
        };
        let runs = LeaderRuns::new(last_entry.as_ref());
        Ok(LogStore { log, last_entry, runs, _codec: PhantomData })
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

    /// The log id of the stored entry at `index`, if there is one: from
    /// memory when it was appended since open (or is the entry that was
    /// last at open), otherwise read from disk on a short-lived thread.
    async fn entry_id(&mut self, index: u64) -> Result<Option<LogId<C::NodeId>>> {
        let st = self.log.state();
        if st.first_index.is_none_or(|f| index < f) || st.last_index.is_none_or(|l| index > l) {
            return Ok(None);
        }
        if let Some(id) = self.runs.get(index) {
            return Ok(Some(id));
        }
        let (tx, rx) = futures_channel::oneshot::channel();
        let log = self.log.non_owning();
        std::thread::Builder::new()
            .name("chunklog-read".into())
            .spawn(move || {
                let _ = tx.send(entries::<C, K>(&log, index..=index));
            })
            .map_err(|e| Error::io("spawn read thread", self.log.dir(), e))?;
        let id = rx.await.unwrap_or(Err(Error::Closed))?.pop().map(|e| e.get_log_id().clone());
        if let Some(id) = &id {
            // Known from here on: the runs after `index` are gone already.
            self.runs = LeaderRuns::new(Some(id));
        }
        Ok(id)
    }

    fn purged(&self) -> Result<Option<LogId<C::NodeId>>> {
        codec::decode_opt::<K, _>(self.log.state().purged.as_ref().map(|p| p.meta.as_ref()))
    }
}

impl<C: RaftTypeConfig, K: Codec> RaftLogReader<C> for LogReader<C, K> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        entries::<C, K>(&self.log, range).map_err(read_err)
    }
}

impl<C: RaftTypeConfig, K: Codec> RaftLogReader<C> for LogStore<C, K> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        entries::<C, K>(&self.log, range).map_err(read_err)
    }
}

impl<C: RaftTypeConfig, K: Codec> RaftLogStorage<C> for LogStore<C, K> {
    type LogReader = LogReader<C, K>;

    async fn get_log_state(&mut self) -> std::result::Result<LogState<C>, StorageError<C::NodeId>> {
        let purged = self.purged().map_err(read_err)?;
        let last = if self.log.state().first_index.is_some() { self.last_entry.clone() } else { purged.clone() };
        Ok(LogState { last_purged_log_id: purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader()
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> std::result::Result<(), StorageError<C::NodeId>> {
        let res = async {
            let current: Option<Vote<C::NodeId>> = codec::decode_opt::<K, _>(self.log.state().vote.as_deref())?;
            if let Some(current) = current
                && vote.partial_cmp(&current) == Some(std::cmp::Ordering::Less)
            {
                return Err(Error::VoteReversal { current: current.to_string(), attempted: vote.to_string() });
            }
            self.log.write_vote(&K::encode(vote)?)?;
            codec::flushed(&self.log).await
        };
        res.await.map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> std::result::Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        codec::decode_opt::<K, _>(self.log.state().vote.as_deref())
            .map_err(|e| StorageIOError::read_vote(AnyError::new(&e)).into())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> std::result::Result<(), StorageError<C::NodeId>> {
        let blob = committed.as_ref().map(K::encode).transpose().map_err(write_err)?;
        self.log.save_committed(blob.as_deref()).map_err(write_err)
    }

    async fn read_committed(&mut self) -> std::result::Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        codec::decode_opt::<K, _>(self.log.state().committed.as_deref()).map_err(read_err)
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
        // openraft 0.9 may hand over entries at or below the purge point
        // (already covered by a snapshot); they are not stored.
        let purged = self.log.state().purged_index();
        let mut last = None;
        let mut buf = Vec::new();
        let kept = entries.into_iter().filter(|e| purged.is_none_or(|p| e.get_log_id().index > p));
        let mut ids = Vec::new();
        let spans = codec::encode_batch::<K, _>(
            kept.inspect(|e| {
                if ids.last().is_none_or(|l: &LogId<C::NodeId>| l.leader_id != e.get_log_id().leader_id) {
                    ids.push(e.get_log_id().clone());
                }
                last = Some(e.get_log_id().clone());
            }),
            |e: &C::Entry| e.get_log_id().index,
            &mut buf,
        )
        .map_err(write_err)?;
        codec::room(&self.log).await.map_err(write_err)?;
        let appended = self.log.append(spans.iter().map(|(i, r)| (*i, &buf[r.clone()])));
        // On a partial (non-consecutive) append, forget what may not be stored.
        let stored = self.log.state().last_index;
        for id in &ids {
            if stored.is_some_and(|l| id.index <= l) {
                self.runs.push(id);
            }
        }
        appended.map_err(write_err)?;
        if last.is_some() {
            self.last_entry = last;
        }
        self.log.flush(Box::new(move |r| callback.log_io_completed(r.map_err(io::Error::from))));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> std::result::Result<(), StorageError<C::NodeId>> {
        let after = log_id.index.checked_sub(1);
        let before = self.log.state().last_index;
        self.log.truncate_after(after).map_err(write_err)?;
        if self.log.state().last_index != before {
            self.runs.truncate_after(after);
            self.last_entry = match after {
                Some(i) => self.entry_id(i).await.map_err(read_err)?,
                None => None,
            };
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> std::result::Result<(), StorageError<C::NodeId>> {
        let meta = K::encode(&log_id).map_err(write_err)?;
        self.log.purge(log_id.index, &meta).map_err(write_err)?;
        self.runs.purge_upto(log_id.index);
        Ok(())
    }
}
