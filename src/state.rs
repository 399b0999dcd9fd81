//! The log state: what a Raft node must remember besides its entries.

use bytes::Bytes;

/// The log state the engine keeps: vote, committed, purged and last index,
/// and a user metadata blob.
///
/// The engine treats every blob as opaque bytes: the openraft adapters
/// store encoded openraft values in them. A copy of the whole state opens
/// every chunk (its checkpoint) and closes every sealed chunk (its footer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogState {
    /// The last saved vote, if any.
    pub vote: Option<Bytes>,
    /// The last saved committed marker, if any.
    pub committed: Option<Bytes>,
    /// The purge point: every entry at or below it is gone.
    pub purged: Option<Purged>,
    /// Index of the first entry, `None` when the log holds no entry.
    pub first_index: Option<u64>,
    /// Index of the last entry, or of the purge point when the log holds
    /// no entry (`None` if it was never purged either).
    pub last_index: Option<u64>,
    /// A user metadata blob ([`crate::ChunkLog::save_user_meta`]).
    pub user_meta: Option<Bytes>,
}

/// The purge point: an index and the opaque id the user attached to it
/// (the openraft adapters store the purged log id there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purged {
    /// Every entry at or below this index is deleted.
    pub index: u64,
    /// Opaque bytes given with the purge.
    pub meta: Bytes,
}

impl LogState {
    /// The index the next appended entry must have, or `None` if any index
    /// is accepted (a log that holds no entry and was never purged).
    pub fn next_index(&self) -> Option<u64> {
        self.last_index.map(|l| l.saturating_add(1))
    }

    /// Number of entries stored.
    pub fn entry_count(&self) -> u64 {
        match (self.first_index, self.last_index) {
            (Some(f), Some(l)) => l.saturating_sub(f).saturating_add(1),
            _ => 0,
        }
    }

    /// Purged index, if any.
    pub fn purged_index(&self) -> Option<u64> {
        self.purged.as_ref().map(|p| p.index)
    }

    /// Records an appended entry. Returns the index that was expected when
    /// `index` does not follow the last one.
    pub(crate) fn apply_entry(&mut self, index: u64) -> Result<(), u64> {
        if let Some(next) = self.next_index()
            && index != next
        {
            return Err(next);
        }
        self.last_index = Some(index);
        self.first_index.get_or_insert(index);
        Ok(())
    }

    /// Records a truncation after `after` (`None`: every entry). The caller
    /// has checked that `after` is not below the purge point.
    pub(crate) fn apply_truncate(&mut self, after: Option<u64>) {
        match (after, self.first_index) {
            (Some(a), Some(f)) if a >= f => self.last_index = self.last_index.map(|l| l.min(a)),
            _ => {
                self.first_index = None;
                self.last_index = self.purged_index();
            }
        }
    }

    /// Records a purge up to and including `index`. The caller has checked
    /// that it advances the purge point.
    pub(crate) fn apply_purge(&mut self, index: u64, meta: Bytes) {
        self.purged = Some(Purged { index, meta });
        let last = self.last_index.map_or(index, |l| l.max(index));
        self.last_index = Some(last);
        self.first_index = match self.first_index {
            Some(f) if f > index => Some(f),
            _ => (index < last).then(|| index + 1),
        };
    }

    /// Checks the relations between the fields; a state read from disk that
    /// breaks them was never written by chunklog.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let p = self.purged_index();
        match (self.first_index, self.last_index) {
            (Some(f), Some(l)) if f > l => Err(format!("first index {f} above last index {l}")),
            (Some(_), None) => Err("a first index without a last index".into()),
            (Some(f), _) if p.is_some_and(|p| p >= f) => Err(format!("first index {f} not above purge point {p:?}")),
            (None, l) if l != p => Err(format!("no entries, but last index {l:?} is not the purge point {p:?}")),
            _ => Ok(()),
        }
    }
}
