//! The footer of a sealed chunk and the trailer that points at it
//! (`docs/FORMAT.md`, "Footer and trailer").

use super::frame::encode_frame;
use super::state::encode_state;
use super::{FOOTER_MAGIC, RecordKind, TRAILER_LEN, u64_at};
use crate::state::LogState;

/// The index of a sealed chunk: the state at sealing and where each entry
/// that was live at sealing sits in the chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Footer {
    /// The log state when the chunk was sealed.
    pub state: LogState,
    /// Records in the chunk, the footer excluded.
    pub records: u64,
    /// Index of the first live entry in `slots`.
    pub first_index: u64,
    /// `(offset, frame length)` of consecutive live entries from `first_index`.
    pub slots: Vec<(u32, u32)>,
}

/// Appends a footer frame and the trailer that points at it. `at` is the
/// footer frame's offset in the chunk file.
pub fn encode_footer(out: &mut Vec<u8>, at: u64, footer: &Footer) -> usize {
    let mut body = Vec::with_capacity(64 + footer.slots.len() * 8);
    encode_state(&mut body, &footer.state);
    body.extend_from_slice(&footer.records.to_le_bytes());
    body.extend_from_slice(&footer.first_index.to_le_bytes());
    body.extend_from_slice(&(footer.slots.len() as u32).to_le_bytes());
    for (off, len) in &footer.slots {
        body.extend_from_slice(&off.to_le_bytes());
        body.extend_from_slice(&len.to_le_bytes());
    }
    let n = encode_frame(out, RecordKind::Footer, &[&body]);
    out.extend_from_slice(&at.to_le_bytes());
    out.extend_from_slice(&FOOTER_MAGIC);
    n + TRAILER_LEN
}

/// Reads a trailer: the footer frame's offset, if the magic is right.
pub fn decode_trailer(b: &[u8]) -> Option<u64> {
    (b.len() == TRAILER_LEN && b[8..16] == FOOTER_MAGIC).then(|| u64_at(b, 0))
}
