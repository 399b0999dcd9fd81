//! The footer of a sealed chunk and the trailer that points at it
//! (`docs/FORMAT.md`, "Footer and trailer").

use super::frame::encode_frame;
use super::record::Stamp;
use super::state::{Cursor, decode_state, encode_state};
use super::{Codec, FOOTER_MAGIC, RecordKind, TRAILER_LEN, u64_at, varint};
use crate::state::LogState;

/// The index of a sealed chunk: every group's state at sealing and where
/// each of its entries that was live at sealing sits in the chunk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footer {
    /// Records in the chunk, the footer excluded.
    pub records: u64,
    /// Every group that existed at sealing, in group order.
    pub groups: Vec<GroupFooter>,
}

/// One group in a footer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupFooter {
    /// The group id (0 in format 1).
    pub group: u64,
    /// The group's state when the chunk was sealed.
    pub state: LogState,
    /// Index of the first live entry in `slots`.
    pub first_index: u64,
    /// `(offset, frame length)` of the group's consecutive live entries in
    /// this chunk, from `first_index`.
    pub slots: Vec<(u32, u32)>,
}

/// Appends a footer frame and the trailer that points at it. `at` is the
/// footer frame's offset in the chunk file. Format 2 body:
/// `u64 records | u32 count | count x (varint group | state | u64 first
/// index | u32 n | n x (u32 offset, u32 length))`. Format 1 body:
/// `state | u64 records | u64 first index | u32 n | n x (u32, u32)`, for
/// group 0 only.
pub fn encode_footer(out: &mut Vec<u8>, stamp: Stamp, at: u64, footer: &Footer) -> usize {
    let slots: usize = footer.groups.iter().map(|g| g.slots.len()).sum();
    let mut body = Vec::with_capacity(64 * footer.groups.len() + slots * 8 + 16);
    let put_slots = |body: &mut Vec<u8>, g: &GroupFooter| {
        body.extend_from_slice(&g.first_index.to_le_bytes());
        body.extend_from_slice(&(g.slots.len() as u32).to_le_bytes());
        for (off, len) in &g.slots {
            body.extend_from_slice(&off.to_le_bytes());
            body.extend_from_slice(&len.to_le_bytes());
        }
    };
    if stamp.codec.version >= 2 {
        body.extend_from_slice(&footer.records.to_le_bytes());
        body.extend_from_slice(&(footer.groups.len() as u32).to_le_bytes());
        for g in &footer.groups {
            varint::push(g.group, &mut body);
            encode_state(&mut body, &g.state);
            put_slots(&mut body, g);
        }
    } else {
        debug_assert!(footer.groups.iter().all(|g| g.group == 0), "format 1 holds group 0 only");
        let g0 = footer.groups.first().cloned().unwrap_or_default();
        encode_state(&mut body, &g0.state);
        body.extend_from_slice(&footer.records.to_le_bytes());
        put_slots(&mut body, &g0);
    }
    let n = encode_frame(out, stamp.codec, stamp.seq, 0, RecordKind::Footer, &[&body]);
    out.extend_from_slice(&at.to_le_bytes());
    out.extend_from_slice(&FOOTER_MAGIC);
    n + TRAILER_LEN
}

fn decode_slots(c: &mut Cursor<'_>, group: u64, state: LogState, last: bool) -> Result<GroupFooter, String> {
    let first_index = c.u64()?;
    let n = c.u32()? as usize;
    let fits = n.checked_mul(8).is_some_and(|b| if last { b == c.remaining() } else { b <= c.remaining() });
    if !fits {
        return Err(format!("footer claims {n} slots but holds {} bytes for them", c.remaining()));
    }
    let mut slots = Vec::with_capacity(n);
    for _ in 0..n {
        slots.push((c.u32()?, c.u32()?));
    }
    Ok(GroupFooter { group, state, first_index, slots })
}

pub(crate) fn decode_footer(codec: Codec, c: &mut Cursor<'_>) -> Result<Footer, String> {
    if codec.version < 2 {
        let state = decode_state(c)?;
        let records = c.u64()?;
        let g = decode_slots(c, 0, state, true)?;
        return Ok(Footer { records, groups: vec![g] });
    }
    let records = c.u64()?;
    let n = c.u32()? as usize;
    // Every group takes at least 14 bytes (id, state flags, first index, count).
    if n > c.remaining() / 14 {
        return Err(format!("footer claims {n} groups in {} bytes", c.remaining()));
    }
    let mut groups: Vec<GroupFooter> = Vec::with_capacity(n);
    for _ in 0..n {
        let group = c.varint()?;
        if groups.last().is_some_and(|prev| prev.group >= group) {
            return Err(format!("footer lists group {group} out of order"));
        }
        let state = decode_state(c)?;
        groups.push(decode_slots(c, group, state, false)?);
    }
    c.end()?;
    Ok(Footer { records, groups })
}

/// Reads a trailer: the footer frame's offset, if the magic is right.
pub fn decode_trailer(b: &[u8]) -> Option<u64> {
    (b.len() == TRAILER_LEN && b[8..16] == FOOTER_MAGIC).then(|| u64_at(b, 0))
}
