//! The frame every record is wrapped in (`docs/FORMAT.md`, "Frame").
//!
//! ```text
//! format 1: { u32 body len | u8 kind | [u8; 3] 0 | u32 crc(bytes 0..8) }
//!           body { u32 crc(frame header + body) }
//! format 2: { u32 body len | u8 kind | u8 flags | u16 0 | u32 flush seq
//!             | u32 crc(salt; bytes 0..12) }
//!           { varint group | body } { u32 crc(salt; frame header + group + body) }
//! ```

use super::varint;
use super::{Codec, MAX_BODY_LEN, RecordKind, u32_at};

/// Where and when a frame is written: the chunk's codec and the flush
/// that writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The chunk's format version and salt.
    pub codec: Codec,
    /// The flush sequence number (format 2).
    pub seq: u32,
}

/// Why bytes at an offset are not a valid frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The buffer ends before the frame does (`needed` bytes in all).
    Incomplete {
        /// Total bytes the frame would need, when the header was readable.
        needed: Option<u64>,
    },
    /// The frame header's own CRC does not match (this includes zeros, and
    /// a frame of another chunk file's life: the salt differs).
    BadHeaderCrc,
    /// The kind byte is not a known record kind.
    BadKind(u8),
    /// The length field exceeds [`MAX_BODY_LEN`].
    TooLong(u32),
    /// The frame CRC does not match header and body.
    BadCrc,
    /// Flags or reserved bits this build does not know (a compression
    /// method, say).
    BadFlags(u8),
    /// The group id is not a valid varint.
    BadGroup,
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
            FrameError::BadFlags(b) => write!(f, "unknown record flags {b:#x}"),
            FrameError::BadGroup => write!(f, "invalid group id"),
        }
    }
}

/// A frame whose CRCs were checked.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// The record kind.
    pub kind: RecordKind,
    /// The group the record belongs to (always 0 in format 1).
    pub group: u64,
    /// The flush that wrote it (format 2; 0 in format 1).
    pub seq: u32,
    /// The record body (after the group id, before the trailing CRC).
    pub body: &'a [u8],
    /// Offset of `body` in the frame.
    pub body_at: usize,
    /// Total length of the frame in bytes.
    pub len: usize,
}

/// A frame header whose own CRC was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Bytes between the header and the trailing CRC.
    pub body_len: u32,
    /// The record kind.
    pub kind: RecordKind,
    /// The flush sequence (0 in format 1).
    pub seq: u32,
}

impl FrameHeader {
    /// Total length of the frame.
    pub fn frame_len(&self, codec: Codec) -> u64 {
        codec.frame_overhead() as u64 + u64::from(self.body_len)
    }
}

/// Whether `b` can start a frame, judged without a CRC: a known kind, zero
/// flags and reserved bytes (format 2), a length within the limit. Every
/// frame [`decode_frame_header`] accepts passes; most other positions do
/// not, so a scan for the next valid frame is cheap. `false` when `b` is
/// shorter than a frame header.
pub fn plausible_frame_header(codec: Codec, b: &[u8]) -> bool {
    if b.len() < codec.frame_header_len() || u32_at(b, 0) > MAX_BODY_LEN || RecordKind::from_u8(b[4]).is_none() {
        return false;
    }
    codec.version < 2 || (b[5] == 0 && b[6] == 0 && b[7] == 0)
}

/// Reads a frame header, checking its own CRC, flags and the length limit.
/// `b` must hold at least `codec.frame_header_len()` bytes.
pub fn decode_frame_header(codec: Codec, b: &[u8]) -> Result<FrameHeader, FrameError> {
    let n = codec.frame_header_len();
    if b.len() < n {
        return Err(FrameError::Incomplete { needed: None });
    }
    if codec.crc(&[&b[0..n - 4]]) != u32_at(b, n - 4) {
        return Err(FrameError::BadHeaderCrc);
    }
    let body_len = u32_at(b, 0);
    if body_len > MAX_BODY_LEN {
        return Err(FrameError::TooLong(body_len));
    }
    let kind = RecordKind::from_u8(b[4]).ok_or(FrameError::BadKind(b[4]))?;
    let seq = if codec.version >= 2 {
        if b[5] != 0 || b[6] != 0 || b[7] != 0 {
            return Err(FrameError::BadFlags(b[5] | b[6] | b[7]));
        }
        u32_at(b, 8)
    } else {
        0
    };
    Ok(FrameHeader { body_len, kind, seq })
}

/// Decodes the frame at the start of `b` (which may hold more after it).
pub fn decode_frame(codec: Codec, b: &[u8]) -> Result<Frame<'_>, FrameError> {
    let h = decode_frame_header(codec, b)?;
    let total = h.frame_len(codec) as usize;
    if b.len() < total {
        return Err(FrameError::Incomplete { needed: Some(total as u64) });
    }
    let crc_at = total - 4;
    if codec.crc(&[&b[..crc_at]]) != u32_at(b, crc_at) {
        return Err(FrameError::BadCrc);
    }
    let mut body_at = codec.frame_header_len();
    let mut group = 0;
    if codec.version >= 2 {
        let (g, n) = varint::decode(&b[body_at..crc_at]).ok_or(FrameError::BadGroup)?;
        group = g;
        body_at += n;
    }
    Ok(Frame { kind: h.kind, group, seq: h.seq, body: &b[body_at..crc_at], body_at, len: total })
}

/// Appends a frame whose body is the concatenation of `parts`, for `group`,
/// written by flush `seq`. Returns the frame's length. Format 1 has no
/// group (it must be 0) or flush sequence (ignored).
pub fn encode_frame(out: &mut Vec<u8>, codec: Codec, seq: u32, group: u64, kind: RecordKind, parts: &[&[u8]]) -> usize {
    let mut g = [0u8; varint::MAX_LEN];
    let glen = if codec.version >= 2 { varint::encode(group, &mut g) } else { 0 };
    debug_assert!(codec.version >= 2 || group == 0, "format 1 has no groups");
    let body_len: usize = glen + parts.iter().map(|p| p.len()).sum::<usize>();
    debug_assert!(body_len <= MAX_BODY_LEN as usize);
    let start = out.len();
    let hlen = codec.frame_header_len();
    out.reserve(codec.frame_overhead() + body_len);
    let mut hdr = [0u8; 16];
    hdr[0..4].copy_from_slice(&(body_len as u32).to_le_bytes());
    hdr[4] = kind as u8;
    if codec.version >= 2 {
        hdr[8..12].copy_from_slice(&seq.to_le_bytes());
    }
    // One pass: the frame CRC goes on from the header CRC's state.
    let mut h = codec.hasher();
    h.update(&hdr[..hlen - 4]);
    let hcrc = h.clone().finalize();
    hdr[hlen - 4..hlen].copy_from_slice(&hcrc.to_le_bytes());
    out.extend_from_slice(&hdr[..hlen]);
    out.extend_from_slice(&g[..glen]);
    for p in parts {
        out.extend_from_slice(p);
    }
    h.update(&out[start + hlen - 4..]);
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.len() - start
}
