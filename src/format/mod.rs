//! Bytes on disk: chunk header, record frames, record bodies, footer.
//!
//! `docs/FORMAT.md` describes every byte; this module is its one
//! implementation. Everything is little-endian.
//!
//! ```text
//! chunk   = header(64) checkpoint-frame frame* [footer-frame trailer(16)]
//! header  = { magic "CHUNKLOG" | u32 version | u32 0 | u64 chunk id
//!             | u8 tag len | [u8; 32] tag | [u8; 3] 0 | u32 crc32(bytes 0..60) }
//! frame   = { u32 body len | u8 kind | [u8; 3] 0 | u32 crc32(bytes 0..8) }
//!           body { u32 crc32(frame header + body) }
//! trailer = { u64 offset of footer frame | magic "CLFOOTER" }
//! ```
//!
//! Decoding never needs the payload codec: the engine, recovery and the
//! offline tool read frames without knowing what the payload holds.

mod footer;
mod frame;
mod header;
mod record;
mod state;

pub use footer::{Footer, decode_trailer, encode_footer};
pub use frame::{Frame, FrameError, decode_frame, decode_frame_header, encode_frame};
pub use header::{ChunkHeader, HeaderError, decode_header, encode_header};
pub use record::{
    Record, decode_record, encode_checkpoint, encode_entry, encode_opt_blob, encode_purge, encode_truncate,
};

/// Magic bytes that open every chunk file.
pub const CHUNK_MAGIC: [u8; 8] = *b"CHUNKLOG";
/// The chunk format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the chunk header.
pub const HEADER_LEN: usize = 64;
/// Longest chunk tag.
pub const MAX_TAG_LEN: usize = 32;
/// Length of a frame header (length, kind, reserved, header CRC).
pub const FRAME_HEADER_LEN: usize = 12;
/// Bytes a frame adds around its body (header and trailing CRC).
pub const FRAME_OVERHEAD: usize = FRAME_HEADER_LEN + 4;
/// Largest record body accepted (1 GiB + 64 KiB of room for framing).
pub const MAX_BODY_LEN: u32 = (1 << 30) + (1 << 16);
/// Largest entry payload or metadata blob accepted.
pub const MAX_PAYLOAD_LEN: usize = 1 << 30;
/// Largest configurable chunk size (offsets are kept as `u32`).
pub const MAX_CHUNK_SIZE: u64 = 1 << 31;
/// Magic bytes that end a sealed chunk.
pub const FOOTER_MAGIC: [u8; 8] = *b"CLFOOTER";
/// Length of the trailer after the footer frame.
pub const TRAILER_LEN: usize = 16;

/// The kind byte of a record frame. 0 is never valid, so a zero-filled
/// region never decodes as a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// A log entry: index and opaque payload.
    Entry = 1,
    /// The vote blob.
    Vote = 2,
    /// The committed blob (or its removal).
    Committed = 3,
    /// Delete every entry after an index.
    TruncateAfter = 4,
    /// Delete every entry up to and including an index.
    PurgeUpto = 5,
    /// The whole log state; the first record of every chunk.
    Checkpoint = 6,
    /// Index of a sealed chunk's entries and the state at sealing.
    Footer = 7,
    /// The user metadata blob (or its removal).
    UserMeta = 8,
}

impl RecordKind {
    /// Every kind, in kind-byte order.
    pub const ALL: [RecordKind; 8] = [
        RecordKind::Entry,
        RecordKind::Vote,
        RecordKind::Committed,
        RecordKind::TruncateAfter,
        RecordKind::PurgeUpto,
        RecordKind::Checkpoint,
        RecordKind::Footer,
        RecordKind::UserMeta,
    ];

    /// The kind for a kind byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        RecordKind::ALL.get(usize::from(b).checked_sub(1)?).copied()
    }

    /// Lower-case name, as the offline tool prints it.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Entry => "entry",
            RecordKind::Vote => "vote",
            RecordKind::Committed => "committed",
            RecordKind::TruncateAfter => "truncate-after",
            RecordKind::PurgeUpto => "purge-upto",
            RecordKind::Checkpoint => "checkpoint",
            RecordKind::Footer => "footer",
            RecordKind::UserMeta => "user-meta",
        }
    }
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// File name of chunk `id`: 20 zero-padded digits, so names sort in log order.
pub fn chunk_file_name(id: u64) -> String {
    format!("{id:020}.chunk")
}

/// The chunk id in a chunk file name, if `name` is one.
pub fn parse_chunk_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".chunk")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::state::encode_state;
    use super::*;
    use crate::state::{LogState, Purged};
    use bytes::Bytes;

    #[test]
    fn frame_round_trip_and_every_single_byte_corruption_is_caught() {
        let mut buf = Vec::new();
        let n = encode_entry(&mut buf, 42, b"hello world");
        assert_eq!(n, buf.len());
        let f = decode_frame(&buf).unwrap();
        assert_eq!(f.kind, RecordKind::Entry);
        assert_eq!(f.len, n);
        assert_eq!(decode_record(f.kind, f.body).unwrap(), Record::Entry { index: 42, payload: b"hello world" });
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[i] ^= 1 << bit;
                assert!(decode_frame(&b).is_err(), "flip of byte {i} bit {bit} went unnoticed");
            }
        }
        for cut in 0..buf.len() {
            assert!(matches!(decode_frame(&buf[..cut]), Err(FrameError::Incomplete { .. })));
        }
    }

    #[test]
    fn zeros_never_decode() {
        assert_eq!(decode_frame(&[0u8; 64]).unwrap_err(), FrameError::BadHeaderCrc);
    }

    #[test]
    fn header_round_trip_and_refusals() {
        let h = encode_header(7, "openraft-0.10/bincode2");
        assert_eq!(decode_header(&h).unwrap(), ChunkHeader { chunk_id: 7, tag: "openraft-0.10/bincode2".into() });
        let mut v = h;
        v[8] = 9;
        assert_eq!(decode_header(&v).unwrap_err(), HeaderError::UnsupportedVersion(9));
        let mut c = h;
        c[17] ^= 1;
        assert_eq!(decode_header(&c).unwrap_err(), HeaderError::BadCrc);
        let mut m = h;
        m[0] = b'X';
        assert_eq!(decode_header(&m).unwrap_err(), HeaderError::BadMagic);
        assert_eq!(decode_header(&h[..10]).unwrap_err(), HeaderError::Short);
    }

    #[test]
    fn state_and_footer_round_trip() {
        let state = LogState {
            vote: Some(Bytes::from_static(b"v")),
            committed: None,
            purged: Some(Purged { index: 3, meta: Bytes::from_static(b"p") }),
            first_index: Some(4),
            last_index: Some(9),
            user_meta: Some(Bytes::new()),
        };
        let mut buf = Vec::new();
        encode_checkpoint(&mut buf, &state);
        let f = decode_frame(&buf).unwrap();
        assert_eq!(decode_record(f.kind, f.body).unwrap(), Record::Checkpoint(state.clone()));

        let footer = Footer { state, records: 12, first_index: 4, slots: vec![(100, 30), (130, 31)] };
        let mut buf = Vec::new();
        let n = encode_footer(&mut buf, 4096, &footer);
        assert_eq!(n, buf.len());
        assert_eq!(decode_trailer(&buf[n - TRAILER_LEN..]), Some(4096));
        let f = decode_frame(&buf).unwrap();
        assert_eq!(decode_record(f.kind, f.body).unwrap(), Record::Footer(footer));
    }

    #[test]
    fn hostile_bodies_are_refused_not_panicking() {
        for kind in RecordKind::ALL {
            for len in 0..40 {
                let body = vec![0xffu8; len];
                let _ = decode_record(kind, &body);
                let body = vec![0x01u8; len];
                let _ = decode_record(kind, &body);
            }
        }
        // A footer claiming more slots than it holds.
        let mut body = Vec::new();
        encode_state(&mut body, &LogState::default());
        body.extend_from_slice(&0u64.to_le_bytes());
        body.extend_from_slice(&0u64.to_le_bytes());
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_record(RecordKind::Footer, &body).is_err());
    }

    #[test]
    fn chunk_names_sort_and_parse() {
        assert_eq!(chunk_file_name(12), "00000000000000000012.chunk");
        assert_eq!(parse_chunk_file_name("00000000000000000012.chunk"), Some(12));
        assert_eq!(parse_chunk_file_name("12.chunk"), None);
        assert_eq!(parse_chunk_file_name("LOCK"), None);
        assert!(chunk_file_name(9) < chunk_file_name(10));
    }
}
