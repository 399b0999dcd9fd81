//! One rule for what a record does to the log state and the index, used
//! by the live write path (the engine) and by the replay at open
//! (recovery), so the two can never drift.
//!
//! [`check`] says whether a record may follow the current state;
//! [`apply_checked`] makes its change. A live write checks, queues the
//! record (which gives it its place on disk), then applies; a replay does
//! both at once with [`apply`].

use bytes::Bytes;

use crate::error::Error;
use crate::index::{Index, Slot};
use crate::state::LogState;

/// A record's effect.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// An entry, at `slot` on disk.
    Entry {
        index: u64,
        slot: Slot,
    },
    Vote(Bytes),
    Committed(Option<Bytes>),
    UserMeta(Option<Bytes>),
    /// Deletes every entry after the index (`None`: every entry).
    Truncate(Option<u64>),
    /// Deletes every entry up to and including `index`.
    Purge {
        index: u64,
        meta: Bytes,
    },
    /// A live entry's copy, at `slot` on disk (space reclamation).
    Copy {
        index: u64,
        slot: Slot,
    },
}

/// Why a record may not follow the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    NonConsecutive { expected: u64, got: u64 },
    TruncateBelowPurged { after: Option<u64>, purged: u64 },
    PurgeNotAdvancing { index: u64, purged: u64 },
    CopyNotLive { index: u64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NonConsecutive { expected, got } => {
                write!(f, "entry {got} does not follow index {}", expected.saturating_sub(1))
            }
            Refusal::TruncateBelowPurged { after, purged } => {
                write!(f, "truncation after {after:?} is below the purge point {purged}")
            }
            Refusal::PurgeNotAdvancing { index, purged } => {
                write!(f, "purge to {index} does not advance the purge point {purged}")
            }
            Refusal::CopyNotLive { index } => write!(f, "copy of entry {index}, which is not in the log"),
        }
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Error {
        match r {
            Refusal::NonConsecutive { expected, got } => Error::NonConsecutive { expected, got },
            Refusal::TruncateBelowPurged { after, purged } => Error::TruncateBelowPurged { index: after, purged },
            // A live purge that does not advance is a no-op, checked first.
            Refusal::PurgeNotAdvancing { index, purged } => Error::TruncateBelowPurged { index: Some(index), purged },
            // Copies are made by the engine of live entries only.
            Refusal::CopyNotLive { index } => Error::NonConsecutive { expected: index, got: index },
        }
    }
}

/// Whether `change` may follow `state`.
pub(crate) fn check(state: &LogState, change: &Change) -> Result<(), Refusal> {
    let purged = state.purged_index();
    match *change {
        Change::Entry { index, .. } => match state.next_index() {
            Some(expected) if index != expected => Err(Refusal::NonConsecutive { expected, got: index }),
            _ => Ok(()),
        },
        Change::Truncate(after) => match purged {
            Some(p) if after.is_none_or(|a| a < p) => Err(Refusal::TruncateBelowPurged { after, purged: p }),
            _ => Ok(()),
        },
        Change::Purge { index, .. } => match purged {
            Some(p) if p >= index => Err(Refusal::PurgeNotAdvancing { index, purged: p }),
            _ => Ok(()),
        },
        Change::Copy { index, .. } => match (state.first_index, state.last_index) {
            (Some(f), Some(l)) if (f..=l).contains(&index) => Ok(()),
            _ => Err(Refusal::CopyNotLive { index }),
        },
        Change::Vote(_) | Change::Committed(_) | Change::UserMeta(_) => Ok(()),
    }
}

/// Makes `change`, which [`check`] accepted.
pub(crate) fn apply_checked(state: &mut LogState, index: &mut Index, change: Change) {
    match change {
        Change::Entry { index: i, slot } => {
            let _ = state.apply_entry(i); // checked
            // `check` made `i` the state's next index, and a live index
            // always ends where the state does. (A replay, whose index can
            // lag behind copies, places entries itself: `recovery.rs`.)
            let pushed = index.push(i, slot);
            debug_assert!(pushed, "entry {i} does not follow the index");
        }
        Change::Vote(v) => state.vote = Some(v),
        Change::Committed(c) => state.committed = c,
        Change::UserMeta(m) => state.user_meta = m,
        Change::Truncate(after) => {
            state.apply_truncate(after);
            index.truncate_after(after);
        }
        Change::Purge { index: i, meta } => {
            state.apply_purge(i, meta);
            index.purge_upto(i);
        }
        Change::Copy { index: i, slot } => {
            // `check` made `i` one of the state's entries, which a live
            // index holds. (A replay places copies itself: `recovery.rs`.)
            let moved = index.set(i, slot);
            debug_assert!(moved, "copy of entry {i}, which the index does not hold");
        }
    }
}

/// [`check`], then [`apply_checked`].
pub(crate) fn apply(state: &mut LogState, index: &mut Index, change: Change) -> Result<(), Refusal> {
    check(state, &change)?;
    apply_checked(state, index, change);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(offset: u32) -> Slot {
        Slot { chunk: 1, offset, len: 20 }
    }

    #[test]
    fn the_rules_both_paths_share() {
        let (mut st, mut ix) = (LogState::default(), Index::default());
        apply(&mut st, &mut ix, Change::Entry { index: 5, slot: slot(64) }).unwrap();
        apply(&mut st, &mut ix, Change::Entry { index: 6, slot: slot(84) }).unwrap();
        let gap = apply(&mut st, &mut ix, Change::Entry { index: 8, slot: slot(104) });
        assert_eq!(gap, Err(Refusal::NonConsecutive { expected: 7, got: 8 }));
        apply(&mut st, &mut ix, Change::Purge { index: 5, meta: Bytes::new() }).unwrap();
        assert_eq!((st.first_index, st.last_index, ix.first()), (Some(6), Some(6), Some(6)));
        let back = apply(&mut st, &mut ix, Change::Purge { index: 4, meta: Bytes::new() });
        assert_eq!(back, Err(Refusal::PurgeNotAdvancing { index: 4, purged: 5 }));
        let below = apply(&mut st, &mut ix, Change::Truncate(Some(4)));
        assert_eq!(below, Err(Refusal::TruncateBelowPurged { after: Some(4), purged: 5 }));
        apply(&mut st, &mut ix, Change::Truncate(Some(5))).unwrap();
        assert_eq!((st.first_index, st.last_index, ix.first()), (None, Some(5), None));
        assert_eq!(Error::from(gap.unwrap_err()).to_string(), "non-consecutive append: expected index 7, got 8");
    }
}
