//! Bytes on disk: chunk header, record frames, record bodies, footer.
//!
//! `docs/FORMAT.md` describes every byte; this module is its one
//! implementation. Everything is little-endian. This build writes format
//! 2 and reads formats 1 and 2; a chunk's header says which.
//!
//! ```text
//! chunk   = header(64) checkpoint-frame frame* [footer-frame trailer(16)]
//! header  = { magic "CHUNKLOG" | u32 version | u32 salt (format 2; 0 in 1) | u64 chunk id
//!             | u8 tag len | [u8; 32] tag | [u8; 3] 0 | u32 crc32(bytes 0..60) }
//! frame 2 = { u32 body len | u8 kind | u8 flags | u16 0 | u32 flush seq | u32 crc(salt; 0..12) }
//!           { varint group | body } { u32 crc(salt; everything before) }
//! frame 1 = { u32 body len | u8 kind | [u8; 3] 0 | u32 crc32(bytes 0..8) }
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
pub mod varint;

pub use footer::{Footer, GroupFooter, Run, decode_trailer, encode_footer};
pub use frame::{
    Frame, FrameError, FrameHeader, Stamp, decode_frame, decode_frame_header, encode_frame, plausible_frame_header,
};
pub use header::{ChunkHeader, HeaderError, decode_header, encode_header, set_recycled};
pub use record::{
    Record, decode_record, encode_checkpoint, encode_entry, encode_entry_copy, encode_group_removed, encode_opt_blob,
    encode_purge, encode_truncate, encode_vote, entry_frame_len,
};

/// Magic bytes that open every chunk file.
pub const CHUNK_MAGIC: [u8; 8] = *b"CHUNKLOG";
/// The chunk format version this build writes.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest chunk format version this build reads.
pub const MIN_FORMAT_VERSION: u32 = 1;
/// Length of the chunk header.
pub const HEADER_LEN: usize = 64;
/// Longest chunk tag.
pub const MAX_TAG_LEN: usize = 32;
/// Length of a format-2 frame header (length, kind, flags, flush
/// sequence, header CRC).
pub const FRAME_HEADER_LEN: usize = 16;
/// Length of the CRC that ends every frame.
pub const FRAME_CRC_LEN: usize = 4;
/// Bytes a format-2 frame adds around its group id and body (header and
/// trailing CRC).
pub const FRAME_OVERHEAD: usize = FRAME_HEADER_LEN + FRAME_CRC_LEN;
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

/// How one chunk's frames are encoded: its format version and, from
/// format 2 on, its salt. The salt is chosen at random when the chunk file
/// is created and seeds every CRC in it, so a frame left from another
/// chunk file (or another life of the same file) never passes as one of
/// this chunk's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Codec {
    /// The chunk format version.
    pub version: u32,
    /// The CRC seed (0 in format 1).
    pub salt: u32,
}

impl Codec {
    /// Format 1: no salt, no groups, no flush sequence.
    pub const V1: Codec = Codec { version: 1, salt: 0 };

    /// Format 2 with `salt`.
    pub const fn v2(salt: u32) -> Codec {
        Codec { version: 2, salt }
    }

    /// Length of a frame header.
    pub const fn frame_header_len(self) -> usize {
        if self.version >= 2 { 16 } else { 12 }
    }

    /// Bytes a frame adds around its group id and body.
    pub const fn frame_overhead(self) -> usize {
        self.frame_header_len() + 4
    }

    /// A CRC-32 hasher seeded with the salt.
    pub fn hasher(self) -> crc32fast::Hasher {
        crc32fast::Hasher::new_with_initial(self.salt)
    }

    /// The CRC-32 of `parts`, seeded with the salt.
    pub fn crc(self, parts: &[&[u8]]) -> u32 {
        let mut h = self.hasher();
        for p in parts {
            h.update(p);
        }
        h.finalize()
    }
}

/// A new random salt, different from `avoid` (the salt of the file's
/// previous life, when a file is reused).
pub fn new_salt(avoid: u32) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut n = 0u64;
    loop {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(n);
        let s = h.finish() as u32;
        if s != avoid {
            return s;
        }
        n += 1;
    }
}

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
    /// The state of every group; the first record of every chunk.
    Checkpoint = 6,
    /// Index of a sealed chunk's entries and the state at sealing.
    Footer = 7,
    /// The user metadata blob (or its removal).
    UserMeta = 8,
    /// The group is removed (format 2).
    GroupRemoved = 9,
    /// A live entry copied forward from an older chunk by space
    /// reclamation (format 2): same body as an entry; it moves the
    /// entry, it does not append one.
    EntryCopy = 10,
}

impl RecordKind {
    /// Every kind, in kind-byte order.
    pub const ALL: [RecordKind; 10] = [
        RecordKind::Entry,
        RecordKind::Vote,
        RecordKind::Committed,
        RecordKind::TruncateAfter,
        RecordKind::PurgeUpto,
        RecordKind::Checkpoint,
        RecordKind::Footer,
        RecordKind::UserMeta,
        RecordKind::GroupRemoved,
        RecordKind::EntryCopy,
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
            RecordKind::GroupRemoved => "group-removed",
            RecordKind::EntryCopy => "entry-copy",
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
    parse_id_name(name, ".chunk")
}

/// File name of a purged chunk kept for reuse (see
/// [`Config::recycle_chunks_max`](crate::Config::recycle_chunks_max)):
/// the id it had, 20 zero-padded digits, and `.free`.
pub fn free_file_name(id: u64) -> String {
    format!("{id:020}.free")
}

/// The former chunk id in a free (recycled) file name, if `name` is one.
pub fn parse_free_file_name(name: &str) -> Option<u64> {
    parse_id_name(name, ".free")
}

/// The id in `name` if it is 20 decimal digits followed by `suffix`.
fn parse_id_name(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
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

    const V2: Stamp = Stamp { codec: Codec { version: 2, salt: 0xdead_beef }, seq: 7 };
    const V1: Stamp = Stamp { codec: Codec::V1, seq: 0 };

    #[test]
    fn frame_round_trip_and_every_single_byte_corruption_is_caught() {
        for (at, group) in [(V1, 0), (V2, 0), (V2, 300)] {
            let mut buf = Vec::new();
            let n = encode_entry(&mut buf, at, group, 42, b"hello world");
            assert_eq!(n, buf.len());
            let f = decode_frame(at.codec, &buf).unwrap();
            assert_eq!((f.kind, f.group, f.seq, f.len), (RecordKind::Entry, group, at.seq, n));
            assert_eq!(
                decode_record(at.codec, f.kind, f.body).unwrap(),
                Record::Entry { index: 42, payload: b"hello world" }
            );
            for i in 0..buf.len() {
                for bit in 0..8 {
                    let mut b = buf.clone();
                    b[i] ^= 1 << bit;
                    assert!(decode_frame(at.codec, &b).is_err(), "flip of byte {i} bit {bit} went unnoticed");
                }
            }
            for cut in 0..buf.len() {
                assert!(matches!(decode_frame(at.codec, &buf[..cut]), Err(FrameError::Incomplete { .. })));
            }
        }
    }

    #[test]
    fn another_salt_never_decodes() {
        let mut buf = Vec::new();
        encode_entry(&mut buf, V2, 1, 42, b"hello world");
        let other = Codec::v2(V2.codec.salt ^ 1);
        assert_eq!(decode_frame(other, &buf).unwrap_err(), FrameError::BadHeaderCrc);
        assert_ne!(new_salt(5), 5);
    }

    #[test]
    fn unknown_flags_are_refused() {
        let mut buf = Vec::new();
        encode_entry(&mut buf, V2, 1, 42, b"x");
        buf[5] = 1; // a compression method this build does not know
        let hcrc = V2.codec.crc(&[&buf[..12]]);
        buf[12..16].copy_from_slice(&hcrc.to_le_bytes());
        assert_eq!(decode_frame(V2.codec, &buf).unwrap_err(), FrameError::BadFlags(1));
    }

    #[test]
    fn zeros_never_decode() {
        for c in [Codec::V1, V2.codec] {
            assert_eq!(decode_frame(c, &[0u8; 64]).unwrap_err(), FrameError::BadHeaderCrc);
        }
    }

    #[test]
    fn header_round_trip_and_refusals() {
        let h = encode_header(7, "openraft-0.10/bincode2", Codec::v2(99));
        let want =
            ChunkHeader { chunk_id: 7, tag: "openraft-0.10/bincode2".into(), codec: Codec::v2(99), recycled: false };
        assert_eq!(decode_header(&h).unwrap(), want);
        let h1 = encode_header(7, "t", Codec::V1);
        assert_eq!(decode_header(&h1).unwrap().codec, Codec::V1);
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
        let mut r = h;
        set_recycled(&mut r);
        assert_eq!(decode_header(&r).unwrap(), ChunkHeader { recycled: true, ..want });
    }

    fn sample_state() -> LogState {
        LogState {
            vote: Some(Bytes::from_static(b"v")),
            committed: None,
            purged: Some(Purged { index: 3, meta: Bytes::from_static(b"p") }),
            first_index: Some(4),
            last_index: Some(9),
            user_meta: Some(Bytes::new()),
        }
    }

    #[test]
    fn state_and_footer_round_trip() {
        let state = sample_state();
        for at in [V1, V2] {
            let mut buf = Vec::new();
            encode_checkpoint(&mut buf, at, [(0, &state)].into_iter());
            let f = decode_frame(at.codec, &buf).unwrap();
            assert_eq!(decode_record(at.codec, f.kind, f.body).unwrap(), Record::Checkpoint(vec![(0, state.clone())]));

            let g = GroupFooter { group: 0, state: state.clone(), runs: vec![Run::new(4, vec![(100, 30), (130, 31)])] };
            let footer = Footer { records: 12, groups: vec![g] };
            let mut buf = Vec::new();
            let n = encode_footer(&mut buf, at, 4096, &footer);
            assert_eq!(n, buf.len());
            assert_eq!(decode_trailer(&buf[n - TRAILER_LEN..]), Some(4096));
            let f = decode_frame(at.codec, &buf).unwrap();
            assert_eq!(decode_record(at.codec, f.kind, f.body).unwrap(), Record::Footer(footer));
        }
        // Format 2: many groups.
        let other = LogState { vote: Some(Bytes::from_static(b"w")), ..LogState::default() };
        let mut buf = Vec::new();
        encode_checkpoint(&mut buf, V2, [(1, &state), (1 << 40, &other)].into_iter());
        let f = decode_frame(V2.codec, &buf).unwrap();
        let want = Record::Checkpoint(vec![(1, state.clone()), (1 << 40, other.clone())]);
        assert_eq!(decode_record(V2.codec, f.kind, f.body).unwrap(), want);
        let footer = Footer {
            records: 3,
            groups: vec![
                GroupFooter {
                    group: 2,
                    state: state.clone(),
                    runs: vec![Run::new(1, vec![(64, 40), (104, 40)]), Run::new(4, vec![(144, 40)])],
                },
                GroupFooter { group: 9, state: other, runs: vec![] },
            ],
        };
        let mut buf = Vec::new();
        encode_footer(&mut buf, V2, 4096, &footer);
        let f = decode_frame(V2.codec, &buf).unwrap();
        assert_eq!(decode_record(V2.codec, f.kind, f.body).unwrap(), Record::Footer(footer));
    }

    #[test]
    fn hostile_bodies_are_refused_not_panicking() {
        for codec in [Codec::V1, V2.codec] {
            for kind in RecordKind::ALL {
                for len in 0..40 {
                    let body = vec![0xffu8; len];
                    let _ = decode_record(codec, kind, &body);
                    let body = vec![0x01u8; len];
                    let _ = decode_record(codec, kind, &body);
                }
            }
        }
        // A footer claiming more slots than it holds.
        let mut body = Vec::new();
        encode_state(&mut body, &LogState::default());
        body.extend_from_slice(&0u64.to_le_bytes());
        body.extend_from_slice(&0u64.to_le_bytes());
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_record(Codec::V1, RecordKind::Footer, &body).is_err());
        // Format 2: a checkpoint and a footer claiming more groups than fit.
        let mut body = u32::MAX.to_le_bytes().to_vec();
        body.extend_from_slice(&[0; 8]);
        assert!(decode_record(V2.codec, RecordKind::Checkpoint, &body).is_err());
        let mut body = 0u64.to_le_bytes().to_vec();
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_record(V2.codec, RecordKind::Footer, &body).is_err());
        // Groups out of order.
        let mut body = 2u32.to_le_bytes().to_vec();
        for g in [5u8, 5] {
            body.push(g);
            encode_state(&mut body, &LogState::default());
        }
        assert!(decode_record(V2.codec, RecordKind::Checkpoint, &body).is_err());
        assert!(decode_record(Codec::V1, RecordKind::GroupRemoved, &[]).is_err());
        assert!(decode_record(Codec::V1, RecordKind::EntryCopy, &[0; 9]).is_err());
    }

    #[test]
    fn chunk_names_sort_and_parse() {
        assert_eq!(chunk_file_name(12), "00000000000000000012.chunk");
        assert_eq!(parse_chunk_file_name("00000000000000000012.chunk"), Some(12));
        assert_eq!(parse_chunk_file_name("12.chunk"), None);
        assert_eq!(parse_chunk_file_name("LOCK"), None);
        assert_eq!(parse_free_file_name(&free_file_name(12)), Some(12));
        assert_eq!(parse_chunk_file_name(&free_file_name(12)), None);
        assert_eq!(parse_free_file_name(&chunk_file_name(12)), None);
        assert!(chunk_file_name(9) < chunk_file_name(10));
    }
}
