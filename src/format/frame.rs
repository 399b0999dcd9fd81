//! The frame every record is wrapped in (`docs/FORMAT.md`, "Frame").

use super::{FRAME_HEADER_LEN, FRAME_OVERHEAD, MAX_BODY_LEN, RecordKind, u32_at};

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
