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

use bytes::Bytes;

use crate::state::{LogState, Purged};

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

// ---------------------------------------------------------------- header

/// A decoded chunk header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    /// The chunk's id (also in its file name).
    pub chunk_id: u64,
    /// The tag set by the engine's user.
    pub tag: String,
}

/// Why a chunk header was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than [`HEADER_LEN`] bytes.
    Short,
    /// The magic bytes are wrong.
    BadMagic,
    /// A version this build does not read.
    UnsupportedVersion(u32),
    /// The header CRC does not match.
    BadCrc,
    /// The tag length or bytes are invalid.
    BadTag,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Short => write!(f, "chunk header is incomplete"),
            HeaderError::BadMagic => write!(f, "bad magic bytes in chunk header"),
            HeaderError::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            HeaderError::BadCrc => write!(f, "chunk header CRC mismatch"),
            HeaderError::BadTag => write!(f, "invalid tag in chunk header"),
        }
    }
}

/// Encodes a chunk header. `tag` must be at most [`MAX_TAG_LEN`] bytes
/// (checked by `Config::validate`).
pub fn encode_header(chunk_id: u64, tag: &str) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&CHUNK_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&chunk_id.to_le_bytes());
    let tag = &tag.as_bytes()[..tag.len().min(MAX_TAG_LEN)];
    h[24] = tag.len() as u8;
    h[25..25 + tag.len()].copy_from_slice(tag);
    let crc = crc32fast::hash(&h[0..60]);
    h[60..64].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Decodes a chunk header: magic, then version, then CRC, then tag.
pub fn decode_header(b: &[u8]) -> Result<ChunkHeader, HeaderError> {
    if b.len() < HEADER_LEN {
        return Err(HeaderError::Short);
    }
    if b[0..8] != CHUNK_MAGIC {
        return Err(HeaderError::BadMagic);
    }
    let version = u32_at(b, 8);
    if version != FORMAT_VERSION {
        return Err(HeaderError::UnsupportedVersion(version));
    }
    if crc32fast::hash(&b[0..60]) != u32_at(b, 60) {
        return Err(HeaderError::BadCrc);
    }
    let tag_len = usize::from(b[24]);
    if tag_len > MAX_TAG_LEN {
        return Err(HeaderError::BadTag);
    }
    let tag = std::str::from_utf8(&b[25..25 + tag_len]).map_err(|_| HeaderError::BadTag)?;
    Ok(ChunkHeader { chunk_id: u64_at(b, 16), tag: tag.to_owned() })
}

// ---------------------------------------------------------------- frames

/// Why bytes at an offset are not a valid frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The buffer ends before the frame does (`needed` bytes in all).
    Incomplete {
        /// Total bytes the frame would need, when the header was readable.
        needed: Option<u64>,
    },
    /// The frame header's own CRC does not match (this includes zeros).
    BadHeaderCrc,
    /// The kind byte is not a known record kind.
    BadKind(u8),
    /// The length field exceeds [`MAX_BODY_LEN`].
    TooLong(u32),
    /// The frame CRC does not match header and body.
    BadCrc,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Incomplete { needed: Some(n) } => {
                write!(f, "incomplete record (needs {n} bytes, file ends first)")
            }
            FrameError::Incomplete { needed: None } => write!(f, "incomplete record header"),
            FrameError::BadHeaderCrc => write!(f, "record header CRC mismatch"),
            FrameError::BadKind(k) => write!(f, "unknown record kind {k}"),
            FrameError::TooLong(n) => write!(f, "record length {n} exceeds the format limit"),
            FrameError::BadCrc => write!(f, "record CRC mismatch"),
        }
    }
}

/// A frame whose CRCs were checked.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// The record kind.
    pub kind: RecordKind,
    /// The body (between header and trailing CRC).
    pub body: &'a [u8],
    /// Total length of the frame in bytes.
    pub len: usize,
}

/// Reads a frame header: `(body length, kind byte)`, checking its own CRC
/// and the length limit. `b` must hold at least [`FRAME_HEADER_LEN`] bytes.
pub fn decode_frame_header(b: &[u8]) -> Result<(u32, RecordKind), FrameError> {
    if b.len() < FRAME_HEADER_LEN {
        return Err(FrameError::Incomplete { needed: None });
    }
    if crc32fast::hash(&b[0..8]) != u32_at(b, 8) {
        return Err(FrameError::BadHeaderCrc);
    }
    let len = u32_at(b, 0);
    if len > MAX_BODY_LEN {
        return Err(FrameError::TooLong(len));
    }
    let kind = RecordKind::from_u8(b[4]).ok_or(FrameError::BadKind(b[4]))?;
    Ok((len, kind))
}

/// Decodes the frame at the start of `b` (which may hold more after it).
pub fn decode_frame(b: &[u8]) -> Result<Frame<'_>, FrameError> {
    let (body_len, kind) = decode_frame_header(b)?;
    let total = FRAME_OVERHEAD + body_len as usize;
    if b.len() < total {
        return Err(FrameError::Incomplete { needed: Some(total as u64) });
    }
    let crc_at = total - 4;
    if crc32fast::hash(&b[..crc_at]) != u32_at(b, crc_at) {
        return Err(FrameError::BadCrc);
    }
    Ok(Frame { kind, body: &b[FRAME_HEADER_LEN..crc_at], len: total })
}

/// Appends a frame whose body is the concatenation of `parts`. Returns the
/// frame's length.
pub fn encode_frame(out: &mut Vec<u8>, kind: RecordKind, parts: &[&[u8]]) -> usize {
    let body_len: usize = parts.iter().map(|p| p.len()).sum();
    debug_assert!(body_len <= MAX_BODY_LEN as usize);
    let start = out.len();
    out.reserve(FRAME_OVERHEAD + body_len);
    let mut hdr = [0u8; FRAME_HEADER_LEN];
    hdr[0..4].copy_from_slice(&(body_len as u32).to_le_bytes());
    hdr[4] = kind as u8;
    let hcrc = crc32fast::hash(&hdr[0..8]);
    hdr[8..12].copy_from_slice(&hcrc.to_le_bytes());
    out.extend_from_slice(&hdr);
    for p in parts {
        out.extend_from_slice(p);
    }
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    out.len() - start
}

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

// ---------------------------------------------------------------- bodies

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
    let mut c = Cursor { b: body, pos: 0 };
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

const HAS_VOTE: u8 = 1;
const HAS_COMMITTED: u8 = 2;
const HAS_PURGED: u8 = 4;
const HAS_LAST: u8 = 8;
const HAS_USER_META: u8 = 16;
const HAS_FIRST: u8 = 32;

/// State layout: `u8 flags | [u32 len | vote] | [u32 len | committed]
/// | [u64 purged index | u32 len | purged meta] | [u64 first] | [u64 last] | [u32 len | user meta]`.
fn encode_state(out: &mut Vec<u8>, s: &LogState) {
    let mut flags = 0u8;
    flags |= if s.vote.is_some() { HAS_VOTE } else { 0 };
    flags |= if s.committed.is_some() { HAS_COMMITTED } else { 0 };
    flags |= if s.purged.is_some() { HAS_PURGED } else { 0 };
    flags |= if s.last_index.is_some() { HAS_LAST } else { 0 };
    flags |= if s.user_meta.is_some() { HAS_USER_META } else { 0 };
    flags |= if s.first_index.is_some() { HAS_FIRST } else { 0 };
    out.push(flags);
    let blob = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    if let Some(v) = &s.vote {
        blob(out, v);
    }
    if let Some(c) = &s.committed {
        blob(out, c);
    }
    if let Some(p) = &s.purged {
        out.extend_from_slice(&p.index.to_le_bytes());
        blob(out, &p.meta);
    }
    if let Some(f) = s.first_index {
        out.extend_from_slice(&f.to_le_bytes());
    }
    if let Some(l) = s.last_index {
        out.extend_from_slice(&l.to_le_bytes());
    }
    if let Some(m) = &s.user_meta {
        blob(out, m);
    }
}

fn decode_state(c: &mut Cursor<'_>) -> Result<LogState, String> {
    let flags = c.u8()?;
    if flags & !(HAS_VOTE | HAS_COMMITTED | HAS_PURGED | HAS_LAST | HAS_USER_META | HAS_FIRST) != 0 {
        return Err(format!("unknown state flags {flags:#x}"));
    }
    let mut s = LogState::default();
    if flags & HAS_VOTE != 0 {
        s.vote = Some(c.blob()?);
    }
    if flags & HAS_COMMITTED != 0 {
        s.committed = Some(c.blob()?);
    }
    if flags & HAS_PURGED != 0 {
        let index = c.u64()?;
        s.purged = Some(Purged { index, meta: c.blob()? });
    }
    if flags & HAS_FIRST != 0 {
        s.first_index = Some(c.u64()?);
    }
    if flags & HAS_LAST != 0 {
        s.last_index = Some(c.u64()?);
    }
    if flags & HAS_USER_META != 0 {
        s.user_meta = Some(c.blob()?);
    }
    s.validate()?;
    Ok(s)
}

/// A bounds-checked reader over a record body.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| format!("record body too short: needs {n} bytes at {}", self.pos))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn flag(&mut self) -> Result<bool, String> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            f => Err(format!("invalid presence flag {f}")),
        }
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32_at(self.take(4)?, 0))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64_at(self.take(8)?, 0))
    }
    fn blob(&mut self) -> Result<Bytes, String> {
        let n = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(n)?))
    }
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = &self.b[self.pos..];
        self.pos = self.b.len();
        s
    }
    fn opt_rest(&mut self) -> Result<Option<&'a [u8]>, String> {
        if self.flag()? { Ok(Some(self.rest())) } else { self.end().map(|_| None) }
    }
    fn end(&self) -> Result<(), String> {
        if self.pos == self.b.len() {
            Ok(())
        } else {
            Err(format!("{} unexpected bytes at the end of the record body", self.b.len() - self.pos))
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
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
    use super::*;

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
