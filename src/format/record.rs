//! Record bodies, one per kind (`docs/FORMAT.md`, "Record kinds and
//! bodies" and "Checkpoint").

use super::RecordKind;
use super::footer::Footer;
use super::frame::encode_frame;
use super::state::{Cursor, decode_state, encode_state};
use crate::state::LogState;

/// Appends an entry frame: `u64 index | payload`.
pub fn encode_entry(out: &mut Vec<u8>, index: u64, payload: &[u8]) -> usize {
    encode_frame(out, RecordKind::Entry, &[&index.to_le_bytes(), payload])
}

/// Appends a frame for an optional blob: `u8 present | blob`.
pub fn encode_opt_blob(out: &mut Vec<u8>, kind: RecordKind, blob: Option<&[u8]>) -> usize {
    match blob {
        Some(b) => encode_frame(out, kind, &[&[1], b]),
        None => encode_frame(out, kind, &[&[0]]),
    }
}

/// Appends a truncate-after frame: `u8 present | u64 index`.
pub fn encode_truncate(out: &mut Vec<u8>, after: Option<u64>) -> usize {
    match after {
        Some(i) => encode_frame(out, RecordKind::TruncateAfter, &[&[1], &i.to_le_bytes()]),
        None => encode_frame(out, RecordKind::TruncateAfter, &[&[0], &0u64.to_le_bytes()]),
    }
}

/// Appends a purge-upto frame: `u64 index | meta`.
pub fn encode_purge(out: &mut Vec<u8>, index: u64, meta: &[u8]) -> usize {
    encode_frame(out, RecordKind::PurgeUpto, &[&index.to_le_bytes(), meta])
}

/// Appends a checkpoint frame holding `state`.
pub fn encode_checkpoint(out: &mut Vec<u8>, state: &LogState) -> usize {
    let mut body = Vec::new();
    encode_state(&mut body, state);
    encode_frame(out, RecordKind::Checkpoint, &[&body])
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
    /// The full log state.
    Checkpoint(LogState),
    /// A sealed chunk's index.
    Footer(Footer),
    /// The user metadata blob, or its removal.
    UserMeta(Option<&'a [u8]>),
}

/// Decodes a record body of the given kind. The error says what is wrong;
/// a body that passed its CRC but fails here was never written by chunklog.
pub fn decode_record(kind: RecordKind, body: &[u8]) -> Result<Record<'_>, String> {
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
        RecordKind::Checkpoint => {
            let s = decode_state(&mut c)?;
            c.end()?;
            Record::Checkpoint(s)
        }
        RecordKind::Footer => {
            let state = decode_state(&mut c)?;
            let records = c.u64()?;
            let first_index = c.u64()?;
            let n = c.u32()? as usize;
            if n.checked_mul(8) != Some(c.remaining()) {
                return Err(format!("footer claims {n} slots but holds {} bytes for them", c.remaining()));
            }
            let mut slots = Vec::with_capacity(n);
            for _ in 0..n {
                slots.push((c.u32()?, c.u32()?));
            }
            Record::Footer(Footer { state, records, first_index, slots })
        }
    };
    Ok(rec)
}
