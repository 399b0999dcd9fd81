//! The adapter core: what an openraft log store on chunklog does, once,
//! for both openraft lines. It opens the engine and checks its tag, keeps
//! the log ids of the stored entries ([`LogIds`]), encodes and appends
//! entries with a flush callback (awaiting room in the flush queue instead
//! of blocking), truncates and purges, and refuses a vote that goes
//! backwards. A line's file only maps openraft's traits, types and errors
//! onto it, describing its types with a [`Line`].

use std::cmp::Ordering;
use std::marker::PhantomData;
use std::ops::RangeBounds;

use super::codec::{self, Codec};
use super::line::Line;
use super::log_ids::LogIds;
use crate::{Callback, ChunkLog, Config, Error, Result};

/// The chunk tag of an adapter: its openraft line and its codec, as in
/// `openraft-0.10/bincode2`.
pub(crate) fn tag<K: Codec>(line: &str) -> String {
    format!("{line}/{}", K::NAME)
}

/// The log ids at both ends of the log: openraft's `LogState`.
pub(crate) struct LogIdBounds<Id> {
    /// The purged log id.
    pub(crate) purged: Option<Id>,
    /// The last log id: the last entry's, or the purged one when no entry
    /// is stored.
    pub(crate) last: Option<Id>,
}

/// An openraft log store on an owning engine handle. Dropping it never
/// blocks (see the `Drop` impl).
pub(crate) struct AdapterCore<L: Line, K: Codec> {
    log: ChunkLog,
    ids: LogIds<L>,
    _codec: PhantomData<fn() -> K>,
}

/// A reader on a non-owning engine handle: it does not keep the store
/// open, and fails with [`Error::Closed`] once the store has closed.
pub(crate) struct Reader<L: Line, K: Codec> {
    log: ChunkLog,
    _types: PhantomData<fn() -> (L, K)>,
}

impl<L: Line, K: Codec> AdapterCore<L, K> {
    /// Opens (or creates) the store in `config.dir`, with this adapter's
    /// tag in place of the config's.
    pub(crate) fn open(config: Config) -> Result<Self> {
        Self::from_engine(ChunkLog::open(config.tag(tag::<K>(L::NAME)))?)
    }

    /// Opens (or creates) a log shared by many groups, with this adapter's
    /// tag: take a store per group with [`for_group`](Self::for_group).
    pub(crate) fn open_shared(config: Config) -> Result<ChunkLog> {
        ChunkLog::open(config.tag(tag::<K>(L::NAME)))
    }

    /// The store of group `group` of a shared log.
    pub(crate) fn for_group(log: &ChunkLog, group: u64) -> Result<Self> {
        if !log.is_owning() {
            return Err(Error::InvalidConfig("a group store needs an owning handle of the shared log".into()));
        }
        Self::from_engine(log.group(group))
    }

    /// Wraps an engine opened with this adapter's tag; another tag means
    /// the directory holds another line's or codec's bytes.
    pub(crate) fn from_engine(log: ChunkLog) -> Result<Self> {
        let expected = tag::<K>(L::NAME);
        if log.config().tag != expected {
            let found = &log.config().tag;
            return Err(Error::InvalidConfig(format!(
                "engine opened with tag {found:?}, this adapter needs {expected:?}"
            )));
        }
        let st = log.state();
        let last = match (st.first_index, st.last_index) {
            (Some(_), Some(i)) => read_entries::<L, K>(&log, i..=i)?.pop().map(|e| L::log_id(&e)),
            _ => None,
        };
        Ok(AdapterCore { log, ids: LogIds::new(last), _codec: PhantomData })
    }

    /// The engine underneath.
    pub(crate) fn engine(&self) -> &ChunkLog {
        &self.log
    }

    /// A reader of this store.
    pub(crate) fn reader(&self) -> Reader<L, K> {
        Reader { log: self.log.non_owning(), _types: PhantomData }
    }

    /// The stored entries in `range`.
    #[cfg(feature = "openraft-09")]
    pub(crate) fn entries(&self, range: impl RangeBounds<u64>) -> Result<Vec<L::Entry>> {
        read_entries::<L, K>(&self.log, range)
    }

    /// The purged and the last log id, from memory.
    pub(crate) fn log_state(&self) -> Result<LogIdBounds<L::LogId>> {
        let st = self.log.state();
        let purged = codec::decode_opt::<K, L::LogId>(st.purged.as_ref().map(|p| p.meta.as_ref()))?;
        let last = match (st.first_index, st.last_index) {
            (Some(_), Some(i)) => self.ids.get(i),
            _ => purged.clone(),
        };
        Ok(LogIdBounds { purged, last })
    }

    /// The saved vote.
    pub(crate) fn vote(&self) -> Result<Option<L::Vote>> {
        read_vote::<L, K>(&self.log)
    }

    /// Saves `vote` and awaits its fsync. Votes order by leader id, then
    /// committed (openraft's own order); a lower vote than the stored one
    /// is refused, an incomparable one is openraft's to judge.
    pub(crate) async fn save_vote(&mut self, vote: &L::Vote) -> Result<()> {
        if let Some(current) = self.vote()? {
            let order =
                L::cmp_leaders(vote, &current).map(|o| o.then(L::is_committed(vote).cmp(&L::is_committed(&current))));
            if order == Some(Ordering::Less) {
                return Err(Error::VoteReversal { current: current.to_string(), attempted: vote.to_string() });
            }
        }
        self.log.write_vote(&K::encode(vote)?)?;
        flushed(&self.log).await
    }

    /// Queues the committed log id (memory only until the next flush).
    pub(crate) fn save_committed(&mut self, committed: Option<&L::LogId>) -> Result<()> {
        let blob = committed.map(K::encode).transpose()?;
        self.log.save_committed(blob.as_deref())
    }

    /// The saved committed log id.
    pub(crate) fn committed(&self) -> Result<Option<L::LogId>> {
        codec::decode_opt::<K, _>(self.log.state().committed.as_deref())
    }

    /// Encodes and appends `entries`; `callback` fires once they are
    /// durable. Awaits room when the flush queue is full. Entries at or
    /// below the purge point are covered by a snapshot and are skipped
    /// (see the module docs of `openraft`).
    pub(crate) async fn append(
        &mut self,
        entries: impl IntoIterator<Item = L::Entry>,
        callback: Callback,
    ) -> Result<()> {
        let purged = self.log.state().purged_index();
        let mut runs = Vec::new();
        let kept = entries.into_iter().filter_map(|e| {
            let id = L::log_id(&e);
            let index = L::index(&id);
            if purged.is_some_and(|p| index <= p) {
                return None;
            }
            if runs.last().is_none_or(|r| !L::same_leader(r, &id)) {
                runs.push(id);
            }
            Some((index, e))
        });
        let mut buf = Vec::new();
        let spans = codec::encode_batch::<K, _>(kept, &mut buf)?;
        room(&self.log).await?;
        let appended = self.log.append(spans.iter().map(|(i, r)| (*i, &buf[r.clone()])));
        // A non-consecutive entry stops the append part way: record what
        // was stored, no more.
        let stored = self.log.state().last_index;
        for id in runs.into_iter().filter(|id| stored.is_some_and(|l| L::index(id) <= l)) {
            self.ids.push(id);
        }
        appended?;
        self.log.flush(callback);
        Ok(())
    }

    /// Deletes the entries after `last`, the log id of the entry that
    /// stays last (`None`: every entry). openraft 0.10's form.
    #[cfg(feature = "openraft-010")]
    pub(crate) fn truncate_after(&mut self, last: Option<L::LogId>) -> Result<()> {
        self.truncate(last.as_ref().map(L::index), last)
    }

    /// Deletes the entry at `index` and every later one: openraft 0.9's
    /// form, which does not say the log id that stays last. It is known in
    /// memory for entries appended since open; an older one is read from
    /// disk on a short-lived thread (the task awaits it, no runtime worker
    /// blocks).
    #[cfg(feature = "openraft-09")]
    pub(crate) async fn truncate_from(&mut self, index: u64) -> Result<()> {
        let after = index.checked_sub(1);
        let last = match after {
            Some(i) => self.stored_id(i).await?,
            None => None,
        };
        self.truncate(after, last)
    }

    /// Deletes the entries after `after`; `last` is the log id at `after`
    /// if an entry is stored there.
    fn truncate(&mut self, after: Option<u64>, last: Option<L::LogId>) -> Result<()> {
        let before = self.log.state().last_index;
        self.log.truncate_after(after)?;
        let st = self.log.state();
        if st.last_index != before {
            self.ids.truncate_to(last.as_ref().filter(|_| st.first_index.is_some()));
        }
        Ok(())
    }

    /// Deletes every entry up to and including `id`, remembering `id` as
    /// the purged log id.
    pub(crate) fn purge(&mut self, id: &L::LogId) -> Result<()> {
        self.log.purge(L::index(id), &K::encode(id)?)?;
        self.ids.purge_upto(L::index(id));
        Ok(())
    }

    /// The log id of the stored entry at `index`, if there is one.
    #[cfg(feature = "openraft-09")]
    async fn stored_id(&self, index: u64) -> Result<Option<L::LogId>> {
        let st = self.log.state();
        if st.first_index.is_none_or(|f| index < f) || st.last_index.is_none_or(|l| index > l) {
            return Ok(None);
        }
        if let Some(id) = self.ids.get(index) {
            return Ok(Some(id));
        }
        let (tx, rx) = futures_channel::oneshot::channel();
        let log = self.log.non_owning();
        std::thread::Builder::new()
            .name("chunklog-read".into())
            .spawn(move || {
                let _ = tx.send(read_entries::<L, K>(&log, index..=index));
            })
            .map_err(|e| Error::io("spawn read thread", self.log.dir(), e))?;
        Ok(rx.await.unwrap_or(Err(Error::Closed))?.pop().map(|e| L::log_id(&e)))
    }

    /// Writes the fields of a line's `LogStore` named `name`.
    pub(crate) fn fmt_as(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let last = self.log_state().ok().and_then(|b| b.last);
        f.debug_struct(name).field("log", &self.log).field("last_entry", &last).finish()
    }
}

/// Never blocks: when this store holds the last owning handle of the
/// engine, the flush thread writes and syncs what is still queued,
/// finishes pending purge deletions and releases the directory on its own
/// (an open of the same directory in this process waits for that).
/// Dropping it where it may block would stall an async runtime's worker
/// for an fsync and the deletions.
impl<L: Line, K: Codec> AdapterCore<L, K> {
    /// Closes the store without blocking the runtime and returns once it
    /// has closed (queued writes flushed, directory released), or at once
    /// with the error if it was poisoned. A store of one group among
    /// others that keep the log open returns once its writes are durable.
    pub(crate) async fn close(mut self) -> Result<()> {
        let handle = self.log.non_owning();
        let owning = std::mem::replace(&mut self.log, handle);
        let (tx, rx) = futures_channel::oneshot::channel();
        owning.release_with(Box::new(move |r| {
            let _ = tx.send(r);
        }));
        rx.await.unwrap_or(Err(crate::Error::Closed))
    }
}

impl<L: Line, K: Codec> Drop for AdapterCore<L, K> {
    fn drop(&mut self) {
        let handle = self.log.non_owning();
        let owning = std::mem::replace(&mut self.log, handle);
        owning.close_in_background();
    }
}

impl<L: Line, K: Codec> Reader<L, K> {
    /// The stored entries in `range`.
    pub(crate) fn entries(&self, range: impl RangeBounds<u64>) -> Result<Vec<L::Entry>> {
        read_entries::<L, K>(&self.log, range)
    }

    /// The saved vote.
    #[cfg(feature = "openraft-010")]
    pub(crate) fn vote(&self) -> Result<Option<L::Vote>> {
        read_vote::<L, K>(&self.log)
    }

    /// Writes the fields of a line's `LogReader` named `name`.
    pub(crate) fn fmt_as(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name).field("log", &self.log).finish()
    }
}

impl<L: Line, K: Codec> Clone for Reader<L, K> {
    fn clone(&self) -> Self {
        Reader { log: self.log.clone(), _types: PhantomData }
    }
}

fn read_entries<L: Line, K: Codec>(log: &ChunkLog, range: impl RangeBounds<u64>) -> Result<Vec<L::Entry>> {
    codec::decode_entries::<K, L::Entry>(log.read_range(range)?)
}

fn read_vote<L: Line, K: Codec>(log: &ChunkLog) -> Result<Option<L::Vote>> {
    codec::decode_opt::<K, _>(log.state().vote.as_deref())
}

/// Awaits room in `log`'s flush queue, so that the append that follows
/// does not block (unless another handle fills the queue in between).
async fn room(log: &ChunkLog) -> Result<()> {
    if log.has_room() {
        return Ok(());
    }
    let (tx, rx) = futures_channel::oneshot::channel();
    log.when_room(Box::new(move |r| {
        let _ = tx.send(r);
    }));
    rx.await.unwrap_or(Err(Error::Closed))
}

/// Awaits a flush of `log`: everything submitted before is durable.
async fn flushed(log: &ChunkLog) -> Result<()> {
    let (tx, rx) = futures_channel::oneshot::channel();
    log.flush(Box::new(move |r| {
        let _ = tx.send(r);
    }));
    rx.await.unwrap_or(Err(Error::Closed))
}
