//! Record bodies, one per kind (`docs/FORMAT.md`, "Record kinds and
//! bodies" and "Checkpoint").

use super::footer::{Footer, decode_footer};
use super::frame::{Stamp, encode_frame};
use super::state::{Cursor, decode_state, encode_state};
use super::{Codec, RecordKind, varint};
use crate::state::LogState;

/// Appends an entry frame: `u64 index | payload`.
pub fn encode_entry(out: &mut Vec<u8>, at: Stamp, group: u64, index: u64, payload: &[u8]) -> usize {
    encode_frame(out, at.codec, at.seq, group, RecordKind::Entry, &[&index.to_le_bytes(), payload])
}

/// The length of the entry frame [`encode_entry`] writes.
pub fn entry_frame_len(codec: Codec, group: u64, payload_len: usize) -> usize {
    let glen = if codec.version >= 2 { varint::len(group) } else { 0 };
    codec.frame_overhead() + glen + 8 + payload_len
}

/// Appends a vote frame: the blob.
pub fn encode_vote(out: &mut Vec<u8>, at: Stamp, group: u64, vote: &[u8]) -> usize {
    encode_frame(out, at.codec, at.seq, group, RecordKind::Vote, &[vote])
}

/// Appends a frame for an optional blob: `u8 present | blob`.
pub fn encode_opt_blob(out: &mut Vec<u8>, at: Stamp, group: u64, kind: RecordKind, blob: Option<&[u8]>) -> usize {
    match blob {
        Some(b) => encode_frame(out, at.codec, at.seq, group, kind, &[&[1], b]),
        None => encode_frame(out, at.codec, at.seq, group, kind, &[&[0]]),
    }
}

/// Appends a truncate-after frame: `u8 present | u64 index`.
pub fn encode_truncate(out: &mut Vec<u8>, at: Stamp, group: u64, after: Option<u64>) -> usize {
    let (present, i) = match after {
        Some(i) => (1, i),
        None => (0, 0),
    };
    encode_frame(out, at.codec, at.seq, group, RecordKind::TruncateAfter, &[&[present], &i.to_le_bytes()])
}

/// Appends a purge-upto frame: `u64 index | meta`.
pub fn encode_purge(out: &mut Vec<u8>, at: Stamp, group: u64, index: u64, meta: &[u8]) -> usize {
    encode_frame(out, at.codec, at.seq, group, RecordKind::PurgeUpto, &[&index.to_le_bytes(), meta])
}

/// Appends an entry-copy frame (format 2): `u64 index | payload`, an entry
/// moved forward by space reclamation.
pub fn encode_entry_copy(out: &mut Vec<u8>, at: Stamp, group: u64, index: u64, payload: &[u8]) -> usize {
    encode_frame(out, at.codec, at.seq, group, RecordKind::EntryCopy, &[&index.to_le_bytes(), payload])
}

/// Appends a group-removed frame (format 2): empty body.
pub fn encode_group_removed(out: &mut Vec<u8>, at: Stamp, group: u64) -> usize {
    encode_frame(out, at.codec, at.seq, group, RecordKind::GroupRemoved, &[])
}

/// Appends a checkpoint frame holding the state of every group, in group
/// order. Format 2: `u32 count | count x (varint group | state)`. Format 1
/// holds one state, group 0's (the default state if `groups` is empty);
/// other groups cannot be written in format 1.
pub fn encode_checkpoint<'s>(
    out: &mut Vec<u8>,
    at: Stamp,
    groups: impl ExactSizeIterator<Item = (u64, &'s LogState)>,
) -> usize {
    let mut body = Vec::with_capacity(64 * groups.len() + 4);
    if at.codec.version >= 2 {
        body.extend_from_slice(&(groups.len() as u32).to_le_bytes());
        for (g, s) in groups {
            varint::push(g, &mut body);
            encode_state(&mut body, s);
        }
    } else {
        let default = LogState::default();
        let mut state = &default;
        for (g, s) in groups {
            debug_assert_eq!(g, 0, "format 1 holds group 0 only");
            state = s;
        }
        encode_state(&mut body, state);
    }
    encode_frame(out, at.codec, at.seq, 0, RecordKind::Checkpoint, &[&body])
}

/// A decoded record body. Blobs borrow from the frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A log entry.
    Entry {
        /// Log index.
        index: u64,
        /// Opaque payload.
        payload: &'a [u8],
    },
    /// The vote blob.
    Vote(&'a [u8]),
    /// The committed blob, or its removal.
    Committed(Option<&'a [u8]>),
    /// Delete entries after the index (`None`: all).
    TruncateAfter(Option<u64>),
    /// Delete entries up to and including `index`.
    PurgeUpto {
        /// The purge point.
        index: u64,
        /// Opaque id of the purge point.
        meta: &'a [u8],
    },
    /// The state of every group, in group order (format 1: group 0 only).
    Checkpoint(Vec<(u64, LogState)>),
    /// A sealed chunk's index.
    Footer(Footer),
    /// The user metadata blob, or its removal.
    UserMeta(Option<&'a [u8]>),
    /// The group is removed: its entries and state are gone.
    GroupRemoved,
    /// A live entry copied forward by space reclamation.
    EntryCopy {
        /// Log index.
        index: u64,
        /// Opaque payload.
        payload: &'a [u8],
    },
}

/// Decodes a record body of the given kind, as `codec`'s version lays it
/// out. The error says what is wrong; a body that passed its CRC but fails
/// here was never written by chunklog.
pub fn decode_record(codec: Codec, kind: RecordKind, body: &[u8]) -> Result<Record<'_>, String> {
    let mut c = Cursor::new(body);
    let rec = match kind {
        RecordKind::Entry => {
            let index = c.u64()?;
            Record::Entry { index, payload: c.rest() }
        }
        RecordKind::Vote => Record::Vote(c.rest()),
        RecordKind::Committed => Record::Committed(c.opt_rest()?),
        RecordKind::UserMeta => Record::UserMeta(c.opt_rest()?),
        RecordKind::TruncateAfter => {
            let present = c.flag()?;
            let i = c.u64()?;
            c.end()?;
            Record::TruncateAfter(present.then_some(i))
        }
        RecordKind::PurgeUpto => {
            let index = c.u64()?;
            Record::PurgeUpto { index, meta: c.rest() }
        }
        RecordKind::Checkpoint if codec.version >= 2 => {
            let n = c.u32()? as usize;
            // Every group takes at least two bytes (id and state flags).
            if n > c.remaining() / 2 {
                return Err(format!("checkpoint claims {n} groups in {} bytes", c.remaining()));
            }
            let mut groups: Vec<(u64, LogState)> = Vec::with_capacity(n);
            for _ in 0..n {
                let g = c.varint()?;
                if groups.last().is_some_and(|&(prev, _)| prev >= g) {
                    return Err(format!("checkpoint lists group {g} out of order"));
                }
                groups.push((g, decode_state(&mut c)?));
            }
            c.end()?;
            Record::Checkpoint(groups)
        }
        RecordKind::Checkpoint => {
            let s = decode_state(&mut c)?;
            c.end()?;
            Record::Checkpoint(vec![(0, s)])
        }
        RecordKind::Footer => Record::Footer(decode_footer(codec, &mut c)?),
        RecordKind::GroupRemoved if codec.version >= 2 => {
            c.end()?;
            Record::GroupRemoved
        }
        RecordKind::GroupRemoved => return Err("group-removed record in a format-1 chunk".into()),
        RecordKind::EntryCopy if codec.version >= 2 => {
            let index = c.u64()?;
            Record::EntryCopy { index, payload: c.rest() }
        }
        RecordKind::EntryCopy => return Err("entry-copy record in a format-1 chunk".into()),
    };
    Ok(rec)
}
