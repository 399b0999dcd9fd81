//! The footer of a sealed chunk and the trailer that points at it
//! (`docs/FORMAT.md`, "Footer and trailer").

use super::frame::{Stamp, encode_frame};
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
    /// Where the group's entries whose live copy is in this chunk sit, as
    /// runs of consecutive indexes in index order: the entries appended
    /// in the chunk, and those copied into it by space reclamation.
    /// Format 1 has at most one run.
    pub runs: Vec<Run>,
}

/// Consecutive entries of one group in one chunk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Run {
    /// Index of the first entry.
    pub first_index: u64,
    /// `(offset, frame length)` of each entry, from `first_index` on.
    pub slots: Vec<(u32, u32)>,
}

impl Run {
    /// A run of `slots` from `first_index`.
    pub fn new(first_index: u64, slots: Vec<(u32, u32)>) -> Run {
        Run { first_index, slots }
    }
}

/// Appends a footer frame and the trailer that points at it. `at` is the
/// footer frame's offset in the chunk file. Format 2 body:
/// `u64 records | u32 groups | groups x (varint group | state | u32 runs
/// | runs x (u64 first index | u32 n | n x (u32 offset, u32 length)))`.
/// Format 1 body: `state | u64 records | u64 first index | u32 n | n x
/// (u32, u32)`, for group 0 and one run only.
pub fn encode_footer(out: &mut Vec<u8>, stamp: Stamp, at: u64, footer: &Footer) -> usize {
    let slots: usize = footer.groups.iter().flat_map(|g| &g.runs).map(|r| r.slots.len()).sum();
    let mut body = Vec::with_capacity(64 * footer.groups.len() + slots * 8 + 16);
    let put_run = |body: &mut Vec<u8>, r: &Run| {
        body.extend_from_slice(&r.first_index.to_le_bytes());
        body.extend_from_slice(&(r.slots.len() as u32).to_le_bytes());
        for (off, len) in &r.slots {
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
            body.extend_from_slice(&(g.runs.len() as u32).to_le_bytes());
            for r in &g.runs {
                put_run(&mut body, r);
            }
        }
    } else {
        debug_assert!(footer.groups.iter().all(|g| g.group == 0 && g.runs.len() <= 1), "format 1: group 0, one run");
        let g0 = footer.groups.first().cloned().unwrap_or_default();
        encode_state(&mut body, &g0.state);
        body.extend_from_slice(&footer.records.to_le_bytes());
        put_run(&mut body, &g0.runs.first().cloned().unwrap_or_default());
    }
    let n = encode_frame(out, stamp.codec, stamp.seq, 0, RecordKind::Footer, &[&body]);
    out.extend_from_slice(&at.to_le_bytes());
    out.extend_from_slice(&FOOTER_MAGIC);
    n + TRAILER_LEN
}

fn decode_run(c: &mut Cursor<'_>, last: bool) -> Result<Run, String> {
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
    Ok(Run { first_index, slots })
}

pub(crate) fn decode_footer(codec: Codec, c: &mut Cursor<'_>) -> Result<Footer, String> {
    if codec.version < 2 {
        let state = decode_state(c)?;
        let records = c.u64()?;
        let run = decode_run(c, true)?;
        let runs = if run.slots.is_empty() { Vec::new() } else { vec![run] };
        return Ok(Footer { records, groups: vec![GroupFooter { group: 0, state, runs }] });
    }
    let records = c.u64()?;
    let n = c.u32()? as usize;
    // Every group takes at least 6 bytes (id, state flags, run count).
    if n > c.remaining() / 6 {
        return Err(format!("footer claims {n} groups in {} bytes", c.remaining()));
    }
    let mut groups: Vec<GroupFooter> = Vec::with_capacity(n);
    for _ in 0..n {
        let group = c.varint()?;
        if groups.last().is_some_and(|prev| prev.group >= group) {
            return Err(format!("footer lists group {group} out of order"));
        }
        let state = decode_state(c)?;
        let k = c.u32()? as usize;
        // Every run takes at least 12 bytes.
        if k > c.remaining() / 12 {
            return Err(format!("footer claims {k} runs for group {group} in {} bytes", c.remaining()));
        }
        let mut runs: Vec<Run> = Vec::with_capacity(k);
        for _ in 0..k {
            let r = decode_run(c, false)?;
            let after_prev = runs.last().is_none_or(|p| {
                p.first_index.checked_add(p.slots.len() as u64).is_some_and(|end| end <= r.first_index)
            });
            if !after_prev || r.slots.is_empty() {
                return Err(format!("footer run of group {group} from {} is empty or out of order", r.first_index));
            }
            runs.push(r);
        }
        groups.push(GroupFooter { group, state, runs });
    }
    c.end()?;
    Ok(Footer { records, groups })
}

/// Reads a trailer: the footer frame's offset, if the magic is right.
pub fn decode_trailer(b: &[u8]) -> Option<u64> {
    (b.len() == TRAILER_LEN && b[8..16] == FOOTER_MAGIC).then(|| u64_at(b, 0))
}
